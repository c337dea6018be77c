//! onyx-compiler: specs become typed IR graphs with initialized weights, and graphs become ONNX.
//!
//! ```text
//! spec.toml ──Spec::from_file──▶ Spec ──compile──▶ Model { Graph } ──to_onnx──▶ ModelProto
//!                                                         Graph ◀──import── ModelProto
//! ```
pub mod autodiff;
pub mod builder;
pub mod dump;
pub mod export;
pub mod image_format;
pub mod import;
pub mod init;
pub mod inspect;
pub mod ir;
pub mod layers;
pub mod metadata;
pub mod model;
pub mod ops;
pub mod passes;
pub mod spec;
pub mod summary;
pub mod train;
pub mod transfer;

pub use export::{OPSET, to_onnx};
pub use import::{ImportError, import, import_with_shapes, import_with_values};
pub use model::{LayerInfo, Model, compile};
pub use spec::{Spec, SpecError};

/// Parses and compiles a spec file in one call.
pub fn compile_file(path: &std::path::Path) -> Result<Model, SpecError> {
    compile(&Spec::from_file(path)?)
}
