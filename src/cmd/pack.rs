use std::path::PathBuf;

use anyhow::{Context, bail};
use onyx_compiler::ir::{DType, Dim, TensorType};
use onyx_compiler::summary::thousands;
use onyx_runtime::{HostTensor, Session};

/// Store a model's weights as float16 (each followed by a Cast to float32), halving the file, or
/// make the whole model compute in float16 for GPUs (--compute fp16); prints the sizes and the
/// largest output difference it causes, on seeded sample inputs or on --data (and the accuracy
/// before and after, with --target).
///
/// Examples: onyx pack mnist_cnn.onnx --fp16 -o mnist_cnn.fp16.onnx
///           onyx pack mnist_cnn.onnx --compute fp16 -o mnist_cnn.half.onnx
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("packing").required(true).args(["fp16", "compute"]))]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// Store the weights as float16, each cast back to float32 where it is read: engines still
    /// compute in float32.
    #[arg(long)]
    fp16: bool,
    /// Compute in this precision: weights and activations in float16, inputs and outputs still
    /// float32, and reductions, softmax, normalization, exp, log, pow and sqrt kept in float32.
    /// For GPUs; CPUs without float16 arithmetic run it slower than float32.
    #[arg(long, value_enum, conflicts_with = "fp16")]
    compute: Option<Compute>,
    /// Where to write the packed model.
    #[arg(short, long)]
    output: PathBuf,
    /// Inputs to compare the two models on (.csv, .npy, .npz, as `onyx predict` reads them); 64
    /// seeded samples by default.
    #[arg(long)]
    data: Option<PathBuf>,
    /// With --data: the data holds labels too — a CSV column by name (the last without a value), an
    /// NPY column index, or an NPZ's `y` — and the accuracy of both models is printed.
    #[arg(long, requires = "data", num_args = 0..=1, default_missing_value = "", value_name = "COLUMN")]
    target: Option<String>,
    #[command(flatten)]
    engine: super::engine::EngineArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Compute {
    Fp16,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let mut graph = onyx_compiler::import(&proto).with_context(|| format!("importing {}", args.model.display()))?;
    let (what, notes) = match args.compute {
        Some(Compute::Fp16) => {
            let report = onyx_compiler::passes::compute_fp16(&mut graph)?;
            let kept: Vec<String> = report.float_ops.iter().map(|(op, n)| format!("{n} {op}")).collect();
            let kept = if kept.is_empty() { String::new() } else { format!("; kept in float32: {}", kept.join(", ")) };
            (
                format!(
                    "{} compute in float16, {} weights ({} values) stored so, {} at the boundaries{kept}",
                    super::plural(report.half_nodes, "node"),
                    report.weights,
                    thousands(report.elements),
                    super::plural(report.casts, "cast")
                ),
                report.notes(),
            )
        }
        None => {
            let report = onyx_compiler::passes::pack_fp16(&mut graph)?;
            if report.packed.is_empty() {
                bail!(
                    "{}: no float32 weight of {} values or more to pack (smaller ones would grow the file)",
                    args.model.display(),
                    onyx_compiler::passes::PACK_MIN_ELEMENTS
                );
            }
            (format!("packed {} weights ({} values) as float16", report.packed.len(), thousands(report.elements)), report.notes())
        }
    };
    let packed = onyx_compiler::to_onnx(&graph);
    onyx_proto::write_model(&args.output, &packed).with_context(|| format!("writing {}", args.output.display()))?;
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len() as usize).unwrap_or(0);
    let (before, after) = (size(&args.model), size(&args.output));
    println!("{what}: {} → {} bytes ({:.3}×)", thousands(before), thousands(after), after as f64 / before.max(1) as f64);
    for note in notes {
        println!("{note}");
    }
    // The cost: both models on the same inputs.
    let engine = args.engine.engine()?;
    let original = engine.load(&proto)?;
    let small = engine.load(&packed).with_context(|| match args.compute {
        Some(_) => {
            format!("{} is written, but this engine cannot run it to measure the difference; ONNX Runtime can (--engine ort)", args.output.display())
        }
        None => format!("running {}", args.output.display()),
    })?;
    let (inputs, labels) = match (&args.data, &args.target) {
        (Some(path), Some(column)) => {
            let [input] = original.inputs() else { bail!("--target reads labelled data for a model with one input") };
            let width = original.outputs().first().and_then(|o| o.shape.last()).and_then(|d| d.fixed()).unwrap_or(1);
            // Class indices for a model with several outputs per sample, 0/1 for one.
            let target = if width > 1 {
                TensorType::new(DType::I64, vec![Dim::batch()])
            } else {
                TensorType::new(DType::F32, vec![Dim::batch(), Dim::Fixed(1)])
            };
            let (x, y) = onyx_runtime::data::read_labelled(path, input, &target, Some(column.as_str()).filter(|c| !c.is_empty()))?;
            (vec![x], Some(y))
        }
        (Some(path), None) => (onyx_runtime::data::read_inputs(path, original.inputs())?, None),
        _ => (sample_inputs(original.as_ref())?, None),
    };
    let (a, b) = (original.run(&inputs)?, small.run(&inputs)?);
    if let (Some(y), Some(pa), Some(pb)) = (&labels, a.first(), b.first()) {
        println!("accuracy on {} labelled samples: {:.4} in float32, {:.4} packed", y.shape()[0], accuracy(pa, y), accuracy(pb, y));
    }
    for ((info, x), y) in original.outputs().iter().zip(&a).zip(&b) {
        let (x, y) = (x.to_f64_vec(), y.to_f64_vec());
        let abs = x.iter().zip(&y).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
        let scale = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        println!(
            "output `{}`: largest difference {abs:.3e} absolute, {:.3e} relative to its largest value, over {} samples",
            info.name,
            abs / scale.max(f64::MIN_POSITIVE),
            inputs[0].shape().first().copied().unwrap_or(0)
        );
    }
    Ok(())
}

/// The share of samples whose prediction is the label: the largest output for class indices, the
/// output above 0.5 for 0/1 labels.
fn accuracy(predictions: &HostTensor, labels: &HostTensor) -> f64 {
    let p = predictions.to_f64_vec();
    let y = labels.to_f64_vec();
    let width = p.len() / y.len().max(1);
    let right = y
        .iter()
        .enumerate()
        .filter(|(i, label)| {
            let row = &p[i * width..(i + 1) * width];
            if width == 1 {
                (row[0] > 0.5) == (**label > 0.5)
            } else {
                row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k as f64) == Some(**label)
            }
        })
        .count();
    right as f64 / y.len().max(1) as f64
}

/// 64 seeded samples per input: floats in [−1, 1), integers (token ids) below 10.
fn sample_inputs(session: &dyn Session) -> anyhow::Result<Vec<HostTensor>> {
    session
        .inputs()
        .iter()
        .map(|info| {
            // A model with a fixed batch gets that many.
            let batch = info.shape.first().and_then(|d| d.fixed()).unwrap_or(64);
            let shape = info.batch_shape(batch).with_context(|| format!("input {} has unknown dimensions; give --data", info.describe()))?;
            let n: usize = shape.iter().product();
            let ix = ndarray::IxDyn(&shape);
            Ok(match info.dtype {
                onyx_compiler::ir::DType::I64 => HostTensor::I64(ndarray::ArrayD::from_shape_vec(ix, (0..n).map(|i| (i * 7 % 10) as i64).collect())?),
                _ => HostTensor::F32(ndarray::ArrayD::from_shape_vec(ix, (0..n).map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0).collect())?),
            })
        })
        .collect()
}
