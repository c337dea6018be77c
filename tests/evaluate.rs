//! `onyx evaluate`, Keras' `model.evaluate`: the stored loss and metrics (or --loss / --metrics) on
//! any data `train` reads, checked against figures computed here from `onyx predict`'s output, and
//! the confusion matrix of a classifier, named by its classes.
mod support;

use std::path::Path;

fn onyx_ok(args: &[&str]) -> String {
    let (ok, stdout, stderr) = support::run_onyx(args);
    assert!(ok, "onyx {args:?}: {stderr}");
    stdout
}

/// `name value` lines of evaluate's text output.
fn figure(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in:\n{text}"))
}

/// The model's outputs on `x`, one row per sample.
fn predictions(model: &Path, x: &Path) -> Vec<Vec<f64>> {
    onyx_ok(&["predict", model.to_str().unwrap(), "--input", x.to_str().unwrap()])
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// The rows of a CSV with a header: features, and the last column as the target.
fn table(path: &str) -> (Vec<Vec<f32>>, Vec<f64>) {
    let t = onyx_runtime::data::read_table(&support::repo().join(path)).unwrap();
    (t.rows.iter().map(|r| r[..r.len() - 1].iter().map(|&v| v as f32).collect()).collect(), t.rows.iter().map(|r| r[r.len() - 1]).collect())
}

fn npy(dir: &Path, rows: &[Vec<f32>]) -> std::path::PathBuf {
    let path = dir.join("x.npy");
    let a = ndarray::Array2::from_shape_vec((rows.len(), rows[0].len()), rows.concat()).unwrap();
    ndarray_npy::write_npy(&path, &a).unwrap();
    path
}

#[test]
fn a_binary_classifier_is_measured_as_its_predictions_say() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bc.onnx");
    onyx_ok(&[
        "train",
        "models/logistic_regression.toml",
        "--data",
        "data/breast_cancer.csv",
        "--target",
        "benign",
        "--standardize",
        "--epochs",
        "5",
        "--quiet",
        "-o",
        model.to_str().unwrap(),
    ]);
    let (x, y) = table("data/breast_cancer.csv");
    let p: Vec<f64> = predictions(&model, &npy(dir.path(), &x)).into_iter().map(|r| r[0]).collect();
    // Keras' binary cross-entropy on probabilities clipped to [1e-7, 1 − 1e-7]; the data loss, as
    // training's validation loss (the regularization penalty is not part of it).
    let bce = p.iter().zip(&y).map(|(&p, &y)| {
        let p = p.clamp(1e-7, 1.0 - 1e-7);
        -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
    });
    let bce = bce.sum::<f64>() / y.len() as f64;
    let right = p.iter().zip(&y).filter(|(p, y)| (**p >= 0.5) == (**y >= 0.5)).count();
    let out = onyx_ok(&["evaluate", model.to_str().unwrap(), "--data", "data/breast_cancer.csv", "--target", "benign"]);
    assert!((figure(&out, "loss") - bce).abs() < 1e-5 * bce, "{out}\nBCE from predict: {bce}");
    assert!((figure(&out, "binary_accuracy") - right as f64 / y.len() as f64).abs() < 1e-12, "{out}");
    // The confusion matrix: rows true, columns predicted.
    let count = |t: bool, q: bool| p.iter().zip(&y).filter(|(p, y)| (**y >= 0.5) == t && (**p >= 0.5) == q).count();
    let json: serde_json::Value = serde_json::from_str(&onyx_ok(&[
        "evaluate",
        model.to_str().unwrap(),
        "--data",
        "data/breast_cancer.csv",
        "--format",
        "json",
        "--metrics",
        "binary_accuracy,mse",
    ]))
    .unwrap();
    assert_eq!(
        json["confusion_matrix"]["counts"],
        serde_json::json!([[count(false, false), count(false, true)], [count(true, false), count(true, true)]])
    );
    let mse = p.iter().zip(&y).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / y.len() as f64;
    assert!((json["mse"].as_f64().unwrap() - mse).abs() < 1e-6, "{json}");
    // --loss overrides the stored one.
    let out = onyx_ok(&["evaluate", model.to_str().unwrap(), "--data", "data/breast_cancer.csv", "--loss", "mse", "--metrics", "mae"]);
    assert!((figure(&out, "loss") - mse).abs() < 1e-6, "{out}");
    assert!(!out.contains("confusion"), "a regression loss has no confusion matrix:\n{out}");
}

#[test]
fn a_multiclass_classifier_gets_a_named_confusion_matrix_and_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("iris.toml");
    std::fs::write(&spec, "[model]\nname = \"iris\"\ninput = { name = \"x\", shape = [4] }\nseed = 5\n\n[[layer]]\nkind = \"dense\"\nunits = 3\nactivation = \"softmax\"\n\n[train]\nloss = \"sparse_categorical_crossentropy\"\noptimizer = { kind = \"adam\", lr = 0.05 }\nepochs = 20\nbatch_size = 16\nmetrics = [\"accuracy\"]\n").unwrap();
    let model = dir.path().join("iris.onnx");
    onyx_ok(&["train", spec.to_str().unwrap(), "--data", "data/iris.csv", "--standardize", "--quiet", "-o", model.to_str().unwrap()]);
    let (x, y) = table("data/iris.csv");
    let p = predictions(&model, &npy(dir.path(), &x));
    let argmax = |r: &Vec<f64>| (0..r.len()).fold(0, |b, i| if r[i] > r[b] { i } else { b });
    let mut counts = vec![vec![0u64; 3]; 3];
    for (r, &t) in p.iter().zip(&y) {
        counts[t as usize][argmax(r)] += 1;
    }
    let sce = p.iter().zip(&y).map(|(r, &t)| -r[t as usize].max(1e-30).ln()).sum::<f64>() / y.len() as f64;
    let png = dir.path().join("cm.png");
    let json: serde_json::Value = serde_json::from_str(&onyx_ok(&[
        "evaluate",
        model.to_str().unwrap(),
        "--data",
        "data/iris.csv",
        "--format",
        "json",
        "--plot",
        png.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(json["confusion_matrix"]["counts"], serde_json::json!(counts));
    assert_eq!(json["confusion_matrix"]["labels"], serde_json::json!(["0", "1", "2"]));
    assert!((json["loss"].as_f64().unwrap() - sce).abs() < 1e-4 * sce, "{json} against {sce}");
    let hits: u64 = (0..3).map(|i| counts[i][i]).sum();
    assert!((json["accuracy"].as_f64().unwrap() - hits as f64 / 150.0).abs() < 1e-12);
    assert!(image::open(&png).unwrap().width() > 100);
    // The training classes name the matrix's rows when the model keeps them.
    let mut proto = onyx_proto::read_model(&model).unwrap();
    proto.metadata_props.push(onyx_proto::onnx::StringStringEntryProto {
        key: Some("onyx.classes".into()),
        value: Some(r#"["setosa","versicolor","virginica"]"#.into()),
    });
    onyx_proto::write_model(&model, &proto).unwrap();
    let out = onyx_ok(&["evaluate", model.to_str().unwrap(), "--data", "data/iris.csv"]);
    assert!(out.contains("     setosa versicolor  virginica") && out.lines().any(|l| l.trim_start().starts_with("virginica ")), "{out}");
}
