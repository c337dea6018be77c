//! Transfer learning: a pretrained ONNX model, cut at a tensor, as the base a spec's head layers sit
//! on. The base keeps its weights and its graph; its parameters are frozen (all of them, or those
//! before `trainable_from`), and its batch normalization runs in inference mode even where it is
//! fine-tuned, as Keras runs a base called with `training=False`.
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use onyx_proto::onnx::{ModelProto, tensor_shape_proto::dimension, type_proto};

use crate::import::{ImportError, import};
use crate::ir::{Graph, ValueId};

pub mod listing;
mod warm;

pub use listing::{Row, cut_points, rows};
pub use warm::{WarmStart, warm_start};

pub use crate::metadata::{BASE_CUT_KEY, FROZEN_KEY, INFERENCE_MODE_KEY};

/// The batch dimension a base takes, whatever batch its file was exported with.
pub const BATCH: &str = "N";

#[derive(Debug, thiserror::Error)]
pub enum BaseError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: onyx_proto::ProtoError },
    #[error("{path}: {source}")]
    Import { path: PathBuf, source: ImportError },
    #[error("{path}: no tensor `{cut}` to cut at; the classic cut points are {}", list(.candidates))]
    NoCut { path: PathBuf, cut: String, candidates: Vec<String> },
    #[error("{path}: `{cut}` is {what}, not a tensor a node computes")]
    NotComputed { path: PathBuf, cut: String, what: &'static str },
    #[error("{path}: no node or tensor `{name}` before the cut for `trainable_from`")]
    NoTrainableFrom { path: PathBuf, name: String },
    #[error("{path}: a base takes one input; the part up to the cut reads {count}")]
    Inputs { path: PathBuf, count: usize },
    #[error("{path}: the part up to `{cut}` cannot take a batch of any size ({source}); its first dimension is taken as the batch")]
    Batch { path: PathBuf, cut: String, source: ImportError },
}

fn list(names: &[String]) -> String {
    if names.is_empty() { "(none found)".into() } else { names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ") }
}

/// Where a spec takes its base from.
#[derive(Clone, Debug, PartialEq)]
pub struct BaseSpec {
    /// The row the summary shows and the owner of the base's weights.
    pub name: String,
    pub onnx: PathBuf,
    /// The tensor the head reads; the model's (first) output when absent.
    pub cut: Option<String>,
    pub trainable: bool,
    /// A node or tensor of the base from which on its weights train.
    pub trainable_from: Option<String>,
}

/// The base as the spec's first layer: its graph (input to cut, batch symbolic) and the cut.
#[derive(Clone, Debug)]
pub struct Base {
    pub graph: Graph,
    pub output: ValueId,
    /// Its batch normalization nodes, which train in inference mode.
    pub batch_norms: Vec<String>,
}

/// Reads `spec.onnx`, cuts it at `spec.cut`, makes its batch dimension symbolic and marks which
/// weights train.
pub fn load(spec: &BaseSpec) -> Result<Base, BaseError> {
    let path = &spec.onnx;
    let proto = onyx_proto::read_model(path).map_err(|source| BaseError::Read { path: path.clone(), source })?;
    let g = proto.graph.as_ref().ok_or_else(|| BaseError::Import { path: path.clone(), source: ImportError::NoGraph })?;
    let cut = match &spec.cut {
        Some(c) => c.clone(),
        None => g.output.first().and_then(|o| o.name.clone()).unwrap_or_default(),
    };
    // The cut is checked on the file's names, so that only the part up to it is imported: ops beyond
    // the cut (the top being replaced) need not be ones onyx can represent.
    if g.initializer.iter().any(|t| t.name.as_deref() == Some(cut.as_str())) {
        return Err(BaseError::NotComputed { path: path.clone(), cut, what: "a weight" });
    }
    if g.input.iter().any(|v| v.name.as_deref() == Some(cut.as_str())) {
        return Err(BaseError::NotComputed { path: path.clone(), cut, what: "the model's input" });
    }
    if !g.node.iter().any(|n| n.output.contains(&cut)) {
        // Naming the cut points takes the whole model; a model onyx cannot read names none.
        let candidates = import(&proto).map(|full| cut_points(&full).into_iter().map(|v| full.value(v).name.clone()).collect()).unwrap_or_default();
        return Err(BaseError::NoCut { path: path.clone(), cut, candidates });
    }
    let mut graph = import(&cut_proto(&proto, &cut, true)).map_err(|source| {
        // Blame the symbolic batch only when the part reads with the file's own batch; otherwise
        // report why it does not read at all.
        match import(&cut_proto(&proto, &cut, false)) {
            Ok(_) => BaseError::Batch { path: path.clone(), cut: cut.clone(), source },
            Err(source) => BaseError::Import { path: path.clone(), source },
        }
    })?;
    if graph.inputs.len() != 1 {
        return Err(BaseError::Inputs { path: path.clone(), count: graph.inputs.len() });
    }
    let output = graph.find_value(&cut).ok_or_else(|| BaseError::NoCut { path: path.clone(), cut: cut.clone(), candidates: vec![] })?;
    // A node's output that import folded into a constant (ConstantOfShape) is a weight too.
    if graph.value(output).init.is_some() {
        return Err(BaseError::NotComputed { path: path.clone(), cut, what: "a weight" });
    }
    graph.name = spec.name.clone();
    let from = match &spec.trainable_from {
        None => None,
        Some(name) => Some(
            graph
                .nodes
                .iter()
                .position(|n| n.name == *name || n.outputs.iter().any(|&o| graph.value(o).name == *name))
                .ok_or_else(|| BaseError::NoTrainableFrom { path: path.clone(), name: name.clone() })?,
        ),
    };
    // A weight trains when the first node reading it comes at or after `trainable_from`.
    let mut seen: HashSet<ValueId> = HashSet::new();
    let mut trains: HashSet<ValueId> = HashSet::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        for &v in n.inputs.iter().flatten() {
            if seen.insert(v) && (spec.trainable || from.is_some_and(|f| i >= f)) {
                trains.insert(v);
            }
        }
    }
    let mut batch_norms = vec![];
    for n in &mut graph.nodes {
        n.layer = Some(spec.name.clone());
        if n.op.op_type() == "BatchNormalization" {
            batch_norms.push(n.name.clone());
        }
    }
    for (i, v) in graph.values.iter_mut().enumerate() {
        if let Some(p) = v.param.as_mut() {
            p.layer = spec.name.clone();
            // Import already froze batch normalization's statistics.
            p.trainable = p.trainable && trains.contains(&ValueId(i));
        }
    }
    Ok(Base { graph, output, batch_norms })
}

/// The model up to tensor `cut`: the nodes it needs, the initializers they read, and `cut` as the
/// output; with `symbolic_batch`, the input's first dimension becomes the symbolic batch.
fn cut_proto(proto: &ModelProto, cut: &str, symbolic_batch: bool) -> ModelProto {
    let mut out = proto.clone();
    let Some(g) = out.graph.as_mut() else { return out };
    let mut needed: HashSet<String> = HashSet::from([cut.to_string()]);
    let mut keep = vec![false; g.node.len()];
    for (i, n) in g.node.iter().enumerate().rev() {
        if n.output.iter().any(|o| needed.contains(o)) {
            keep[i] = true;
            needed.extend(n.input.iter().cloned());
        }
    }
    let mut i = 0;
    g.node.retain(|_| {
        i += 1;
        keep[i - 1]
    });
    g.initializer.retain(|t| t.name.as_deref().is_some_and(|n| needed.contains(n)));
    g.input.retain(|v| v.name.as_deref().is_some_and(|n| needed.contains(n)));
    for v in g.input.iter_mut().filter(|_| symbolic_batch) {
        if let Some(type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut())
            && let Some(first) = t.shape.as_mut().and_then(|s| s.dim.first_mut())
        {
            first.value = Some(dimension::Value::DimParam(BATCH.into()));
        }
    }
    g.output = vec![onyx_proto::onnx::ValueInfoProto { name: Some(cut.to_string()), ..Default::default() }];
    g.value_info.clear();
    out
}

/// The path of a base's `.onnx`, relative to the spec that names it.
pub fn resolve(spec_file: &Path, onnx: &str) -> PathBuf {
    let p = Path::new(onnx);
    if p.is_absolute() { p.to_path_buf() } else { spec_file.parent().unwrap_or(Path::new("")).join(p) }
}
