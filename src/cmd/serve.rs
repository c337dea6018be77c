use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use onyx_serve::{Model, ServeArgs};

/// Serve a model over HTTP with the Open Inference Protocol (KServe v2), the protocol Triton and
/// KServe speak: GET /v2/health/live, /v2/health/ready, /v2/models/NAME (metadata),
/// /v2/models/NAME/ready, POST /v2/models/NAME/infer, and GET /metrics (Prometheus). Runs until
/// SIGTERM or Ctrl-C, finishing the requests under way.
///
/// Example: onyx serve mnist_cnn.onnx --port 8000
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// The name clients address the model by: its spec's name, else the file's stem.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    serve: ServeArgs,
    #[command(flatten)]
    engine: super::engine::EngineArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    onyx_runtime::memory::return_freed_memory();
    let proto = onyx_proto::read_model(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let limits = args.serve.limits().map_err(anyhow::Error::msg)?;
    let session = args.engine.engine()?.load(&proto)?;
    let name = args.name.clone().unwrap_or_else(|| model_name(&proto, &args.model));
    onyx_serve::serve_blocking(Model { name, session: Arc::from(session) }, args.serve.addr(), limits)?;
    Ok(())
}

/// The name a model is served under by default: the spec's (`onyx.spec`), else the file's stem.
pub fn model_name(proto: &onyx_proto::onnx::ModelProto, path: &std::path::Path) -> String {
    let spec = proto.metadata_props.iter().find(|p| p.key.as_deref() == Some(onyx_compiler::metadata::SPEC_KEY)).and_then(|p| p.value.clone());
    spec.filter(|s| !s.is_empty()).unwrap_or_else(|| path.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().to_string()))
}
