//! Softmax and LogSoftmax along one axis (opset 13 semantics: a single axis, default -1).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, Fact, Op, OpError, attrs, normalize_axis, required};
use crate::ir::TensorType;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    pub axis: i64,
}

impl Softmax {
    pub fn from_attrs(kind: SoftmaxKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(Softmax { kind, axis: a.int("axis", -1)? }))
    }
}

impl Op for Softmax {
    fn op_type(&self) -> &'static str {
        match self.kind {
            SoftmaxKind::Softmax => "Softmax",
            SoftmaxKind::LogSoftmax => "LogSoftmax",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(self.op_type(), inputs, 0)?.ty;
        normalize_axis(self.op_type(), self.axis, x.rank())?;
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis)]
    }
}
