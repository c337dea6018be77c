//! Batch normalization in training mode: each batch is normalized by its own mean and (biased)
//! variance over every axis but the channels, and the moving statistics are updated as Keras does:
//! `moving = momentum·moving + (1 − momentum)·batch`. The inference form's moving mean and variance
//! become state inputs of the step graph, their updates state outputs.
use super::TrainError;
use super::loss::Ops;
use crate::builder::Builder;
use crate::ir::{Dim, Node, ValueId};
use crate::ops::{Attrs, BinaryKind, Reduce, ReduceKind, UnaryKind, Unsqueeze};

/// A moving statistic: the value the step reads and the one it writes.
pub struct Moving {
    pub current: ValueId,
    pub next: ValueId,
}

/// Rewrites every BatchNormalization node of `b`'s graph into its training form, in place (the
/// replacement nodes take the node's position, so the graph stays in order). A pretrained base's
/// batch normalizations (listed in the graph's metadata) stay in inference mode: as the op when
/// their scale and offset are frozen, spelled out when they train (engines such as tract take the
/// op's parameters as constants only).
pub fn rewrite(b: &mut Builder) -> Result<Vec<Moving>, TrainError> {
    let inference = b.graph.metadata_names(crate::transfer::INFERENCE_MODE_KEY);
    let mut moving = vec![];
    for node in std::mem::take(&mut b.graph.nodes) {
        if node.op.op_type() != "BatchNormalization" {
            b.graph.nodes.push(node);
        } else if !inference.contains(&node.name) {
            moving.extend(emit(b, &node)?);
        } else if node.inputs.iter().skip(1).take(2).flatten().any(|v| b.graph.value(*v).param.as_ref().is_some_and(|p| p.trainable)) {
            emit_inference(b, &node)?;
        } else {
            b.graph.nodes.push(node);
        }
    }
    Ok(moving)
}

/// Spells out, in inference mode, every BatchNormalization whose scale, offset or statistics are
/// graph inputs rather than initializers (the eval graph's, which training changes), for the
/// engines that take the op's parameters as constants only.
pub fn spell_out_fed(b: &mut Builder) -> Result<(), TrainError> {
    for node in std::mem::take(&mut b.graph.nodes) {
        if node.op.op_type() == "BatchNormalization" && node.inputs.iter().skip(1).flatten().any(|v| b.graph.inputs.contains(v)) {
            emit_inference(b, &node)?;
        } else {
            b.graph.nodes.push(node);
        }
    }
    Ok(())
}

/// The node's inputs (x, scale, bias, mean, var), its epsilon and momentum, and the rank of x.
fn parts(node: &Node) -> Result<([ValueId; 5], f32, f32), TrainError> {
    let attributes = node.op.attributes();
    let a = Attrs { op: "BatchNormalization", list: &attributes };
    let input = |i: usize| {
        node.inputs.get(i).copied().flatten().ok_or_else(|| TrainError::Internal(format!("batch normalization `{}` lacks input {i}", node.name)))
    };
    Ok(([input(0)?, input(1)?, input(2)?, input(3)?, input(4)?], a.float("epsilon", 1e-5)?, a.float("momentum", 0.9)?))
}

/// A per-channel vector [C] as [C, 1, ...], to broadcast against (N, C, spatial...).
fn channel_shape(o: &mut Ops, v: ValueId, rank: usize) -> Result<ValueId, TrainError> {
    if rank <= 2 {
        return Ok(v);
    }
    let axes = o.ints(&(1..rank as i64 - 1).collect::<Vec<_>>());
    o.op(Unsqueeze, &[v, axes])
}

/// Inference mode in primitive ops: `(x − mean) · scale / √(var + ε) + bias`.
fn emit_inference(b: &mut Builder, node: &Node) -> Result<(), TrainError> {
    use BinaryKind::{Add, Div, Mul, Sub};
    let ([x, scale, bias, mean, var], epsilon, _) = parts(node)?;
    let rank = b.ty(x).rank();
    b.layer = node.layer.clone();
    let mut o = Ops { b, prefix: node.name.clone() };
    let eps = o.scalar(epsilon);
    let shifted = o.bin(Add, var, eps)?;
    let std = o.un(UnaryKind::Sqrt, shifted)?;
    let gain = o.bin(Div, scale, std)?;
    let (mean_c, gain_c, bias_c) = (channel_shape(&mut o, mean, rank)?, channel_shape(&mut o, gain, rank)?, channel_shape(&mut o, bias, rank)?);
    let centred = o.bin(Sub, x, mean_c)?;
    let scaled = o.bin(Mul, centred, gain_c)?;
    let y = o.bin(Add, scaled, bias_c)?;
    o.b.node_into(&format!("{}/output", node.name), std::sync::Arc::new(crate::ops::Unary::new(UnaryKind::Identity)), &[y], &[node.outputs[0]])?;
    Ok(())
}

fn emit(b: &mut Builder, node: &Node) -> Result<[Moving; 2], TrainError> {
    use BinaryKind::{Add, Div, Mul, Sub};
    let ([x, scale, bias, mean, var], epsilon, momentum) = parts(node)?;
    let ty = b.ty(x).clone();
    let rank = ty.rank();
    let spatial: Option<usize> = ty.shape[2..].iter().map(Dim::fixed).product();
    let spatial = spatial.ok_or_else(|| TrainError::Unsupported(format!("batch normalization `{}` needs known spatial sizes", node.name)))?;
    b.layer = node.layer.clone();
    let mut o = Ops { b, prefix: node.name.clone() };
    let axes: Vec<i64> = std::iter::once(0).chain(2..rank as i64).collect();
    let sum = |o: &mut Ops, v: ValueId| -> Result<ValueId, TrainError> {
        let a = o.ints(&axes);
        o.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: true }, &[v, a])
    };
    // The batch is symbolic: count = N·spatial, with N read from the input's shape.
    let n = o.batch_count(x)?;
    let cells = o.scalar(spatial as f32);
    let count = o.bin(Mul, n, cells)?;
    let total = sum(&mut o, x)?;
    let batch_mean = o.bin(Div, total, count)?;
    let centred = o.bin(Sub, x, batch_mean)?;
    let squares = o.bin(Mul, centred, centred)?;
    let total_sq = sum(&mut o, squares)?;
    let batch_var = o.bin(Div, total_sq, count)?;
    let eps = o.scalar(epsilon);
    let shifted = o.bin(Add, batch_var, eps)?;
    let std = o.un(UnaryKind::Sqrt, shifted)?;
    let normalized = o.bin(Div, centred, std)?;
    let (scale_c, bias_c) = (channel_shape(&mut o, scale, rank)?, channel_shape(&mut o, bias, rank)?);
    let scaled = o.bin(Mul, normalized, scale_c)?;
    let y = o.bin(Add, scaled, bias_c)?;
    o.b.node_into(&format!("{}/output", node.name), std::sync::Arc::new(crate::ops::Unary::new(UnaryKind::Identity)), &[y], &[node.outputs[0]])?;
    // Moving statistics, as flat [C] vectors.
    let flat = |o: &mut Ops, v: ValueId| -> Result<ValueId, TrainError> {
        let a = o.ints(&axes);
        o.op(crate::ops::Squeeze, &[v, a])
    };
    let (m, keep) = (o.scalar(momentum), o.scalar(1.0 - momentum));
    let update = |o: &mut Ops, current: ValueId, batch: ValueId| -> Result<Moving, TrainError> {
        let batch = flat(o, batch)?;
        let kept = o.bin(Mul, current, m)?;
        let fresh = o.bin(Mul, batch, keep)?;
        Ok(Moving { current, next: o.bin(Add, kept, fresh)? })
    };
    Ok([update(&mut o, mean, batch_mean)?, update(&mut o, var, batch_var)?])
}
