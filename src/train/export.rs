//! The trained model as a file: the standardization and differencing the data went through baked
//! in as nodes, weights packed where asked, and the training time in its metadata.
use std::path::Path;

use onyx_compiler::ir::Graph;
use onyx_proto::onnx::ModelProto;
use onyx_runtime::HostTensor;
use onyx_runtime::data::{feature_stats, overall_stats};

use super::Progress;
use crate::Error;

/// Standardization learnt from the training rows: per input element, and for a series (one
/// quantity at every step) one mean and scale for the whole window and another for the target.
pub(super) struct Scaling {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    /// The target's (mean, scale), when the target is scaled too.
    pub target: Option<(f32, f32)>,
}

impl Scaling {
    /// For tables, per feature; for a series (`target` given), one mean and scale for the window
    /// and another for the target.
    pub fn fit(x: &HostTensor, target: Option<&HostTensor>) -> Scaling {
        let Some(y) = target else {
            let (mean, scale) = feature_stats(x);
            return Scaling { mean, scale, target: None };
        };
        let (mean, scale) = overall_stats(x);
        let width = x.shape()[1..].iter().product();
        Scaling { mean: vec![mean; width], scale: vec![scale; width], target: Some(overall_stats(y)) }
    }
}

pub use onyx_compiler::metadata::TRAINED_AT_KEY;

/// How the trained graph becomes the exported model.
pub(super) struct Export<'a> {
    /// The model's input, which the scaling and the differencing read.
    pub input: &'a str,
    pub scaling: Option<&'a Scaling>,
    pub difference: bool,
    /// Weights stored as float16.
    pub pack: bool,
}

/// Writes `trained` (the inference graph with its trained weights) to `output` and returns what it
/// wrote, with the scaling, when there is one, baked in (the inputs' as the model's first nodes, the
/// target's as its last) and, with `difference`, the differencing around both: the changes are what
/// the scaling describes. Every solver exports through here.
pub(super) fn export(mut trained: Graph, how: &Export, output: &Path, progress: &mut dyn FnMut(Progress)) -> Result<ModelProto, Error> {
    let Export { input, scaling, difference, pack } = *how;
    if let Some(s) = scaling {
        onyx_compiler::passes::prepend_standardization(&mut trained, input, &s.mean, &s.scale)?;
        if let Some((mean, scale)) = s.target {
            onyx_compiler::passes::append_unscaling(&mut trained, mean, scale)?;
        }
    }
    if difference {
        onyx_compiler::passes::difference_series(&mut trained, input)?;
    }
    if pack {
        let report = onyx_compiler::passes::pack_fp16(&mut trained)?;
        progress(Progress::Note(format!(
            "packed {} weights ({} values) as float16",
            report.packed.len(),
            onyx_compiler::summary::thousands(report.elements)
        )));
        for note in report.notes() {
            progress(Progress::Note(format!("  {note}")));
        }
    }
    // When, for `app --info` and anyone reading the file later.
    trained.metadata.retain(|(k, _)| k != TRAINED_AT_KEY);
    trained.metadata.push((TRAINED_AT_KEY.into(), humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()));
    let proto = onyx_compiler::to_onnx(&trained);
    onyx_proto::write_model(output, &proto).map_err(|source| Error::Write { path: output.to_path_buf(), source })?;
    Ok(proto)
}
