//! The seed's y = x example: gradient descent from w = b = 0 on x = y = 1…5, 1000 full-batch steps
//! of SGD at lr 0.01. The fixed point is w = 1, b = 0; after 1000 steps the iteration
//! w ← w − lr·∂mse/∂w, b ← b − lr·∂mse/∂b, run here by hand in f64, is where onyx must be.
use std::path::Path;

use ndarray::ArrayD;
use onyx::HostTensor;
use onyx::train::{Data, TrainOptions, train};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let xs: Vec<f32> = (1..=5).map(|i| i as f32).collect();
    let column = |v: &[f32]| HostTensor::F32(ArrayD::from_shape_vec(vec![v.len(), 1], v.to_vec()).expect("a column"));
    let data = Data::Arrays(column(&xs), column(&xs));
    let out = tempfile::tempdir()?;
    let options = TrainOptions { output: Some(out.path().join("gd.onnx")), ..TrainOptions::default() };
    let trained = train(&here.join("gradient_descent.toml"), &data, &options, &onyx::TractEngine, &mut |_| {})?;

    // The same iteration by hand.
    let (mut w, mut b) = (0.0f64, 0.0f64);
    for _ in 0..1000 {
        let n = xs.len() as f64;
        let (gw, gb) = xs.iter().map(|&x| (x as f64, x as f64)).fold((0.0, 0.0), |(gw, gb), (x, y)| {
            let e = w * x + b - y;
            (gw + 2.0 * e * x / n, gb + 2.0 * e / n)
        });
        (w, b) = (w - 0.01 * gw, b - 0.01 * gb);
    }
    let weights = onyx::weights(&trained.model)?;
    let weight = |suffix: &str| weights.iter().find(|(name, _)| name.ends_with(suffix)).map_or(f64::NAN, |(_, v)| v[0] as f64);
    let (onyx_w, onyx_b) = (weight("kernel"), weight("bias"));
    println!(
        "onyx: w = {onyx_w:.8}, b = {onyx_b:.8}; by hand: w = {w:.8}, b = {b:.8}; final loss {:.3e}",
        trained.history.last().map_or(f64::NAN, |e| e.loss)
    );
    if (onyx_w - w).abs() > 1e-5 || (onyx_b - b).abs() > 1e-5 {
        return Err("onyx's weights differ from the hand-run iteration".into());
    }
    Ok(())
}
