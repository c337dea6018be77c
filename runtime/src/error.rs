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
    #[error("{0}")]
    Unsupported(String),
    #[error("training diverged: the loss is {loss} at epoch {epoch}, batch {batch}; the last checkpoint is kept")]
    Diverged { epoch: usize, batch: usize, loss: f64 },
}
