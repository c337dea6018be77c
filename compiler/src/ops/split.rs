//! Split: one tensor cut along an axis into consecutive parts of given sizes. The recurrent training
//! forms cut their gate blocks with it: the gradient is one Concat, where one Slice per part would
//! pad each part's gradient back to the whole and add them up.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Concat, Fact, Op, OpError, attrs, normalize_axis, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Dim, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub axis: i64,
}

impl Split {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.list.iter().any(|at| at.name.as_deref() == Some("num_outputs")) {
            return Err(OpError::Attribute {
                op: "Split".into(),
                name: "num_outputs".into(),
                message: "is opset 18; give the sizes as the `split` input".into(),
            });
        }
        Ok(Arc::new(Split { axis: a.int("axis", 0)? }))
    }
}

impl Op for Split {
    fn op_type(&self) -> &'static str {
        "Split"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("Split", inputs, 0)?.ty;
        let axis = normalize_axis("Split", self.axis, x.rank())?;
        let sizes = inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|f| f.value)
            .and_then(|t| t.as_i64())
            .ok_or_else(|| shape_error("Split", "the part sizes must be a constant int64 input"))?;
        let total = x.shape[axis].fixed().ok_or_else(|| shape_error("Split", format!("the split axis of {x} must be known")))?;
        if sizes.iter().any(|&s| s < 0) || sizes.iter().sum::<i64>() != total as i64 {
            return Err(shape_error("Split", format!("parts {sizes:?} do not add up to axis {axis} of {x}")));
        }
        Ok(sizes
            .iter()
            .map(|&s| {
                let mut shape = x.shape.clone();
                shape[axis] = Dim::Fixed(s as usize);
                TensorType::new(x.dtype, shape)
            })
            .collect())
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis)]
    }

    /// The parts' gradients side by side; a part the loss does not read contributes zeros.
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        if output_grads.iter().all(Option::is_none) {
            return Ok(vec![None, None]);
        }
        let mut parts = vec![];
        for (k, g) in output_grads.iter().enumerate() {
            parts.push(match g {
                Some(g) => *g,
                None => {
                    let zero = cx.scalar(0.0);
                    cx.binary(BinaryKind::Mul, cx.y(k), zero)?
                }
            });
        }
        Ok(vec![Some(cx.op(Concat { axis: self.axis }, &parts)?), None])
    }
}
