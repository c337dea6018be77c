//! Data-parallel steps: a batch split into shards, each shard's gradients computed on its own thread
//! by the gradient graph, averaged (weighted by shard size, summed in shard order so that a run is
//! reproducible), then one optimizer update. tract runs a plan on one core; this is how a step uses
//! the others. ONNX Runtime could spread each node over the cores instead, but most of a training
//! step's nodes are too small to split, so it too runs one single-threaded session per shard.
use std::collections::HashMap;
use std::ops::Range;

use ndarray::ArrayD;
use onyx_compiler::train::{ShardedStep, TrainingGraphs};
use onyx_proto::onnx::ModelProto;

use super::fit::{Plans, run_named, scalar_of};
use crate::engine::{Engine, EngineTensor, Session};
use crate::error::RuntimeError;
use crate::tensor::HostTensor;

/// A shard must hold at least this many elements of work (samples × elements computed per sample)
/// to pay for its thread: about a millisecond on tract. he_mlp's batch of 64 holds 10⁴ and runs
/// three times slower split; the CNN's holds 10⁶ per shard and runs twice as fast on two cores.
const MIN_SHARD_ELEMENTS: usize = 1 << 18;

pub(super) struct Shards {
    grads: Vec<String>,
    sample_elements: usize,
    grad_proto: ModelProto,
    /// The gradient graph's plans: one set that every shard shares, or one set per shard where
    /// the engine's sessions run one call at a time.
    grad: Vec<Plans>,
    update_proto: ModelProto,
    update: Option<Box<dyn Session>>,
    /// Threads that run every shard but the first (which runs on the caller's), kept from step to
    /// step: starting a thread per shard and step (spawning, starting, joining) cost 0.1–0.5 ms of
    /// a 6–7 ms mnist_cnn step on ONNX Runtime (five criterion runs alternating with this form).
    workers: Option<rayon::ThreadPool>,
}

/// What one optimizer step gives back.
pub(super) struct StepOutput {
    pub loss: f64,
    pub metric_sums: Vec<f64>,
    /// The next parameters and state, by output name, in the engine's form.
    pub outputs: HashMap<String, EngineTensor>,
}

/// `batch` rows in `shards` contiguous ranges whose sizes differ by at most one.
fn ranges(batch: usize, shards: usize) -> Vec<Range<usize>> {
    let (size, extra) = (batch / shards, batch % shards);
    let mut start = 0;
    (0..shards)
        .map(|i| {
            let len = size + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .collect()
}

impl Shards {
    pub fn new(sharded: &ShardedStep) -> Shards {
        Shards {
            grads: sharded.grads.clone(),
            sample_elements: sharded.sample_elements,
            grad_proto: onyx_compiler::to_onnx(&sharded.grad),
            grad: vec![],
            update_proto: onyx_compiler::to_onnx(&sharded.update),
            update: None,
            workers: None,
        }
    }

    /// How many shards a batch of `batch` samples is worth on `threads` threads.
    pub fn count(&self, batch: usize, threads: usize) -> usize {
        threads.min(batch * self.sample_elements / MIN_SHARD_ELEMENTS).min(batch).max(1)
    }

    /// One step on `shards` shards: `batched` (data, target, masks) is cut into rows, `resident`
    /// (parameters, state, step, lr) is shared by every shard and the update.
    pub fn step(
        &mut self,
        engine: &dyn Engine,
        graphs: &TrainingGraphs,
        resident: &HashMap<&str, &EngineTensor>,
        batched: &[(&str, &HostTensor)],
        batch: usize,
        shards: usize,
    ) -> Result<StepOutput, RuntimeError> {
        let ranges = ranges(batch, shards);
        let sets = if engine.shares_sessions() { 1 } else { shards };
        while self.grad.len() < sets {
            self.grad.push(Plans::for_shards(self.grad_proto.clone()));
        }
        for (i, r) in ranges.iter().enumerate() {
            self.grad[i % sets].session(engine, r.len())?;
        }
        let rows: Vec<Vec<EngineTensor>> = ranges
            .iter()
            .map(|r| {
                let rows: Vec<usize> = r.clone().collect();
                batched.iter().map(|(_, t)| engine.upload(t.select_rows(&rows))).collect()
            })
            .collect();
        let workers = match &mut self.workers {
            Some(w) if w.current_num_threads() == shards - 1 => w,
            slot => {
                let workers = rayon::ThreadPoolBuilder::new().num_threads(shards - 1).thread_name(|i| format!("onyx-shard-{}", i + 1)).build();
                slot.insert(workers.map_err(|e| RuntimeError::Unsupported(format!("cannot start the training threads: {e}")))?)
            }
        };
        let grad = &self.grad;
        // A panic in a shard is reported as an error of that step, as any engine error is.
        let run_shard = |i: usize| -> Result<HashMap<String, EngineTensor>, RuntimeError> {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut named = resident.clone();
                named.extend(batched.iter().map(|(n, _)| *n).zip(&rows[i]));
                run_named(grad[i % sets].get(ranges[i].len())?, &named)
            }))
            .unwrap_or_else(|_| Err(RuntimeError::Unsupported("a training thread panicked".into())))
        };
        let mut results: Vec<Option<Result<HashMap<String, EngineTensor>, RuntimeError>>> = (0..ranges.len()).map(|_| None).collect();
        if let Some((first, others)) = results.split_first_mut() {
            workers.in_place_scope(|s| {
                for (i, slot) in others.iter_mut().enumerate() {
                    let run_shard = &run_shard;
                    s.spawn(move |_| *slot = Some(run_shard(i + 1)));
                }
                *first = Some(run_shard(0));
            });
        }
        let (mut loss, mut metric_sums) = (0.0, vec![0.0; graphs.metric_sums.len()]);
        let mut grads: Vec<Option<ArrayD<f32>>> = vec![None; self.grads.len()];
        for (range, out) in ranges.iter().zip(results) {
            let mut out = out.ok_or_else(|| RuntimeError::Unsupported("a shard did not run".into()))??;
            let weight = range.len() as f64 / batch as f64;
            loss += weight * scalar_of(engine, &mut out, onyx_compiler::train::LOSS)?;
            for (sum, m) in metric_sums.iter_mut().zip(&graphs.metric_sums) {
                *sum += scalar_of(engine, &mut out, &format!("metric/{m}"))?;
            }
            let weight = weight as f32;
            for (acc, name) in grads.iter_mut().zip(&self.grads) {
                let mut add = |g: ndarray::ArrayViewD<'_, f32>| match acc {
                    Some(acc) => acc.scaled_add(weight, &g),
                    None => *acc = Some(g.mapv(|v| v * weight)),
                };
                engine.read_f32(&take(&mut out, name)?, &mut add)?.ok_or_else(|| RuntimeError::Unsupported(format!("`{name}` is not a float gradient")))?;
            }
        }
        let grads: Vec<EngineTensor> = grads.into_iter().map(|g| engine.upload(HostTensor::F32(g.unwrap_or_default()))).collect();
        let mut named = resident.clone();
        named.extend(self.grads.iter().map(String::as_str).zip(&grads));
        if self.update.is_none() {
            self.update = Some(engine.load_shard(&self.update_proto)?);
        }
        let update = self.update.as_deref().ok_or_else(|| RuntimeError::Unsupported("no update plan".into()))?;
        Ok(StepOutput { loss, metric_sums, outputs: run_named(update, &named)? })
    }
}

pub(super) fn take<T>(out: &mut HashMap<String, T>, name: &str) -> Result<T, RuntimeError> {
    out.remove(name).ok_or_else(|| RuntimeError::Unsupported(format!("the training graph has no output `{name}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_batch_evenly() {
        assert_eq!(ranges(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(ranges(64, 2), vec![0..32, 32..64]);
        assert_eq!(ranges(3, 3), vec![0..1, 1..2, 2..3]);
    }
}
