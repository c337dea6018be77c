use std::path::PathBuf;

/// Print a spec's layers, output shapes and parameter counts as Keras' `model.summary()` does.
///
/// Example: onyx summary models/mnist_cnn.toml
#[derive(clap::Args)]
pub struct Args {
    /// The spec file (.toml or .json).
    spec: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let spec = onyx_compiler::Spec::from_file(&args.spec)?;
    let model = onyx_compiler::compile(&spec)?;
    let inputs: Vec<(String, String)> = model
        .graph
        .inputs
        .iter()
        .map(|&i| {
            let v = model.graph.value(i);
            (v.name.clone(), v.ty.keras_shape())
        })
        .collect();
    super::print(&onyx_compiler::summary::summary(&model, &inputs))
}
