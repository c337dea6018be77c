//! A deployed onyx app: this runner with a model appended (`onyx deploy`). It runs the model on
//! tract, from files or over HTTP, and needs nothing on its machine but the C library.
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use onyx_runtime::data::{self, OutputFormat};
use onyx_runtime::{Engine, TractEngine};
use onyx_serve::{Model, Payload, ServeArgs};

#[derive(Parser)]
#[command(
    version,
    about = "A model deployed by onyx: predictions from files, or an HTTP server (Open Inference Protocol v2)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Inputs: .csv (one sample a row), .npy, or .npz (arrays named after the inputs).
    #[arg(short, long, required_unless_present = "info")]
    input: Option<PathBuf>,
    /// Where to write predictions (.csv, .npy, .npz or .json); CSV on stdout by default.
    #[arg(short, long, requires = "input")]
    output: Option<PathBuf>,
    /// Format for stdout when no --output is given.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Print the model's inputs, outputs and origin.
    #[arg(long, conflicts_with = "input")]
    info: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the model over HTTP until SIGTERM or Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Csv,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let Payload { model, info } = onyx_serve::read_payload(&exe).map_err(|e| match e {
        onyx_serve::PayloadError::Missing { .. } => format!("{e}; `onyx deploy model.onnx -o app` makes an app from this runner"),
        e => e.to_string(),
    })?;
    let proto = onyx_proto::decode_model(&model).map_err(|e| format!("the deployed model: {e}"))?;
    let session = TractEngine.load(&proto).map_err(|e| e.to_string())?;
    if cli.info {
        let io = |list: &[onyx_runtime::IoInfo]| list.iter().map(|t| format!("  {}", t.describe())).collect::<Vec<_>>().join("\n");
        let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
        println!(
            "model: {}\nspec: {}\ntrained: {}\ndeployed from {} at {} with onyx {}\nsha256: {}\ninputs:\n{}\noutputs:\n{}",
            info.name,
            or_unknown(&info.spec),
            or_unknown(&info.trained_at),
            info.source,
            info.deployed_at,
            info.onyx_version,
            info.model_sha256,
            io(session.inputs()),
            io(session.outputs())
        );
        return Ok(());
    }
    if let Some(Command::Serve(args)) = cli.command {
        onyx_runtime::memory::return_freed_memory();
        let limits = args.limits()?;
        let model = Model { name: info.name, session: Arc::from(session) };
        return onyx_serve::serve_blocking(model, args.addr(), limits).map_err(|e| e.to_string());
    }
    let Some(input) = cli.input else { return Err("give --input, --info or serve".into()) };
    let inputs = data::read_inputs(&input, session.inputs()).map_err(|e| e.to_string())?;
    let outputs = session.run(&inputs).map_err(|e| e.to_string())?;
    match cli.output {
        Some(path) => data::write_outputs(&path, session.outputs(), &outputs).map_err(|e| e.to_string()),
        None => {
            let format = match cli.format {
                Format::Csv => OutputFormat::Csv,
                Format::Json => OutputFormat::Json,
            };
            let bytes = data::encode_outputs(format, session.outputs(), &outputs, std::path::Path::new("<stdout>")).map_err(|e| e.to_string())?;
            use std::io::Write;
            match std::io::stdout().lock().write_all(&bytes) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("writing to stdout: {e}")),
                _ => Ok(()),
            }
        }
    }
}
