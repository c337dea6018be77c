//! onyx-runtime: the engines that run ONNX models (tract and ONNX Runtime), the trainer, and the data paths around them.
pub mod classes;
pub mod data;
pub mod engine;
pub mod error;
pub mod evaluate;
pub mod fallback;
pub mod memory;
pub mod metrics;
#[cfg(feature = "ort")]
pub mod ort_engine;
pub mod plot;
pub mod solve;
pub mod tensor;
pub mod tract_engine;
mod tract_rewrite;
pub mod train;

pub use engine::{Engine, EngineTensor, Session, TrainingEngine};
pub use error::RuntimeError;
pub use fallback::FallbackEngine;
#[cfg(feature = "ort")]
pub use ort_engine::{Device, OrtEngine};
pub use tensor::{HostTensor, IoInfo, model_io};
pub use tract_engine::TractEngine;
