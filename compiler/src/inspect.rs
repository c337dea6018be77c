//! `onyx inspect`: what a user needs to know of any `.onnx` file, read straight from the protobuf.
use std::collections::BTreeMap;

use onyx_proto::onnx::{ModelProto, TypeProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto};

use crate::ir::DType;

#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    pub ir_version: i64,
    pub producer: String,
    pub opsets: Vec<(String, i64)>,
    pub inputs: Vec<(String, String)>,
    pub outputs: Vec<(String, String)>,
    /// Op type → number of nodes (main graph).
    pub ops: BTreeMap<String, usize>,
    pub nodes: usize,
    /// Elements and bytes held in initializers.
    pub params: u64,
    pub param_bytes: u64,
    pub metadata: Vec<(String, String)>,
}

/// `float32[N, 1, 28, 28]`, with `?` for unknown dimensions.
pub fn type_string(ty: Option<&TypeProto>) -> String {
    let Some(type_proto::Value::TensorType(t)) = ty.and_then(|t| t.value.as_ref()) else { return "(not a tensor)".into() };
    let dtype = t.elem_type.and_then(DType::from_onnx_code).map_or_else(|| format!("type{}", t.elem_type.unwrap_or(0)), |d| d.name().to_string());
    let Some(shape) = &t.shape else { return format!("{dtype}[?]") };
    let dims: Vec<String> = shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(v)) => v.to_string(),
            Some(dimension::Value::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect();
    format!("{dtype}[{}]", dims.join(", "))
}

fn io(list: &[ValueInfoProto], skip: &[String]) -> Vec<(String, String)> {
    list.iter()
        .filter(|v| !skip.contains(&v.name.clone().unwrap_or_default()))
        .map(|v| (v.name.clone().unwrap_or_default(), type_string(v.r#type.as_ref())))
        .collect()
}

pub fn inspect(model: &ModelProto) -> Inspection {
    let graph = model.graph.clone().unwrap_or_default();
    let mut ops = BTreeMap::new();
    for n in &graph.node {
        *ops.entry(n.op_type.clone().unwrap_or_default()).or_insert(0) += 1;
    }
    let init_names: Vec<String> = graph.initializer.iter().map(|t| t.name.clone().unwrap_or_default()).collect();
    let (mut params, mut param_bytes) = (0u64, 0u64);
    for t in &graph.initializer {
        let n = t.dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?)).unwrap_or(0);
        params += n;
        let size = t.data_type.and_then(DType::from_onnx_code).map_or(0, |d| d.size_of() as u64);
        param_bytes += n * size;
    }
    Inspection {
        ir_version: model.ir_version.unwrap_or(0),
        producer: format!("{} {}", model.producer_name.clone().unwrap_or_default(), model.producer_version.clone().unwrap_or_default())
            .trim()
            .to_string(),
        opsets: model.opset_import.iter().map(|o| (o.domain.clone().unwrap_or_default(), o.version.unwrap_or(0))).collect(),
        // Older exporters list initializers among the inputs; they are not inputs a user feeds.
        inputs: io(&graph.input, &init_names),
        outputs: io(&graph.output, &[]),
        nodes: graph.node.len(),
        ops,
        params,
        param_bytes,
        metadata: model.metadata_props.iter().map(|p| (p.key.clone().unwrap_or_default(), p.value.clone().unwrap_or_default())).collect(),
    }
}
