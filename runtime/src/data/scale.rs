//! Feature standardization: per-feature mean and scale (population standard deviation, as
//! scikit-learn's StandardScaler), applied to data and baked into models.
use crate::tensor::HostTensor;

/// Mean and scale of each feature (all axes but the first flattened); a constant feature gets scale 1.
pub fn feature_stats(x: &HostTensor) -> (Vec<f32>, Vec<f32>) {
    let values = x.to_f64_vec();
    let n = x.shape().first().copied().unwrap_or(0).max(1);
    let width = values.len() / n;
    let mut mean = vec![0.0f64; width];
    for row in values.chunks(width.max(1)) {
        row.iter().zip(&mut mean).for_each(|(v, m)| *m += v / n as f64);
    }
    let mut var = vec![0.0f64; width];
    for row in values.chunks(width.max(1)) {
        row.iter().zip(&mean).zip(&mut var).for_each(|((v, m), s)| *s += (v - m) * (v - m) / n as f64);
    }
    let scale = var.iter().map(|v| if *v > 0.0 { v.sqrt() as f32 } else { 1.0 }).collect();
    (mean.iter().map(|&m| m as f32).collect(), scale)
}

/// The mean and standard deviation of every value of `x` together (a series: one quantity at every
/// step); a constant gives scale 1.
pub fn overall_stats(x: &HostTensor) -> (f32, f32) {
    let values = x.to_f64_vec();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean as f32, if var > 0.0 { var.sqrt() as f32 } else { 1.0 })
}

/// `(x − mean) / scale` per feature.
pub fn standardize(x: &HostTensor, mean: &[f32], scale: &[f32]) -> HostTensor {
    match x {
        HostTensor::F32(a) => {
            let mut out = a.clone();
            let width = mean.len().max(1);
            out.iter_mut().enumerate().for_each(|(i, v)| *v = (*v - mean[i % width]) / scale[i % width]);
            HostTensor::F32(out)
        }
        // Integer inputs are ids, not measurements.
        other => other.clone(),
    }
}
