use std::path::PathBuf;

use anyhow::Context;
use onyx_runtime::{Engine, TractEngine};

/// Export a model for another server: a Triton Inference Server model repository
/// (`DIR/<name>/1/model.onnx` and `DIR/<name>/config.pbtxt`, ONNX Runtime backend), which Triton
/// and KServe serve across many machines to the same clients as `onyx serve`.
///
/// Example: onyx export --triton models_repo mnist_cnn.onnx
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// The repository folder to write the model into (created if missing; other models in it are
    /// left alone).
    #[arg(long, value_name = "DIR", required = true)]
    triton: PathBuf,
    /// The model's name in the repository: its spec's name, else the file's stem.
    #[arg(long)]
    name: Option<String>,
    /// The largest batch Triton may form (dynamic batching); 0 turns batching off.
    #[arg(long, default_value_t = 64)]
    max_batch_size: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (bytes, proto) = super::read_one_file_model(&args.model)?;
    // Triton's backend is ONNX Runtime; tract checks here that the file is a model that runs.
    let session = TractEngine.load(&proto).with_context(|| format!("{} does not run", args.model.display()))?;
    let (inputs, outputs) = (session.inputs(), session.outputs());
    let name = args.name.clone().unwrap_or_else(|| super::serve::model_name(&proto, &args.model));
    let folder = onyx_serve::triton::write_repository(&args.triton, &name, &bytes, inputs, outputs, args.max_batch_size)?;
    let batching = if args.max_batch_size > 0 && onyx_serve::triton::batches(inputs, outputs) {
        format!("batches up to {}", args.max_batch_size)
    } else {
        "no batching".into()
    };
    eprintln!(
        "wrote {} (config.pbtxt and 1/model.onnx; {batching}); serve it with `tritonserver --model-repository {}`",
        folder.display(),
        args.triton.display()
    );
    Ok(())
}
