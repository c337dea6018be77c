//! L2, L1 and Elastic Net on scikit-learn's diabetes data, fitted exactly (ridge by SVD, Lasso and
//! Elastic Net by coordinate descent), each checked against the optimality conditions of its
//! objective mse + l1·Σ|w| + l2·Σw²: the gradient is zero at every nonzero weight, after l1·sign(w)
//! (its subgradient), and at most l1 in size at every weight that is exactly zero.
use std::path::Path;

use onyx::train::{Data, TrainOptions, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = repo.join("data/diabetes.csv");
    let text = std::fs::read_to_string(&data)?;
    let rows: Vec<Vec<f64>> = text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect();
    let (n, p) = (rows.len() as f64, rows[0].len() - 1);
    let dir = tempfile::tempdir()?;
    for (what, l1, l2, solver) in [("ridge (L2)", 0.0, 0.01, "lstsq"), ("Lasso (L1)", 0.2, 0.0, "cd"), ("Elastic Net", 0.2, 0.05, "cd")] {
        let spec = dir.path().join("diabetes.toml");
        std::fs::write(
            &spec,
            format!(
                "[model]\nname = \"diabetes\"\ninput = {{ name = \"x\", shape = [{p}] }}\n\n[[layer]]\nkind = \"dense\"\nunits = 1\nregularizer = {{ l1 = {l1}, l2 = {l2} }}\n\n[train]\nloss = \"mse\"\noptimizer = {{ kind = \"sgd\" }}\nsolver = \"{solver}\"\n"
            ),
        )?;
        let options = TrainOptions { output: Some(dir.path().join("diabetes.onnx")), ..TrainOptions::default() };
        let trained = train(&spec, &Data::Path(data.clone()), &options, &onyx::TractEngine, &mut |_| {})?;
        let weights = onyx::weights(&trained.model)?;
        let find = |suffix: &str| {
            weights.iter().find(|(k, _)| k.ends_with(suffix)).map(|(_, v)| v.iter().map(|&w| w as f64).collect::<Vec<_>>()).unwrap_or_default()
        };
        let (w, b) = (find("kernel"), find("bias")[0]);
        // The gradient of the mean squared error at the fit, and its scale for the tolerance.
        let residual: Vec<f64> = rows.iter().map(|r| r[p] - r[..p].iter().zip(&w).map(|(x, w)| x * w).sum::<f64>() - b).collect();
        let grad: Vec<f64> = (0..p).map(|j| -2.0 / n * rows.iter().zip(&residual).map(|(r, e)| r[j] * e).sum::<f64>() + 2.0 * l2 * w[j]).collect();
        let scale = (0..p).map(|j| (2.0 / n * rows.iter().map(|r| r[j] * r[p]).sum::<f64>()).abs()).fold(1.0, f64::max);
        let tol = 1e-3 * scale;
        let bad = (0..p).filter(|&j| if w[j] != 0.0 { (grad[j] + l1 * w[j].signum()).abs() > tol } else { grad[j].abs() > l1 + tol }).count();
        let bias_grad = -2.0 / n * residual.iter().sum::<f64>();
        let zeros = w.iter().filter(|v| **v == 0.0).count();
        let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        println!("{what:12} l1 = {l1:<4} l2 = {l2:<4} |w| = {norm:8.2}  zero weights {zeros}/{p}  optimality violated at {bad} weights");
        if bad > 0 || bias_grad.abs() > tol {
            return Err(format!("{what}: the fit is not optimal for its objective").into());
        }
    }
    Ok(())
}
