//! TopK: the k largest (or smallest) elements along an axis and their indices. No gradient.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, required, shape_error};
use crate::ir::{DType, Dim, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct TopK {
    pub axis: i64,
    pub largest: bool,
    pub sorted: bool,
}

impl TopK {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(TopK { axis: a.int("axis", -1)?, largest: a.int("largest", 1)? != 0, sorted: a.int("sorted", 1)? != 0 }))
    }
}

impl Op for TopK {
    fn op_type(&self) -> &'static str {
        "TopK"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("TopK", inputs, 0)?.ty;
        let axis = normalize_axis("TopK", self.axis, x.rank())?;
        let k = required("TopK", inputs, 1)?
            .value
            .filter(|t| t.dtype == DType::I64 && t.len() == 1)
            .and_then(|t| t.as_i64())
            .and_then(|v| usize::try_from(v[0]).ok())
            .ok_or_else(|| shape_error("TopK", "k must be a constant non-negative int64 of one element"))?;
        if x.shape[axis].fixed().is_some_and(|n| k > n) {
            return Err(shape_error("TopK", format!("k = {k} is more than axis {axis} of {x} holds")));
        }
        let mut shape = x.shape.clone();
        shape[axis] = Dim::Fixed(k);
        Ok(vec![TensorType::new(x.dtype, shape.clone()), TensorType::new(DType::I64, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis), attrs::int("largest", self.largest as i64), attrs::int("sorted", self.sorted as i64)]
    }
}
