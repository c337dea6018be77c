//! Hostile models, one per class, fed to the command line: each is refused with a reason (exit code
//! 2), and no onyx process that read them grew beyond a small resident size. Escapes through
//! external data, short raw data and overflowing dims are also covered in detail at the reader's
//! level (proto/tests/external_data.rs).
mod support;

use std::path::{Path, PathBuf};

use onyx_proto::onnx::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TypeProto, ValueInfoProto, tensor_shape_proto,
    type_proto,
};

/// No process reading a hostile model may reach this resident size.
const PEAK_LIMIT_MIB: i64 = 300;

fn value(name: &str, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| tensor_shape_proto::Dimension { value: Some(tensor_shape_proto::dimension::Value::DimValue(d)), denotation: None })
        .collect();
    let tensor = type_proto::Tensor { elem_type: Some(1), shape: Some(onyx_proto::onnx::TensorShapeProto { dim }) };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), denotation: None }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: Some(op.into()),
        name: Some(output.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

/// A model of `nodes` from input x[1, 4] to output y[1, 4], IR 8, opset 17.
fn model(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(GraphProto {
            name: Some("g".into()),
            node: nodes,
            initializer: initializers,
            input: vec![value("x", &[1, 4])],
            output: vec![value("y", &[1, 4])],
            ..Default::default()
        }),
        metadata_props: vec![StringStringEntryProto { key: Some("onyx.spec".into()), value: Some("hostile".into()) }],
        ..Default::default()
    }
}

fn write(dir: &Path, name: &str, m: &ModelProto) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, onyx_proto::encode_model(m)).unwrap();
    path
}

/// Runs `onyx <command> <model> <extra…>`: it must fail, without a panic, with a message containing
/// every one of `says`; with exit code 2 (bad input) where onyx's own reader refuses the file, 1
/// where an engine does (`predict` on tract).
fn refused(command: &str, path: &Path, extra: &[&str], says: &[&str]) {
    let mut args = vec![command, path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = support::onyx().args(&args).current_dir(support::repo()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let codes: &[i32] = if command == "predict" { &[1, 2] } else { &[2] };
    assert!(out.status.code().is_some_and(|c| codes.contains(&c)), "onyx {command} {}: {:?}: {err}", path.display(), out.status);
    assert!(!err.contains("panicked"), "{err}");
    for s in says {
        assert!(err.contains(s), "`{s}` not in: {err}");
    }
}

/// The largest resident size of any child this process has waited for, in MiB.
fn children_peak_mib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct it is given.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss / 1024
}

#[test]
fn hostile_models_are_refused_with_a_reason_and_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let x = d.join("x.npy");
    ndarray_npy::write_npy(&x, &ndarray::Array2::<f32>::zeros((1, 4))).unwrap();
    let predict = ["--input", x.to_str().unwrap()];

    // A node reading a value nothing defines.
    let undefined = write(d, "undefined.onnx", &model(vec![node("Add", &["x", "ghost"], "y")], vec![]));
    refused("import", &undefined, &[], &["ghost", "not defined"]);
    refused("predict", &undefined, &predict, &["ghost"]);

    // A cycle: a reads b, which b's node computes from a.
    let cycle = write(d, "cycle.onnx", &model(vec![node("Add", &["x", "b"], "a"), node("Relu", &["a"], "b"), node("Relu", &["b"], "y")], vec![]));
    refused("import", &cycle, &[], &["`b`", "not defined"]);
    refused("predict", &cycle, &predict, &["cannot be run", "cycle", "`a` (Add)"]);

    // Opsets and IR versions out of range.
    let mut m = model(vec![node("Relu", &["x"], "y")], vec![]);
    m.opset_import[0].version = Some(99);
    let opset99 = write(d, "opset99.onnx", &m);
    refused("import", &opset99, &[], &["opset 99", "9 to 21"]);
    // Every command that runs a model refuses it, on every engine; inspect describes it with a warning.
    for engine in ["tract", "ort", "auto"] {
        refused("predict", &opset99, &[&predict[..], &["--engine", engine]].concat(), &["cannot be run", "opset 99"]);
    }
    refused("deploy", &opset99, &["-o", d.join("app").to_str().unwrap()], &["opset 99"]);
    for (model, warning) in [(&opset99, "warning:    the model imports opset 99"), (&cycle, "warning:    the graph has a cycle")] {
        let (ok, stdout, stderr) = support::run_onyx(&["inspect", model.to_str().unwrap()]);
        assert!(ok && stdout.contains(warning), "{stdout}{stderr}");
    }
    m.opset_import[0].version = Some(3);
    refused("import", &write(d, "opset3.onnx", &m), &[], &["opset 3"]);
    let mut m = model(vec![node("Relu", &["x"], "y")], vec![]);
    m.ir_version = Some(1_000_000);
    let ir = write(d, "ir.onnx", &m);
    refused("inspect", &ir, &[], &["IR version is 1000000", "3 to 14"]);
    refused("predict", &ir, &predict, &["IR version"]);
    m.ir_version = None;
    refused("inspect", &write(d, "no_ir.onnx", &m), &[], &["IR version is 0"]);

    // Dims whose product overflows, and dims within u64 but far beyond the tensor budget: refused
    // before any allocation.
    let huge = |name: &str, dims: Vec<i64>| TensorProto {
        name: Some(name.into()),
        dims,
        data_type: Some(1),
        raw_data: Some(vec![0; 16]),
        ..Default::default()
    };
    let overflow = write(d, "overflow.onnx", &model(vec![node("Add", &["x", "w"], "y")], vec![huge("w", vec![1 << 40, 1 << 40, 1 << 40])]));
    refused("inspect", &overflow, &[], &["`w`"]);
    let budget = write(d, "budget.onnx", &model(vec![node("Add", &["x", "w"], "y")], vec![huge("w", vec![1 << 20, 1 << 20])]));
    refused("predict", &budget, &predict, &["`w`", "more than the limit"]);

    // Raw data shorter than its dims.
    let short = write(d, "short.onnx", &model(vec![node("Add", &["x", "w"], "y")], vec![huge("w", vec![1, 4096])]));
    refused("predict", &short, &predict, &["`w`"]);

    // External data outside the model's folder.
    let mut escape = huge("w", vec![1, 4]);
    escape.raw_data = None;
    escape.data_location = Some(1);
    escape.external_data = vec![StringStringEntryProto { key: Some("location".into()), value: Some("../../etc/passwd".into()) }];
    let escaping = write(d, "escape.onnx", &model(vec![node("Add", &["x", "w"], "y")], vec![escape]));
    refused("inspect", &escaping, &[], &["leaves the model's folder"]);

    // Subgraphs nested deeper than a naive recursive reader survives: an If in an If in an If...,
    // 5,000 levels (15,000 nested messages), encoded by hand so that the test does not recurse.
    let wrap = |field: u64, body: &[u8]| -> Vec<u8> {
        let mut out = vec![];
        for mut v in [field << 3 | 2, body.len() as u64] {
            while v >= 0x80 {
                out.push((v as u8) | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        out.extend_from_slice(body);
        out
    };
    let mut graph = wrap(2, b"leaf");
    for _ in 0..5000 {
        let attribute = [wrap(1, b"then_branch"), wrap(6, &graph)].concat();
        let node = [wrap(4, b"If"), wrap(5, &attribute)].concat();
        graph = wrap(1, &node);
    }
    let mut outer = model(vec![], vec![]);
    outer.graph = None;
    let deep = d.join("deep.onnx");
    std::fs::write(&deep, [onyx_proto::encode_model(&outer), wrap(7, &graph)].concat()).unwrap();
    refused("inspect", &deep, &[], &["not a valid ONNX model"]);
    refused("predict", &deep, &predict, &["not a valid ONNX model"]);

    // A file of 2 GiB and more (sparse: no disk is spent) is no protobuf message.
    let big = d.join("big.onnx");
    std::fs::File::create(&big).unwrap().set_len((2 << 30) + 1).unwrap();
    refused("inspect", &big, &[], &["more than the limit"]);

    let peak = children_peak_mib();
    println!("largest resident size of any onyx run: {peak} MiB");
    assert!(peak < PEAK_LIMIT_MIB, "an onyx process reached {peak} MiB");
}
