//! A model written with our external-data writer passes onnx's full checker, which resolves the
//! data file itself, and onnx loads the same weights we wrote.

mod common;

use onyx_proto::onnx::tensor_proto::DataType;
use onyx_proto::onnx::type_proto::{self, Tensor};
use onyx_proto::onnx::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto, tensor_shape_proto};
use onyx_proto::{f32_tensor, read_model, tensor_f32_values, write_model_with_external_data};

fn float_value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension { value: Some(tensor_shape_proto::dimension::Value::DimValue(d)), ..Default::default() })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(Tensor { elem_type: Some(DataType::Float as i32), shape: Some(TensorShapeProto { dim }) })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: Some(op.to_string()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        ..Default::default()
    }
}

#[test]
fn onnx_checker_accepts_our_external_data() {
    let weights: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
    let model = ModelProto {
        ir_version: Some(10),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(21) }],
        producer_name: Some("onyx-proto test".to_string()),
        graph: Some(GraphProto {
            name: Some("affine".to_string()),
            node: vec![node("MatMul", &["X", "W"], "XW"), node("Add", &["XW", "B"], "Y")],
            initializer: vec![f32_tensor("W", &[4, 3], &weights), f32_tensor("B", &[3], &[0.5, -0.5, 1.0])],
            input: vec![float_value("X", &[1, 4])],
            output: vec![float_value("Y", &[1, 3])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("affine.onnx");
    // W (48 bytes) goes to the data file, B (12 bytes) stays inline.
    write_model_with_external_data(&path, &model, "affine.weights", 16).expect("write");

    let printed = common::run_python(&[common::support_script("check_external.py").as_os_str(), path.as_os_str()]);
    let from_onnx: Vec<f32> = printed.split_whitespace().map(|v| v.parse::<f64>().unwrap_or_else(|e| panic!("`{v}`: {e}")) as f32).collect();
    assert_eq!(from_onnx, weights);

    let read = read_model(&path).expect("read back");
    let w = &read.graph.expect("graph").initializer[0];
    assert_eq!(tensor_f32_values(w).expect("values"), weights);
}
