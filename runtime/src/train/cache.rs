//! A frozen prefix computed once: the nodes of a model before the first one that reads a trainable
//! weight (or draws random numbers) map each sample to the same tensor every epoch, so the trainer
//! runs them once over the data and trains the rest on their output, as Keras users do by hand with
//! `base.predict`. That covers a wholly frozen base (the cut is the base's output) and a base
//! fine-tuned from `trainable_from` (the cut is the last tensor before it that alone carries the
//! data forward, a block boundary in a ResNet). The trained part's weights then go back into the
//! whole model by name. Features beyond a memory budget go to a file on disk.
use std::path::Path;

use ndarray::{ArrayD, Axis, concatenate};
use onyx_compiler::ir::{Graph, ValueId};
use onyx_compiler::transfer::BASE_CUT_KEY;

use super::rows::{DiskWriter, Features};
use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::tensor::HostTensor;

/// A model cut where its frozen prefix ends: the prefix, which computes the features, and the rest,
/// which reads them and trains.
pub struct FrozenBase {
    pub base: Graph,
    pub head: Graph,
    /// The tensor where the two meet.
    pub cut: String,
}

/// Ops whose output is not a function of their input alone.
const RANDOM_OPS: [&str; 7] = ["Dropout", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"];

/// The model cut at the latest tensor, no later than its base's output (`onyx.base_cut`), that is
/// computed before any node reading a trainable weight or drawing random numbers and that alone
/// carries the data past that point; `None` when the model has no base or no such tensor.
pub fn split_frozen_base(model: &Graph) -> Option<FrozenBase> {
    let base_cut = model.find_value(model.metadata_value(BASE_CUT_KEY)?)?;
    let cut = frozen_frontier(model, base_cut)?;
    let base = model.extract(&format!("{}_base", model.name), &model.inputs, &[cut]).ok()?;
    let head = model.extract(&model.name, &[cut], &model.outputs).ok()?;
    Some(FrozenBase { base, head, cut: model.value(cut).name.clone() })
}

/// The tensor where the frozen prefix ends. Nodes are in topological order, so the prefix is the
/// nodes before the first live one; going back from there, the first position whose crossing set
/// (values computed before it and read at or after it) is one computed float tensor is the cut.
fn frozen_frontier(model: &Graph, base_cut: ValueId) -> Option<ValueId> {
    let trains = |v: ValueId| model.value(v).param.as_ref().is_some_and(|p| p.trainable);
    let producer = |v: ValueId| model.nodes.iter().position(|n| n.outputs.contains(&v));
    let live = model
        .nodes
        .iter()
        .position(|n| RANDOM_OPS.contains(&n.op.op_type()) || n.inputs.iter().flatten().any(|&v| trains(v)))
        .unwrap_or(model.nodes.len());
    let end = live.min(producer(base_cut)? + 1);
    // The last node reading each value (a model output is read after every node).
    let mut last_read = vec![None::<usize>; model.values.len()];
    for (i, n) in model.nodes.iter().enumerate() {
        for &v in n.inputs.iter().flatten() {
            last_read[v.0] = Some(i);
        }
    }
    for &v in &model.outputs {
        last_read[v.0] = Some(model.nodes.len());
    }
    (1..=end).rev().find_map(|k| {
        let mut crossing = model.nodes[..k].iter().flat_map(|n| n.outputs.iter().copied()).filter(|v| last_read[v.0].is_some_and(|r| r >= k));
        let only = crossing.next()?;
        let inputs_cross = model.inputs.iter().any(|v| last_read[v.0].is_some_and(|r| r >= k));
        (crossing.next().is_none() && !inputs_cross && model.value(only).ty.dtype.is_float()).then_some(only)
    })
}

/// The base's output for every row of `x`, computed `batch` rows at a time: kept in memory up to
/// `budget` bytes, and beyond it written to a file at `spill` (mapped back into memory a batch at a
/// time while training, and removed afterwards).
pub fn features(
    base: &Graph,
    engine: &dyn Engine,
    x: &HostTensor,
    batch: usize,
    budget: usize,
    spill: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<Features, RuntimeError> {
    let session = engine.load(&onyx_compiler::to_onnx(base))?;
    let n = x.shape()[0];
    let (mut parts, mut held, mut disk): (Vec<ArrayD<f32>>, usize, Option<DiskWriter>) = (vec![], 0, None);
    for start in (0..n).step_by(batch.max(1)) {
        let rows: Vec<usize> = (start..(start + batch).min(n)).collect();
        let out = session.run(&[x.select_rows(&rows)])?.into_iter().next().ok_or_else(|| RuntimeError::Model("base has no output".into()))?;
        let HostTensor::F32(out) = out else { return Err(RuntimeError::Model("base's output is not float".into())) };
        held += out.len() * 4;
        parts.push(out);
        if held > budget && disk.is_none() {
            disk = Some(DiskWriter::create(spill.to_path_buf())?);
        }
        if let Some(d) = disk.as_mut() {
            for part in parts.drain(..) {
                d.append(&part)?;
            }
        }
        progress(rows.len());
    }
    if let Some(d) = disk {
        return Ok(Features::Disk(d.finish()?));
    }
    if parts.is_empty() {
        let shape = session.outputs().first().and_then(|o| o.batch_shape(0)).unwrap_or(vec![0]);
        return Ok(Features::Memory(HostTensor::F32(ArrayD::zeros(shape))));
    }
    let views: Vec<_> = parts.iter().map(|a| a.view()).collect();
    concatenate(Axis(0), &views)
        .map(|a| Features::Memory(HostTensor::F32(a)))
        .map_err(|e| RuntimeError::Internal(format!("joining the base's outputs: {e}")))
}
