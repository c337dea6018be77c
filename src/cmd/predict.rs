use std::path::PathBuf;

use anyhow::Context;
use onyx_runtime::data::{self, OutputFormat};
use onyx_runtime::{Engine, TractEngine};

/// Run a model on inputs from a CSV, NPY or NPZ file.
///
/// Example: onyx predict model.onnx --input x.csv -o predictions.csv
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// Inputs: .csv (one sample a row), .npy, or .npz (arrays named after the inputs).
    #[arg(short, long)]
    input: PathBuf,
    /// Where to write predictions (.csv, .npy, .npz or .json); CSV on stdout by default.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Format for stdout when no --output is given.
    #[arg(long, value_enum, default_value = "csv")]
    format: StdoutFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StdoutFormat {
    Csv,
    Json,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let session = TractEngine.load(&proto)?;
    let inputs = data::read_inputs(&args.input, session.inputs())?;
    let outputs = session.run(&inputs)?;
    match &args.output {
        Some(path) => {
            data::write_outputs(path, session.outputs(), &outputs)?;
            eprintln!("wrote {} predictions to {}", inputs[0].shape().first().copied().unwrap_or(0), path.display());
        }
        None => {
            let format = match args.format {
                StdoutFormat::Csv => OutputFormat::Csv,
                StdoutFormat::Json => OutputFormat::Json,
            };
            let bytes = data::encode_outputs(format, session.outputs(), &outputs, std::path::Path::new("<stdout>"))?;
            super::print(&String::from_utf8_lossy(&bytes))?;
        }
    }
    Ok(())
}
