//! Every model in the ONNX backend test data decodes, re-encodes and decodes again to the same
//! message, with our decoder and with the onnx Python package's.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use onyx_proto::onnx::{GraphProto, ModelProto, TensorProto};
use onyx_proto::{decode_model, encode_model, read_model};

/// All `.onnx` files under `dir`, recursively, in a stable order.
fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "onnx") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn has_external_data(model: &ModelProto) -> bool {
    fn tensor(t: &TensorProto) -> bool {
        t.is_external()
    }
    fn graph(g: &GraphProto) -> bool {
        g.initializer.iter().any(tensor)
            || g.sparse_initializer.iter().any(|s| s.values.iter().chain(&s.indices).any(tensor))
            || g.node
                .iter()
                .flat_map(|n| &n.attribute)
                .any(|a| a.t.iter().chain(&a.tensors).any(tensor) || a.g.as_deref().is_some_and(graph) || a.graphs.iter().any(graph))
    }
    model.graph.as_ref().is_some_and(graph)
}

/// Message equality that also holds for models containing NaN (tree-ensemble tests use NaN
/// thresholds, and NaN != NaN): prost's encoding is deterministic, so equal bytes of the canonical
/// encoding mean bit-for-bit equal messages.
fn same_message(a: &ModelProto, b: &ModelProto) -> bool {
    a == b || encode_model(a) == encode_model(b)
}

/// The node-test models: from the package when it ships them, otherwise generated from onnx's
/// own test-case definitions into `scratch`.
fn node_models(data: &Path, scratch: &Path) -> Vec<PathBuf> {
    let mut dir = data.join("node");
    if !dir.is_dir() {
        dir = scratch.join("node");
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let made = common::run_python(&[common::support_script("gen_node_models.py").as_os_str(), dir.as_os_str()]);
        println!("this onnx wheel ships no backend/test/data/node; generated {} node models", made.trim());
    }
    onnx_files(&dir).into_iter().filter(|p| p.file_name().is_some_and(|n| n == "model.onnx")).collect()
}

#[test]
fn backend_test_models_roundtrip() {
    let data = common::onnx_package_dir().join("backend").join("test").join("data");
    assert!(data.is_dir(), "no ONNX backend test data at {}", data.display());
    let scratch = tempfile::tempdir().expect("temporary folder");

    let nodes = node_models(&data, scratch.path());
    let others = onnx_files(&data);
    let light = others.iter().filter(|p| p.starts_with(data.join("light"))).count();
    let models: Vec<&PathBuf> = nodes.iter().chain(others.iter()).collect();

    let reencoded_dir = scratch.path().join("reencoded");
    fs::create_dir_all(&reencoded_dir).expect("scratch folder");
    let mut pairs = String::new();
    let (mut byte_identical, mut read_checked) = (0, 0);
    for (i, path) in models.iter().enumerate() {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let model = decode_model(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let encoded = encode_model(&model);
        let again = decode_model(&encoded).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(same_message(&model, &again), "{}: re-encoding changed the model", path.display());
        assert!(encode_model(&again) == encoded, "{}: encoding is not stable", path.display());
        if encoded == bytes {
            byte_identical += 1;
        }

        // Without external data, reading from disk must give exactly the decoded message.
        if !has_external_data(&model) {
            let read = read_model(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(same_message(&read, &model), "{}: read_model differs from decode_model", path.display());
            read_checked += 1;
        }

        let out = reencoded_dir.join(format!("{i}.onnx"));
        fs::write(&out, &encoded).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        pairs.push_str(&format!("{}\t{}\n", path.display(), out.display()));
    }

    // The onnx package knows every field; a field our structs lack would vanish on re-encoding.
    let list = scratch.path().join("pairs.tsv");
    fs::write(&list, pairs).expect("pair list");
    let compared = common::run_python(&[common::support_script("compare_models.py").as_os_str(), list.as_os_str()]);
    assert_eq!(compared.trim(), models.len().to_string());

    println!(
        "round-tripped {} backend models ({} node, {} light, {} other); {} byte-identical; \
         {} also via read_model; all equal according to onnx",
        models.len(),
        nodes.len(),
        light,
        others.len() - light,
        byte_identical,
        read_checked
    );
    assert!(nodes.len() >= 1000, "only {} node models found", nodes.len());
    assert!(light >= 5, "only {light} light models found");
}
