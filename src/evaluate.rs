//! Measuring a trained model, as Keras' `model.evaluate`: the loss and metrics of the `[train]`
//! settings stored in it (or given), and a confusion matrix for classifiers.
use std::path::{Path, PathBuf};

use onyx_runtime::data::{read_image_folder_for, read_labelled, read_series, windows};
use onyx_runtime::{IoInfo, TrainingEngine};

pub use onyx_runtime::evaluate::{Confusion, Evaluation};

use crate::Error;
use crate::train::Data;

/// What `onyx evaluate` takes besides the model and the data.
#[derive(Clone, Debug)]
pub struct EvaluateOptions {
    /// The target column of a CSV (the last by default) or of a series.
    pub target: Option<String>,
    /// The loss, in place of the stored one.
    pub loss: Option<String>,
    /// The metrics, in place of the stored ones.
    pub metrics: Option<Vec<String>>,
    /// Read the data as a series: windows of this many values.
    pub window: Option<usize>,
    /// With `window`: how many steps ahead each window predicts.
    pub horizon: usize,
    /// Samples per batch.
    pub batch_size: usize,
}

impl Default for EvaluateOptions {
    fn default() -> EvaluateOptions {
        EvaluateOptions { target: None, loss: None, metrics: None, window: None, horizon: 1, batch_size: 32 }
    }
}

/// The evaluation, and the loss it was measured with.
#[derive(Debug)]
pub struct Evaluated {
    pub evaluation: Evaluation,
    pub loss: String,
}

/// Evaluates the model at `model` on `data` (read as training reads it; a folder's images are
/// labelled by the model's own classes), on `engine`.
pub fn evaluate(model: &Path, data: &Data, opts: &EvaluateOptions, engine: &dyn TrainingEngine) -> Result<Evaluated, Error> {
    let (proto, graph) = crate::model_file::import(model)?;
    let mut train = match crate::model_file::stored_train(model, &graph)? {
        Some(stored) => stored,
        None if opts.loss.is_some() => onyx_compiler::spec::parse_train(&PathBuf::from("--loss"), "{}".into())?,
        None => return Err(Error::NoLoss { model: model.to_path_buf() }),
    };
    if let Some(loss) = &opts.loss {
        train.loss = Some(loss.clone());
    }
    if let Some(metrics) = &opts.metrics {
        train.metrics = metrics.clone();
    }
    let [input] = graph.inputs.as_slice() else { return Err(Error::Inputs { command: "evaluate", count: graph.inputs.len() }) };
    let v = graph.value(*input);
    let info = IoInfo { name: v.name.clone(), dtype: v.ty.dtype, shape: v.ty.shape.clone() };
    let mut evaluator = onyx_runtime::evaluate::Evaluator::new(engine, &graph, &train)?;
    let classes = onyx_runtime::classes::class_names(&proto);
    let (x, y) = match (data, opts.window) {
        (Data::Arrays(x, y), _) => (x.clone(), y.clone()),
        (Data::Path(path), Some(window)) => {
            let (_, series) = read_series(path, opts.target.as_deref())?;
            windows(&series, window, opts.horizon).map_err(|message| Error::Series { path: path.clone(), message })?
        }
        // Labels mean what they meant in training: the model's classes, where it keeps them.
        (Data::Path(path), None) if path.is_dir() => {
            let folder = read_image_folder_for(path, &info, &graph.metadata, classes.as_deref())?;
            (folder.x, folder.y)
        }
        (Data::Path(path), None) => read_labelled(path, &info, evaluator.target_type(), opts.target.as_deref())?,
    };
    let evaluation = evaluator.evaluate(&x, &y, opts.batch_size, classes.as_deref())?;
    Ok(Evaluated { evaluation, loss: train.loss.unwrap_or_default() })
}
