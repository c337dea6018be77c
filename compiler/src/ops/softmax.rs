//! Softmax and LogSoftmax along one axis (opset 13 semantics: a single axis, default -1).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Fact, Op, OpError, Reduce, ReduceKind, UnaryKind, attrs, normalize_axis, required};
use crate::autodiff::GradCx;
use crate::ir::{TensorType, ValueId};

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

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        use BinaryKind::{Mul, Sub};
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None]) };
        let y = cx.y(0);
        let sum = Reduce { kind: ReduceKind::Sum, axes: None, keepdims: true };
        let axis = cx.ints(&[self.axis]);
        let gx = match self.kind {
            // dx = y·(g − Σ g·y)
            SoftmaxKind::Softmax => {
                let gy = cx.binary(Mul, g, y)?;
                let total = cx.op(sum, &[gy, axis])?;
                let centred = cx.binary(Sub, g, total)?;
                cx.binary(Mul, y, centred)?
            }
            // dx = g − softmax·Σ g, with softmax = exp(y)
            SoftmaxKind::LogSoftmax => {
                let total = cx.op(sum, &[g, axis])?;
                let p = cx.unary(UnaryKind::Exp, y)?;
                let share = cx.binary(Mul, p, total)?;
                cx.binary(Sub, g, share)?
            }
        };
        Ok(vec![Some(gx)])
    }
}
