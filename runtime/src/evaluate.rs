//! Keras' `model.evaluate`: a trained model's loss and metrics on a data set, computed by the eval
//! graph its training settings derive (so they equal training's validation figures on the same
//! rows), and for classifiers the confusion matrix of its predictions.
use onyx_compiler::ir::{Graph, TensorType};
use onyx_compiler::spec::TrainSpec;
use onyx_compiler::train::Loss;

use crate::engine::{Session, TrainingEngine};
use crate::error::RuntimeError;
use crate::tensor::HostTensor;
use crate::train::Trainer;

/// What `evaluate` measured.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    /// In the order the training settings list them.
    pub metrics: Vec<(String, f64)>,
    /// For classification losses.
    pub confusion: Option<Confusion>,
}

/// Counts of samples by true class (rows) and predicted class (columns).
#[derive(Clone, Debug, PartialEq)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// A model ready to be evaluated: its eval graph on an engine, and its inference session for the
/// predictions a confusion matrix counts.
pub struct Evaluator<'e> {
    trainer: Trainer<'e>,
    /// The inference model, for a classifier's predictions; none for regression losses.
    session: Option<Box<dyn Session>>,
    loss: Loss,
}

impl<'e> Evaluator<'e> {
    /// `model` with its weights, measured as `train` says (its `loss` and `metrics`).
    pub fn new(engine: &'e dyn TrainingEngine, model: &Graph, train: &TrainSpec) -> Result<Evaluator<'e>, RuntimeError> {
        let graphs = onyx_compiler::train::build(model, train)?;
        let loss = graphs.loss;
        let session = if classifies(loss) { Some(engine.load(&onyx_compiler::to_onnx(model))?) } else { None };
        Ok(Evaluator { trainer: Trainer::new(graphs, engine)?, session, loss })
    }

    /// The type the targets must have (as `onyx train` reads them).
    pub fn target_type(&self) -> &TensorType {
        &self.trainer.graphs().target_type
    }

    /// Loss and metrics over `(x, y)` in batches of `batch`, and the confusion matrix for a
    /// classifier, its classes named by `classes` where given.
    pub fn evaluate(&mut self, x: &HostTensor, y: &HostTensor, batch: usize, classes: Option<&[String]>) -> Result<Evaluation, RuntimeError> {
        let (loss, values) = self.trainer.evaluate(std::slice::from_ref(x), y, batch)?;
        let metrics = self.trainer.graphs().metric_names().into_iter().zip(values).collect();
        let confusion = match &self.session {
            Some(session) => Some(self.confusion(session.as_ref(), x, y, batch, classes)?),
            None => None,
        };
        Ok(Evaluation { loss, metrics, confusion })
    }

    fn confusion(
        &self,
        session: &dyn Session,
        x: &HostTensor,
        y: &HostTensor,
        batch: usize,
        classes: Option<&[String]>,
    ) -> Result<Confusion, RuntimeError> {
        let n = y.shape()[0];
        let mut predicted = Vec::with_capacity(n);
        let mut width = 1;
        for start in (0..n).step_by(batch.max(1)) {
            let rows: Vec<usize> = (start..(start + batch).min(n)).collect();
            let out = session.run(&[x.select_rows(&rows)])?.into_iter().next().ok_or_else(|| RuntimeError::Model("has no output".into()))?;
            width = out.shape().iter().skip(1).product::<usize>().max(1);
            let threshold = if self.loss == Loss::BinaryCrossentropyFromLogits { 0.0 } else { 0.5 };
            predicted.extend(
                out.to_f64_vec().chunks(width).map(|row| if width == 1 { usize::from(row[0] >= threshold) } else { crate::metrics::argmax(row) }),
            );
        }
        // The true class: a sparse label, a one-hot row's hot column, or a binary target over 0.5.
        let truth: Vec<usize> = match self.loss {
            Loss::SparseCategoricalCrossentropy => y.to_f64_vec().iter().map(|&v| v.max(0.0) as usize).collect(),
            Loss::CategoricalCrossentropy => y.to_f64_vec().chunks(width).map(crate::metrics::argmax).collect(),
            _ => y.to_f64_vec().iter().map(|&v| usize::from(v >= 0.5)).collect(),
        };
        let k = if width == 1 { 2 } else { width }.max(truth.iter().max().map_or(0, |m| m + 1));
        let mut counts = vec![vec![0u64; k]; k];
        for (&t, &p) in truth.iter().zip(&predicted) {
            counts[t][p] += 1;
        }
        let labels = (0..k).map(|i| classes.and_then(|c| c.get(i).cloned()).unwrap_or_else(|| i.to_string())).collect();
        Ok(Confusion { labels, counts })
    }
}

/// Whether a loss is a classifier's, whose predictions a confusion matrix counts.
fn classifies(loss: Loss) -> bool {
    match loss {
        Loss::BinaryCrossentropy | Loss::BinaryCrossentropyFromLogits | Loss::CategoricalCrossentropy | Loss::SparseCategoricalCrossentropy => true,
        Loss::Mse | Loss::Mae | Loss::Huber => false,
    }
}
