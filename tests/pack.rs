//! `onyx pack --fp16`: weights stored as float16 with a Cast back, the file about halved, the packed
//! model valid ONNX that tract and ONNX Runtime run alike, the accuracy cost measured, and values
//! float16 cannot hold reported.
mod support;

use support::run_onyx as run;

use std::path::PathBuf;

use onyx_runtime::{Engine, HostTensor, TractEngine};

/// Every model in models/ with 100k parameters or more packs to at most 0.51 of its size; every
/// packed model passes onnx.checker, and ONNX Runtime computes what tract does from it.
#[test]
fn packed_models_halve_and_run_on_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let mut large = 0;
    for spec in support::model_specs() {
        let stem = spec.file_stem().unwrap().to_string_lossy().to_string();
        let (model, packed) = (dir.path().join(format!("{stem}.onnx")), dir.path().join(format!("{stem}.fp16.onnx")));
        let (ok, _, err) = run(&["compile", spec.to_str().unwrap(), "-o", model.to_str().unwrap()]);
        assert!(ok, "{err}");
        let (ok, out, err) = run(&["pack", model.to_str().unwrap(), "--fp16", "-o", packed.to_str().unwrap()]);
        if !ok {
            // Models whose weights are all small (under 256 values each) have nothing worth packing.
            assert!(err.contains("no float32 weight"), "{stem}: {err}");
            continue;
        }
        println!("{stem}: {}", out.trim());
        let params = onyx_compiler::compile_file(&spec).unwrap().keras_counts().0;
        let ratio = std::fs::metadata(&packed).unwrap().len() as f64 / std::fs::metadata(&model).unwrap().len() as f64;
        if params >= 100_000 {
            large += 1;
            assert!(ratio <= 0.51, "{stem}: {ratio:.3} of the size");
        }
        let proto = onyx_proto::read_model(&packed).unwrap();
        let session = TractEngine.load(&proto).unwrap();
        let inputs = support::random_inputs(session.as_ref(), 3, 4);
        let outputs = session.run(&inputs).unwrap();
        let (i, o) = (dir.path().join(format!("{stem}_in.npz")), dir.path().join(format!("{stem}_out.npz")));
        support::write_npz(&i, &session.inputs().iter().map(|x| x.name.clone()).collect::<Vec<_>>(), &inputs);
        support::write_npz(&o, &session.outputs().iter().map(|x| x.name.clone()).collect::<Vec<_>>(), &outputs);
        let (ok, report) = support::run_python("check_model.py", &[&packed, &i, &o]);
        assert!(ok, "{stem}: {report}");
    }
    assert!(large >= 1, "mnist_cnn is among them");
}

/// The digits CNN, trained briefly, loses at most half an accuracy point when packed; packing on
/// export gives the same file.
#[test]
fn packing_costs_the_digits_cnn_under_half_a_point() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = support::digits_28();
    let n = y.shape()[0];
    let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 5 != 0);
    let data = dir.path().join("digits.npz");
    support::write_npz(&data, &["x".into(), "y".into()], &[x.select_rows(&train), y.select_rows(&train)]);
    let (model, packed) = (dir.path().join("cnn.onnx"), dir.path().join("cnn.fp16.onnx"));
    let (ok, _, err) =
        run(&["train", "models/mnist_cnn.toml", "--data", data.to_str().unwrap(), "--epochs", "3", "--quiet", "-o", model.to_str().unwrap()]);
    assert!(ok, "{err}");
    let (ok, out, err) = run(&["pack", model.to_str().unwrap(), "--fp16", "-o", packed.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("largest difference"), "{out}");
    let accuracy = |path: &std::path::Path| {
        let session = TractEngine.load(&onyx_proto::read_model(path).unwrap()).unwrap();
        let HostTensor::F32(p) = &session.run(&[x.select_rows(&test)]).unwrap()[0] else { panic!("float output") };
        let HostTensor::I64(labels) = y.select_rows(&test) else { panic!("int labels") };
        let right = p
            .outer_iter()
            .zip(labels.iter())
            .filter(|(row, l)| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i as i64) == Some(**l))
            .count();
        right as f64 / labels.len() as f64
    };
    // `onyx train --pack fp16` exports what `onyx pack` makes of the same training.
    let direct = dir.path().join("direct.onnx");
    let (ok, _, err) = run(&[
        "train",
        "models/mnist_cnn.toml",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "3",
        "--quiet",
        "--pack",
        "fp16",
        "-o",
        direct.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("packed 4 weights"), "{err}");
    let weights = |path: &std::path::Path| -> std::collections::BTreeMap<String, Vec<u8>> {
        let g = onyx_compiler::import(&onyx_proto::read_model(path).unwrap()).unwrap();
        g.values.into_iter().filter_map(|v| v.init.map(|t| (v.name, t.data))).collect()
    };
    let (a, b) = (weights(&direct), weights(&packed));
    assert!(a.keys().eq(b.keys()) && a == b, "the packed weights differ: {:?} vs {:?}", a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let (before, after) = (accuracy(&model), accuracy(&packed));
    println!("digits CNN test accuracy: {before:.4} in float32, {after:.4} packed");
    // `pack --data … --target` measures the same on labelled data.
    let test_data = dir.path().join("test.npz");
    support::write_npz(&test_data, &["x".into(), "y".into()], &[x.select_rows(&test), y.select_rows(&test)]);
    let (ok, out, err) =
        run(&["pack", model.to_str().unwrap(), "--fp16", "-o", packed.to_str().unwrap(), "--data", test_data.to_str().unwrap(), "--target"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("accuracy on {} labelled samples: {before:.4} in float32, {after:.4} packed", test.len())), "{out}");
    assert!(before > 0.8 && before - after <= 0.005, "{before} → {after}");
}

/// A weight beyond float16's range stays float32 and is named; values below its smallest become 0
/// and are counted.
#[test]
fn values_float16_cannot_hold_are_reported() {
    let mut graph = onyx_compiler::compile_file(&support::repo().join("models/mnist_cnn.toml")).unwrap().graph;
    let set = |graph: &mut onyx_compiler::ir::Graph, name: &str, index: usize, value: f32| {
        let id = graph.find_value(name).unwrap();
        let t = graph.values[id.0].init.as_mut().unwrap();
        t.data[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    };
    set(&mut graph, "dense_1/kernel", 7, 70_000.0);
    set(&mut graph, "conv2d/kernel", 3, 1e-9);
    set(&mut graph, "conv2d/kernel", 5, -2e-8);
    // Half of float16's smallest subnormal (5.96e-8) and more rounds up to it, not to 0.
    set(&mut graph, "conv2d/kernel", 9, 4e-8);
    let dir = tempfile::tempdir().unwrap();
    let (model, packed) = (dir.path().join("odd.onnx"), dir.path().join("odd.fp16.onnx"));
    onyx_proto::write_model(&model, &onyx_compiler::to_onnx(&graph)).unwrap();
    let (ok, out, err) = run(&["pack", model.to_str().unwrap(), "--fp16", "-o", packed.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("kept `dense_1/kernel` in float32") && out.contains("7e4"), "{out}");
    assert!(out.contains("`conv2d/kernel`: 2 nonzero values below"), "{out}");
    // The large value survives exactly.
    let g = onyx_compiler::import(&onyx_proto::read_model(&packed).unwrap()).unwrap();
    let kernel = g.value(g.find_value("dense_1/kernel").unwrap()).init.as_ref().unwrap().as_f32().unwrap();
    assert_eq!(kernel[7], 70_000.0);
}

/// `onyx pack --compute fp16`: every model in models/ computes in float16 between float32 inputs
/// and outputs; the file passes onnx.checker and ONNX Runtime's CPU provider runs it within 1e-2 of
/// the float32 model's largest output (tract computes the float32 reference); softmax reads
/// float32, and batch normalization its statistics.
#[test]
fn models_computing_in_float16_stay_within_a_hundredth() {
    let dir = tempfile::tempdir().unwrap();
    for spec in support::model_specs() {
        let stem = spec.file_stem().unwrap().to_string_lossy().to_string();
        let (model, half) = (dir.path().join(format!("{stem}.onnx")), dir.path().join(format!("{stem}.half.onnx")));
        let (ok, _, err) = run(&["compile", spec.to_str().unwrap(), "-o", model.to_str().unwrap()]);
        assert!(ok, "{err}");
        // The report's own comparison runs on tract, which cannot compute this in float16; ONNX
        // Runtime in Python is the check below.
        let (ok, out, err) = run(&["pack", model.to_str().unwrap(), "--compute", "fp16", "-o", half.to_str().unwrap(), "--engine", "ort"]);
        if !ok && err.contains("ort engine is not available") {
            let (ok, _, err) = run(&["pack", model.to_str().unwrap(), "--compute", "fp16", "-o", half.to_str().unwrap(), "--engine", "tract"]);
            assert!(half.exists(), "{stem}: the file is written before the comparison ({ok}, {err})");
        } else {
            assert!(ok, "{stem}: {err}");
            assert!(out.contains("compute in float16"), "{out}");
        }
        let graph = onyx_compiler::import(&onyx_proto::read_model(&half).unwrap()).unwrap();
        use onyx_compiler::ir::DType;
        let io = graph.inputs.iter().chain(&graph.outputs).map(|&v| graph.value(v));
        assert!(io.filter(|v| v.ty.dtype.is_float()).all(|v| v.ty.dtype == DType::F32), "{stem}: float inputs and outputs stay float32");
        let inits: Vec<_> =
            graph.values.iter().filter_map(|v| v.init.as_ref().filter(|t| t.dtype.is_float()).map(|t| (v.name.as_str(), t.dtype))).collect();
        assert!(inits.iter().any(|(_, d)| *d == DType::F16), "{stem}: weights are float16: {inits:?}");
        for n in graph.nodes.iter().filter(|n| ["Softmax", "LogSoftmax"].contains(&n.op.op_type())) {
            let x = graph.value(n.inputs[0].unwrap());
            assert_eq!(x.ty.dtype, DType::F32, "{stem}: {} reads {}", n.name, x.name);
        }
        for n in graph.nodes.iter().filter(|n| n.op.op_type() == "BatchNormalization") {
            let dtypes: Vec<DType> = n.inputs.iter().flatten().map(|&v| graph.value(v).ty.dtype).collect();
            assert_eq!(dtypes, [DType::F16, DType::F32, DType::F32, DType::F32, DType::F32], "{stem}: {} keeps its statistics float32", n.name);
        }
        let float = TractEngine.load(&onyx_proto::read_model(&model).unwrap()).unwrap();
        let inputs = support::random_inputs(float.as_ref(), 8, 5);
        let outputs = float.run(&inputs).unwrap();
        let (i, o) = (dir.path().join(format!("{stem}_in.npz")), dir.path().join(format!("{stem}_out.npz")));
        support::write_npz(&i, &float.inputs().iter().map(|x| x.name.clone()).collect::<Vec<_>>(), &inputs);
        support::write_npz(&o, &float.outputs().iter().map(|x| x.name.clone()).collect::<Vec<_>>(), &outputs);
        let largest = outputs.iter().flat_map(|t| t.to_f64_vec()).fold(0.0f64, |m, v| m.max(v.abs()));
        let tolerance = PathBuf::from(format!("{}", 1e-2 * largest));
        let (ok, report) = support::run_python("check_model.py", &[&half, &i, &o, &tolerance]);
        assert!(ok, "{stem}: {report}");
        println!("{stem}: {}", report.trim());
    }
}

/// Computing in float16, a weight beyond its range keeps its node in float32 and is named, rather
/// than being clipped.
#[test]
fn float16_compute_keeps_out_of_range_weights_in_float32() {
    let mut graph = onyx_compiler::compile_file(&support::repo().join("models/mnist_cnn.toml")).unwrap().graph;
    let id = graph.find_value("dense_1/kernel").unwrap();
    graph.values[id.0].init.as_mut().unwrap().data[28..32].copy_from_slice(&70_000f32.to_le_bytes());
    let report = onyx_compiler::passes::compute_fp16(&mut graph).unwrap();
    assert!(report.notes().iter().any(|n| n.contains("`dense_1/kernel` stays float32") && n.contains("7e4")), "{:?}", report.notes());
    assert!(report.float_ops.contains(&("Gemm".to_string(), 1)), "{:?}", report.float_ops);
    let kernel = graph.value(graph.find_value("dense_1/kernel").unwrap()).init.as_ref().unwrap();
    assert_eq!(kernel.as_f32().unwrap()[7], 70_000.0);
    // The Gemm reads it, and a float32 copy of its float16 input.
    let gemm = graph.nodes.iter().find(|n| n.inputs.contains(&Some(id))).unwrap();
    assert!(gemm.inputs.iter().flatten().all(|&v| graph.value(v).ty.dtype == onyx_compiler::ir::DType::F32));
}
