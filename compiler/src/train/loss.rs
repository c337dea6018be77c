//! Losses and metrics as subgraphs, with Keras' names and reductions: each sample's loss is the mean
//! over its last axis (the sum over classes for cross-entropies), and the batch loss is the mean over
//! samples. Metrics come out as sums over the batch, which the trainer divides by the sample count.
use std::sync::Arc;

use super::TrainError;
use crate::builder::Builder;
use crate::ir::{DType, Dim, Tensor, TensorType, ValueId};
use crate::ops::{
    ArgMax, Binary, BinaryKind, Cast, Compare, CompareKind, Gather, Op, Reduce, ReduceKind, Shape, Softmax, SoftmaxKind, Unary, UnaryKind, Unsqueeze,
    Where,
};

/// Keras clips probabilities to [ε, 1−ε] before taking logs.
const EPSILON: f32 = 1e-7;
/// Keras' Huber delta.
const HUBER_DELTA: f32 = 1.0;

/// Appends ops to a builder under one name prefix.
pub(super) struct Ops<'a> {
    pub b: &'a mut Builder,
    pub prefix: String,
}

impl Ops<'_> {
    pub fn op(&mut self, op: impl Op + 'static, inputs: &[ValueId]) -> Result<ValueId, TrainError> {
        let name = format!("{}/{}", self.prefix, op.op_type());
        Ok(self.b.node1(&name, Arc::new(op), inputs)?)
    }

    pub fn un(&mut self, kind: UnaryKind, x: ValueId) -> Result<ValueId, TrainError> {
        self.op(Unary::new(kind), &[x])
    }

    pub fn bin(&mut self, kind: BinaryKind, a: ValueId, b: ValueId) -> Result<ValueId, TrainError> {
        self.op(Binary { kind }, &[a, b])
    }

    pub fn scalar(&mut self, v: f32) -> ValueId {
        self.b.constant(&format!("{}/c", self.prefix), Tensor::scalar_f32(v))
    }

    pub fn ints(&mut self, v: &[i64]) -> ValueId {
        self.b.constant(&format!("{}/i", self.prefix), Tensor::from_i64(vec![v.len()], v))
    }

    /// Sum over every axis: a scalar.
    pub fn sum_all(&mut self, x: ValueId) -> Result<ValueId, TrainError> {
        let axes = self.ints(&[]);
        self.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[x, axes])
    }

    /// Mean over the last axis (one value per sample for (N, k) inputs).
    pub fn mean_last(&mut self, x: ValueId) -> Result<ValueId, TrainError> {
        self.op(Reduce { kind: ReduceKind::Mean, axes: Some(vec![-1]), keepdims: false }, &[x])
    }

    /// The number of samples in the batch, as a float scalar (the batch dimension is symbolic).
    pub fn batch_count(&mut self, x: ValueId) -> Result<ValueId, TrainError> {
        let shape = self.op(Shape, &[x])?;
        let zero = self.b.constant(&format!("{}/i", self.prefix), Tensor::from_i64(vec![], &[0]));
        let n = self.op(Gather { axis: 0 }, &[shape, zero])?;
        self.op(Cast { to: DType::F32 }, &[n])
    }

    /// `where x < lo: lo; where x > hi: hi`, with the gradient of the clip (zero outside).
    pub fn clip(&mut self, x: ValueId, lo: f32, hi: f32) -> Result<ValueId, TrainError> {
        let (lo, hi) = (self.scalar(lo), self.scalar(hi));
        let below = self.op(Compare { kind: CompareKind::Less }, &[x, lo])?;
        let x = self.op(Where, &[below, lo, x])?;
        let above = self.op(Compare { kind: CompareKind::Greater }, &[x, hi])?;
        self.op(Where, &[above, hi, x])
    }

    /// One-hot float rows from int64 class ids (N,) for `classes` classes.
    pub fn one_hot(&mut self, ids: ValueId, classes: usize) -> Result<ValueId, TrainError> {
        let last = self.ints(&[-1]);
        let column = self.op(Unsqueeze, &[ids, last])?;
        let range: Vec<i64> = (0..classes as i64).collect();
        let range = self.b.constant(&format!("{}/classes", self.prefix), Tensor::from_i64(vec![classes], &range));
        let hot = self.op(Compare { kind: CompareKind::Equal }, &[column, range])?;
        self.op(Cast { to: DType::F32 }, &[hot])
    }
}

/// A loss with Keras' name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    Mse,
    Mae,
    Huber,
    BinaryCrossentropy,
    BinaryCrossentropyFromLogits,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
}

impl Loss {
    pub fn parse(name: &str) -> Option<Loss> {
        Some(match name {
            "mse" | "mean_squared_error" => Loss::Mse,
            "mae" | "mean_absolute_error" => Loss::Mae,
            "huber" => Loss::Huber,
            "binary_crossentropy" => Loss::BinaryCrossentropy,
            "binary_crossentropy_from_logits" => Loss::BinaryCrossentropyFromLogits,
            "categorical_crossentropy" => Loss::CategoricalCrossentropy,
            "sparse_categorical_crossentropy" => Loss::SparseCategoricalCrossentropy,
            _ => return None,
        })
    }

    /// The target's type for a prediction of type `pred`: class ids for the sparse loss, else the
    /// prediction's own.
    pub fn target_type(self, pred: &TensorType) -> TensorType {
        match self {
            Loss::SparseCategoricalCrossentropy => TensorType::new(DType::I64, vec![pred.shape[0].clone()]),
            _ => pred.clone(),
        }
    }
}

/// What the loss subgraph gives back: the batch loss and the metrics' batch sums, by name (one per
/// metric, three for `r2`).
pub struct LossOutputs {
    pub loss: ValueId,
    pub metrics: Vec<(String, ValueId)>,
}

/// The node that produced `v`, when it is `op_type`: its first input.
fn produced_by(b: &Builder, v: ValueId, op_type: &str) -> Option<ValueId> {
    b.graph.nodes.iter().find(|n| n.outputs.contains(&v) && n.op.op_type() == op_type).and_then(|n| n.inputs[0])
}

/// Appends `loss(pred, target)` and the metrics' batch sums.
pub fn build(b: &mut Builder, loss: Loss, pred: ValueId, target: ValueId, metrics: &[String]) -> Result<LossOutputs, TrainError> {
    use BinaryKind::{Add, Div, Mul, Sub};
    let pred_ty = b.ty(pred).clone();
    if pred_ty.rank() != 2 || pred_ty.dtype != DType::F32 {
        return Err(TrainError::Unsupported(format!("losses take (batch, outputs) float predictions; the model gives {pred_ty}")));
    }
    let classes = match &pred_ty.shape[1] {
        Dim::Fixed(c) => *c,
        Dim::Sym(s) => return Err(TrainError::Unsupported(format!("the output width `{s}` must be known"))),
    };
    // Keras computes cross-entropies from the logits when the model ends in sigmoid or softmax.
    let sigmoid_logits = produced_by(b, pred, "Sigmoid");
    let softmax_logits = produced_by(b, pred, "Softmax");
    let mut o = Ops { b, prefix: "loss".into() };
    let per_sample = match loss {
        Loss::Mse | Loss::Mae | Loss::Huber => {
            let diff = o.bin(Sub, pred, target)?;
            let elementwise = match loss {
                Loss::Mse => o.bin(Mul, diff, diff)?,
                Loss::Mae => o.un(UnaryKind::Abs, diff)?,
                _ => {
                    // ½e² within δ, δ(|e| − ½δ) beyond.
                    let e = o.un(UnaryKind::Abs, diff)?;
                    let (half, delta) = (o.scalar(0.5), o.scalar(HUBER_DELTA));
                    let square = o.bin(Mul, diff, diff)?;
                    let quadratic = o.bin(Mul, square, half)?;
                    let half_delta = o.scalar(0.5 * HUBER_DELTA);
                    let excess = o.bin(Sub, e, half_delta)?;
                    let linear = o.bin(Mul, excess, delta)?;
                    let inside = o.op(Compare { kind: CompareKind::Less }, &[e, delta])?;
                    o.op(Where, &[inside, quadratic, linear])?
                }
            };
            o.mean_last(elementwise)?
        }
        Loss::BinaryCrossentropy | Loss::BinaryCrossentropyFromLogits => {
            let logits = if loss == Loss::BinaryCrossentropyFromLogits { Some(pred) } else { sigmoid_logits };
            let elementwise = match logits {
                // relu(z) − z·y + log(1 + e^(−|z|)): stable for any z.
                Some(z) => {
                    let relu = o.un(UnaryKind::Relu, z)?;
                    let zy = o.bin(Mul, z, target)?;
                    let abs = o.un(UnaryKind::Abs, z)?;
                    let neg = o.un(UnaryKind::Neg, abs)?;
                    let exp = o.un(UnaryKind::Exp, neg)?;
                    let one = o.scalar(1.0);
                    let soft = o.bin(Add, one, exp)?;
                    let log = o.un(UnaryKind::Log, soft)?;
                    let first = o.bin(Sub, relu, zy)?;
                    o.bin(Add, first, log)?
                }
                // −(y·log p + (1−y)·log(1−p)), p clipped to [ε, 1−ε].
                None => {
                    let p = o.clip(pred, EPSILON, 1.0 - EPSILON)?;
                    let one = o.scalar(1.0);
                    let log_p = o.un(UnaryKind::Log, p)?;
                    let q = o.bin(Sub, one, p)?;
                    let log_q = o.un(UnaryKind::Log, q)?;
                    let not_y = o.bin(Sub, one, target)?;
                    let a = o.bin(Mul, target, log_p)?;
                    let c = o.bin(Mul, not_y, log_q)?;
                    let sum = o.bin(Add, a, c)?;
                    o.un(UnaryKind::Neg, sum)?
                }
            };
            o.mean_last(elementwise)?
        }
        Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => {
            let onehot = if loss == Loss::SparseCategoricalCrossentropy { o.one_hot(target, classes)? } else { target };
            let log_p = match softmax_logits {
                Some(z) => o.op(Softmax { kind: SoftmaxKind::LogSoftmax, axis: -1 }, &[z])?,
                None => {
                    let p = o.clip(pred, EPSILON, 1.0 - EPSILON)?;
                    o.un(UnaryKind::Log, p)?
                }
            };
            let picked = o.bin(Mul, onehot, log_p)?;
            let axes = o.ints(&[-1]);
            let total = o.op(Reduce { kind: ReduceKind::Sum, axes: None, keepdims: false }, &[picked, axes])?;
            o.un(UnaryKind::Neg, total)?
        }
    };
    let count = o.batch_count(pred)?;
    let total = o.sum_all(per_sample)?;
    let mean = o.bin(Div, total, count)?;

    let mut outputs = vec![];
    for m in metrics {
        o.prefix = format!("metric/{m}");
        if m == "r2" {
            // R² needs whole-epoch totals: Σ(p − y)², Σy and Σy² (see `TrainingGraphs::finish_metrics`).
            let diff = o.bin(Sub, pred, target)?;
            let sq = o.bin(Mul, diff, diff)?;
            let y_sq = o.bin(Mul, target, target)?;
            outputs.push(("r2:sse".to_string(), o.sum_all(sq)?));
            outputs.push(("r2:sum".to_string(), o.sum_all(target)?));
            outputs.push(("r2:sumsq".to_string(), o.sum_all(y_sq)?));
            continue;
        }
        let per_sample = match m.as_str() {
            "accuracy" if matches!(loss, Loss::BinaryCrossentropy | Loss::BinaryCrossentropyFromLogits) => binary_hits(&mut o, loss, pred, target)?,
            "accuracy" => {
                let guess = o.op(ArgMax { axis: -1, keepdims: false }, &[pred])?;
                let truth = match loss {
                    Loss::SparseCategoricalCrossentropy => target,
                    _ => o.op(ArgMax { axis: -1, keepdims: false }, &[target])?,
                };
                let hit = o.op(Compare { kind: CompareKind::Equal }, &[guess, truth])?;
                o.op(Cast { to: DType::F32 }, &[hit])?
            }
            "binary_accuracy" => binary_hits(&mut o, loss, pred, target)?,
            "mse" | "rmse" => {
                let diff = o.bin(Sub, pred, target)?;
                let sq = o.bin(Mul, diff, diff)?;
                o.mean_last(sq)?
            }
            "mae" => {
                let diff = o.bin(Sub, pred, target)?;
                let abs = o.un(UnaryKind::Abs, diff)?;
                o.mean_last(abs)?
            }
            other => return Err(TrainError::Unsupported(format!("metric `{other}`"))),
        };
        outputs.push((m.clone(), o.sum_all(per_sample)?));
    }
    Ok(LossOutputs { loss: mean, metrics: outputs })
}

/// 1 per element whose thresholded prediction equals the target, averaged over the last axis.
fn binary_hits(o: &mut Ops, loss: Loss, pred: ValueId, target: ValueId) -> Result<ValueId, TrainError> {
    let threshold = if loss == Loss::BinaryCrossentropyFromLogits { 0.0 } else { 0.5 };
    let (t, half) = (o.scalar(threshold), o.scalar(0.5));
    let guess = o.op(Compare { kind: CompareKind::Greater }, &[pred, t])?;
    let truth = o.op(Compare { kind: CompareKind::Greater }, &[target, half])?;
    // tract compares numbers only: compare the decisions as 0/1 floats.
    let guess = o.op(Cast { to: DType::F32 }, &[guess])?;
    let truth = o.op(Cast { to: DType::F32 }, &[truth])?;
    let hit = o.op(Compare { kind: CompareKind::Equal }, &[guess, truth])?;
    let hit = o.op(Cast { to: DType::F32 }, &[hit])?;
    o.mean_last(hit)
}
