//! Training is ONNX: from an inference graph, derive a training-step graph (forward, loss,
//! regularizers, backward, optimizer update) and an eval graph (forward, loss, metrics), both in
//! standard opset-17 ops, so that any ONNX runtime can train the model by running the step graph
//! again and again, feeding each step's updated parameters and state to the next.
//!
//! Step graph inputs: the model's inputs, `target`, every trainable parameter (named as in the
//! inference model), the optimizer state (`<param>/<slot>`), `step` (updates made so far, float),
//! `lr` (the base learning rate) and one mask per dropout layer (`<layer>/mask`: 0 or 1/(1−rate) per
//! element, drawn by the runtime from the seed). Outputs: `loss`, `metric/<name>` (sums over the
//! batch), `<param>/next` and `<state>/next`.
use std::sync::Arc;

use crate::autodiff::{AutodiffError, backward_with};
use crate::builder::Builder;
use crate::ir::{DType, Dim, Graph, Tensor, TensorType, ValueId};
use crate::ops::{Binary, BinaryKind, OpError, UnaryKind};
use crate::passes::{PassError, unroll_recurrent_for_training};
use crate::spec::train::TrainSpec;

mod batch_norm;
mod loss;
mod optimizer;
pub mod tuning;
mod update_parts;

pub use loss::Loss;
use loss::Ops;
pub use tuning::Tuning;
pub use update_parts::UpdatePart;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Autodiff(#[from] AutodiffError),
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Pass(#[from] PassError),
    #[error("cannot train this model yet: {0}")]
    Unsupported(String),
    /// A broken invariant of the training graph builder, not of the user's model.
    #[error("internal error deriving the training graph: {0}; please report it with the model")]
    Internal(String),
    #[error("[train] needs a `loss`")]
    NoLoss,
}

/// A value fed to the step graph and replaced by one of its outputs after every step.
#[derive(Clone, Debug)]
pub struct Slot {
    /// The step graph's input.
    pub input: String,
    /// The step graph's output that holds the next value.
    pub output: String,
    pub initial: Tensor,
}

/// A dropout mask input and its rate.
#[derive(Clone, Debug)]
pub struct Mask {
    pub input: String,
    pub rate: f32,
    /// Per-sample shape (the batch dimension first is added by the runtime).
    pub sample_shape: Vec<usize>,
}

/// The step graph cut in two for data-parallel steps: the gradient graph runs on each shard of a
/// batch (on its own core), the shards' gradients are averaged, weighted by their sizes, and the
/// update graph applies the optimizer once. The same arithmetic as the step graph but for the order
/// of the sums.
#[derive(Clone, Debug)]
pub struct ShardedStep {
    /// Inputs: the data, `target`, the parameters and the dropout masks. Outputs: `loss`, the metric
    /// sums and each parameter's gradient (`grads`).
    pub grad: Graph,
    /// Inputs: the parameters, their gradients, the optimizer state, `step` and `lr`. Outputs: the
    /// next parameters and state.
    pub update: Graph,
    /// The gradient graph's outputs and the update graph's inputs, one per parameter.
    pub grads: Vec<String>,
    /// Elements the gradient graph computes per sample (in values with a batch axis): how much work
    /// a shard holds, against the cost of a thread.
    pub sample_elements: usize,
}

#[derive(Clone, Debug)]
pub struct TrainingGraphs {
    pub step: Graph,
    pub eval: Graph,
    /// `None` when the forward pass depends on the whole batch (batch normalization's statistics),
    /// which shards would change.
    pub sharded: Option<ShardedStep>,
    /// The model's own inputs, fed from the data.
    pub data_inputs: Vec<String>,
    pub target: String,
    pub target_type: TensorType,
    /// Trainable parameters, in the order of the step graph's inputs.
    pub params: Vec<Slot>,
    /// Optimizer state.
    pub states: Vec<Slot>,
    pub masks: Vec<Mask>,
    pub metrics: Vec<String>,
    /// The sums the graphs output for the metrics (`metric/<name>`), which `finish_metrics` turns
    /// into the metrics' values.
    pub metric_sums: Vec<String>,
    pub loss: Loss,
}

impl TrainingGraphs {
    /// Each metric's value from its sums over `samples` samples: means per sample, the root of the
    /// mean for `rmse`, and `1 − SSE / Σ(y − ȳ)²` over every target value for `r2`.
    /// The metrics' names, in the order [`TrainingGraphs::finish_metrics`] gives their values.
    pub fn metric_names(&self) -> Vec<String> {
        self.finish_metrics(&vec![0.0; self.metric_sums.len()], 1).into_iter().map(|(name, _)| name).collect()
    }

    pub fn finish_metrics(&self, sums: &[f64], samples: usize) -> Vec<(String, f64)> {
        let sum = |name: &str| self.metric_sums.iter().position(|m| m == name).map_or(f64::NAN, |i| sums[i]);
        let n = samples as f64;
        let values_per_sample = self.target_type.shape.get(1).and_then(Dim::fixed).unwrap_or(1) as f64;
        self.metrics
            .iter()
            .map(|m| {
                let value = match m.as_str() {
                    "r2" => {
                        let count = n * values_per_sample;
                        let (sse, sy, syy) = (sum("r2:sse"), sum("r2:sum"), sum("r2:sumsq"));
                        1.0 - sse / (syy - sy * sy / count)
                    }
                    "rmse" => (sum("rmse") / n).sqrt(),
                    other => sum(other) / n,
                };
                (m.clone(), value)
            })
            .collect()
    }
}

pub const TARGET: &str = "target";
pub const STEP: &str = "step";
pub const LR: &str = "lr";
pub const LOSS: &str = "loss";

fn rename(g: &mut Graph, id: ValueId, name: String) {
    g.values[id.0].name = name;
}

/// Turns the trainable parameters of `b`'s graph into graph inputs; returns (value, initial value).
fn lift_trainable(b: &mut Builder) -> Vec<(ValueId, Tensor)> {
    let ids: Vec<ValueId> = b.graph.params().filter(|(_, _, p)| p.trainable).map(|(id, _, _)| id).collect();
    lift(b, ids)
}

/// Turns the initializers `ids` into graph inputs; returns (value, initial value).
fn lift(b: &mut Builder, ids: Vec<ValueId>) -> Vec<(ValueId, Tensor)> {
    ids.into_iter()
        .filter_map(|id| {
            let initial = b.graph.values[id.0].init.take()?;
            b.graph.inputs.push(id);
            Some((id, initial))
        })
        .collect()
}

/// The loss, each metric by name, and the target's type.
type LossParts = (ValueId, Vec<(String, ValueId)>, TensorType);

/// Adds `target` and the loss with its metrics.
fn add_loss(b: &mut Builder, loss: Loss, metrics: &[String]) -> Result<LossParts, TrainError> {
    let pred = match b.graph.outputs.as_slice() {
        [one] => *one,
        _ => return Err(TrainError::Unsupported("training needs a model with one output".into())),
    };
    let target_type = loss.target_type(b.ty(pred));
    let target = b.input(TARGET, target_type.clone());
    let out = loss::build(b, loss, pred, target, metrics)?;
    Ok((out.loss, out.metrics, target_type))
}

/// Regularization penalties, Keras' definition: l1·Σ|w| + l2·Σw², summed over the parameters.
fn add_penalties(b: &mut Builder, loss: ValueId) -> Result<ValueId, TrainError> {
    let regularized: Vec<(ValueId, f32, f32)> = b.graph.params().filter_map(|(id, _, p)| p.regularizer.map(|r| (id, r.l1, r.l2))).collect();
    let mut o = Ops { b, prefix: "penalty".into() };
    let mut total = loss;
    for (w, l1, l2) in regularized {
        if l1 > 0.0 {
            let abs = o.un(UnaryKind::Abs, w)?;
            let sum = o.sum_all(abs)?;
            let k = o.scalar(l1);
            let term = o.bin(BinaryKind::Mul, sum, k)?;
            total = o.bin(BinaryKind::Add, total, term)?;
        }
        if l2 > 0.0 {
            let sq = o.bin(BinaryKind::Mul, w, w)?;
            let sum = o.sum_all(sq)?;
            let k = o.scalar(l2);
            let term = o.bin(BinaryKind::Mul, sum, k)?;
            total = o.bin(BinaryKind::Add, total, term)?;
        }
    }
    Ok(total)
}

/// Replaces each Dropout node by a multiplication with a mask input.
fn masks_for_dropout(b: &mut Builder) -> Result<Vec<Mask>, TrainError> {
    let mut masks = vec![];
    for i in 0..b.graph.nodes.len() {
        if b.graph.nodes[i].op.op_type() != "Dropout" {
            continue;
        }
        let node = b.graph.nodes[i].clone();
        let x = node.inputs[0].ok_or_else(|| TrainError::Internal(format!("dropout `{}` has no input", node.name)))?;
        let rate = node
            .inputs
            .get(1)
            .copied()
            .flatten()
            .and_then(|r| b.graph.value(r).init.as_ref())
            .and_then(Tensor::as_f32)
            .and_then(|v| v.first().copied())
            .unwrap_or(0.5);
        let ty = b.ty(x).clone();
        let sample_shape: Option<Vec<usize>> = ty.shape[1..].iter().map(Dim::fixed).collect();
        let sample_shape = sample_shape.ok_or_else(|| TrainError::Unsupported(format!("dropout `{}` needs a known sample shape", node.name)))?;
        let name = format!("{}/mask", node.layer.clone().unwrap_or_else(|| node.name.clone()));
        let mask = b.input(&name, ty);
        let input = b.graph.value(mask).name.clone();
        b.graph.nodes[i].op = Arc::new(Binary { kind: BinaryKind::Mul });
        b.graph.nodes[i].inputs = vec![Some(x), Some(mask)];
        masks.push(Mask { input, rate, sample_shape });
    }
    Ok(masks)
}

/// Derives the training-step and eval graphs of `model` (an inference graph from `compile`), tuned
/// for speed ([`Tuning::TUNED`]).
pub fn build(model: &Graph, spec: &TrainSpec) -> Result<TrainingGraphs, TrainError> {
    build_with(model, spec, Tuning::TUNED)
}

/// Derives the training-step and eval graphs of `model` with the rewrites `tuning` names.
pub fn build_with(model: &Graph, spec: &TrainSpec, tuning: Tuning) -> Result<TrainingGraphs, TrainError> {
    let loss_kind = spec.loss.as_deref().ok_or(TrainError::NoLoss)?;
    let loss_kind = Loss::parse(loss_kind).ok_or_else(|| TrainError::Unsupported(format!("loss `{loss_kind}`")))?;
    let data_inputs: Vec<String> = model.inputs.iter().map(|&i| model.value(i).name.clone()).collect();

    // The step graph: recurrent ops as primitives, dropout as masks, parameters as inputs.
    let mut unrolled = model.clone();
    unroll_recurrent_for_training(&mut unrolled)?;
    tuning.rewrite(&mut unrolled)?;
    let mut b = Builder::from_graph(unrolled);
    let masks = masks_for_dropout(&mut b)?;
    let moving = batch_norm::rewrite(&mut b)?;
    let lifted = lift_trainable(&mut b);
    let moving_lifted = lift(&mut b, moving.iter().map(|m| m.current).collect());
    let (loss, metrics, target_type) = add_loss(&mut b, loss_kind, &spec.metrics)?;
    let objective = add_penalties(&mut b, loss)?;
    let weights: Vec<ValueId> = lifted.iter().map(|(id, _)| *id).collect();
    let grads = backward_with(&mut b, objective, &weights, tuning)?;
    let mut grad_names = vec![];
    for (w, g) in weights.iter().zip(&grads) {
        let name = b.unique(&format!("{}/grad", b.graph.value(*w).name));
        // A parameter whose gradient is another value as is (x + w) gets it through an Identity.
        let g = if b.graph.inputs.contains(g) || grad_names.contains(&b.graph.value(*g).name) {
            b.node1(&name, Arc::new(crate::ops::Unary::new(UnaryKind::Identity)), &[*g])?
        } else {
            *g
        };
        rename(&mut b.graph, g, name.clone());
        grad_names.push(name);
    }
    let step = b.input(STEP, TensorType::new(DType::F32, vec![]));
    let lr = b.input(LR, TensorType::new(DType::F32, vec![]));
    let slots = optimizer::state_slots(&spec.optimizer);
    let mut o = Ops { b: &mut b, prefix: "optimizer".into() };
    let lr_now = optimizer::schedule(&mut o, &spec.schedule, lr, step)?;
    let (mut params, mut states, mut outputs) = (vec![], vec![], vec![]);
    for ((w, initial), g) in lifted.iter().zip(&grads) {
        let w_name = o.b.graph.value(*w).name.clone();
        let w_ty = initial.ty();
        let state_inputs: Vec<ValueId> = slots.iter().map(|(slot, _)| o.b.input(&format!("{w_name}/{slot}"), w_ty.clone())).collect();
        o.prefix = format!("{w_name}/update");
        let (next, next_states) = optimizer::update(&mut o, &spec.optimizer, *w, *g, &state_inputs, step, lr_now)?;
        params.push(Slot { input: w_name.clone(), output: format!("{w_name}/next"), initial: initial.clone() });
        outputs.push((next, format!("{w_name}/next")));
        for (((slot, init), input), next) in slots.iter().zip(&state_inputs).zip(next_states) {
            let input_name = o.b.graph.value(*input).name.clone();
            let values = vec![*init; initial.len()];
            states.push(Slot {
                input: input_name.clone(),
                output: format!("{input_name}/next"),
                initial: Tensor::from_f32(initial.dims.clone(), &values),
            });
            outputs.push((next, format!("{w_name}/{slot}/next")));
        }
    }
    // The moving statistics of batch normalization are state too, updated by the forward pass.
    for ((current, initial), m) in moving_lifted.iter().zip(&moving) {
        let name = b.graph.value(*current).name.clone();
        states.push(Slot { input: name.clone(), output: format!("{name}/next"), initial: initial.clone() });
        outputs.push((m.next, format!("{name}/next")));
    }
    let mut step_graph = b.graph;
    step_graph.outputs.clear();
    // Keras reports the loss with the regularization penalties included.
    for (id, name) in std::iter::once((objective, LOSS.to_string())).chain(metrics.iter().map(|(m, id)| (*id, format!("metric/{m}")))).chain(outputs)
    {
        rename(&mut step_graph, id, name);
        step_graph.outputs.push(id);
    }
    step_graph.name = format!("{}_train_step", model.name);
    // Backpropagation also differentiates towards the data inputs (the first conv's dX, say), which
    // nothing reads; engines that run every node (ONNX Runtime) would compute them at every step.
    let (inputs, outputs) = (step_graph.inputs.clone(), step_graph.outputs.clone());
    let step_graph = step_graph.extract(&step_graph.name, &inputs, &outputs).map_err(TrainError::Internal)?;
    let sharded = if moving.is_empty() { Some(shard(&step_graph, &data_inputs, &params, &states, &masks, &metrics, grad_names)?) } else { None };

    // The eval graph: the inference forward pass, loss and metrics, with what training changes as
    // inputs (the trainable parameters and the moving statistics); frozen weights stay initializers.
    let mut e = Builder::from_graph(model.clone());
    let changing: Vec<ValueId> =
        e.graph.params().filter(|(_, v, p)| p.trainable || states.iter().any(|s| s.input == v.name)).map(|(id, _, _)| id).collect();
    lift(&mut e, changing);
    batch_norm::spell_out_fed(&mut e)?;
    let (eval_loss, eval_metrics, _) = add_loss(&mut e, loss_kind, &spec.metrics)?;
    let eval_loss = add_penalties(&mut e, eval_loss)?;
    let mut eval = e.graph;
    eval.outputs.clear();
    for (id, name) in std::iter::once((eval_loss, LOSS.to_string())).chain(eval_metrics.iter().map(|(m, id)| (*id, format!("metric/{m}")))) {
        rename(&mut eval, id, name);
        eval.outputs.push(id);
    }
    eval.name = format!("{}_eval", model.name);

    Ok(TrainingGraphs {
        step: step_graph,
        eval,
        sharded,
        data_inputs,
        target: TARGET.into(),
        target_type,
        params,
        states,
        masks,
        metrics: spec.metrics.clone(),
        metric_sums: metrics.iter().map(|(m, _)| m.clone()).collect(),
        loss: loss_kind,
    })
}

/// Cuts the step graph at the gradients (see `ShardedStep`).
fn shard(
    step: &Graph,
    data_inputs: &[String],
    params: &[Slot],
    states: &[Slot],
    masks: &[Mask],
    metrics: &[(String, ValueId)],
    grads: Vec<String>,
) -> Result<ShardedStep, TrainError> {
    let id = |name: &str| step.find_value(name).ok_or_else(|| TrainError::Internal(format!("the step graph lost `{name}`")));
    let ids = |names: &mut dyn Iterator<Item = &str>| names.map(id).collect::<Result<Vec<_>, _>>();
    let param_inputs: Vec<&str> = params.iter().map(|p| p.input.as_str()).collect();
    let grad_inputs = ids(&mut data_inputs
        .iter()
        .map(String::as_str)
        .chain([TARGET])
        .chain(param_inputs.iter().copied())
        .chain(masks.iter().map(|m| m.input.as_str())))?;
    let metric_outputs: Vec<String> = metrics.iter().map(|(m, _)| format!("metric/{m}")).collect();
    let grad_outputs = ids(&mut std::iter::once(LOSS).chain(metric_outputs.iter().map(String::as_str)).chain(grads.iter().map(String::as_str)))?;
    let update_inputs = ids(&mut param_inputs
        .iter()
        .copied()
        .chain(grads.iter().map(String::as_str))
        .chain(states.iter().map(|s| s.input.as_str()))
        .chain([STEP, LR]))?;
    let update_outputs = ids(&mut params.iter().chain(states).map(|s| s.output.as_str()))?;
    let cut = |name: &str, inputs: &[ValueId], outputs: &[ValueId]| {
        step.extract(&format!("{}_{name}", step.name), inputs, outputs).map_err(TrainError::Internal)
    };
    let grad = cut("grad", &grad_inputs, &grad_outputs)?;
    let sample_elements = grad
        .values
        .iter()
        .filter_map(|v| Some(v.ty.shape.first()?.batch_multiple()? * v.ty.shape[1..].iter().map(|d| d.fixed().unwrap_or(1)).product::<usize>()))
        .sum();
    Ok(ShardedStep { grad, update: cut("update", &update_inputs, &update_outputs)?, grads, sample_elements })
}

/// A JSON description of how to drive the step graph: which output feeds which input next step, the
/// initial values' source, the mask rates and the scalar inputs.
pub fn manifest(g: &TrainingGraphs) -> String {
    let slots = |slots: &[Slot], initial: &str| -> Vec<serde_json::Value> {
        slots.iter().map(|s| serde_json::json!({ "input": s.input, "next": s.output, "initial": initial })).collect()
    };
    let value = serde_json::json!({
        "data_inputs": g.data_inputs,
        "target": { "name": g.target, "dtype": g.target_type.dtype.name() },
        "parameters": slots(&g.params, "the initializer of the same name in the inference model"),
        "optimizer_state": g.states.iter().map(|s| serde_json::json!({
            "input": s.input,
            "next": s.output,
            "initial": s.initial.as_f32().and_then(|v| v.first().copied()).unwrap_or(0.0),
        })).collect::<Vec<_>>(),
        "dropout_masks": g.masks.iter().map(|m| serde_json::json!({ "input": m.input, "rate": m.rate, "values": "0 or 1/(1-rate), per element" })).collect::<Vec<_>>(),
        "step": { "name": STEP, "meaning": "updates made before this one, from 0 (float32 scalar)" },
        "lr": { "name": LR, "meaning": "the base learning rate; the schedule is inside the graph (float32 scalar)" },
        "loss": LOSS,
        "metrics": g.metric_sums.iter().map(|m| format!("metric/{m}")).collect::<Vec<_>>(),
        "metric_meaning": "sums over the batch: divide by the samples seen (rmse: then take the root; r2: 1 − sse/(sumsq − sum²/values))",
        "data_parallel": g.sharded.as_ref().map(|s| serde_json::json!({
            "gradient_graph": "train_grad.onnx: the step graph's inputs but the optimizer state, step and lr; outputs loss, metrics and one gradient per parameter",
            "update_graph": "train_update.onnx: parameters, gradients, optimizer state, step and lr in; next parameters and state out",
            "gradients": s.grads,
            "combine": "run the gradient graph on each shard of a batch; average loss and gradients weighted by shard size, add the metric sums; then run the update graph once",
        })),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}
