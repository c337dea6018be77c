//! BatchNormalization in inference form: `scale·(x−mean)/√(var+ε) + B` per channel (axis 1).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Fact, Op, OpError, Reduce, ReduceKind, UnaryKind, Unsqueeze, attrs, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{Dim, TensorType, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormalization {
    pub epsilon: f32,
    /// The running statistics' decay, used by training only: `running = momentum·running + (1−momentum)·batch`.
    pub momentum: f32,
}

impl BatchNormalization {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.int("training_mode", 0)? != 0 {
            return Err(OpError::Attribute {
                op: "BatchNormalization".into(),
                name: "training_mode".into(),
                message: "inference models must not set it".into(),
            });
        }
        Ok(Arc::new(BatchNormalization { epsilon: a.float("epsilon", 1e-5)?, momentum: a.float("momentum", 0.9)? }))
    }
}

impl Op for BatchNormalization {
    fn op_type(&self) -> &'static str {
        "BatchNormalization"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let x = required("BatchNormalization", inputs, 0)?.ty;
        let channels = x.shape.get(1).ok_or_else(|| shape_error("BatchNormalization", format!("needs (N, C, ...), got {x}")))?;
        for i in 1..5 {
            let p = required("BatchNormalization", inputs, i)?.ty;
            if p.shape.len() != 1 || (&p.shape[0] != channels && matches!(channels, Dim::Fixed(_))) {
                return Err(shape_error("BatchNormalization", format!("input {i} is {p}, expected [{channels}]")));
            }
        }
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::float("epsilon", self.epsilon), attrs::float("momentum", self.momentum)]
    }
    /// The inference form's gradient, the statistics being inputs like any other: with
    /// `inv = 1/√(var+ε)` and `x̂ = (x−mean)·inv`, per channel,
    /// `dx = g·scale·inv`, `dscale = Σ g·x̂`, `dB = Σ g`, `dmean = −scale·inv·dB` and
    /// `dvar = −½·scale·dscale/(var+ε)`, the sums over every axis but 1. (Training mode, with batch
    /// statistics, is built from primitives elsewhere.)
    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        use BinaryKind::{Add, Div, Mul, Sub};
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None; 5]) };
        let (x, scale, mean, var) = (cx.x(0)?, cx.x(1)?, cx.x(3)?, cx.x(4)?);
        let rank = cx.ty(x).rank();
        // Per-channel vectors as (C, 1, ...) so that they broadcast against (N, C, ...).
        let trailing: Vec<i64> = (1..rank as i64 - 1).collect();
        let per_channel = |cx: &mut GradCx, v: ValueId| -> Result<ValueId, OpError> {
            if trailing.is_empty() {
                return Ok(v);
            }
            let axes = cx.ints(&trailing);
            cx.op(Unsqueeze, &[v, axes])
        };
        let epsilon = cx.scalar(self.epsilon);
        let shifted_var = cx.binary(Add, var, epsilon)?;
        let root = cx.unary(UnaryKind::Sqrt, shifted_var)?;
        let one = cx.scalar(1.0);
        let inv = cx.binary(Div, one, root)?;
        let scale_inv = cx.binary(Mul, scale, inv)?;
        let scale_inv_c = per_channel(cx, scale_inv)?;
        let gx = cx.binary(Mul, g, scale_inv_c)?;
        let mean_c = per_channel(cx, mean)?;
        let inv_c = per_channel(cx, inv)?;
        let centred = cx.binary(Sub, x, mean_c)?;
        let normalized = cx.binary(Mul, centred, inv_c)?;
        let sum = Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false };
        let axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
        let weighted = cx.binary(Mul, g, normalized)?;
        let axes_v = cx.ints(&axes);
        let gscale = cx.op(sum.clone(), &[weighted, axes_v])?;
        let axes_v = cx.ints(&axes);
        let gbias = cx.op(sum, &[g, axes_v])?;
        let shift = cx.binary(Mul, scale_inv, gbias)?;
        let gmean = cx.unary(UnaryKind::Neg, shift)?;
        let half = cx.scalar(-0.5);
        let scaled = cx.binary(Mul, gscale, scale)?;
        let scaled = cx.binary(Mul, scaled, half)?;
        let gvar = cx.binary(Div, scaled, shifted_var)?;
        Ok(vec![Some(gx), Some(gscale), Some(gbias), Some(gmean), Some(gvar)])
    }
}
