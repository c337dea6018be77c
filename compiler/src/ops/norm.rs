//! Normalization by a tensor's own statistics: LayerNormalization (over the axes from `axis` on) and
//! InstanceNormalization (over each map of each sample), both followed by a scale and a bias. Their
//! gradients share one rule: with x̂ = (x − μ)·r and r = 1/√(σ² + ε) over the normalized axes,
//! dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
use std::sync::Arc;

use onyx_proto::onnx::AttributeProto;

use super::{Attrs, BinaryKind, Fact, Op, OpError, Reduce, ReduceKind, UnaryKind, Unsqueeze, attrs, normalize_axis, required, shape_error};
use crate::autodiff::GradCx;
use crate::ir::{DType, Dim, TensorType, ValueId};

/// x̂ and r of `x` normalized over `axes`, recomputed in the gradient graph.
fn standardize(cx: &mut GradCx, x: ValueId, axes: &[i64], epsilon: f32) -> Result<(ValueId, ValueId), OpError> {
    use BinaryKind::{Add, Div, Mul, Sub};
    let mean = |cx: &mut GradCx, v: ValueId| cx.op(Reduce { kind: ReduceKind::Mean, axes: Some(axes.to_vec()), keepdims: true }, &[v]);
    let mu = mean(cx, x)?;
    let centered = cx.binary(Sub, x, mu)?;
    let square = cx.binary(Mul, centered, centered)?;
    let variance = mean(cx, square)?;
    let eps = cx.scalar(epsilon);
    let shifted = cx.binary(Add, variance, eps)?;
    let deviation = cx.unary(UnaryKind::Sqrt, shifted)?;
    let one = cx.scalar(1.0);
    let r = cx.binary(Div, one, deviation)?;
    Ok((cx.binary(Mul, centered, r)?, r))
}

/// dx from dx̂: r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)).
fn through_standardize(cx: &mut GradCx, g_hat: ValueId, x_hat: ValueId, r: ValueId, axes: &[i64]) -> Result<ValueId, OpError> {
    use BinaryKind::{Mul, Sub};
    let mean = |cx: &mut GradCx, v: ValueId| cx.op(Reduce { kind: ReduceKind::Mean, axes: Some(axes.to_vec()), keepdims: true }, &[v]);
    let m1 = mean(cx, g_hat)?;
    let product = cx.binary(Mul, g_hat, x_hat)?;
    let m2 = mean(cx, product)?;
    let along = cx.binary(Mul, x_hat, m2)?;
    let rest = cx.binary(Sub, g_hat, m1)?;
    let rest = cx.binary(Sub, rest, along)?;
    cx.binary(Mul, rest, r)
}

/// The shape of statistics over `axes` and beyond: those axes become 1.
fn statistics_type(x: &TensorType, from: usize) -> TensorType {
    let shape = x.shape.iter().enumerate().map(|(i, d)| if i >= from { Dim::Fixed(1) } else { d.clone() }).collect();
    TensorType::new(DType::F32, shape)
}

#[derive(Clone, Debug, PartialEq)]
pub struct LayerNormalization {
    /// The first normalized axis; ONNX's default is −1.
    pub axis: i64,
    pub epsilon: f32,
    /// Whether the node gives the optional Mean and InvStdDev outputs (an imported node naming them).
    pub statistics: bool,
}

impl LayerNormalization {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        if a.int("stash_type", 1)? != 1 {
            return Err(OpError::Attribute {
                op: "LayerNormalization".into(),
                name: "stash_type".into(),
                message: "only 1 (float) is supported".into(),
            });
        }
        Ok(Arc::new(LayerNormalization { axis: a.int("axis", -1)?, epsilon: a.float("epsilon", 1e-5)?, statistics: false }))
    }
}

impl Op for LayerNormalization {
    fn op_type(&self) -> &'static str {
        "LayerNormalization"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = "LayerNormalization";
        let x = required(op, inputs, 0)?.ty;
        let scale = required(op, inputs, 1)?.ty;
        let axis = normalize_axis(op, self.axis, x.rank())?;
        if !x.dtype.is_float() {
            return Err(shape_error(op, format!("takes a float tensor, got {}", x.dtype)));
        }
        for (what, t) in [("scale", Some(scale)), ("bias", inputs.get(2).copied().flatten().map(|f| f.ty))] {
            let Some(t) = t else { continue };
            // Unidirectional broadcasting onto the normalized axes.
            if t.rank() > x.rank() - axis || super::broadcast(op, &x.shape[axis..], &t.shape).ok().as_deref() != Some(&x.shape[axis..]) {
                return Err(shape_error(op, format!("{what} {t} does not broadcast to the normalized axes of {x}")));
            }
        }
        let mut out = vec![x.clone()];
        if self.statistics {
            out.extend([statistics_type(x, axis), statistics_type(x, axis)]);
        }
        Ok(out)
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::int("axis", self.axis), attrs::float("epsilon", self.epsilon), attrs::int("stash_type", 1)]
    }

    fn with_outputs(&self, count: usize) -> Option<Arc<dyn Op>> {
        (count <= 3).then(|| Arc::new(LayerNormalization { statistics: true, ..self.clone() }) as Arc<dyn Op>)
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        if output_grads.iter().skip(1).any(Option::is_some) {
            return Err(OpError::NoGradient { op: "LayerNormalization (through its Mean or InvStdDev output)".into() });
        }
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None, None]) };
        let (x, scale) = (cx.x(0)?, cx.x(1)?);
        let tx = cx.ty(x);
        let axis = normalize_axis("LayerNormalization", self.axis, tx.rank())?;
        if tx.shape[axis..].iter().any(|d| d.fixed().is_none()) {
            return Err(shape_error("LayerNormalization", format!("its gradient needs the normalized axes of {tx}")));
        }
        let axes: Vec<i64> = (axis as i64..tx.rank() as i64).collect();
        let (x_hat, r) = standardize(cx, x, &axes, self.epsilon)?;
        let g_hat = cx.binary(BinaryKind::Mul, g, scale)?;
        let gx = through_standardize(cx, g_hat, x_hat, r, &axes)?;
        let g_scaled = cx.binary(BinaryKind::Mul, g, x_hat)?;
        let ts = cx.ty(scale);
        let g_scale = cx.unbroadcast(g_scaled, &ts)?;
        let g_bias = match cx.x_opt(2) {
            Some(b) => {
                let tb = cx.ty(b);
                Some(cx.unbroadcast(g, &tb)?)
            }
            None => None,
        };
        Ok(vec![Some(gx), Some(g_scale), g_bias])
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InstanceNormalization {
    pub epsilon: f32,
}

impl InstanceNormalization {
    pub fn from_attrs(a: &Attrs) -> Result<Arc<dyn Op>, OpError> {
        Ok(Arc::new(InstanceNormalization { epsilon: a.float("epsilon", 1e-5)? }))
    }
}

impl Op for InstanceNormalization {
    fn op_type(&self) -> &'static str {
        "InstanceNormalization"
    }

    fn infer(&self, inputs: &[Option<Fact>]) -> Result<Vec<TensorType>, OpError> {
        let op = "InstanceNormalization";
        let x = required(op, inputs, 0)?.ty;
        if x.rank() < 3 || !x.dtype.is_float() {
            return Err(shape_error(op, format!("needs a float (N, C, spatial...) tensor, got {x}")));
        }
        for i in [1, 2] {
            let t = required(op, inputs, i)?.ty;
            if t.rank() != 1 || (x.shape[1].fixed().is_some() && t.shape[0] != x.shape[1]) {
                return Err(shape_error(op, format!("input {i} must be one value per channel of {x}, got {t}")));
            }
        }
        Ok(vec![x.clone()])
    }

    fn attributes(&self) -> Vec<AttributeProto> {
        vec![attrs::float("epsilon", self.epsilon)]
    }

    fn gradient(&self, cx: &mut GradCx, output_grads: &[Option<ValueId>]) -> Result<Vec<Option<ValueId>>, OpError> {
        let Some(g) = output_grads.first().copied().flatten() else { return Ok(vec![None, None, None]) };
        let (x, scale) = (cx.x(0)?, cx.x(1)?);
        let tx = cx.ty(x);
        if tx.shape[2..].iter().any(|d| d.fixed().is_none()) {
            return Err(shape_error("InstanceNormalization", format!("its gradient needs the spatial dimensions of {tx}")));
        }
        let axes: Vec<i64> = (2..tx.rank() as i64).collect();
        let (x_hat, r) = standardize(cx, x, &axes, self.epsilon)?;
        // The per-channel scale as (C, 1, ...) so that it broadcasts over the maps.
        let spatial: Vec<i64> = (1..tx.rank() as i64 - 1).collect();
        let spatial = cx.ints(&spatial);
        let per_channel = cx.op(Unsqueeze, &[scale, spatial])?;
        let g_hat = cx.binary(BinaryKind::Mul, g, per_channel)?;
        let gx = through_standardize(cx, g_hat, x_hat, r, &axes)?;
        let g_scaled = cx.binary(BinaryKind::Mul, g, x_hat)?;
        let g_scale = cx.channel_sum(g_scaled)?;
        let g_bias = cx.channel_sum(g)?;
        Ok(vec![Some(gx), Some(g_scale), Some(g_bias)])
    }
}
