//! Data-parallel steps: a batch split into shards, each shard's gradients computed on its own thread
//! by the gradient graph, averaged (weighted by shard size, summed in shard order so that a run is
//! reproducible), then one optimizer update, itself cut into parts over the parameters that run on
//! the same threads, each summing the gradients it reads. tract runs a plan on one core; this is
//! how a step uses the others. ONNX Runtime could spread each node over the cores instead, but most
//! of a training step's nodes are too small to split, so it too runs one single-threaded session
//! per shard (an update session with threads of its own slows the step: its spinning threads take
//! the cores from the next step's shards; `cargo bench --bench train_step`).
use std::collections::HashMap;
use std::ops::Range;

use ndarray::ArrayD;
use onyx_compiler::train::{ShardedStep, TrainingGraphs};
use onyx_proto::onnx::ModelProto;

use super::fit::{Plans, run_named, scalar_of};
use crate::engine::{EngineTensor, Session, TrainingEngine};
use crate::error::RuntimeError;
use crate::tensor::HostTensor;

/// A shard must hold at least this many elements of work (samples × elements computed per sample)
/// to pay for its thread: about a millisecond on tract. he_mlp's batch of 64 holds 10⁴ and runs
/// three times slower split; the CNN's holds 10⁶ per shard and runs twice as fast on two cores.
const MIN_SHARD_ELEMENTS: usize = 1 << 18;

pub(super) struct Shards {
    sharded: ShardedStep,
    grad_proto: ModelProto,
    /// The gradient graph's plans: one set that every shard shares, or one set per shard where
    /// the engine's sessions run one call at a time.
    grad: Vec<Plans>,
    /// The update graph in as many parts as there are shards, each run on its own thread (see
    /// `ShardedStep::update_parts`), loaded for the shard count of the last step.
    update: Vec<UpdatePlan>,
    update_for: usize,
    /// Threads that run every shard but the first (which runs on the caller's), kept from step to
    /// step: starting a thread per shard and step (spawning, starting, joining) costs several
    /// percent of a mnist_cnn step on ONNX Runtime (`cargo bench --bench train_step`).
    workers: Option<rayon::ThreadPool>,
}

/// One part of the update and the gradients it reads.
struct UpdatePlan {
    grads: Vec<String>,
    session: Box<dyn Session>,
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

type Named = HashMap<String, EngineTensor>;

/// Runs `job(0..jobs)`, the first on the caller's thread and the others on `workers`; a panic in
/// any becomes an error of that job, as an engine error is.
fn on_threads(
    workers: &rayon::ThreadPool,
    jobs: usize,
    job: impl Fn(usize) -> Result<Named, RuntimeError> + Sync,
) -> Vec<Result<Named, RuntimeError>> {
    let guarded = |i: usize| {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(i)));
        run.unwrap_or_else(|panic| Err(RuntimeError::Panicked(panic_message(panic.as_ref()))))
    };
    let mut results: Vec<Result<Named, RuntimeError>> =
        (0..jobs).map(|_| Err(RuntimeError::Internal("a training thread did not run".into()))).collect();
    if let Some((first, others)) = results.split_first_mut() {
        workers.in_place_scope(|s| {
            for (i, slot) in others.iter_mut().enumerate() {
                let guarded = &guarded;
                s.spawn(move |_| *slot = guarded(i + 1));
            }
            *first = guarded(0);
        });
    }
    results
}

impl Shards {
    pub fn new(sharded: &ShardedStep) -> Shards {
        Shards {
            sharded: sharded.clone(),
            grad_proto: onyx_compiler::to_onnx(&sharded.grad),
            grad: vec![],
            update: vec![],
            update_for: 0,
            workers: None,
        }
    }

    /// How many shards a batch of `batch` samples is worth on `threads` threads.
    pub fn count(&self, batch: usize, threads: usize) -> usize {
        threads.min(batch * self.sharded.sample_elements / MIN_SHARD_ELEMENTS).min(batch).max(1)
    }

    /// The update in `parts` parts, loaded.
    fn update_plans(&self, engine: &dyn TrainingEngine, parts: usize) -> Result<Vec<UpdatePlan>, RuntimeError> {
        let parts = self.sharded.update_parts(parts)?;
        parts
            .into_iter()
            .map(|part| Ok(UpdatePlan { session: engine.load_shard(&onyx_compiler::to_onnx(&part.graph))?, grads: part.grads }))
            .collect()
    }

    /// One step on `shards` shards: `batched` (data, target, masks) is cut into rows, `resident`
    /// (parameters, state, step, lr) is shared by every shard and the update.
    pub fn step(
        &mut self,
        engine: &dyn TrainingEngine,
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
        if self.update_for != shards {
            self.update = self.update_plans(engine, shards)?;
            self.update_for = shards;
        }
        let rows: Vec<Vec<EngineTensor>> = ranges
            .iter()
            .map(|r| {
                let rows: Vec<usize> = r.clone().collect();
                batched.iter().map(|(_, t)| engine.upload(t.select_rows(&rows))).collect::<Result<_, _>>()
            })
            .collect::<Result<_, _>>()?;
        let workers = match &mut self.workers {
            Some(w) if w.current_num_threads() == shards - 1 => w,
            slot => {
                let workers = rayon::ThreadPoolBuilder::new().num_threads(shards - 1).thread_name(|i| format!("onyx-shard-{}", i + 1)).build();
                slot.insert(workers.map_err(|e| RuntimeError::Threads(e.to_string()))?)
            }
        };
        let grad = &self.grad;
        let results = on_threads(workers, shards, |i| {
            let mut named = resident.clone();
            named.extend(batched.iter().map(|(n, _)| *n).zip(&rows[i]));
            run_named(grad[i % sets].get(ranges[i].len())?, &named)
        });
        let mut results: Vec<Named> = results.into_iter().collect::<Result<_, _>>()?;
        let weights: Vec<f64> = ranges.iter().map(|r| r.len() as f64 / batch as f64).collect();
        let (mut loss, mut metric_sums) = (0.0, vec![0.0; graphs.metric_sums.len()]);
        for (out, weight) in results.iter_mut().zip(&weights) {
            loss += weight * scalar_of(engine, out, onyx_compiler::train::LOSS)?;
            for (sum, m) in metric_sums.iter_mut().zip(&graphs.metric_sums) {
                *sum += scalar_of(engine, out, &format!("metric/{m}"))?;
            }
        }
        // Each part of the update sums the gradients it reads, on its own thread.
        let update = &self.update;
        let parts = on_threads(workers, update.len(), |p| {
            let part = &update[p];
            let sums = part
                .grads
                .iter()
                .map(|name| engine.upload(HostTensor::F32(weighted_sum(engine, &results, name, &weights)?)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut named = resident.clone();
            named.extend(part.grads.iter().map(String::as_str).zip(&sums));
            run_named(part.session.as_ref(), &named)
        });
        let mut outputs = HashMap::new();
        for part in parts {
            outputs.extend(part?);
        }
        Ok(StepOutput { loss, metric_sums, outputs })
    }
}

/// `Σ weightᵢ · results[i][name]`, summed in shard order so that a run is reproducible.
fn weighted_sum(engine: &dyn TrainingEngine, results: &[Named], name: &str, weights: &[f64]) -> Result<ArrayD<f32>, RuntimeError> {
    let mut acc: Option<ArrayD<f32>> = None;
    for (out, &weight) in results.iter().zip(weights) {
        let weight = weight as f32;
        let mut add = |g: ndarray::ArrayViewD<'_, f32>| match &mut acc {
            Some(acc) => acc.scaled_add(weight, &g),
            None => acc = Some(g.mapv(|v| v * weight)),
        };
        let t = out.get(name).ok_or_else(|| RuntimeError::Internal(format!("the training graph has no output `{name}`")))?;
        engine.read_f32(t, &mut add)?.ok_or_else(|| RuntimeError::Internal(format!("`{name}` is not a float gradient")))?;
    }
    acc.ok_or_else(|| RuntimeError::Internal("a step without shards".into()))
}

pub(super) fn take<T>(out: &mut HashMap<String, T>, name: &str) -> Result<T, RuntimeError> {
    out.remove(name).ok_or_else(|| RuntimeError::Internal(format!("the training graph has no output `{name}`")))
}

/// What a panic said, when it said it in a string.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_else(|| "no message".into())
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
