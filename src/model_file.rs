//! A model file as the library's calls take it: read, imported into the IR, and its stored
//! training settings.
use std::path::{Path, PathBuf};

use onyx_compiler::ir::Graph;
use onyx_compiler::spec::TrainSpec;
use onyx_proto::onnx::ModelProto;

use crate::Error;

/// The model at `path`, read through the checked reader and imported.
pub(crate) fn import(path: &Path) -> Result<(ModelProto, Graph), Error> {
    let proto = onyx_proto::read_model(path)?;
    let graph = onyx_compiler::import(&proto).map_err(|source| Error::Import { path: path.to_path_buf(), source })?;
    Ok((proto, graph))
}

/// The `[train]` settings onyx stored in the model at `path` (metadata `onyx.train`), where it has
/// them; errors in them name the file.
pub(crate) fn stored_train(path: &Path, graph: &Graph) -> Result<Option<TrainSpec>, Error> {
    let Some(stored) = graph.metadata_value(onyx_compiler::metadata::TRAIN_KEY) else { return Ok(None) };
    let label = PathBuf::from(format!("{} (metadata onyx.train).json", path.display()));
    Ok(Some(onyx_compiler::spec::parse_train(&label, stored.to_string())?))
}
