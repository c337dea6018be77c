//! Element-wise comparisons with NumPy broadcasting; the result is boolean.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::binary::broadcast;
use super::{Attrs, Fact, Op, OpError, required, shape_error};
use crate::ir::{DType, TensorType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareKind {
    Greater,
    Less,
    Equal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Compare {
    pub kind: CompareKind,
}

impl Compare {
    pub fn from_attrs(kind: CompareKind, _: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Compare { kind }))
    }
}

impl Op for Compare {
    fn op_type(&self) -> &'static str {
        match self.kind {
            CompareKind::Greater => "Greater",
            CompareKind::Less => "Less",
            CompareKind::Equal => "Equal",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = self.op_type();
        let (a, b) = (required(op, inputs, 0)?.ty, required(op, inputs, 1)?.ty);
        if a.dtype != b.dtype {
            return Err(shape_error(op, format!("element types differ: {} and {}", a.dtype, b.dtype)));
        }
        Ok(vec![TensorType::new(DType::Bool, broadcast(op, &a.shape, &b.shape)?)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
