//! Concatenation along one axis.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, Slice, attrs, normalize_axis, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Dim, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

impl Concat {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let axis = a.required_int("axis")?;
        Ok(Arc::new(Concat { axis }))
    }
}

impl Op for Concat {
    fn op_type(&self) -> &'static str {
        "Concat"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let types: Vec<&TensorType> = inputs.iter().flatten().map(|f| f.ty).collect();
        let first = *types.first().ok_or_else(|| shape_error("Concat", "needs at least one input"))?;
        let axis = normalize_axis("Concat", self.axis, first.rank())?;
        let mut total = 0;
        for t in &types {
            if t.rank() != first.rank() || t.dtype != first.dtype {
                return Err(shape_error("Concat", format!("inputs {first} and {t} differ in rank or type")));
            }
            for (i, (a, b)) in first.shape.iter().zip(&t.shape).enumerate() {
                if i != axis && a != b {
                    return Err(shape_error("Concat", format!("inputs {first} and {t} differ outside axis {axis}")));
                }
            }
            total += t.shape[axis].fixed().ok_or_else(|| shape_error("Concat", "the concatenated axis must be known"))?;
        }
        let mut shape = first.shape.clone();
        shape[axis] = Dim::Fixed(total);
        Ok(vec![TensorType::new(first.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis)]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        // Each input's gradient is its own slice of the output's along the axis.
        let inputs: Vec<ValueId> = cx.node.inputs.iter().flatten().copied().collect();
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None; inputs.len()]) };
        let rank = cx.ty(g).rank();
        let axis = normalize_axis("Concat", self.axis, rank)? as i64;
        let mut start = 0i64;
        let mut out = vec![];
        for x in inputs {
            let len = cx.ty(x).shape[axis as usize].fixed().ok_or_else(|| shape_error("Concat", "the concatenated axis must be known"))? as i64;
            let (starts, ends, axes) = (cx.ints(&[start]), cx.ints(&[start + len]), cx.ints(&[axis]));
            out.push(Some(cx.op(Slice, &[g, starts, ends, axes])?));
            start += len;
        }
        Ok(out)
    }
}
