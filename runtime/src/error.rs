use std::path::PathBuf;

/// Errors of the runtime: loading models, running them, reading and writing data.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Proto(#[from] onyx_proto::ProtoError),
    #[error("the {engine} engine is not available: {message}")]
    Unavailable { engine: &'static str, message: String },
    #[error("the {engine} engine cannot load this model: {message}")]
    Load { engine: &'static str, message: String },
    #[error("the {engine} engine failed to run the model: {message}")]
    Run { engine: &'static str, message: String },
    #[error("input `{input}`: {message}")]
    Input { input: String, message: String },
    #[error("{}: {message}", path.display())]
    Data { path: PathBuf, message: String },
    #[error("{}: row {row}, column {column}: {message}", path.display())]
    DataCell { path: PathBuf, row: usize, column: String, message: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Train(#[from] onyx_compiler::train::TrainError),
    #[error("the model {0}")]
    Model(String),
    #[error("{0}")]
    OutputFormat(String),
    #[error("the checkpoint {0}")]
    Checkpoint(String),
    #[error("there are no training samples")]
    NoSamples,
    #[error("early stopping monitors `{0}`, which training does not log (it logs loss, the metrics, and with validation val_loss and val_<metric>)")]
    Monitor(String),
    #[error("a training thread panicked: {0}")]
    Panicked(String),
    #[error("cannot start the training threads: {0}")]
    Threads(String),
    /// A broken invariant of onyx itself, not of the user's model or data.
    #[error("internal error: {0}; please report it with the command that led here")]
    Internal(String),
    #[error("training diverged: the loss is {loss} at epoch {epoch}, batch {batch}; the last checkpoint is kept")]
    Diverged { epoch: usize, batch: usize, loss: f64 },
    #[error("training diverged: `{tensor}` holds NaN or an infinity after epoch {epoch}, batch {batch}; the last checkpoint is kept")]
    NonFinite { epoch: usize, batch: usize, tensor: String },
}
