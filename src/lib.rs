//! onyx as a library: what the `onyx` command does, callable from Rust.
//!
//! - [`train::train`] is `onyx train`: a spec or a `.onnx` model, data (a file, a folder or arrays),
//!   [`train::TrainOptions`] (the command's flags, with Keras' defaults), an engine and a progress
//!   callback; it writes the trained model and returns its history.
//! - [`evaluate::evaluate`] is `onyx evaluate`, [`predict::Predictor`] `onyx predict` (files,
//!   folders of images, forecasts), [`pack::pack`] `onyx pack`.
//! - [`compile_file`] compiles a spec, [`weights`] reads a model's weights back.
//!
//! ```no_run
//! use onyx::train::{Data, TrainOptions, train};
//! use onyx::TractEngine;
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
mod model_file;
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
