//! Least squares on scikit-learn's diabetes data (442 patients, 10 features), fitted by onyx's exact
//! solver (`solver = "lstsq"` in models/linear_regression.toml), against the normal equations
//! (XᵀX)β = Xᵀy solved here by Gaussian elimination: the coefficients scikit-learn's
//! LinearRegression gives.
use std::path::Path;

use onyx::train::{Data, Method, TrainOptions, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = repo.join("data/diabetes.csv");
    let out = tempfile::tempdir()?;
    let options = TrainOptions { output: Some(out.path().join("diabetes.onnx")), ..TrainOptions::default() };
    let trained = train(&repo.join("models/linear_regression.toml"), &Data::Path(data.clone()), &options, &onyx::TractEngine, &mut |_| {})?;
    let Method::Exact { method, r2, .. } = &trained.method else { return Err("the spec asks for an exact solver".into()) };
    let weights = onyx::weights(&trained.model)?;
    let find = |suffix: &str| weights.iter().find(|(n, _)| n.ends_with(suffix)).map(|(_, v)| v.clone()).unwrap_or_default();
    let (kernel, bias) = (find("kernel"), find("bias"));

    // The reference: the normal equations of [X 1], in f64.
    let text = std::fs::read_to_string(&data)?;
    let rows: Vec<Vec<f64>> = text.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect();
    let p = rows[0].len() - 1;
    let mut a = vec![vec![0.0; p + 2]; p + 1];
    for r in &rows {
        let x: Vec<f64> = r[..p].iter().copied().chain([1.0]).collect();
        for i in 0..=p {
            for j in 0..=p {
                a[i][j] += x[i] * x[j];
            }
            a[i][p + 1] += x[i] * r[p];
        }
    }
    for c in 0..=p {
        let pivot = (c..=p).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap_or(c);
        a.swap(c, pivot);
        for i in 0..=p {
            if i != c {
                let f = a[i][c] / a[c][c];
                let pivot_row = a[c].clone();
                a[i].iter_mut().zip(&pivot_row).for_each(|(v, q)| *v -= f * q);
            }
        }
    }
    let beta: Vec<f64> = (0..=p).map(|i| a[i][p + 1] / a[i][i]).collect();
    println!("{method}: R² {r2:.4}");
    println!("{:>8} {:>12} {:>12}", "", "onyx", "reference");
    let mut worst = 0f64;
    for (i, (w, b)) in kernel.iter().chain(&bias).zip(&beta).enumerate() {
        println!("{:>8} {:>12.4} {:>12.4}", if i < p { format!("x{i}") } else { "bias".into() }, w, b);
        worst = worst.max((*w as f64 - b).abs() / b.abs().max(1.0));
    }
    if worst > 1e-4 {
        return Err(format!("onyx's coefficients differ from the normal equations' by {worst:.2e} (relative)").into());
    }
    Ok(())
}
