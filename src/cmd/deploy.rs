use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use onyx_runtime::{Engine, TractEngine};
use onyx_serve::Info;

/// Make one self-contained executable that carries the model and runs it on tract: `app --input
/// x.csv` prints predictions, `app serve --port N` serves HTTP, `app --info` tells what it carries.
/// It needs nothing on its machine but the C library (the runner is linked statically).
///
/// Example: onyx deploy mnist_cnn.onnx -o mnist-app
#[derive(clap::Args)]
pub struct Args {
    /// The model (.onnx).
    model: PathBuf,
    /// The executable to write.
    #[arg(short, long)]
    output: PathBuf,
    /// The name the app serves the model under: its spec's name, else the file's stem.
    #[arg(long)]
    name: Option<String>,
    /// The runner to build the app from: `onyx-runner` beside this executable by default (or
    /// $ONYX_RUNNER).
    #[arg(long)]
    runner: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (bytes, proto) = super::read_one_file_model(&args.model)?;
    // The app runs on tract: a model tract cannot run is refused now, not on the target machine.
    let session = TractEngine.load(&proto).with_context(|| format!("{} cannot be deployed", args.model.display()))?;
    let runner = runner(args.runner.as_deref())?;
    let meta = |key: &str| proto.metadata_props.iter().find(|p| p.key.as_deref() == Some(key)).and_then(|p| p.value.clone());
    let info = Info {
        name: args.name.clone().unwrap_or_else(|| super::serve::model_name(&proto, &args.model)),
        spec: meta(onyx_compiler::metadata::SPEC_KEY),
        trained_at: meta(onyx::train::TRAINED_AT_KEY),
        onyx_version: env!("CARGO_PKG_VERSION").into(),
        // The file's name only: where it sat on the machine that built the app is nobody's business.
        source: args.model.file_name().map_or_else(|| args.model.display().to_string(), |f| f.to_string_lossy().into_owned()),
        deployed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        model_sha256: onyx_serve::payload::sha256_hex(&bytes),
    };
    onyx_serve::write_app(&runner, &bytes, &info, &args.output)?;
    let size = std::fs::metadata(&args.output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "wrote {} ({:.1} MB): `{}` with {} and {}, sha256 {}…; run it with --input FILE, serve, or --info",
        args.output.display(),
        size as f64 / 1e6,
        info.name,
        super::plural(session.inputs().len(), "input"),
        super::plural(session.outputs().len(), "output"),
        &info.model_sha256[..12]
    );
    Ok(())
}

/// The runner executable: given, from $ONYX_RUNNER, or beside this one.
fn runner(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match (given, std::env::var_os("ONYX_RUNNER")) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => {
            std::env::current_exe().context("finding this executable")?.with_file_name(format!("onyx-runner{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if !path.is_file() {
        bail!(
            "no runner at {}: build it with `scripts/build-runner.sh` (a statically linked `onyx-runner` beside `onyx`), or give --runner",
            path.display()
        );
    }
    Ok(path)
}
