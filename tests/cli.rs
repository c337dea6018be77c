//! The command line end to end: compile, summary, inspect, predict, and how it reports bad input.
mod support;

use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn compile_inspect_and_predict_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("linear.onnx");
    let spec = support::repo().join("models/linear_regression.toml");
    let out = support::onyx().arg("compile").arg(&spec).arg("-o").arg(&model).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let out = support::onyx().arg("inspect").arg(&model).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("x: float32[N, 10]"), "{text}");
    assert!(text.contains("parameters: 11 (44 bytes)"), "{text}");
    assert!(text.contains("Gemm"), "{text}");

    // Predictions equal x·W + b computed here from the weights in the file.
    let data = support::repo().join("tests/data/diabetes_features.csv");
    let out = support::onyx().arg("predict").arg(&model).arg("--input").arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let predictions: Vec<f64> = stdout(&out).lines().skip(1).map(|l| l.parse().unwrap()).collect();
    let proto = onyx_proto::read_model(&model).unwrap();
    let graph = proto.graph.unwrap();
    let weights = |name: &str| onyx_proto::tensor_f32_values(graph.initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap()).unwrap();
    let (w, b) = (weights("dense/kernel"), weights("dense/bias"));
    let mut reader = csv::Reader::from_path(&data).unwrap();
    let rows: Vec<Vec<f64>> = reader.records().map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(predictions.len(), rows.len());
    for (row, got) in rows.iter().zip(&predictions) {
        let want: f64 = row.iter().zip(&w).map(|(x, w)| x * *w as f64).sum::<f64>() + b[0] as f64;
        assert!((want - got).abs() < 1e-5, "{want} vs {got}");
    }

    // The same through a file, as JSON.
    let json = dir.path().join("p.json");
    let out = support::onyx().arg("predict").arg(&model).arg("-i").arg(&data).arg("-o").arg(&json).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let parsed: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(parsed["outputs"][0]["shape"], serde_json::json!([20, 1]));
}

#[test]
fn summary_prints_keras_counts() {
    let out = support::onyx().arg("summary").arg(support::repo().join("models/mnist_cnn.toml")).output().unwrap();
    let text = stdout(&out);
    for expected in ["Total params: 225,034", "Trainable params: 225,034", "Non-trainable params: 0", "(None, 64, 11, 11)", "18,496"] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn a_bad_spec_exits_2_naming_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.toml");
    std::fs::write(
        &spec,
        "[model]\nname = \"m\"\ninput = { name = \"x\", shape = [1, 2, 2] }\n\n[[layer]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\n",
    )
    .unwrap();
    let out = support::onyx().arg("compile").arg(&spec).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad.toml:8"), "{err}");
    assert!(err.contains("field `kernel`"), "{err}");
    assert!(err.contains("layer 1 `conv2d`") || err.contains("layer 1"), "{err}");
}

#[test]
fn bad_data_names_the_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let out = support::onyx().arg("compile").arg(support::repo().join("models/he_mlp.toml")).arg("-o").arg(&model).output().unwrap();
    assert!(out.status.success());
    let data = dir.path().join("x.csv");
    std::fs::write(&data, "a,b,c,d,e\n1,2,3,4,5\n1,2,oops,4,5\n").unwrap();
    let out = support::onyx().arg("predict").arg(&model).arg("-i").arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("row 3, column 3 `c`") && err.contains("`oops` is not a number"), "{err}");

    std::fs::write(&data, "1,2,3\n").unwrap();
    let out = support::onyx().arg("predict").arg(&model).arg("-i").arg(&data).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("3 values, but each sample"), "{}", stderr(&out));
}

#[test]
fn a_corrupt_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("junk.onnx");
    std::fs::write(&model, b"\x0a\xff\xff\xff\xff\x0fnot a model").unwrap();
    let out = support::onyx().arg("inspect").arg(&model).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("junk.onnx"), "{}", stderr(&out));
}

#[test]
fn an_unwritable_output_says_why_once() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("missing-folder").join("he.onnx");
    let out = support::onyx().arg("compile").arg(support::repo().join("models/he_mlp.toml")).arg("-o").arg(&model).output().unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("missing-folder") && err.matches("os error 2").count() == 1, "{err}");
}
