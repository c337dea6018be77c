//! Concatenation along one axis.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, shape_error};
use crate::ir::{Dim, TensorType};

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
}
