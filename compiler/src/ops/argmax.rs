//! ArgMax along one axis: the predicted class, for accuracy metrics.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, required};
use crate::ir::{DType, Dim, TensorType};

#[derive(Clone, Debug, PartialEq)]
pub struct ArgMax {
    pub axis: i64,
    pub keepdims: bool,
}

impl ArgMax {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.int("select_last_index", 0)? != 0 {
            return Err(OpError::Attribute { op: "ArgMax".into(), name: "select_last_index".into(), message: "only 0 is supported".into() });
        }
        Ok(Arc::new(ArgMax { axis: a.int("axis", 0)?, keepdims: a.int("keepdims", 1)? != 0 }))
    }
}

impl Op for ArgMax {
    fn op_type(&self) -> &'static str {
        "ArgMax"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("ArgMax", inputs, 0)?.ty;
        let axis = normalize_axis("ArgMax", self.axis, x.rank())?;
        let mut shape = x.shape.clone();
        if self.keepdims {
            shape[axis] = Dim::Fixed(1);
        } else {
            shape.remove(axis);
        }
        Ok(vec![TensorType::new(DType::I64, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis), attrs::int("keepdims", self.keepdims as i64)]
    }
}
