//! What training starts from: a spec compiled now (warm-started from another model's weights when
//! asked), or a model file with its weights and stored settings.
use std::path::Path;

use onyx_compiler::Spec;
use onyx_compiler::ir::Graph;
use onyx_compiler::spec::TrainSpec;

use super::{Progress, TrainOptions};
use crate::Error;

pub(super) struct Start {
    pub name: String,
    pub seed: u64,
    pub graph: Graph,
    pub train: TrainSpec,
    /// Set when starting from a spec (the exact solvers read its layers).
    pub spec: Option<Spec>,
}

pub(super) fn start(source: &Path, opts: &TrainOptions, progress: &mut dyn FnMut(Progress)) -> Result<Start, Error> {
    let config = opts.config.as_deref().map(onyx_compiler::spec::train_from_file).transpose()?;
    if source.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
        if opts.init_from.is_some() {
            return Err(Error::InitFromModel { model: source.to_path_buf() });
        }
        let (_, graph) = crate::model_file::import(source)?;
        let train = match config {
            Some(train) => train,
            None => crate::model_file::stored_train(source, &graph)?.ok_or_else(|| Error::NoStoredSettings { model: source.to_path_buf() })?,
        };
        let name = source.file_stem().map_or_else(|| graph.name.clone(), |s| s.to_string_lossy().to_string());
        let seed = graph.metadata_value(onyx_compiler::metadata::SEED_KEY).and_then(|s| s.parse().ok()).unwrap_or(onyx_compiler::spec::DEFAULT_SEED);
        return Ok(Start { name, seed, graph, train, spec: None });
    }
    if let Some(window) = opts.window.filter(|&w| w as u64 > onyx_compiler::layers::MAX_SIZE) {
        return Err(Error::WindowTooLong { window, bound: onyx_compiler::layers::MAX_SIZE });
    }
    let mut spec = Spec::from_file(source)?;
    // A sequence model takes any length: --window sets the one the spec's input declares.
    if let (Some(window), [input]) = (opts.window, spec.inputs.as_mut_slice())
        && input.shape.len() == 2
    {
        input.shape[0] = window - usize::from(opts.difference);
    }
    let Some(train) = config.or_else(|| spec.train.clone()) else {
        return Err(Error::NoTrainTable { spec: source.to_path_buf() });
    };
    let mut graph = onyx_compiler::compile(&spec)?.graph;
    if let Some(path) = &opts.init_from {
        warm_start(&mut graph, path, progress)?;
    }
    Ok(Start { name: spec.name.clone(), seed: spec.seed, graph, train, spec: Some(spec) })
}

/// Copies into `graph` the weights of the model at `path` that match by name and shape, and says
/// which it copied and which it kept.
fn warm_start(graph: &mut Graph, path: &Path, progress: &mut dyn FnMut(Progress)) -> Result<(), Error> {
    let from = onyx_compiler::import(&onyx_proto::read_model(path)?).map_err(|e| Error::Import { path: path.to_path_buf(), source: e })?;
    let report = onyx_compiler::transfer::warm_start(graph, &from);
    if report.copied.is_empty() {
        let weights = report.missing.iter().chain(report.mismatched.iter().map(|(n, _)| n)).take(8).cloned().collect();
        return Err(Error::NoWarmStartMatch { from: path.to_path_buf(), weights });
    }
    let total = report.copied.len() + report.mismatched.len() + report.missing.len();
    progress(Progress::Note(format!(
        "warm start from {}: copied {} of {total} weights: {}",
        path.display(),
        report.copied.len(),
        report.copied.join(", ")
    )));
    for (name, why) in &report.mismatched {
        progress(Progress::Note(format!("  kept the initialized `{name}`: {why}")));
    }
    for name in &report.missing {
        progress(Progress::Note(format!("  kept the initialized `{name}`: not in the file")));
    }
    if !report.unused.is_empty() {
        progress(Progress::Note(format!("  unused from the file: {}", report.unused.join(", "))));
    }
    Ok(())
}
