use std::path::PathBuf;

use anyhow::Context;
use onyx_compiler::summary::thousands;

/// Compile a spec (TOML or JSON) to an ONNX model with initialized weights.
///
/// Example: onyx compile models/mnist_cnn.toml -o mnist_cnn.onnx
#[derive(clap::Args)]
pub struct Args {
    /// The spec file (.toml or .json).
    spec: PathBuf,
    /// Where to write the model; `<spec name>.onnx` by default.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also print a readable dump of the compiled graph.
    #[arg(long)]
    dump: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = onyx_compiler::compile_file(&args.spec)?;
    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("{}.onnx", model.graph.name)));
    let proto = onyx_compiler::to_onnx(&model.graph);
    onyx_proto::write_model(&output, &proto).with_context(|| format!("writing {}", output.display()))?;
    if args.dump {
        print!("{}", onyx_compiler::dump::dump(&model.graph));
    }
    let (total, _, _) = model.keras_counts();
    let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} ({} parameters, {} bytes)", output.display(), thousands(total), thousands(bytes as usize));
    Ok(())
}
