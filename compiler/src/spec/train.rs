//! The `[train]` table: training defaults, validated now so that a typo fails at compile time.
use super::raw::RawTrain;

pub const LOSSES: &[&str] =
    &["mse", "mae", "huber", "binary_crossentropy", "binary_crossentropy_from_logits", "categorical_crossentropy", "sparse_categorical_crossentropy"];
pub const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw", "rmsprop", "adagrad"];
pub const METRICS: &[&str] = &["accuracy", "binary_accuracy", "mse", "mae", "rmse", "r2"];
pub const SCHEDULES: &[&str] = &["constant", "step", "exponential", "cosine"];
pub const SOLVERS: &[&str] = &["gd", "lstsq", "cd"];

#[derive(Clone, Debug, PartialEq)]
pub struct Optimizer {
    pub kind: String,
    /// Keras' defaults: 0.01 for SGD, 0.001 for the others.
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub beta_1: f64,
    pub beta_2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
    pub rho: f64,
    pub initial_accumulator_value: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub kind: String,
    pub step_size: u64,
    pub gamma: f64,
    pub decay_steps: u64,
    pub decay_rate: f64,
    pub alpha: f64,
}

/// Keras' EarlyStopping: stop when `monitor` has not improved by `min_delta` for `patience` epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStopping {
    /// `loss`, `val_loss` or a metric (`accuracy`, `val_accuracy`...).
    pub monitor: String,
    pub patience: usize,
    pub min_delta: f64,
    pub restore_best_weights: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TrainSpec {
    pub loss: Option<String>,
    pub optimizer: Optimizer,
    pub schedule: Schedule,
    /// `None`: the whole training set per step (batch gradient descent).
    pub batch_size: Option<usize>,
    pub epochs: usize,
    pub metrics: Vec<String>,
    pub validation_split: f64,
    pub shuffle: bool,
    pub early_stopping: Option<EarlyStopping>,
    pub solver: String,
    /// Scale features to zero mean and unit variance (training rows' statistics), baked into the
    /// exported model as its first nodes.
    pub standardize: bool,
}

/// A train error: the field (dotted path inside `[train]`) and why.
pub type TrainError = (Vec<&'static str>, String);

fn one_of(value: &str, allowed: &[&str], path: Vec<&'static str>) -> Result<String, TrainError> {
    if allowed.contains(&value) { Ok(value.to_string()) } else { Err((path, format!("`{value}` is not one of: {}", allowed.join(", ")))) }
}

fn check(ok: bool, path: Vec<&'static str>, message: &str) -> Result<(), TrainError> {
    if ok { Ok(()) } else { Err((path, message.to_string())) }
}

pub fn parse(raw: &RawTrain) -> Result<TrainSpec, TrainError> {
    let loss = raw.loss.as_deref().map(|l| one_of(l, LOSSES, vec!["loss"])).transpose()?;
    let optimizer = match &raw.optimizer {
        None => Optimizer { kind: "adam".into(), lr: 1e-3, ..optimizer_defaults() },
        Some(o) => {
            let kind = one_of(&o.kind, OPTIMIZERS, vec!["optimizer", "kind"])?;
            // Keras' defaults: SGD 0.01, the others 0.001; Adam's epsilon 1e-7 (PyTorch uses 1e-8).
            let d = optimizer_defaults();
            let lr = o.lr.unwrap_or(if kind == "sgd" { 0.01 } else { 1e-3 });
            check(lr > 0.0 && lr.is_finite(), vec!["optimizer", "lr"], "must be positive")?;
            let momentum = o.momentum.unwrap_or(if kind == "rmsprop" { 0.0 } else { d.momentum });
            check((0.0..1.0).contains(&momentum), vec!["optimizer", "momentum"], "must be in [0, 1)")?;
            let beta_1 = o.beta_1.unwrap_or(d.beta_1);
            check((0.0..1.0).contains(&beta_1), vec!["optimizer", "beta_1"], "must be in [0, 1)")?;
            let beta_2 = o.beta_2.unwrap_or(d.beta_2);
            check((0.0..1.0).contains(&beta_2), vec!["optimizer", "beta_2"], "must be in [0, 1)")?;
            let epsilon = o.epsilon.unwrap_or(d.epsilon);
            check(epsilon > 0.0, vec!["optimizer", "epsilon"], "must be positive")?;
            let weight_decay = o.weight_decay.unwrap_or(if kind == "adamw" { 0.004 } else { 0.0 });
            check(weight_decay >= 0.0, vec!["optimizer", "weight_decay"], "must not be negative")?;
            let rho = o.rho.unwrap_or(d.rho);
            check((0.0..1.0).contains(&rho), vec!["optimizer", "rho"], "must be in [0, 1)")?;
            let nesterov = o.nesterov.unwrap_or(false);
            check(!nesterov || kind == "sgd", vec!["optimizer", "nesterov"], "applies to sgd only")?;
            Optimizer {
                kind,
                lr,
                momentum,
                nesterov,
                beta_1,
                beta_2,
                epsilon,
                weight_decay,
                rho,
                initial_accumulator_value: o.initial_accumulator_value.unwrap_or(d.initial_accumulator_value),
            }
        }
    };
    let schedule = match &raw.lr_schedule {
        None => Schedule { kind: "constant".into(), step_size: 1, gamma: 0.1, decay_steps: 1, decay_rate: 0.96, alpha: 0.0 },
        Some(s) => {
            let kind = one_of(&s.kind, SCHEDULES, vec!["lr_schedule", "kind"])?;
            let step_size = s.step_size.unwrap_or(1);
            check(step_size > 0, vec!["lr_schedule", "step_size"], "must be at least 1")?;
            let decay_steps = s.decay_steps.unwrap_or(1);
            check(decay_steps > 0, vec!["lr_schedule", "decay_steps"], "must be at least 1")?;
            Schedule {
                kind,
                step_size,
                gamma: s.gamma.unwrap_or(0.1),
                decay_steps,
                decay_rate: s.decay_rate.unwrap_or(0.96),
                alpha: s.alpha.unwrap_or(0.0),
            }
        }
    };
    let batch_size = raw.batch_size.map(|b| b as usize);
    check(batch_size != Some(0), vec!["batch_size"], "must be at least 1")?;
    let epochs = raw.epochs.unwrap_or(1) as usize;
    check(epochs > 0, vec!["epochs"], "must be at least 1")?;
    let metrics = raw.metrics.clone().unwrap_or_default();
    for m in &metrics {
        one_of(m, METRICS, vec!["metrics"])?;
    }
    let validation_split = raw.validation_split.unwrap_or(0.0);
    check((0.0..1.0).contains(&validation_split), vec!["validation_split"], "must be in [0, 1)")?;
    let early_stopping = raw.early_stopping.as_ref().map(|e| EarlyStopping {
        monitor: e.monitor.clone().unwrap_or_else(|| "val_loss".into()),
        patience: e.patience.unwrap_or(0) as usize,
        min_delta: e.min_delta.unwrap_or(0.0),
        restore_best_weights: e.restore_best_weights.unwrap_or(false),
    });
    let solver = one_of(raw.solver.as_deref().unwrap_or("gd"), SOLVERS, vec!["solver"])?;
    Ok(TrainSpec {
        loss,
        optimizer,
        schedule,
        batch_size,
        epochs,
        metrics,
        validation_split,
        shuffle: raw.shuffle.unwrap_or(true),
        early_stopping,
        solver,
        standardize: raw.standardize.unwrap_or(false),
    })
}

fn optimizer_defaults() -> Optimizer {
    Optimizer {
        kind: String::new(),
        lr: 1e-3,
        momentum: 0.0,
        nesterov: false,
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-7,
        weight_decay: 0.0,
        rho: 0.9,
        initial_accumulator_value: 0.1,
    }
}
