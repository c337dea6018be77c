//! `import` is the inverse of `to_onnx`: every shipped spec survives export → import → export, and
//! malformed models are refused with errors that name what is wrong.
use std::path::Path;

use onyx_compiler::{ImportError, compile_file, import, to_onnx};
use onyx_proto::onnx::ModelProto;

fn models() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("models folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "json" | "jsonc")))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_model_round_trips() {
    let paths = models();
    assert!(!paths.is_empty());
    for path in paths {
        let model = compile_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let exported = to_onnx(&model.graph);
        let graph = import(&exported).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(graph.inputs.len(), model.graph.inputs.len());
        assert_eq!(graph.metadata, model.graph.metadata);
        let again = to_onnx(&graph);
        assert!(again == exported, "{} changed in the round trip", path.display());
    }
}

fn lstm_model() -> ModelProto {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/lstm_forecast.toml");
    to_onnx(&compile_file(&path).unwrap().graph)
}

#[test]
fn refuses_opsets_outside_9_to_21() {
    for version in [8, 22] {
        let mut m = lstm_model();
        m.opset_import[0].version = Some(version);
        let e = import(&m).unwrap_err();
        assert!(matches!(e, ImportError::Opset { version: v } if v == version), "{e}");
        assert!(e.to_string().contains("opsets 9 to 21"), "{e}");
    }
    // An LSTM model reads the same under opset 13 (nothing it uses changed since).
    let mut m = lstm_model();
    m.opset_import[0].version = Some(13);
    assert!(import(&m).is_ok());
}

#[test]
fn refuses_other_domains() {
    let mut m = lstm_model();
    m.graph.as_mut().unwrap().node[0].domain = Some("com.example".into());
    let e = import(&m).unwrap_err();
    assert!(e.to_string().contains("com.example") && e.to_string().contains("default ONNX domain"), "{e}");
    // Of ONNX Runtime's own domain, only the op its quantizer writes into shipped models is lowered.
    m.graph.as_mut().unwrap().node[0].domain = Some("com.microsoft".into());
    let e = import(&m).unwrap_err();
    assert!(e.to_string().contains("`Transpose` of domain com.microsoft") && e.to_string().contains("DynamicQuantizeLSTM"), "{e}");
}

#[test]
fn names_the_node_with_an_unknown_op() {
    let mut m = lstm_model();
    let node = &mut m.graph.as_mut().unwrap().node[0];
    node.op_type = Some("FancyOp".into());
    let name = node.name.clone().unwrap();
    let e = import(&m).unwrap_err();
    assert!(matches!(&e, ImportError::UnsupportedOp { op, .. } if op == "FancyOp"), "{e}");
    assert!(e.to_string().contains(&name), "{e}");
}

#[test]
fn names_an_undefined_input() {
    let mut m = lstm_model();
    let g = m.graph.as_mut().unwrap();
    g.node[1].input[0] = "nowhere".into();
    let name = g.node[1].name.clone().unwrap();
    let e = import(&m).unwrap_err();
    assert!(e.to_string().contains("nowhere") && e.to_string().contains(&name), "{e}");
}

#[test]
fn reads_typed_initializer_fields_and_drops_unnamed_trailing_outputs() {
    let mut m = lstm_model();
    let g = m.graph.as_mut().unwrap();
    // Move every initializer's bytes into its typed field.
    for t in &mut g.initializer {
        let raw = t.raw_data.take().unwrap();
        match t.data_type {
            Some(1) => t.float_data = raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect(),
            Some(7) => t.int64_data = raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
            other => panic!("unexpected type {other:?}"),
        }
    }
    let lstm = g.node.iter_mut().find(|n| n.op_type.as_deref() == Some("LSTM")).unwrap();
    assert_eq!(lstm.output.len(), 3);
    lstm.output[0] = String::new();
    lstm.output[2] = String::new();
    let graph = import(&m).unwrap();
    let node = graph.nodes.iter().find(|n| n.op.op_type() == "LSTM").unwrap();
    // Y (skipped in the middle) gets a made-up name; Y_c (trailing) is dropped.
    assert_eq!(node.outputs.len(), 2);
    assert!(!graph.value(node.outputs[0]).name.is_empty());
    let original = lstm_model();
    let w = original.graph.as_ref().unwrap().initializer.iter().find(|t| t.name.as_deref().unwrap().ends_with("/W")).unwrap();
    let id = graph.find_value(w.name.as_deref().unwrap()).unwrap();
    assert_eq!(graph.value(id).init.as_ref().unwrap().data, *w.raw_data.as_ref().unwrap());
    assert!(graph.value(id).param.as_ref().is_some_and(|p| p.trainable));
}
