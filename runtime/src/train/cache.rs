//! A frozen base computed once: when no weight before a model's base cut trains (and nothing random
//! runs there), the base maps each sample to the same features every epoch, so the trainer runs the
//! base once over the data and trains the head alone on its features, as Keras users do by hand with
//! `base.predict`. The trained head's weights then go back into the whole model by name. Features
//! beyond a memory budget go to a file on disk.
use std::path::Path;

use ndarray::{ArrayD, Axis, concatenate};
use onyx_compiler::ir::Graph;
use onyx_compiler::transfer::BASE_CUT_KEY;

use crate::engine::Engine;
use crate::error::RuntimeError;
use crate::tensor::HostTensor;
use super::rows::{DiskWriter, Features};

/// A model cut at its base's output: the base, which computes the features, and the head, which
/// reads them.
pub struct FrozenBase {
    pub base: Graph,
    pub head: Graph,
}

/// The model cut at the tensor its metadata names as the base's output (`onyx.base_cut`), when no
/// weight before it trains and no dropout runs there; `None` otherwise.
pub fn split_frozen_base(model: &Graph) -> Option<FrozenBase> {
    let cut_name = model.metadata.iter().find(|(k, _)| k == BASE_CUT_KEY)?.1.clone();
    let cut = model.find_value(&cut_name)?;
    let base = model.extract(&format!("{}_base", model.name), &model.inputs, &[cut]).ok()?;
    if base.params().any(|(_, _, p)| p.trainable) || base.nodes.iter().any(|n| n.op.op_type() == "Dropout") {
        return None;
    }
    let head = model.extract(&model.name, &[cut], &model.outputs).ok()?;
    Some(FrozenBase { base, head })
}

/// The base's output for every row of `x`, computed `batch` rows at a time: kept in memory up to
/// `budget` bytes, and beyond it written to a file at `spill` (mapped back into memory a batch at a
/// time while training, and removed afterwards).
pub fn features(base: &Graph, engine: &dyn Engine, x: &HostTensor, batch: usize, budget: usize, spill: &Path, progress: &mut dyn FnMut(usize)) -> Result<Features, RuntimeError> {
    let session = engine.load(&onyx_compiler::to_onnx(base))?;
    let n = x.shape()[0];
    let (mut parts, mut held, mut disk): (Vec<ArrayD<f32>>, usize, Option<DiskWriter>) = (vec![], 0, None);
    for start in (0..n).step_by(batch.max(1)) {
        let rows: Vec<usize> = (start..(start + batch).min(n)).collect();
        let out = session.run(&[x.select_rows(&rows)])?.into_iter().next().ok_or_else(|| RuntimeError::Unsupported("the base has no output".into()))?;
        let HostTensor::F32(out) = out else { return Err(RuntimeError::Unsupported("the base's output is not float".into())) };
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
    concatenate(Axis(0), &views).map(|a| Features::Memory(HostTensor::F32(a))).map_err(|e| RuntimeError::Unsupported(format!("joining the base's outputs: {e}")))
}
