//! Every spec in models/ compiles to a file that passes onnx.checker (full_check), and tract's
//! outputs on random inputs equal ONNX Runtime's within 1e-5, for batch 1 and batch 7.
mod support;

use onyx_runtime::{Engine, TractEngine};

#[test]
fn every_model_passes_the_checker_and_matches_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    let specs: Vec<_> =
        support::model_specs().into_iter().filter(|p| std::env::var("ONYX_ONLY").map_or(true, |o| p.to_string_lossy().contains(&o))).collect();
    assert!(support::model_specs().len() >= 7, "models/ holds the reference specs");
    for spec in specs {
        let stem = spec.file_stem().unwrap().to_string_lossy().to_string();
        let model = onyx_compiler::compile_file(&spec).unwrap_or_else(|e| panic!("{e}"));
        let proto = onyx_compiler::to_onnx(&model.graph);
        let model_path = dir.path().join(format!("{stem}.onnx"));
        onyx_proto::write_model(&model_path, &proto).unwrap();
        let session = match TractEngine.load(&proto) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{stem}: {e}"));
                continue;
            }
        };
        for (batch, seed) in [(1, 1), (7, 2)] {
            let inputs = support::random_inputs(session.as_ref(), batch, seed);
            let outputs = session.run(&inputs).unwrap_or_else(|e| panic!("{stem}: {e}"));
            let in_names: Vec<String> = session.inputs().iter().map(|i| i.name.clone()).collect();
            let out_names: Vec<String> = session.outputs().iter().map(|o| o.name.clone()).collect();
            let inputs_path = dir.path().join(format!("{stem}_{batch}_in.npz"));
            let outputs_path = dir.path().join(format!("{stem}_{batch}_out.npz"));
            support::write_npz(&inputs_path, &in_names, &inputs);
            support::write_npz(&outputs_path, &out_names, &outputs);
            let (ok, report) = support::run_python("check_model.py", &[&model_path, &inputs_path, &outputs_path]);
            println!("{stem} batch {batch}: {}", report.trim());
            if !ok {
                failures.push(format!("{stem} batch {batch}: {report}"));
            }
        }
    }
    assert!(failures.is_empty(), "models that disagree with onnx/onnxruntime:\n{}", failures.join("\n"));
}

/// The training form of the recurrent layers (unrolled over the steps, which read their inputs from one
/// Split of X·W) computes what the native ONNX op does: for LSTM, GRU (Keras' reset_after, ONNX's
/// linear_before_reset) and SimpleRNN, tanh and relu, return_sequences off and on, and two stacked
/// layers, tract running the training form agrees with ONNX Runtime running the native op within
/// 1e-5.
#[test]
fn recurrent_training_form_matches_the_native_op_on_onnxruntime() {
    let dir = tempfile::tempdir().unwrap();
    let mut failures = vec![];
    let layer = |kind: &str, activation: &str, sequences: bool| {
        format!("[[layer]]\nkind = \"{kind}\"\nunits = 5\nactivation = \"{activation}\"\nreturn_sequences = {sequences}\n\n")
    };
    let mut cases = vec![];
    for kind in ["lstm", "gru", "simple_rnn"] {
        for activation in ["tanh", "relu"] {
            for sequences in [false, true] {
                cases.push((format!("{kind}_{activation}_seq{sequences}"), layer(kind, activation, sequences)));
            }
        }
        cases.push((format!("{kind}_stacked"), layer(kind, "tanh", true) + &layer(kind, "relu", false)));
    }
    for (name, layers) in cases {
        let text = format!("[model]\nname = \"{name}\"\ninput = {{ name = \"x\", shape = [6, 3] }}\nseed = 7\n\n{layers}");
        let spec = onyx_compiler::Spec::parse(std::path::Path::new("inline.toml"), text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let graph = onyx_compiler::compile(&spec).unwrap().graph;
        let native_path = dir.path().join(format!("{name}.onnx"));
        onyx_proto::write_model(&native_path, &onyx_compiler::to_onnx(&graph)).unwrap();
        let mut training = graph.clone();
        let unrolled = onyx_compiler::passes::unroll_recurrent_for_training(&mut training).unwrap();
        assert!(unrolled >= 1 && training.nodes.iter().all(|n| !["LSTM", "GRU", "RNN"].contains(&n.op.op_type())), "{name}");
        let session = TractEngine.load(&onyx_compiler::to_onnx(&training)).unwrap();
        let inputs = support::random_inputs(session.as_ref(), 3, 5);
        let outputs = session.run(&inputs).unwrap();
        let values = outputs[0].to_f64_vec();
        assert!(values.iter().filter(|v| v.abs() > 1e-3).count() > values.len() / 4, "{name}: outputs mostly zero, a weak comparison: {values:?}");
        let (inputs_path, outputs_path) = (dir.path().join(format!("{name}_in.npz")), dir.path().join(format!("{name}_out.npz")));
        support::write_npz(&inputs_path, &session.inputs().iter().map(|i| i.name.clone()).collect::<Vec<_>>(), &inputs);
        support::write_npz(&outputs_path, &session.outputs().iter().map(|o| o.name.clone()).collect::<Vec<_>>(), &outputs);
        let (ok, report) = support::run_python("check_model.py", &[&native_path, &inputs_path, &outputs_path]);
        println!("{name}: {}", report.trim());
        if !ok {
            failures.push(format!("{name}: {report}"));
        }
    }
    assert!(failures.is_empty(), "training forms that differ from the native op on onnxruntime:\n{}", failures.join("\n"));
}
