use std::path::PathBuf;

use onyx_compiler::import::ImportError;
use onyx_runtime::RuntimeError;

/// Why a call of the library failed: training, evaluating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Spec(#[from] onyx_compiler::SpecError),
    #[error(transparent)]
    Proto(#[from] onyx_proto::ProtoError),
    #[error("importing {}: {source}", path.display())]
    Import { path: PathBuf, source: ImportError },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("deriving the training graph of {}: {source}", path.display())]
    Derive { path: PathBuf, source: onyx_compiler::train::TrainError },
    #[error(transparent)]
    Pass(#[from] onyx_compiler::passes::PassError),
    #[error(transparent)]
    Solve(#[from] onyx_runtime::solve::SolveError),
    #[error("computing the frozen base's features: {0}")]
    Features(RuntimeError),
    #[error("--resume: {0}")]
    Resume(RuntimeError),
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: onyx_proto::ProtoError },
    #[error("{}: the spec has no [train] table (loss, optimizer, epochs...); add one or give --config", spec.display())]
    NoTrainTable { spec: PathBuf },
    #[error(
        "{} holds no training settings (onyx stores its [train] table as metadata `onyx.train`); give --config FILE with a [train] table",
        model.display()
    )]
    NoStoredSettings { model: PathBuf },
    #[error("--init-from warm-starts a spec; {} already holds its starting weights", model.display())]
    InitFromModel { model: PathBuf },
    #[error("--init-from {}: no weight of the model has a match (same name and shape) there; the model's weights are {}", from.display(), weights.join(", "))]
    NoWarmStartMatch { from: PathBuf, weights: Vec<String> },
    #[error("--validation-split must be in [0, 1), got {0}")]
    ValidationSplit(f64),
    #[error("onyx {command} feeds one model input; this model has {count}")]
    Inputs { command: &'static str, count: usize },
    #[error("{} holds no training settings (metadata onyx.train); give --loss (and --metrics)", model.display())]
    NoLoss { model: PathBuf },
    #[error("[train] solver = \"{solver}\" fits a linear model from its spec; train {} with solver = \"gd\"", model.display())]
    SolverNeedsSpec { solver: String, model: PathBuf },
    #[error("{}: [train] solver = \"{solver}\" fits linear models only (one dense layer, linear activation, loss = \"mse\"), but {why}; use solver = \"gd\"", spec.display())]
    NotLinear { spec: PathBuf, solver: String, why: String },
    #[error("[train] solver = \"{solver}\": {why}")]
    Solver { solver: String, why: String },
    #[error("--resume continues gradient descent; [train] solver = \"{0}\" fits in one step")]
    ResumeExact(String),
    #[error("--window {window} is beyond onyx's bound on a spec's sizes, {bound}")]
    WindowTooLong { window: usize, bound: u64 },
    #[error("--difference needs --window 2 or more")]
    DifferenceWindow,
    #[error("--window {window} feeds ({reads}, 1) samples, but the model's input is {input}")]
    WindowShape { window: usize, reads: usize, input: String },
    #[error("--window forecasts one value; the model's output is {0}")]
    WindowTarget(String),
    #[error("{}: {message}", path.display())]
    Series { path: PathBuf, message: String },
    #[error("{}: no float32 weight of {smallest} values or more to pack (smaller ones would grow the file)", model.display())]
    NothingToPack { model: PathBuf, smallest: usize },
    #[error("{} is written, but this engine cannot run it to measure the difference; ONNX Runtime can (--engine ort): {source}", output.display())]
    CannotMeasure { output: PathBuf, source: RuntimeError },
    #[error("input {0} has unknown dimensions; give --data")]
    UnknownInputSize(String),
    #[error("{data}: {message}")]
    Targets { data: String, message: String },
    #[error("the arrays given: {0}")]
    NonFinite(String),
    #[error("{}: input `{input}` holds {value} at index {index:?}; give --allow-nan if the model handles it", path.display())]
    NonFiniteInput { path: PathBuf, input: String, value: f64, index: Vec<usize> },
    #[error("forecasting needs a model of one (window, 1) input, but it takes {0}")]
    NotAForecaster(String),
    #[error("the series has {values} values, fewer than the model's window of {window}")]
    ShortSeries { values: usize, window: usize },
}

impl Error {
    /// Whether a file the user gave (a spec, a model, data) is at fault: the command line exits 2
    /// for these, as for bad usage.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Error::Spec(_) | Error::Proto(_) | Error::Import { .. } | Error::Write { .. } | Error::Targets { .. } | Error::NonFiniteInput { .. } => {
                true
            }
            Error::Runtime(e) | Error::Features(e) | Error::Resume(e) => {
                matches!(
                    e,
                    RuntimeError::Input { .. }
                        | RuntimeError::Data { .. }
                        | RuntimeError::DataCell { .. }
                        | RuntimeError::Proto(_)
                        | RuntimeError::Load { .. }
                )
            }
            _ => false,
        }
    }
}
