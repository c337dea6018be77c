use std::path::PathBuf;

use onyx::pack::{Compare, Packing, pack};
use onyx_compiler::summary::thousands;

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
    let packing = if args.compute.is_some() { Packing::Fp16Compute } else { Packing::Fp16Weights };
    let compare = match (args.data, args.target) {
        (Some(path), Some(column)) => Compare::Labelled(path, Some(column).filter(|c| !c.is_empty())),
        (Some(path), None) => Compare::Inputs(path),
        (None, _) => Compare::Samples,
    };
    let p = pack(&args.model, &args.output, packing, &compare, args.engine.engine()?.as_ref())?;
    println!(
        "{}: {} → {} bytes ({:.3}×)",
        p.what,
        thousands(p.bytes_before),
        thousands(p.bytes_after),
        p.bytes_after as f64 / p.bytes_before.max(1) as f64
    );
    for note in &p.notes {
        println!("{note}");
    }
    if let Some((n, before, after)) = p.accuracy {
        println!("accuracy on {n} labelled samples: {before:.4} in float32, {after:.4} packed");
    }
    for (name, abs, rel) in &p.differences {
        println!("output `{name}`: largest difference {abs:.3e} absolute, {rel:.3e} relative to its largest value, over {} samples", p.samples);
    }
    Ok(())
}
