//! Whole-graph transforms.
use onyx_proto::onnx::{ModelProto, NodeProto};

use crate::export::to_onnx;
use crate::import::{ImportError, import};
use crate::ops::{Recurrent, RecurrentKind};

mod unroll;

pub use unroll::unroll_recurrent;

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// A node the pass cannot rewrite, and why.
    #[error("{node}: {message}")]
    Node { node: String, message: String },
    #[error("reading the model for rewriting: {0}")]
    Import(#[from] ImportError),
}

/// The model as tract can run it. tract's ONNX importer ignores the `activations` of LSTM, GRU and
/// RNN nodes (it always uses sigmoid and tanh), and panics on a symbolic batch when such a node has
/// no initial state; a model with either kind of node has its recurrent nodes unrolled into
/// primitive ops. A model without them comes back unchanged.
pub fn for_tract(model: &ModelProto) -> Result<ModelProto, PassError> {
    if !model.graph.iter().flat_map(|g| &g.node).any(|n| has_custom_activations(n) || lacks_initial_state(n)) {
        return Ok(model.clone());
    }
    let mut graph = import(model)?;
    unroll_recurrent(&mut graph, false)?;
    let mut out = to_onnx(&graph);
    out.metadata_props = model.metadata_props.clone();
    Ok(out)
}

/// Whether a node is an LSTM, GRU or RNN without an `initial_h` input.
fn lacks_initial_state(n: &NodeProto) -> bool {
    n.op_type.as_deref().and_then(RecurrentKind::from_op_type).is_some() && n.input.get(5).is_none_or(|i| i.is_empty())
}

/// Whether a node is an LSTM, GRU or RNN whose `activations` differ from ONNX's defaults.
fn has_custom_activations(n: &NodeProto) -> bool {
    let Some(kind) = n.op_type.as_deref().and_then(RecurrentKind::from_op_type) else {
        return false;
    };
    let defaults = Recurrent::default_activations(kind);
    let given: Vec<String> = n
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some("activations"))
        .map(|a| a.strings.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect())
        .unwrap_or_default();
    given.chunks(defaults.len()).any(|dir| dir != defaults.as_slice())
}
