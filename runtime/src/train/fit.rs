use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::train::{Slot, TrainingGraphs};
use onyx_proto::onnx::ModelProto;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Rows;
use super::checkpoint::{self, Checkpoint, EarlyState};
use super::shards::{Shards, StepOutput, take};
use crate::engine::{EngineTensor, Session, TrainingEngine};
use crate::error::RuntimeError;
use crate::tensor::HostTensor;

pub use onyx_compiler::spec::train::EarlyStopping;

#[derive(Clone, Debug)]
pub struct FitOptions {
    pub epochs: usize,
    /// `None`: the whole training set per step (batch gradient descent); 1 is stochastic.
    pub batch_size: Option<usize>,
    pub shuffle: bool,
    pub seed: u64,
    pub lr: f32,
    pub early_stopping: Option<EarlyStopping>,
    /// Write a checkpoint beside this model path after every epoch.
    pub checkpoint: Option<std::path::PathBuf>,
}

impl FitOptions {
    /// The settings of a spec's `[train]` table, shuffled and dropped out with `seed`, without a
    /// checkpoint.
    pub fn from_spec(train: &onyx_compiler::spec::TrainSpec, seed: u64) -> FitOptions {
        FitOptions {
            epochs: train.epochs,
            batch_size: train.batch_size,
            shuffle: train.shuffle,
            seed,
            lr: train.optimizer.lr as f32,
            early_stopping: train.early_stopping.clone(),
            checkpoint: None,
        }
    }
}

/// One epoch's averages, as Keras' History holds them.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub metrics: Vec<(String, f64)>,
    pub val_loss: Option<f64>,
    pub val_metrics: Vec<(String, f64)>,
    /// Wall time of the epoch's steps and validation (not its checkpoint).
    pub seconds: f64,
}

impl EpochLog {
    /// A logged quantity by Keras' name (`loss`, `val_loss`, `accuracy`, `val_accuracy`...).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "loss" => Some(self.loss),
            "val_loss" => self.val_loss,
            _ => match name.strip_prefix("val_") {
                Some(m) => self.val_metrics.iter().find(|(n, _)| n == m).map(|(_, v)| *v),
                None => self.metrics.iter().find(|(n, _)| n == name).map(|(_, v)| *v),
            },
        }
    }
}

/// What the trainer tells its observer.
pub enum Event<'a> {
    /// Before the first step: batches per epoch and samples per epoch.
    Start {
        epochs: usize,
        batches: usize,
        samples: usize,
    },
    Batch {
        epoch: usize,
        batch: usize,
        loss: f64,
        samples: usize,
    },
    Epoch(&'a EpochLog),
}

/// One graph loaded once per batch size: tract optimizes best, and some gradients need, a concrete
/// batch.
pub(super) struct Plans {
    proto: ModelProto,
    loaded: HashMap<usize, Box<dyn Session>>,
    /// Whether the sessions run shards of a data-parallel step (`Engine::load_shard`).
    shard: bool,
}

impl Plans {
    pub fn new(proto: ModelProto) -> Plans {
        Plans { proto, loaded: HashMap::new(), shard: false }
    }

    /// Plans whose sessions each run one shard of a data-parallel step.
    pub fn for_shards(proto: ModelProto) -> Plans {
        Plans { shard: true, ..Plans::new(proto) }
    }

    /// The plan for `batch`, loaded on first use.
    pub fn session(&mut self, engine: &dyn TrainingEngine, batch: usize) -> Result<&dyn Session, RuntimeError> {
        if !self.loaded.contains_key(&batch) {
            let fixed = onyx_compiler::passes::fix_batch(&self.proto, batch);
            let session = if self.shard { engine.load_shard(&fixed)? } else { engine.load(&fixed)? };
            self.loaded.insert(batch, session);
        }
        self.get(batch)
    }

    /// The plan for `batch`, which `session` loaded.
    pub fn get(&self, batch: usize) -> Result<&dyn Session, RuntimeError> {
        self.loaded.get(&batch).map(|s| s.as_ref()).ok_or_else(|| RuntimeError::Internal(format!("no plan for batch {batch}")))
    }
}

/// Feeds `named` to `session` in the order it declares its inputs; returns the outputs by name, in
/// the engine's form.
pub(super) fn run_named(session: &dyn Session, named: &HashMap<&str, &EngineTensor>) -> Result<HashMap<String, EngineTensor>, RuntimeError> {
    let inputs: Vec<&EngineTensor> = session
        .inputs()
        .iter()
        .map(|i| {
            named
                .get(i.name.as_str())
                .copied()
                .ok_or_else(|| RuntimeError::Input { input: i.name.clone(), message: "nothing feeds this input of the training graph".into() })
        })
        .collect::<Result<_, _>>()?;
    let outputs = session.run_resident(&inputs)?;
    Ok(session.outputs().iter().map(|o| o.name.clone()).zip(outputs).collect())
}

/// The scalar an output holds (the loss, a metric sum).
pub(super) fn scalar_of(engine: &dyn TrainingEngine, out: &mut HashMap<String, EngineTensor>, name: &str) -> Result<f64, RuntimeError> {
    Ok(engine.download(&take(out, name)?)?.scalar())
}

/// Runs a model's training graphs on an engine, keeping parameters and optimizer state between steps.
pub struct Trainer<'e> {
    graphs: TrainingGraphs,
    engine: &'e dyn TrainingEngine,
    steps: Plans,
    evals: Plans,
    /// The gradient and update plans of data-parallel steps, when the model allows them.
    shards: Option<Shards>,
    threads: usize,
    /// Parameters and optimizer state stay in the engine's form between steps.
    params: Vec<EngineTensor>,
    states: Vec<EngineTensor>,
    /// Updates made so far (Keras' `optimizer.iterations`).
    pub updates: u64,
    /// Every epoch trained so far, resumed ones included.
    pub history: Vec<EpochLog>,
    /// Early stopping's state, kept in checkpoints so that a resumed run stops where an
    /// uninterrupted one does.
    pub early: EarlyState,
}

fn initial(engine: &dyn TrainingEngine, slots: &[Slot]) -> Result<Vec<EngineTensor>, RuntimeError> {
    slots
        .iter()
        .map(|s| {
            engine.upload(HostTensor::from_ir(&s.initial).ok_or_else(|| RuntimeError::Internal(format!("`{}` is not a float32 tensor", s.input)))?)
        })
        .collect()
}

fn scalar(v: f32) -> HostTensor {
    HostTensor::F32(ArrayD::from_elem(IxDyn(&[]), v))
}

impl<'e> Trainer<'e> {
    pub fn new(graphs: TrainingGraphs, engine: &'e dyn TrainingEngine) -> Result<Trainer<'e>, RuntimeError> {
        let steps = Plans::new(onyx_compiler::to_onnx(&graphs.step));
        let evals = Plans::new(onyx_compiler::to_onnx(&graphs.eval));
        let shards = graphs.sharded.as_ref().map(Shards::new);
        let params = initial(engine, &graphs.params)?;
        let states = initial(engine, &graphs.states)?;
        let threads = engine.step_threads();
        Ok(Trainer { graphs, engine, steps, evals, shards, threads, params, states, updates: 0, history: vec![], early: EarlyState::default() })
    }

    /// Threads a step may use (by default `Engine::step_threads`: every core on tract, the intra-op
    /// threads on ORT). A batch with enough work is split into up to this many shards; the result
    /// differs from one thread's in the last bits only (the order of the sums), and is
    /// reproducible for a given count.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// How many shards a step on `batch` samples runs in (1: the whole step graph).
    pub fn shards(&self, batch: usize) -> usize {
        self.shards.as_ref().map_or(1, |s| s.count(batch, self.threads))
    }

    pub fn graphs(&self) -> &TrainingGraphs {
        &self.graphs
    }

    /// Host copies of `values`, named after `slots`.
    fn named(&self, slots: &[Slot], values: &[EngineTensor]) -> Result<Vec<(String, HostTensor)>, RuntimeError> {
        slots.iter().zip(values).map(|(s, v)| Ok((s.input.clone(), self.engine.download(v)?))).collect()
    }

    /// The current value of each trainable parameter, by name (a copy).
    pub fn params(&self) -> Result<Vec<(String, HostTensor)>, RuntimeError> {
        self.named(&self.graphs.params, &self.params)
    }

    /// Replaces parameter values (warm start), in the order of `graphs().params`.
    pub fn set_params(&mut self, params: Vec<HostTensor>) -> Result<(), RuntimeError> {
        self.params = params.into_iter().map(|t| self.engine.upload(t)).collect::<Result<_, _>>()?;
        Ok(())
    }

    /// `model` (the inference graph the training graphs came from) with the trained weights.
    pub fn trained_model(&self, model: &onyx_compiler::ir::Graph) -> Result<onyx_compiler::ir::Graph, RuntimeError> {
        let mut out = model.clone();
        // Parameters, and the state the model itself holds (batch normalization's moving statistics).
        for (name, value) in self.params()?.into_iter().chain(self.named(&self.graphs.states, &self.states)?) {
            if let Some(id) = out.find_value(&name) {
                out.values[id.0].init = Some(value.to_ir());
            }
        }
        Ok(out)
    }

    /// Continues from a checkpoint: its parameters, state, update count and history.
    pub fn resume(&mut self, c: Checkpoint) -> Result<(), RuntimeError> {
        let engine = self.engine;
        let pick = |slots: &[Slot], saved: &[(String, HostTensor)]| -> Result<Vec<EngineTensor>, RuntimeError> {
            slots
                .iter()
                .map(|s| {
                    let saved = saved
                        .iter()
                        .find(|(n, _)| *n == s.input)
                        .ok_or_else(|| RuntimeError::Checkpoint(format!("has no `{}`: it belongs to another model or optimizer", s.input)))?;
                    engine.upload(saved.1.clone())
                })
                .collect()
        };
        self.params = pick(&self.graphs.params, &c.params)?;
        self.states = pick(&self.graphs.states, &c.states)?;
        self.updates = c.updates;
        self.history = c.history;
        self.early = c.early;
        Ok(())
    }

    fn checkpoint(&self) -> Result<Checkpoint, RuntimeError> {
        Ok(Checkpoint {
            epoch: self.history.last().map_or(0, |l| l.epoch),
            updates: self.updates,
            params: self.params()?,
            states: self.named(&self.graphs.states, &self.states)?,
            history: self.history.clone(),
            early: self.early.clone(),
        })
    }

    /// The first parameter or state (in the graph's order) holding a NaN or an infinity.
    fn first_non_finite(&self) -> Result<Option<String>, RuntimeError> {
        let slots = self.graphs.params.iter().zip(&self.params).chain(self.graphs.states.iter().zip(&self.states));
        for (slot, t) in slots {
            let mut bad = false;
            self.engine.read_f32(t, &mut |a| bad = a.iter().any(|v| !v.is_finite()))?;
            if bad {
                return Ok(Some(slot.input.clone()));
            }
        }
        Ok(None)
    }

    /// One optimizer step on a batch; returns the loss and the metrics' batch sums (`metric_sums`).
    pub fn step(&mut self, x: &[HostTensor], y: &HostTensor, lr: f32, rng: &mut ChaCha8Rng) -> Result<(f64, Vec<f64>), RuntimeError> {
        let batch = y.shape()[0];
        let masks: Vec<HostTensor> = self
            .graphs
            .masks
            .iter()
            .map(|m| {
                let keep = 1.0 - m.rate;
                let mut shape = vec![batch];
                shape.extend(&m.sample_shape);
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n).map(|_| if rng.random::<f32>() < keep { 1.0 / keep } else { 0.0 }).collect();
                HostTensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), values).expect("shape and count agree"))
            })
            .collect();
        let engine = self.engine;
        let (step_t, lr_t) = (engine.upload(scalar(self.updates as f32))?, engine.upload(scalar(lr))?);
        let g = &self.graphs;
        // The batch (data, target, dropout masks) comes from the host; the rest stays in the engine.
        let mut batched: Vec<(&str, &HostTensor)> = g.data_inputs.iter().map(String::as_str).zip(x).collect();
        batched.push((g.target.as_str(), y));
        batched.extend(g.masks.iter().map(|m| m.input.as_str()).zip(&masks));
        let mut resident: HashMap<&str, &EngineTensor> = HashMap::new();
        resident.extend(g.params.iter().map(|s| s.input.as_str()).zip(&self.params));
        resident.extend(g.states.iter().map(|s| s.input.as_str()).zip(&self.states));
        resident.insert(onyx_compiler::train::STEP, &step_t);
        resident.insert(onyx_compiler::train::LR, &lr_t);
        let mut out = match &mut self.shards {
            Some(sharded) if sharded.count(batch, self.threads) > 1 => {
                let shards = sharded.count(batch, self.threads);
                sharded.step(engine, g, &resident, &batched, batch, shards)?
            }
            _ => {
                let uploaded: Vec<EngineTensor> = batched.iter().map(|(_, t)| engine.upload((*t).clone())).collect::<Result<_, _>>()?;
                let mut named = resident;
                named.extend(batched.iter().map(|(n, _)| *n).zip(&uploaded));
                let mut outputs = run_named(self.steps.session(engine, batch)?, &named)?;
                let loss = scalar_of(engine, &mut outputs, onyx_compiler::train::LOSS)?;
                let metric_sums =
                    g.metric_sums.iter().map(|m| scalar_of(engine, &mut outputs, &format!("metric/{m}"))).collect::<Result<Vec<_>, _>>()?;
                StepOutput { loss, metric_sums, outputs }
            }
        };
        self.params = g.params.iter().map(|s| take(&mut out.outputs, &s.output)).collect::<Result<_, _>>()?;
        self.states = g.states.iter().map(|s| take(&mut out.outputs, &s.output)).collect::<Result<_, _>>()?;
        self.updates += 1;
        Ok((out.loss, out.metric_sums))
    }

    /// Loss and metric means over a data set, in chunks of `batch` samples.
    pub fn evaluate<X: Rows>(&mut self, x: &[X], y: &HostTensor, batch: usize) -> Result<(f64, Vec<f64>), RuntimeError> {
        let n = y.shape()[0];
        let (mut loss, mut sums) = (0.0, vec![0.0; self.graphs.metric_sums.len()]);
        for start in (0..n).step_by(batch.max(1)) {
            let rows: Vec<usize> = (start..(start + batch).min(n)).collect();
            let engine = self.engine;
            let xb: Vec<EngineTensor> = x.iter().map(|t| engine.upload(t.select_rows(&rows))).collect::<Result<_, _>>()?;
            let yb = engine.upload(y.select_rows(&rows))?;
            let g = &self.graphs;
            let mut named: HashMap<&str, &EngineTensor> = HashMap::new();
            named.extend(g.data_inputs.iter().map(String::as_str).zip(&xb));
            named.insert(g.target.as_str(), &yb);
            named.extend(g.params.iter().map(|s| s.input.as_str()).zip(&self.params));
            named.extend(g.states.iter().map(|s| s.input.as_str()).zip(&self.states));
            let mut out = run_named(self.evals.session(engine, rows.len())?, &named)?;
            loss += scalar_of(engine, &mut out, onyx_compiler::train::LOSS)? * rows.len() as f64;
            for (s, m) in sums.iter_mut().zip(&g.metric_sums) {
                *s += scalar_of(engine, &mut out, &format!("metric/{m}"))?;
            }
        }
        Ok((loss / n as f64, self.graphs.finish_metrics(&sums, n).into_iter().map(|(_, v)| v).collect()))
    }

    /// Trains up to epoch `opts.epochs` (continuing after the epochs in `history`, or until early
    /// stopping), reporting to `observe`; returns the whole history. Each epoch draws its shuffle and
    /// dropout masks from its own seeded stream, so a resumed run repeats an uninterrupted one.
    pub fn fit<X: Rows>(
        &mut self,
        x: &[X],
        y: &HostTensor,
        validation: Option<(&[X], &HostTensor)>,
        opts: &FitOptions,
        observe: &mut dyn FnMut(Event),
    ) -> Result<Vec<EpochLog>, RuntimeError> {
        let n = y.shape()[0];
        if n == 0 {
            return Err(RuntimeError::NoSamples);
        }
        let batch = opts.batch_size.unwrap_or(n).clamp(1, n);
        let batches = n.div_ceil(batch);
        observe(Event::Start { epochs: opts.epochs, batches, samples: n });
        let first = self.history.last().map_or(1, |l| l.epoch + 1);
        // A resumed run that had stopped early stays stopped.
        let last = if self.early.stopped && opts.early_stopping.is_some() { 0 } else { opts.epochs };
        for epoch in first..=last {
            let mut rng = ChaCha8Rng::seed_from_u64(onyx_compiler::init::param_seed(opts.seed, &format!("epoch {epoch}")));
            let mut order: Vec<usize> = (0..n).collect();
            if opts.shuffle {
                order.shuffle(&mut rng);
            }
            let (mut loss_sum, mut metric_sums) = (0.0, vec![0.0; self.graphs.metric_sums.len()]);
            let started = std::time::Instant::now();
            for (b, rows) in order.chunks(batch).enumerate() {
                let xb: Vec<HostTensor> = x.iter().map(|t| t.select_rows(rows)).collect();
                let yb = y.select_rows(rows);
                let (loss, metrics) = self.step(&xb, &yb, opts.lr, &mut rng)?;
                if !loss.is_finite() {
                    return Err(RuntimeError::Diverged { epoch, batch: b + 1, loss });
                }
                // Relu and max pooling pass a NaN weight on as a finite activation, so the loss can
                // look sound while the weights are not: they are checked too.
                if let Some(tensor) = self.first_non_finite()? {
                    return Err(RuntimeError::NonFinite { epoch, batch: b + 1, tensor });
                }
                loss_sum += loss * rows.len() as f64;
                metric_sums.iter_mut().zip(metrics).for_each(|(s, m)| *s += m);
                observe(Event::Batch { epoch, batch: b + 1, loss, samples: rows.len() });
            }
            let mut log = EpochLog {
                epoch,
                loss: loss_sum / n as f64,
                metrics: self.graphs.finish_metrics(&metric_sums, n),
                val_loss: None,
                val_metrics: vec![],
                seconds: 0.0,
            };
            if let Some((vx, vy)) = validation {
                let (vl, vm) = self.evaluate(vx, vy, batch)?;
                log.val_loss = Some(vl);
                log.val_metrics = self.graphs.metrics.iter().cloned().zip(vm).collect();
            }
            log.seconds = started.elapsed().as_secs_f64();
            observe(Event::Epoch(&log));
            let stop = match &opts.early_stopping {
                Some(es) => {
                    let value = log.get(&es.monitor).ok_or_else(|| RuntimeError::Monitor(es.monitor.clone()))?;
                    // Losses improve downwards, accuracies upwards.
                    let sign = if es.monitor.contains("loss") || es.monitor.ends_with("mse") || es.monitor.ends_with("mae") { 1.0 } else { -1.0 };
                    let improved = self.early.best.as_ref().is_none_or(|(b, _)| sign * value < sign * b - es.min_delta);
                    if improved {
                        self.early.best = Some((value, self.params()?));
                        self.early.waited = 0;
                    } else {
                        self.early.waited += 1;
                    }
                    // Keras: stop once `patience` epochs in a row have not improved.
                    !improved && self.early.waited >= es.patience
                }
                None => false,
            };
            self.history.push(log);
            self.early.stopped = stop;
            if let Some(model) = &opts.checkpoint {
                checkpoint::save(model, &self.checkpoint()?)?;
            }
            if stop {
                break;
            }
        }
        // As Keras, the best weights come back when training stops early, not when it runs out of
        // epochs.
        if let (Some(es), Some((_, weights))) = (&opts.early_stopping, &self.early.best)
            && es.restore_best_weights
            && self.early.stopped
        {
            let engine = self.engine;
            self.params = self
                .graphs
                .params
                .iter()
                .map(|s| {
                    let (_, w) = weights
                        .iter()
                        .find(|(n, _)| *n == s.input)
                        .ok_or_else(|| RuntimeError::Internal(format!("the best weights lack `{}`", s.input)))?;
                    engine.upload(w.clone())
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(self.history.clone())
    }
}
