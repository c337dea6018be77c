//! The IR's serialization: a graph becomes an ONNX ModelProto (IR version 8, opset 17).
use onyx_proto::onnx::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
    tensor_shape_proto::Dimension, tensor_shape_proto::dimension, type_proto,
};

use crate::ir::{Dim, Graph, Tensor, TensorType, Value};

pub const OPSET: i64 = 17;
/// The IR version that goes with opset 17.
pub const IR_VERSION: i64 = 8;

pub fn tensor_type_proto(ty: &TensorType) -> TypeProto {
    let dim = ty
        .shape
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n as i64),
                Dim::Sym(s) => dimension::Value::DimParam(s.clone()),
            }),
            denotation: None,
        })
        .collect();
    TypeProto {
        value: Some(type_proto::Value::TensorType(type_proto::Tensor {
            elem_type: Some(ty.dtype.onnx_code()),
            shape: Some(TensorShapeProto { dim }),
        })),
        denotation: None,
    }
}

fn value_info(v: &Value) -> ValueInfoProto {
    ValueInfoProto { name: Some(v.name.clone()), r#type: Some(tensor_type_proto(&v.ty)), ..Default::default() }
}

pub fn tensor_proto(name: &str, t: &Tensor) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: t.dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(t.dtype.onnx_code()),
        raw_data: Some(t.data.clone()),
        ..Default::default()
    }
}

pub use crate::metadata::{CONSTANTS_KEY, FROZEN_KEY};

pub fn to_onnx(graph: &Graph) -> ModelProto {
    let name_of = |id: crate::ir::ValueId| graph.value(id).name.clone();
    let node = graph
        .nodes
        .iter()
        .map(|n| NodeProto {
            name: Some(n.name.clone()),
            op_type: Some(n.op.op_type().to_string()),
            input: n.inputs.iter().map(|i| i.map(name_of).unwrap_or_default()).collect(),
            output: n.outputs.iter().map(|&o| name_of(o)).collect(),
            attribute: n.op.attributes(),
            ..Default::default()
        })
        .collect();
    // Initializers no node reads (left by an import's conversions, or by the exporter of an
    // imported file) are not written.
    let read: std::collections::HashSet<usize> =
        graph.nodes.iter().flat_map(|n| n.inputs.iter().flatten().map(|v| v.0)).chain(graph.outputs.iter().map(|v| v.0)).collect();
    let initializer = graph
        .values
        .iter()
        .enumerate()
        .filter(|(i, _)| read.contains(i))
        .filter_map(|(_, v)| v.init.as_ref().map(|t| tensor_proto(&v.name, t)))
        .collect();
    let is_io = |i: usize| graph.inputs.iter().chain(&graph.outputs).any(|id| id.0 == i);
    let intermediate = graph.values.iter().enumerate().filter(|(i, v)| v.init.is_none() && !is_io(*i)).map(|(_, v)| value_info(v)).collect();
    ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(OPSET) }],
        producer_name: Some("onyx".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(GraphProto {
            name: Some(graph.name.clone()),
            node,
            initializer,
            input: graph.inputs.iter().map(|&i| value_info(graph.value(i))).collect(),
            output: graph.outputs.iter().map(|&o| value_info(graph.value(o))).collect(),
            value_info: intermediate,
            ..Default::default()
        }),
        metadata_props: metadata(graph).into_iter().map(|(k, v)| StringStringEntryProto { key: Some(k), value: Some(v) }).collect(),
        ..Default::default()
    }
}

/// The graph's metadata with the lists of its float constants (`CONSTANTS_KEY`) and of its frozen
/// weights (`FROZEN_KEY`, batch normalization's statistics aside: import knows them) made afresh.
fn metadata(graph: &Graph) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = graph.metadata.iter().filter(|(k, _)| k != CONSTANTS_KEY && k != FROZEN_KEY).cloned().collect();
    let constants: Vec<&str> =
        graph.values.iter().filter(|v| v.param.is_none() && v.init.as_ref().is_some_and(|t| t.dtype.is_float())).map(|v| v.name.as_str()).collect();
    if !constants.is_empty() {
        out.push((CONSTANTS_KEY.into(), serde_json::to_string(&constants).unwrap_or_default()));
    }
    let statistics: std::collections::HashSet<crate::ir::ValueId> =
        graph.nodes.iter().filter(|n| n.op.op_type() == "BatchNormalization").flat_map(|n| n.inputs.iter().skip(3).flatten().copied()).collect();
    let frozen: Vec<&str> = graph.params().filter(|(id, _, p)| !p.trainable && !statistics.contains(id)).map(|(_, v, _)| v.name.as_str()).collect();
    if !frozen.is_empty() {
        out.push((FROZEN_KEY.into(), serde_json::to_string(&frozen).unwrap_or_default()));
    }
    out
}
