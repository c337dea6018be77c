//! Writing models with external data, reading them back, and refusing hostile or inconsistent
//! external references and tensor sizes.

use std::fs;
use std::path::{Path, PathBuf};

use onyx_proto::onnx::tensor_proto::{DataLocation, DataType};
use onyx_proto::onnx::{AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, StringStringEntryProto, TensorProto};
use onyx_proto::{
    Limits, ProtoError, decode_model, f32_tensor, i64_tensor, read_model, read_model_with, tensor_f32_values, write_model,
    write_model_with_external_data,
};

fn model_with(initializers: Vec<TensorProto>, node: Vec<NodeProto>) -> ModelProto {
    ModelProto {
        ir_version: Some(10),
        graph: Some(GraphProto { name: Some("g".to_string()), initializer: initializers, node, ..Default::default() }),
        ..Default::default()
    }
}

/// A FLOAT tensor whose data is in a file, as the given `external_data` entries describe.
fn external(name: &str, dims: &[i64], entries: &[(&str, &str)]) -> TensorProto {
    TensorProto {
        name: Some(name.to_string()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        data_location: Some(DataLocation::External as i32),
        external_data: entries.iter().map(|(k, v)| StringStringEntryProto { key: Some(k.to_string()), value: Some(v.to_string()) }).collect(),
        ..Default::default()
    }
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes a model holding `tensor` into `dir` and reads it back with `limits`.
fn read_back(dir: &Path, tensor: TensorProto, limits: &Limits) -> Result<ModelProto, ProtoError> {
    let path = dir.join("model.onnx");
    write_model(&path, &model_with(vec![tensor], vec![])).expect("write model");
    read_model_with(&path, limits)
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).expect("list folder").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn values(seed: usize, count: usize) -> Vec<f32> {
    (0..count).map(|i| (seed * 1000 + i) as f32 * 0.5 - 7.0).collect()
}

/// Loaded tensors come back marked DEFAULT explicitly; the originals never set the field.
fn forget_default_locations(model: &mut ModelProto) {
    fn graph(g: &mut GraphProto) {
        for t in &mut g.initializer {
            if t.data_location == Some(DataLocation::Default as i32) {
                t.data_location = None;
            }
        }
        for a in g.node.iter_mut().flat_map(|n| n.attribute.iter_mut()) {
            a.g.as_deref_mut().map(graph);
        }
    }
    model.graph.as_mut().map(graph);
}

#[test]
fn writes_and_reads_back_external_data() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let then_branch =
        GraphProto { name: Some("then".to_string()), initializer: vec![f32_tensor("inner.w", &[16, 16], &values(3, 256))], ..Default::default() };
    let nodes = vec![
        NodeProto {
            op_type: Some("If".to_string()),
            attribute: vec![AttributeProto { name: Some("then_branch".to_string()), g: Some(Box::new(then_branch)), ..Default::default() }],
            ..Default::default()
        },
        NodeProto {
            op_type: Some("Constant".to_string()),
            attribute: vec![AttributeProto {
                name: Some("value".to_string()),
                t: Some(f32_tensor("const", &[256], &values(4, 256))),
                ..Default::default()
            }],
            ..Default::default()
        },
    ];
    let model = model_with(
        vec![
            f32_tensor("w", &[64, 32], &values(1, 64 * 32)),
            f32_tensor("b", &[32], &values(2, 32)),
            i64_tensor("shape", &[300], &(0..300).collect::<Vec<i64>>()),
        ],
        nodes,
    );
    let path = dir.path().join("model.onnx");
    write_model_with_external_data(&path, &model, "weights.bin", 512).expect("write");

    assert_eq!(file_names(dir.path()), ["model.onnx", "weights.bin"]);

    // On disk: the large initializers (subgraph ones too) point into the data file at aligned
    // offsets; small ones and attribute tensors stay inline.
    let stored = decode_model(&fs::read(&path).expect("model bytes")).expect("decode");
    let graph = stored.graph.as_ref().expect("graph");
    let inner = graph.node[0].attribute[0].g.as_ref().expect("then branch");
    let moved = [&graph.initializer[0], &graph.initializer[2], &inner.initializer[0]];
    let mut offsets = Vec::new();
    for t in moved {
        assert!(t.is_external(), "{} should be external", t.display_name());
        assert_eq!(t.raw_data, None);
        let entry = |key: &str| t.external_data.iter().find(|e| e.key() == key).map(|e| e.value().to_string());
        assert_eq!(entry("location").as_deref(), Some("weights.bin"));
        let offset: u64 = entry("offset").and_then(|o| o.parse().ok()).expect("offset");
        assert_eq!(offset % 4096, 0, "offset {offset} is not aligned");
        offsets.push(offset);
    }
    offsets.dedup();
    assert_eq!(offsets.len(), 3, "tensors share an offset: {offsets:?}");
    assert!(!graph.initializer[1].is_external());
    assert!(graph.node[1].attribute[0].t.as_ref().is_some_and(|t| !t.is_external()));

    let mut read = read_model(&path).expect("read back");
    let w = &read.graph.as_ref().expect("graph").initializer[0];
    assert_eq!(tensor_f32_values(w).expect("w values"), values(1, 64 * 32));
    assert!(w.external_data.is_empty());
    forget_default_locations(&mut read);
    assert!(read == model, "the model read back differs from the one written");
}

#[test]
fn write_model_replaces_atomically_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("model.onnx");
    let first = model_with(vec![f32_tensor("a", &[2], &[1.0, 2.0])], vec![]);
    let second = model_with(vec![f32_tensor("b", &[3], &[3.0, 4.0, 5.0])], vec![]);
    write_model(&path, &first).expect("first write");
    assert!(read_model(&path).expect("first read") == first);
    write_model(&path, &second).expect("second write");
    assert!(read_model(&path).expect("second read") == second);
    assert_eq!(file_names(dir.path()), ["model.onnx"]);
}

#[test]
fn data_file_must_be_a_plain_name_beside_the_model() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("model.onnx");
    let model = model_with(vec![f32_tensor("a", &[2], &[1.0, 2.0])], vec![]);
    for name in ["../w.bin", "sub/w.bin", "/tmp/w.bin", "", ".", "..", "model.onnx"] {
        let result = write_model_with_external_data(&path, &model, name, 0);
        assert!(matches!(result, Err(ProtoError::BadDataFileName { .. })), "`{name}` was accepted: {result:?}");
    }
    assert!(file_names(dir.path()).is_empty(), "a refused write left files behind");
}

/// Layout for escape attempts: `root/outside.bin` next to the model folder `root/model/`.
fn escape_layout() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().expect("temporary folder");
    fs::write(root.path().join("outside.bin"), f32_bytes(&[1.0, 2.0, 3.0, 4.0])).expect("outside");
    let model_dir = root.path().join("model");
    fs::create_dir(&model_dir).expect("model folder");
    (root, model_dir)
}

#[test]
fn refuses_location_with_parent_components() {
    let (_root, dir) = escape_layout();
    for location in ["../outside.bin", "sub/../../outside.bin"] {
        let t = external("conv1.weight", &[4], &[("location", location)]);
        let err = read_back(&dir, t, &Limits::default());
        assert!(matches!(&err, Err(ProtoError::ExternalDataOutsideFolder { location: l, .. }) if l == location), "{location}: {err:?}");
    }
    let t = external("conv1.weight", &[4], &[("location", "../x.bin")]);
    let message = read_back(&dir, t, &Limits::default()).expect_err("refused").to_string();
    assert_eq!(message, "tensor `conv1.weight`: external data location `../x.bin` leaves the model's folder");
}

#[test]
fn refuses_absolute_location() {
    let (root, dir) = escape_layout();
    let absolute = root.path().join("outside.bin").display().to_string();
    for location in ["/etc/passwd", absolute.as_str()] {
        let t = external("w", &[4], &[("location", location)]);
        let err = read_back(&dir, t, &Limits::default());
        assert!(matches!(err, Err(ProtoError::ExternalDataOutsideFolder { .. })), "{location}: {err:?}");
    }
}

#[cfg(unix)]
#[test]
fn refuses_symlink_leading_out_of_the_folder_but_follows_one_inside() {
    let (root, dir) = escape_layout();
    std::os::unix::fs::symlink(root.path().join("outside.bin"), dir.join("link.bin")).expect("symlink");
    let t = external("w", &[4], &[("location", "link.bin")]);
    let err = read_back(&dir, t, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataOutsideFolder { .. })), "{err:?}");

    fs::write(dir.join("real.bin"), f32_bytes(&[5.0, 6.0, 7.0, 8.0])).expect("data");
    std::os::unix::fs::symlink(dir.join("real.bin"), dir.join("alias.bin")).expect("symlink");
    let t = external("w", &[4], &[("location", "./alias.bin")]);
    let model = read_back(&dir, t, &Limits::default()).expect("a link inside the folder is fine");
    let w = &model.graph.expect("graph").initializer[0];
    assert_eq!(tensor_f32_values(w).expect("values"), [5.0, 6.0, 7.0, 8.0]);
}

#[test]
fn refuses_missing_file_and_non_files() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let t = external("w", &[4], &[("location", "nope.bin")]);
    let err = read_back(dir.path(), t, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataMissing { .. })), "{err:?}");

    fs::create_dir(dir.path().join("sub")).expect("subfolder");
    for location in ["sub", "."] {
        let t = external("w", &[4], &[("location", location)]);
        let err = read_back(dir.path(), t, &Limits::default());
        assert!(matches!(err, Err(ProtoError::BadExternalData { .. })), "{location}: {err:?}");
    }
}

#[test]
fn refuses_data_file_shorter_than_declared() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // Eight bytes: two floats, where the tensors below declare four (sixteen bytes).
    fs::write(dir.path().join("w.bin"), f32_bytes(&[1.0, 2.0])).expect("data");

    let to_end = external("w", &[4], &[("location", "w.bin")]);
    let err = read_back(dir.path(), to_end, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataSize { declared: 16, present: 8, .. })), "{err:?}");

    let length_too_long = external("w", &[4], &[("location", "w.bin"), ("length", "16")]);
    let err = read_back(dir.path(), length_too_long, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataRange { end: 16, file_len: 8, .. })), "{err:?}");

    let offset_past_end = external("w", &[4], &[("location", "w.bin"), ("offset", "100")]);
    let err = read_back(dir.path(), offset_past_end, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataRange { offset: 100, .. })), "{err:?}");

    let huge_range = external("w", &[4], &[("location", "w.bin"), ("offset", "4"), ("length", &u64::MAX.to_string())]);
    let err = read_back(dir.path(), huge_range, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataRange { .. })), "{err:?}");

    let length_disagrees = external("w", &[4], &[("location", "w.bin"), ("length", "8")]);
    let err = read_back(dir.path(), length_disagrees, &Limits::default());
    assert!(matches!(err, Err(ProtoError::ExternalDataSize { declared: 16, present: 8, .. })), "{err:?}");

    // The same file is fine for a tensor that declares what it holds, at any offset.
    let fits = external("w", &[1], &[("location", "w.bin"), ("offset", "4"), ("length", "4")]);
    let model = read_back(dir.path(), fits, &Limits::default()).expect("consistent reference");
    let w = &model.graph.expect("graph").initializer[0];
    assert_eq!(tensor_f32_values(w).expect("values"), [2.0]);
    assert_eq!(w.data_location(), DataLocation::Default);
}

#[test]
fn refuses_malformed_entries() {
    let dir = tempfile::tempdir().expect("temporary folder");
    fs::write(dir.path().join("w.bin"), f32_bytes(&[1.0])).expect("data");
    let cases = [
        external("w", &[1], &[("offset", "0")]),
        external("w", &[1], &[("location", "")]),
        external("w", &[1], &[("location", "w.bin"), ("offset", "abc")]),
        external("w", &[1], &[("location", "w.bin"), ("length", "-4")]),
        TensorProto { data_type: Some(DataType::String as i32), ..external("s", &[1], &[("location", "w.bin")]) },
    ];
    for t in cases {
        let err = read_back(dir.path(), t.clone(), &Limits::default());
        assert!(matches!(err, Err(ProtoError::BadExternalData { .. })), "{t:?}: {err:?}");
    }
}

#[test]
fn refuses_raw_data_shorter_than_dims() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let short = f32_tensor("w", &[4], &[1.0, 2.0]);
    let err = read_back(dir.path(), short, &Limits::default());
    assert!(matches!(err, Err(ProtoError::RawDataSize { declared_bytes: 16, present_bytes: 8, .. })), "{err:?}");
    let long = f32_tensor("w", &[1], &[1.0, 2.0]);
    let err = read_back(dir.path(), long, &Limits::default());
    assert!(matches!(err, Err(ProtoError::RawDataSize { .. })), "{err:?}");
}

#[test]
fn refuses_overflowing_and_negative_dims() {
    let dir = tempfile::tempdir().expect("temporary folder");
    fs::write(dir.path().join("w.bin"), f32_bytes(&[1.0])).expect("data");
    let cases = [
        f32_tensor("w", &[1 << 32, 1 << 32], &[1.0]),
        f32_tensor("w", &[i64::MAX, 2], &[1.0]),
        // 2^62 elements fit an i64, but 2^64 bytes of FLOAT data do not fit a u64.
        f32_tensor("w", &[1 << 62], &[1.0]),
        external("w", &[1 << 32, 1 << 32], &[("location", "w.bin")]),
    ];
    for t in cases {
        let err = read_back(dir.path(), t.clone(), &Limits::default());
        assert!(matches!(err, Err(ProtoError::DimsOverflow { .. })), "{:?}: {err:?}", t.dims);
    }

    let negative = external("w", &[-1], &[("location", "w.bin")]);
    let err = read_back(dir.path(), negative, &Limits::default());
    assert!(matches!(err, Err(ProtoError::NegativeDim { dim: -1, .. })), "{err:?}");
}

#[test]
fn refuses_tensor_over_the_limit_before_reading_it() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // A sparse 1 GiB file: reading it would allocate 1 GiB, so refusing quickly proves the limit is
    // checked first.
    let data = fs::File::create(dir.path().join("big.bin")).expect("data file");
    data.set_len(1 << 30).expect("sparse file");
    let big = external("big", &[1 << 28], &[("location", "big.bin")]);
    let tiny = Limits { max_tensor_bytes: 1 << 20, ..Limits::default() };
    let err = read_back(dir.path(), big, &tiny);
    assert!(matches!(err, Err(ProtoError::TooLarge { bytes, limit, .. }) if bytes == 1 << 30 && limit == 1 << 20), "{err:?}");
    // Inline tensors are held to the same limit.
    let inline = f32_tensor("w", &[1 << 20], &[]);
    let err = read_back(dir.path(), inline, &tiny);
    assert!(matches!(err, Err(ProtoError::TooLarge { .. })), "{err:?}");
}

#[test]
fn refuses_model_file_over_the_limit() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("model.onnx");
    write_model(&path, &model_with(vec![f32_tensor("w", &[64], &values(0, 64))], vec![])).expect("write");
    let tiny = Limits { max_model_bytes: 100, ..Limits::default() };
    let err = read_model_with(&path, &tiny);
    assert!(matches!(err, Err(ProtoError::TooLarge { limit: 100, .. })), "{err:?}");
}

#[test]
fn loads_external_data_everywhere_a_tensor_can_be() {
    let dir = tempfile::tempdir().expect("temporary folder");
    // Four tensors of two floats each, back to back.
    let data: Vec<f32> = (0..8).map(|i| i as f32).collect();
    fs::write(dir.path().join("all.bin"), f32_bytes(&data)).expect("data");
    let at = |name: &str, index: usize| {
        let offset = (index * 8).to_string();
        external(name, &[2], &[("location", "all.bin"), ("offset", &offset), ("length", "8")])
    };
    let subgraph = GraphProto { initializer: vec![at("sub", 1)], ..Default::default() };
    let node = NodeProto {
        attribute: vec![
            AttributeProto { g: Some(Box::new(subgraph)), ..Default::default() },
            AttributeProto { tensors: vec![at("attr", 2)], ..Default::default() },
        ],
        ..Default::default()
    };
    let mut model = model_with(vec![at("main", 0)], vec![node]);
    if let Some(graph) = model.graph.as_mut() {
        graph.sparse_initializer.push(SparseTensorProto {
            values: Some(at("sparse", 3)),
            indices: Some(i64_tensor("idx", &[2], &[0, 1])),
            dims: vec![4],
        });
    }
    let path = dir.path().join("model.onnx");
    write_model(&path, &model).expect("write");
    let read = read_model(&path).expect("read");

    let graph = read.graph.expect("graph");
    let node = &graph.node[0];
    let loaded = [
        &graph.initializer[0],
        &node.attribute[0].g.as_ref().expect("subgraph").initializer[0],
        &node.attribute[1].tensors[0],
        graph.sparse_initializer[0].values.as_ref().expect("values"),
    ];
    for (index, t) in loaded.into_iter().enumerate() {
        let expected = [data[2 * index], data[2 * index + 1]];
        assert_eq!(tensor_f32_values(t).expect("values"), expected, "{}", t.display_name());
        assert!(!t.is_external() && t.external_data.is_empty());
    }

    let too_deep = Limits { max_nesting: 0, ..Limits::default() };
    let err = read_model_with(&path, &too_deep);
    assert!(matches!(err, Err(ProtoError::TooDeep { limit: 0 })), "{err:?}");
}
