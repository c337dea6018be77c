//! Reductions over axes. Opset 17 gives ReduceSum its axes as a constant int64 input and the others
//! theirs as an attribute; no axes means every axis.
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Fact, Op, OpError, UnaryKind, Unsqueeze, attrs, normalize_axis, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, Tensor, TensorType, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    /// Σ|x|
    L1,
    /// √Σx²
    L2,
    /// ln Σx
    LogSum,
    /// ln Σeˣ
    LogSumExp,
    /// Σx²
    SumSquare,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub kind: ReduceKind,
    /// For every kind but Sum (attribute form); Sum reads its axes from its second input.
    pub axes: Option<Vec<i64>>,
    pub keepdims: bool,
}

impl Reduce {
    pub fn from_attrs(kind: ReduceKind, a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        let axes = a.ints("axes");
        if kind == ReduceKind::Sum && axes.is_some() {
            return Err(OpError::Attribute { op: "ReduceSum".into(), name: "axes".into(), message: "opset 13+ takes axes as an input".into() });
        }
        if a.int("noop_with_empty_axes", 0)? != 0 {
            return Err(OpError::Attribute { op: a.op.into(), name: "noop_with_empty_axes".into(), message: "only 0 is supported".into() });
        }
        Ok(Arc::new(Reduce { kind, axes, keepdims: a.int("keepdims", 1)? != 0 }))
    }
}

impl Reduce {
    /// The reduced axes of `x`: from the attribute, or (ReduceSum) from the constant second input
    /// (`Some(value)` when given, `value` being `None` when it is not a constant); none means all.
    fn resolve_axes(&self, x: &TensorType, axes_input: Option<Option<&Tensor>>) -> Result<Vec<usize>, OpError> {
        let op = self.op_type();
        let axes: Vec<i64> = match (self.kind, axes_input) {
            (ReduceKind::Sum, Some(value)) => value
                .filter(|t| t.dtype == DType::I64)
                .and_then(|t| t.as_i64())
                .ok_or_else(|| shape_error(op, "the axes must be a constant int64 tensor"))?,
            (ReduceKind::Sum, None) => vec![],
            _ => self.axes.clone().unwrap_or_default(),
        };
        if axes.is_empty() {
            return Ok((0..x.rank()).collect());
        }
        axes.iter().map(|&a| normalize_axis(op, a, x.rank())).collect()
    }
}

impl Op for Reduce {
    fn op_type(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::LogSum => "ReduceLogSum",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
            ReduceKind::SumSquare => "ReduceSumSquare",
        }
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required(self.op_type(), inputs, 0)?.ty;
        let axes = self.resolve_axes(x, inputs.get(1).copied().flatten().map(|f| f.value))?;
        let shape = x
            .shape
            .iter()
            .enumerate()
            .filter_map(|(i, d)| match (axes.contains(&i), self.keepdims) {
                (true, true) => Some(Dim::Fixed(1)),
                (true, false) => None,
                (false, _) => Some(d.clone()),
            })
            .collect();
        Ok(vec![TensorType::new(x.dtype, shape)])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        let mut out = vec![attrs::int("keepdims", self.keepdims as i64)];
        if let Some(axes) = &self.axes {
            out.push(attrs::ints("axes", axes));
        }
        out
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None]) };
        let x = cx.x(0)?;
        let tx = cx.ty(x);
        let axes = self.resolve_axes(&tx, cx.x_opt(1).map(|_| cx.x_const(1)))?;
        // Spread an output-shaped value over x's shape, which may have a symbolic batch: v + 0·x
        // broadcasts without a Shape op (with the reduced axes put back as 1s first).
        let keep = |cx: &mut GradCx, v: ValueId| -> Result<ValueId, OpError> {
            if self.keepdims {
                return Ok(v);
            }
            let axes = cx.ints(&axes.iter().map(|&a| a as i64).collect::<Vec<_>>());
            cx.op(Unsqueeze, &[v, axes])
        };
        let kept = keep(cx, g)?;
        let zero = cx.scalar(0.0);
        let zeros = cx.binary(BinaryKind::Mul, x, zero)?;
        let gs = cx.binary(BinaryKind::Add, zeros, kept)?;
        let spread = |cx: &mut GradCx, v: ValueId| -> Result<ValueId, OpError> {
            let kept = keep(cx, v)?;
            cx.binary(BinaryKind::Add, zeros, kept)
        };
        use BinaryKind::{Div, Mul, Sub};
        let gx = match self.kind {
            ReduceKind::Sum => gs,
            ReduceKind::Mean => {
                let count = axes.iter().map(|&a| tx.shape[a].fixed()).product::<Option<usize>>();
                let count = count.ok_or_else(|| shape_error("ReduceMean", "its gradient needs the reduced axes' sizes"))?;
                let scale = cx.scalar(1.0 / count as f32);
                cx.binary(Mul, gs, scale)?
            }
            ReduceKind::Max | ReduceKind::Min => return Err(OpError::NoGradient { op: self.op_type().into() }),
            // ∂Πx/∂xᵢ = Πx / xᵢ (for x without zeros).
            ReduceKind::Prod => {
                let y = spread(cx, cx.y(0))?;
                let ratio = cx.binary(Div, y, x)?;
                cx.binary(Mul, gs, ratio)?
            }
            ReduceKind::L1 => {
                let sign = cx.unary(UnaryKind::Sign, x)?;
                cx.binary(Mul, gs, sign)?
            }
            ReduceKind::L2 => {
                let y = spread(cx, cx.y(0))?;
                let ratio = cx.binary(Div, x, y)?;
                cx.binary(Mul, gs, ratio)?
            }
            ReduceKind::SumSquare => {
                let two = cx.scalar(2.0);
                let twice = cx.binary(Mul, x, two)?;
                cx.binary(Mul, gs, twice)?
            }
            // 1 / Σx = e^(−y)
            ReduceKind::LogSum => {
                let y = spread(cx, cx.y(0))?;
                let sum = cx.unary(UnaryKind::Exp, y)?;
                cx.binary(Div, gs, sum)?
            }
            // softmax: e^(x − y)
            ReduceKind::LogSumExp => {
                let y = spread(cx, cx.y(0))?;
                let d = cx.binary(Sub, x, y)?;
                let share = cx.unary(UnaryKind::Exp, d)?;
                cx.binary(Mul, gs, share)?
            }
        };
        Ok(vec![Some(gx), None])
    }
}
