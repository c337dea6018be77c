//! onyx as a library: what the `onyx` command does, callable from Rust.
//!
//! Training, as `onyx train` does it, is [`train::train`]: a spec or a `.onnx` model, a data file or
//! folder, [`train::TrainOptions`] (the command's flags, with Keras' defaults), an engine, and a
//! progress callback; it writes the trained model and returns its history.
//!
//! ```no_run
//! use onyx::train::{Data, TrainOptions, train};
//! use onyx_runtime::TractEngine;
//!
//! let options = TrainOptions { epochs: Some(5), target: Some("benign".into()), standardize: true, ..TrainOptions::default() };
//! let data = Data::Path("data/breast_cancer.csv".into());
//! let trained = train("models/logistic_regression.toml".as_ref(), &data, &options, &TractEngine, &mut |_| {})?;
//! println!("final loss {:.4}", trained.history.last().map_or(f64::NAN, |e| e.loss));
//! # Ok::<(), onyx::Error>(())
//! ```
//!
//! The crates underneath: `onyx_compiler` (specs, the IR, ONNX import and export, training
//! graphs), `onyx_runtime` (engines, the trainer, data) and `onyx_serve` (serving, apps).
mod error;
pub mod evaluate;
pub mod pack;
pub mod predict;
pub mod train;

pub use error::Error;
pub use train::Data;

pub use onyx_compiler::{Model, compile_file};
pub use onyx_proto::{read_model, write_model};
pub use onyx_runtime::{Engine, HostTensor, TractEngine, TrainingEngine};

/// A model's float weights by name, flattened in row-major order: to look at what training did.
pub fn weights(model: &onyx_proto::onnx::ModelProto) -> Result<std::collections::BTreeMap<String, Vec<f32>>, onyx_compiler::ImportError> {
    let graph = onyx_compiler::import(model)?;
    Ok(graph.params().filter_map(|(_, v, _)| Some((v.name.clone(), v.init.as_ref()?.as_f32()?))).collect())
}
