//! `onyx train` with the exact solvers (`solver = "lstsq"` and `"cd"`): the exported weights against
//! scikit-learn's LinearRegression and Lasso on diabetes.csv, the scaling baked in by --standardize,
//! and the errors for models the solvers cannot fit.
mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

/// scikit-learn's LinearRegression on all 442 rows of diabetes.csv.
const LINEAR_REGRESSION: [f64; 10] =
    [-10.0098663, -239.8156437, 519.8459201, 324.3846455, -792.1756386, 476.7390210, 101.0432679, 177.0632377, 751.2736996, 67.6266922];
const INTERCEPT: f64 = 152.1334842;
/// scikit-learn's Lasso(alpha=0.1): Keras' l1 = 2·alpha = 0.2.
const LASSO_0_1: [f64; 10] = [0.0, -155.3431106, 517.2162412, 275.0872229, -52.5520358, 0.0, -210.1395090, 0.0, 483.9171746, 33.6621921];

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn train(spec: &Path, model: &Path, extra: &[&str]) -> Output {
    support::onyx()
        .arg("train")
        .arg(spec)
        .arg("--data")
        .arg(support::repo().join("data/diabetes.csv"))
        .arg("-o")
        .arg(model)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap()
}

/// The model's `dense/kernel` and `dense/bias`.
fn weights(model: &Path) -> (Vec<f64>, f64) {
    let graph = onyx_proto::read_model(model).unwrap().graph.unwrap();
    let get = |name: &str| -> Vec<f64> {
        let t = graph.initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap_or_else(|| panic!("no initializer {name}"));
        onyx_proto::tensor_f32_values(t).unwrap().into_iter().map(f64::from).collect()
    };
    (get("dense/kernel"), get("dense/bias")[0])
}

/// Checks each value within `tol` relative (zeros in `want` exactly zero); returns the worst error.
fn max_relative_error(what: &str, got: &[f64], want: &[f64], tol: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if *w == 0.0 {
            assert_eq!(*g, 0.0, "{what}[{i}]: want exactly 0, got {g}");
            continue;
        }
        let err = ((g - w) / w).abs();
        assert!(err <= tol, "{what}[{i}]: got {g}, want {w} (relative error {err:e})\n  got  {got:?}");
        worst = worst.max(err);
    }
    eprintln!("{what}: max relative error {worst:e}");
    worst
}

fn write_spec(dir: &Path, name: &str, layer: &str, train: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "[model]\nname = \"{name}\"\ninput = {{ name = \"x\", shape = [10] }}\n\n[[layer]]\nkind = \"dense\"\nunits = 1\n{layer}\n[train]\nloss = \"mse\"\n{train}"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn lstsq_exports_the_least_squares_weights() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("linear.onnx");
    let out = train(&support::repo().join("models/linear_regression.toml"), &model, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("R² 0.5177"), "{}", stderr(&out));
    let (kernel, bias) = weights(&model);
    max_relative_error("kernel", &kernel, &LINEAR_REGRESSION, 1e-5);
    max_relative_error("bias", &[bias], &[INTERCEPT], 1e-5);
    let history = std::fs::read_to_string(dir.path().join("linear.history.csv")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 2, "one row: {history}");
    assert!(lines[0].starts_with("epoch,loss"), "{history}");
    // The mse of LinearRegression on diabetes: (1 − R²)·var(y) ≈ 2859.6963.
    let loss: f64 = lines[1].split(',').nth(1).unwrap().parse().unwrap();
    assert!((loss - 2859.6963).abs() < 1e-3, "loss {loss}");
}

#[test]
fn standardized_fit_bakes_the_scaling_into_the_model() {
    // Least squares is equivariant under feature scaling: the standardized model predicts as
    // LinearRegression on the raw features does.
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("scaled.onnx");
    let out = train(&support::repo().join("models/linear_regression.toml"), &model, &["--standardize"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let data = support::repo().join("tests/data/diabetes_features.csv");
    let out = support::onyx().arg("predict").arg(&model).arg("--input").arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let predictions: Vec<f64> = String::from_utf8_lossy(&out.stdout).lines().skip(1).map(|l| l.parse().unwrap()).collect();
    let mut reader = csv::Reader::from_path(&data).unwrap();
    let rows: Vec<Vec<f64>> = reader.records().map(|r| r.unwrap().iter().map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(predictions.len(), rows.len());
    for (row, got) in rows.iter().zip(&predictions) {
        let want: f64 = row.iter().zip(&LINEAR_REGRESSION).map(|(x, w)| x * w).sum::<f64>() + INTERCEPT;
        assert!(((want - got) / want).abs() < 1e-5, "{want} vs {got}");
    }
}

#[test]
fn cd_exports_the_lasso_weights_with_exact_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(dir.path(), "lasso", "regularizer = { l1 = 0.2 }\n", "solver = \"cd\"\n");
    let model = dir.path().join("lasso.onnx");
    let out = train(&spec, &model, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("3 of 10 weights zero"), "{}", stderr(&out));
    let (kernel, bias) = weights(&model);
    max_relative_error("Lasso kernel", &kernel, &LASSO_0_1, 1e-4);
    max_relative_error("Lasso bias", &[bias], &[INTERCEPT], 1e-4);
}

#[test]
fn solvers_refuse_what_they_cannot_fit() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let cases = [
        ("relu", "activation = \"relu\"\n", "solver = \"lstsq\"\n", "non-linear activation"),
        ("no_l1", "", "solver = \"cd\"\n", "use solver = \"lstsq\""),
        ("l1_lstsq", "regularizer = { l1 = 0.1 }\n", "solver = \"lstsq\"\n", "use solver = \"cd\""),
    ];
    for (name, layer, train_table, expected) in cases {
        let spec = write_spec(dir.path(), name, layer, train_table);
        let out = train(&spec, &model, &[]);
        let text = stderr(&out);
        assert!(!out.status.success(), "{name}: should fail");
        assert!(text.contains("solver") && text.contains(expected), "{name}: {text}");
    }
}
