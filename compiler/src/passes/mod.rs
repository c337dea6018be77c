//! Whole-graph transforms.
use onyx_proto::onnx::{ModelProto, NodeProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto};

use crate::builder::Builder;
use crate::export::to_onnx;
use crate::import::{ImportError, import};
use crate::ir::{Graph, Node, TensorType, ValueId};
use crate::ops::{Attrs, Recurrent, RecurrentKind};

mod commute;
mod crop;
mod difference;
mod half;
mod log_softmax;
mod pack;
mod pairs;
mod standardize;
mod subgrid;
mod unroll;

pub use commute::pool_before_relu;
pub use crop::crop_unread;
pub use difference::difference_series;
pub use half::{Halved, compute_fp16};
pub use pack::{MIN_ELEMENTS as PACK_MIN_ELEMENTS, Packed, pack_fp16};
pub use standardize::{append_unscaling, prepend_channel_normalization, prepend_standardization};
pub use subgrid::pool_by_strided_convs;
pub use unroll::{unroll_recurrent, unroll_recurrent_for_training};

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// A node the pass cannot rewrite, and why.
    #[error("{node}: {message}")]
    Node { node: String, message: String },
    #[error("reading the model for rewriting: {0}")]
    Import(#[from] ImportError),
}

impl PassError {
    /// The pass cannot rewrite the node or value named `node`, for `message`.
    pub(crate) fn at(node: &str, message: impl Into<String>) -> PassError {
        PassError::Node { node: node.to_string(), message: message.into() }
    }
}

/// The model input named `input`: its value, its place among the inputs, and its type.
fn model_input(graph: &Graph, input: &str) -> Result<(ValueId, usize, TensorType), PassError> {
    let id = graph.find_value(input).ok_or_else(|| PassError::at(input, "is not a model input"))?;
    let slot = graph.inputs.iter().position(|&i| i == id).ok_or_else(|| PassError::at(input, "is not a model input"))?;
    Ok((id, slot, graph.value(id).ty.clone()))
}

/// Makes room for nodes in front of the model input `id` (at `slot` among the inputs): its value is
/// renamed `renamed`, and a new input of type `raw` takes its name and place. Returns a builder over
/// the graph, the new input, and the graph's own nodes, which go after those the caller adds.
fn in_front_of_input(graph: &mut Graph, id: ValueId, slot: usize, renamed: String, raw: TensorType) -> (Builder, ValueId, Vec<Node>) {
    let forward = std::mem::take(&mut graph.nodes);
    let name = std::mem::replace(&mut graph.values[id.0].name, renamed);
    let mut b = Builder::from_graph(std::mem::take(graph));
    let raw = b.input(&name, raw);
    b.graph.inputs.pop();
    b.graph.inputs[slot] = raw;
    (b, raw, forward)
}

/// The model as tract can run it. tract's ONNX importer ignores the `activations` of LSTM, GRU and
/// RNN nodes (it always uses sigmoid and tanh), and panics on a symbolic batch when such a node has
/// no initial state; a model with either kind of node has its recurrent nodes unrolled into
/// primitive ops. LogSoftmax is spelled out in stable primitives (`log_softmax`). A model without
/// either comes back unchanged.
pub fn for_tract(model: &ModelProto) -> Result<ModelProto, PassError> {
    let mut out = if model.graph.iter().flat_map(|g| &g.node).any(tract_cannot_run) {
        let mut graph = import(model)?;
        unroll_recurrent(&mut graph, false)?;
        let mut out = to_onnx(&graph);
        out.metadata_props = model.metadata_props.clone();
        out
    } else {
        model.clone()
    };
    if let Some(g) = out.graph.as_mut().filter(|g| log_softmax::has_log_softmax(g)) {
        log_softmax::spell_out_log_softmax(g);
    }
    Ok(out)
}

/// Whether a node is an LSTM, GRU or RNN with activations other than ONNX's defaults, or without an
/// `initial_h` input. One whose attributes do not parse counts too, so that import reports why.
fn tract_cannot_run(n: &NodeProto) -> bool {
    let Some(kind) = n.op_type.as_deref().and_then(RecurrentKind::from_op_type) else {
        return false;
    };
    let no_initial_state = n.input.get(5).is_none_or(|i| i.is_empty());
    let attrs = Attrs { op: n.op_type.as_deref().unwrap_or_default(), list: &n.attribute };
    no_initial_state || Recurrent::parse(kind, &attrs).map_or(true, |r| !r.has_default_activations())
}

/// The model with its batch dimension (`N`) made `batch` in every declared type, for engines that
/// plan better (or only) with concrete shapes.
pub fn fix_batch(model: &ModelProto, batch: usize) -> ModelProto {
    let mut out = model.clone();
    let fix = |v: &mut ValueInfoProto| {
        if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            for d in t.shape.iter_mut().flat_map(|s| s.dim.iter_mut()) {
                // The batch itself, or a product of it (`N*11`, from flattening stacked batches).
                let times = match &d.value {
                    Some(dimension::Value::DimParam(p)) => crate::ir::batch_multiple(p),
                    _ => None,
                };
                if let Some(n) = times.and_then(|t| t.checked_mul(batch)).and_then(|n| i64::try_from(n).ok()) {
                    d.value = Some(dimension::Value::DimValue(n));
                }
            }
        }
    };
    if let Some(g) = out.graph.as_mut() {
        g.input.iter_mut().chain(g.output.iter_mut()).chain(g.value_info.iter_mut()).for_each(fix);
    }
    out
}

#[cfg(test)]
mod tests {
    use onyx_proto::onnx::{GraphProto, ModelProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto::Dimension};

    use super::*;

    fn typed(name: &str, dims: &[&str]) -> ValueInfoProto {
        let dim = dims
            .iter()
            .map(|d| Dimension {
                value: Some(d.parse::<i64>().map_or_else(|_| dimension::Value::DimParam(d.to_string()), dimension::Value::DimValue)),
                denotation: None,
            })
            .collect();
        let tensor = type_proto::Tensor { elem_type: Some(1), shape: Some(TensorShapeProto { dim }) };
        ValueInfoProto {
            name: Some(name.into()),
            r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), denotation: None }),
            ..Default::default()
        }
    }

    #[test]
    fn fixing_the_batch_fixes_its_products_and_leaves_other_symbols() {
        let graph = GraphProto {
            input: vec![typed("x", &["N", "3"])],
            value_info: vec![typed("y", &["N*11", "4"]), typed("z", &["seq", "N"])],
            ..Default::default()
        };
        let fixed = fix_batch(&ModelProto { graph: Some(graph), ..Default::default() }, 16);
        let dims = |v: &ValueInfoProto| -> Vec<String> {
            let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else { return vec![] };
            t.shape
                .iter()
                .flat_map(|s| &s.dim)
                .map(|d| match &d.value {
                    Some(dimension::Value::DimValue(n)) => n.to_string(),
                    Some(dimension::Value::DimParam(p)) => p.clone(),
                    None => "?".into(),
                })
                .collect()
        };
        let g = fixed.graph.unwrap();
        assert_eq!(dims(&g.input[0]), ["16", "3"]);
        assert_eq!(dims(&g.value_info[0]), ["176", "4"]);
        assert_eq!(dims(&g.value_info[1]), ["seq", "16"]);
    }
}
