//! Element-wise comparisons, and the logical ops of booleans, with NumPy broadcasting; the result is
//! boolean. None has a gradient.
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
    GreaterOrEqual,
    LessOrEqual,
    /// Logical ops: both inputs boolean.
    And,
    Or,
    Xor,
}

impl CompareKind {
    fn logical(self) -> bool {
        matches!(self, CompareKind::And | CompareKind::Or | CompareKind::Xor)
    }
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
            CompareKind::GreaterOrEqual => "GreaterOrEqual",
            CompareKind::LessOrEqual => "LessOrEqual",
            CompareKind::And => "And",
            CompareKind::Or => "Or",
            CompareKind::Xor => "Xor",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = self.op_type();
        let (a, b) = (required(op, inputs, 0)?.ty, required(op, inputs, 1)?.ty);
        if a.dtype != b.dtype {
            return Err(shape_error(op, format!("element types differ: {} and {}", a.dtype, b.dtype)));
        }
        if self.kind.logical() && a.dtype != DType::Bool {
            return Err(shape_error(op, format!("takes bool tensors, got {}", a.dtype)));
        }
        Ok(vec![TensorType::new(DType::Bool, broadcast(op, &a.shape, &b.shape)?)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![]
    }
}
