//! Gather along one axis: the embedding lookup.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, required, shape_error};
use crate::ir::{DType, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl Gather {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Gather { axis: a.int("axis", 0)? }))
    }
}

impl Op for Gather {
    fn op_type(&self) -> &'static str {
        "Gather"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let (data, indices) = (required("Gather", inputs, 0)?.ty, required("Gather", inputs, 1)?.ty);
        if !matches!(indices.dtype, DType::I64 | DType::I32) {
            return Err(shape_error("Gather", format!("indices must be int32 or int64, got {}", indices.dtype)));
        }
        let axis = normalize_axis("Gather", self.axis, data.rank())?;
        let mut shape = data.shape[..axis].to_vec();
        shape.extend(indices.shape.iter().cloned());
        shape.extend(data.shape[axis + 1..].iter().cloned());
        Ok(vec![TensorType::new(data.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis)]
    }
}
