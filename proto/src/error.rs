//! The one error type of this crate. Every variant names the file or tensor it is about, so the
//! message alone tells a user what to fix.

use std::path::{Path, PathBuf};

/// Why reading, checking or writing a model failed.
#[derive(thiserror::Error, Debug)]
pub enum ProtoError {
    #[error("cannot {op} `{}`: {source}", path.display())]
    Io {
        /// What we were doing: "read", "write", "create", ...
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{} is not a valid ONNX model: {source}", describe_source(path.as_deref()))]
    Decode { path: Option<PathBuf>, source: prost::DecodeError },

    #[error("{what} takes {bytes} bytes, more than the limit of {limit} bytes")]
    TooLarge { what: String, bytes: u64, limit: u64 },

    #[error("the model cannot be run: {problem}")]
    NotRunnable { problem: String },

    #[error("subgraphs nest more than {limit} levels deep")]
    TooDeep { limit: u32 },

    #[error("the model's IR version is {version}; onyx reads IR versions {} to {}", crate::io::IR_VERSIONS.start(), crate::io::IR_VERSIONS.end())]
    IrVersion { version: i64 },

    #[error("tensor `{tensor}`: external data location `{location}` leaves the model's folder")]
    ExternalDataOutsideFolder { tensor: String, location: String },

    #[error("tensor `{tensor}`: external data file `{location}` does not exist in the model's folder")]
    ExternalDataMissing { tensor: String, location: String },

    #[error(
        "tensor `{tensor}`: its shape and type need {declared} bytes but the external data in \
         `{location}` holds {present}"
    )]
    ExternalDataSize { tensor: String, location: String, declared: u64, present: u64 },

    #[error(
        "tensor `{tensor}`: external data range {offset}..{end} lies beyond the end of `{location}` \
         ({file_len} bytes)"
    )]
    ExternalDataRange { tensor: String, location: String, offset: u64, end: u64, file_len: u64 },

    #[error("tensor `{tensor}`: bad external data: {reason}")]
    BadExternalData { tensor: String, reason: String },

    #[error(
        "tensor `{tensor}`: its shape and type need {declared_bytes} bytes of raw data but \
         {present_bytes} are present"
    )]
    RawDataSize { tensor: String, declared_bytes: u64, present_bytes: u64 },

    #[error("tensor `{tensor}`: its dimensions multiply to more elements than a 64-bit count can hold")]
    DimsOverflow { tensor: String },

    #[error("tensor `{tensor}`: dimension {dim} is negative")]
    NegativeDim { tensor: String, dim: i64 },

    #[error("tensor `{tensor}` holds {found}, not {expected}")]
    WrongDataType { tensor: String, expected: &'static str, found: String },

    #[error("tensor `{tensor}`: its shape has {expected} elements but its data has {found}")]
    ValueCount { tensor: String, expected: u64, found: u64 },

    #[error("cannot write external data to `{name}`: {reason}")]
    BadDataFileName { name: String, reason: String },
}

fn describe_source(path: Option<&Path>) -> String {
    match path {
        Some(path) => format!("`{}`", path.display()),
        None => "the given bytes".to_string(),
    }
}

impl ProtoError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self::Io { op, path: path.to_path_buf(), source }
    }
}
