//! Smaller or half-precision models, as `onyx pack` makes them, with what it costs measured: both
//! models run on the same inputs, the largest output differences reported, and with labels the
//! accuracy before and after.
use std::path::{Path, PathBuf};

use onyx_compiler::ir::{DType, Dim, TensorType};
use onyx_compiler::summary::{plural, thousands};
use onyx_runtime::{Engine, HostTensor, Session};

use crate::Error;

/// What packing does to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packing {
    /// Weights stored as float16, each cast back to float32 where it is read.
    Fp16Weights,
    /// The whole model computes in float16 but for the ops kept in float32 (for GPUs).
    Fp16Compute,
}

/// The inputs both models are compared on.
#[derive(Clone, Debug, Default)]
pub enum Compare {
    /// Seeded samples (`SAMPLES` per input).
    #[default]
    Samples,
    /// Inputs read from a file, as `onyx predict` reads them.
    Inputs(PathBuf),
    /// Labelled data: the column (a CSV's name, an NPY's index; `None` for the last or an NPZ's `y`).
    Labelled(PathBuf, Option<String>),
}

/// Samples per input when no data is given.
pub const SAMPLES: usize = 64;

/// What packing did and what it cost.
#[derive(Debug)]
pub struct Packed {
    /// What changed, in a line.
    pub what: String,
    /// Weights left as they were, values that became zero.
    pub notes: Vec<String>,
    pub bytes_before: usize,
    pub bytes_after: usize,
    /// Samples the models were compared on.
    pub samples: usize,
    /// Each output's largest difference: (name, absolute, relative to the output's largest value).
    pub differences: Vec<(String, f64, f64)>,
    /// With labels: (samples, accuracy before, accuracy after).
    pub accuracy: Option<(usize, f64, f64)>,
}

/// Packs the model at `model` into `output` and measures the packed model against the original
/// on `engine`.
pub fn pack(model: &Path, output: &Path, packing: Packing, compare: &Compare, engine: &dyn Engine) -> Result<Packed, Error> {
    let (proto, mut graph) = crate::model_file::import(model)?;
    let (what, notes) = match packing {
        Packing::Fp16Compute => {
            let report = onyx_compiler::passes::compute_fp16(&mut graph)?;
            let kept: Vec<String> = report.float_ops.iter().map(|(op, n)| format!("{n} {op}")).collect();
            let kept = if kept.is_empty() { String::new() } else { format!("; kept in float32: {}", kept.join(", ")) };
            let what = format!(
                "{} compute in float16, {} weights ({} values) stored so, {} at the boundaries{kept}",
                plural(report.half_nodes, "node"),
                report.weights,
                thousands(report.elements),
                plural(report.casts, "cast")
            );
            (what, report.notes())
        }
        Packing::Fp16Weights => {
            let report = onyx_compiler::passes::pack_fp16(&mut graph)?;
            if report.packed.is_empty() {
                return Err(Error::NothingToPack { model: model.to_path_buf(), smallest: onyx_compiler::passes::PACK_MIN_ELEMENTS });
            }
            (format!("packed {} weights ({} values) as float16", report.packed.len(), thousands(report.elements)), report.notes())
        }
    };
    let packed = onyx_compiler::to_onnx(&graph);
    onyx_proto::write_model(output, &packed).map_err(|source| Error::Write { path: output.to_path_buf(), source })?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0);
    let (bytes_before, bytes_after) = (size(model), size(output));

    // The cost: both models on the same inputs.
    let original = engine.load(&proto)?;
    let small = engine.load(&packed).map_err(|e| match packing {
        Packing::Fp16Compute => Error::CannotMeasure { output: output.to_path_buf(), source: e },
        Packing::Fp16Weights => Error::Runtime(e),
    })?;
    let (inputs, labels) = match compare {
        Compare::Labelled(path, column) => {
            let [input] = original.inputs() else { return Err(Error::Inputs { command: "pack --target", count: original.inputs().len() }) };
            let width = original.outputs().first().and_then(|o| o.shape.last()).and_then(|d| d.fixed()).unwrap_or(1);
            // Class indices for a model with several outputs per sample, 0/1 for one.
            let target = if width > 1 {
                TensorType::new(DType::I64, vec![Dim::batch()])
            } else {
                TensorType::new(DType::F32, vec![Dim::batch(), Dim::Fixed(1)])
            };
            let (x, y) = onyx_runtime::data::read_labelled(path, input, &target, column.as_deref())?;
            (vec![x], Some(y))
        }
        Compare::Inputs(path) => (onyx_runtime::data::read_inputs(path, original.inputs())?, None),
        Compare::Samples => (sample_inputs(original.as_ref())?, None),
    };
    let (a, b) = (original.run(&inputs)?, small.run(&inputs)?);
    let samples = inputs.first().and_then(|x| x.shape().first().copied()).unwrap_or(0);
    let accuracy = match (&labels, a.first(), b.first()) {
        (Some(y), Some(pa), Some(pb)) => {
            let y = y.to_f64_vec();
            let score = |p: &HostTensor| {
                let p = p.to_f64_vec();
                onyx_runtime::metrics::accuracy(&p, p.len() / y.len().max(1), &y)
            };
            Some((y.len(), score(pa), score(pb)))
        }
        _ => None,
    };
    let differences = original
        .outputs()
        .iter()
        .zip(&a)
        .zip(&b)
        .map(|((info, x), y)| {
            let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
            let abs = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
            let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            (info.name.clone(), abs, abs / scale.max(f64::MIN_POSITIVE))
        })
        .collect();
    Ok(Packed { what, notes, bytes_before, bytes_after, samples, differences, accuracy })
}

/// `SAMPLES` seeded samples per input: floats in [−1, 1), integers (token ids) below 10.
fn sample_inputs(session: &dyn Session) -> Result<Vec<HostTensor>, Error> {
    let internal = |e: ndarray::ShapeError| Error::Runtime(onyx_runtime::RuntimeError::Internal(e.to_string()));
    session
        .inputs()
        .iter()
        .map(|info| {
            // A model with a fixed batch gets that many.
            let batch = info.shape.first().and_then(|d| d.fixed()).unwrap_or(SAMPLES);
            let shape = info.batch_shape(batch).ok_or_else(|| Error::UnknownInputSize(info.describe()))?;
            let n: usize = shape.iter().product();
            let ix = ndarray::IxDyn(&shape);
            Ok(match info.dtype {
                DType::I64 => HostTensor::I64(ndarray::ArrayD::from_shape_vec(ix, (0..n).map(|i| (i * 7 % 10) as i64).collect()).map_err(internal)?),
                _ => HostTensor::F32(
                    ndarray::ArrayD::from_shape_vec(ix, (0..n).map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0).collect()).map_err(internal)?,
                ),
            })
        })
        .collect()
}
