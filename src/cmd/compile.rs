use std::path::PathBuf;

use anyhow::Context;
use onyx_compiler::summary::thousands;
use onyx_compiler::train::Tuning;

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
    /// Also write the training-step and eval graphs (train_step.onnx, eval.onnx), the step cut in two
    /// for data-parallel training (train_grad.onnx, train_update.onnx, when the model allows it) and
    /// a manifest of their inputs and outputs into this folder, from the spec's [train] table: the
    /// plain step, as autodiff writes it.
    #[arg(long, value_name = "DIR")]
    emit_training: Option<PathBuf>,
    /// With --emit-training: the step as onyx trains it, with the rewrites that make it faster on
    /// tract and ONNX Runtime (same numbers, other ops).
    #[arg(long, requires = "emit_training")]
    tuned: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = onyx_compiler::Spec::from_file(&args.spec)?;
    let model = onyx_compiler::compile(&spec)?;
    let output = args.output.unwrap_or_else(|| PathBuf::from(format!("{}.onnx", model.graph.name)));
    let proto = onyx_compiler::to_onnx(&model.graph);
    onyx_proto::write_model(&output, &proto).with_context(|| format!("writing {}", output.display()))?;
    if args.dump {
        print!("{}", onyx_compiler::dump::dump(&model.graph));
    }
    if let Some(dir) = &args.emit_training {
        let Some(train) = &spec.train else { anyhow::bail!("{}: --emit-training needs a [train] table", args.spec.display()) };
        let tuning = if args.tuned { Tuning::TUNED } else { Tuning::PLAIN };
        let graphs = onyx_compiler::train::build_with(&model.graph, train, tuning)
            .with_context(|| format!("deriving the training graphs of {}", args.spec.display()))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut files = vec![("train_step.onnx", &graphs.step), ("eval.onnx", &graphs.eval)];
        if let Some(sharded) = &graphs.sharded {
            files.extend([("train_grad.onnx", &sharded.grad), ("train_update.onnx", &sharded.update)]);
        }
        for (file, graph) in &files {
            let path = dir.join(file);
            onyx_proto::write_model(&path, &onyx_compiler::to_onnx(graph)).with_context(|| format!("writing {}", path.display()))?;
        }
        let manifest = onyx_compiler::train::manifest(&graphs);
        let path = dir.join("manifest.json");
        onyx_proto::atomic_write(&path, manifest.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        let names: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
        eprintln!("wrote {} and manifest.json to {}", names.join(", "), dir.display());
    }
    let (total, _, _) = model.keras_counts();
    let bytes = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
    eprintln!("wrote {} ({} parameters, {} bytes)", output.display(), thousands(total), thousands(bytes as usize));
    Ok(())
}
