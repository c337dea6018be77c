//! Our hand-written structs match onnx.proto field for field: models in which the onnx Python
//! package set every field of every message come back unchanged after our decode and encode.

mod common;

use std::fs;

use prost::Message;

use onyx_proto::onnx::tensor_proto::DataType;
use onyx_proto::onnx::{
    AttributeProto, IntIntListEntryProto, ShardingSpecProto, SparseTensorProto, TensorProto, TypeProto, Version, attribute_proto, type_proto,
};
use onyx_proto::{decode_model, encode_model};

#[test]
fn every_field_survives_reencoding() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // Six variants cover every member of the largest oneof (TypeProto.value); depth 6 reaches the
    // most deeply nested message (SimpleShardedDimProto). The script fails if a field is missed.
    let fields = common::run_python(&[common::support_script("kitchen_sink.py").as_os_str(), dir.path().as_os_str(), "6".as_ref(), "6".as_ref()]);
    println!("onnx set {} distinct fields", fields.trim());

    let mut pairs = String::new();
    for pick in 0..6 {
        let path = dir.path().join(format!("sink_{pick}.onnx"));
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let model = decode_model(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = encode_model(&model);
        // Protobuf places a set oneof member by its own tag where prost places the whole oneof by
        // its lowest tag, so the bytes may be ordered differently, but never of different length:
        // a dropped field or a wrong packed flag (every list holds three values) changes it.
        assert_eq!(encoded.len(), bytes.len(), "{}: re-encoded length differs", path.display());
        let out = dir.path().join(format!("reencoded_{pick}.onnx"));
        fs::write(&out, &encoded).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        pairs.push_str(&format!("{}\t{}\n", path.display(), out.display()));
    }
    let list = dir.path().join("pairs.tsv");
    fs::write(&list, pairs).expect("pair list");
    let compared = common::run_python(&[common::support_script("compare_models.py").as_os_str(), list.as_os_str()]);
    assert_eq!(compared.trim(), "6");
}

/// Repeated numbers are packed exactly where onnx.proto says `[packed = true]`; proto2 leaves the
/// rest unpacked, one key per value.
#[test]
fn packed_flags_match_the_schema() {
    let unpacked = |key: u8| vec![key, 1, key, 2, key, 3];
    let tensor_dims = TensorProto { dims: vec![1, 2, 3], ..Default::default() };
    assert_eq!(tensor_dims.encode_to_vec(), unpacked(0x08));
    let sparse_dims = SparseTensorProto { dims: vec![1, 2, 3], ..Default::default() };
    assert_eq!(sparse_dims.encode_to_vec(), unpacked(0x18));
    let ints = AttributeProto { ints: vec![1, 2, 3], ..Default::default() };
    assert_eq!(ints.encode_to_vec(), unpacked(0x40));
    let entry = IntIntListEntryProto { value: vec![1, 2, 3], ..Default::default() };
    assert_eq!(entry.encode_to_vec(), unpacked(0x10));
    let spec = ShardingSpecProto { device: vec![1, 2, 3], ..Default::default() };
    assert_eq!(spec.encode_to_vec(), unpacked(0x10));
    let floats = AttributeProto { floats: vec![1.0, 2.0], ..Default::default() };
    let mut expected = vec![0x3d];
    expected.extend(1f32.to_le_bytes());
    expected.push(0x3d);
    expected.extend(2f32.to_le_bytes());
    assert_eq!(floats.encode_to_vec(), expected);

    let packed = |key: u8, payload: &[u8]| {
        let mut bytes = vec![key, payload.len() as u8];
        bytes.extend(payload);
        bytes
    };
    let t = TensorProto { int32_data: vec![1, 2, 3], ..Default::default() };
    assert_eq!(t.encode_to_vec(), packed(0x2a, &[1, 2, 3]));
    let t = TensorProto { int64_data: vec![1, 2, 3], ..Default::default() };
    assert_eq!(t.encode_to_vec(), packed(0x3a, &[1, 2, 3]));
    let t = TensorProto { uint64_data: vec![1, 2, 3], ..Default::default() };
    assert_eq!(t.encode_to_vec(), packed(0x5a, &[1, 2, 3]));
    let t = TensorProto { float_data: vec![1.0, 2.0], ..Default::default() };
    let payload: Vec<u8> = [1f32, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(t.encode_to_vec(), packed(0x22, &payload));
    let t = TensorProto { double_data: vec![1.0, 2.0], ..Default::default() };
    let payload: Vec<u8> = [1f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(t.encode_to_vec(), packed(0x52, &payload));
}

#[test]
fn enum_names_match_the_schema() {
    assert_eq!(DataType::Float8e4m3fnuz as i32, 18);
    assert_eq!(DataType::from_str_name("FLOAT6E3M2"), Some(DataType::Float6e3m2));
    assert_eq!(DataType::Bfloat16.as_str_name(), "BFLOAT16");
    assert_eq!(attribute_proto::AttributeType::TypeProtos as i32, 14);
    assert_eq!(Version::IrVersion as i32, 14);
    assert_eq!(Version::from_str_name("_START_VERSION"), Some(Version::StartVersion));
}

#[test]
fn prost_accessors_follow_proto2_presence() {
    let attribute = AttributeProto::default();
    assert_eq!(attribute.r#type(), attribute_proto::AttributeType::Undefined);
    assert_eq!(attribute.name(), "");
    assert_eq!(attribute.f, None);

    let ty = TypeProto {
        value: Some(type_proto::Value::SequenceType(Box::new(type_proto::Sequence { elem_type: Some(Box::new(TypeProto::default())) }))),
        ..Default::default()
    };
    let mut model = onyx_proto::onnx::ModelProto::default();
    model.graph.get_or_insert_default().input.push(onyx_proto::onnx::ValueInfoProto { r#type: Some(ty.clone()), ..Default::default() });
    let back = decode_model(&encode_model(&model)).expect("decodes");
    let input_type = back.graph.and_then(|g| g.input.into_iter().next()).and_then(|v| v.r#type);
    assert_eq!(input_type, Some(ty));
}
