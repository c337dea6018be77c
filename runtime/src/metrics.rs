//! Metrics on the host, from predictions and targets: what the exact solvers report, what `pack`
//! compares a packed model by, and what a confusion matrix counts. The training graphs compute the
//! same metrics as batch sums in ONNX (`onyx_compiler::train`), under the same names.

/// Mean squared error.
pub fn mse(predicted: &[f64], target: &[f64]) -> f64 {
    predicted.iter().zip(target).map(|(f, t)| (t - f) * (t - f)).sum::<f64>() / target.len().max(1) as f64
}

/// Mean absolute error.
pub fn mae(predicted: &[f64], target: &[f64]) -> f64 {
    predicted.iter().zip(target).map(|(f, t)| (t - f).abs()).sum::<f64>() / target.len().max(1) as f64
}

/// The coefficient of determination, `1 − RSS/TSS` (scikit-learn's `r2_score`: 1 when the target is
/// constant and fitted exactly, 0 when it is constant and not).
pub fn r2(predicted: &[f64], target: &[f64]) -> f64 {
    let mean = target.iter().sum::<f64>() / target.len().max(1) as f64;
    let rss: f64 = predicted.iter().zip(target).map(|(f, t)| (t - f) * (t - f)).sum();
    let tss: f64 = target.iter().map(|t| (t - mean) * (t - mean)).sum();
    if tss > 0.0 {
        1.0 - rss / tss
    } else if rss == 0.0 {
        1.0
    } else {
        0.0
    }
}

/// A regression metric by its Keras name (`mse`, `mae`, `rmse`, `r2`); `None` for any other.
pub fn regression(name: &str, predicted: &[f64], target: &[f64]) -> Option<f64> {
    match name {
        "mse" => Some(mse(predicted, target)),
        "mae" => Some(mae(predicted, target)),
        "rmse" => Some(mse(predicted, target).sqrt()),
        "r2" => Some(r2(predicted, target)),
        _ => None,
    }
}

/// The class a row of scores predicts: the largest (the first of equals).
pub fn argmax(row: &[f64]) -> usize {
    row.iter().enumerate().fold((0, f64::NEG_INFINITY), |(best, top), (i, &v)| if v > top { (i, v) } else { (best, top) }).0
}

/// The share of samples whose prediction is the label: for rows of `width` scores, the largest
/// against class indices; for one score a sample, the score above 0.5 against 0/1 labels.
pub fn accuracy(predicted: &[f64], width: usize, labels: &[f64]) -> f64 {
    let right = labels
        .iter()
        .zip(predicted.chunks(width.max(1)))
        .filter(|(label, row)| if row.len() == 1 { (row[0] > 0.5) == (**label > 0.5) } else { argmax(row) as f64 == **label })
        .count();
    right as f64 / labels.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_agree_with_their_definitions() {
        let (p, t) = ([1.0, 2.0, 4.0], [1.0, 3.0, 2.0]);
        assert_eq!(mse(&p, &t), 5.0 / 3.0);
        assert_eq!(mae(&p, &t), 1.0);
        // TSS = (1−2)² + (3−2)² + 0 = 2, RSS = 5.
        assert_eq!(r2(&p, &t), 1.0 - 5.0 / 2.0);
        assert_eq!(r2(&[2.0, 2.0], &[2.0, 2.0]), 1.0);
        assert_eq!(regression("rmse", &p, &t), Some((5.0f64 / 3.0).sqrt()));
        assert_eq!(regression("accuracy", &p, &t), None);
        assert_eq!(accuracy(&[0.1, 0.9, 0.8, 0.2, 0.5, 0.5], 2, &[1.0, 0.0, 1.0]), 2.0 / 3.0);
        assert_eq!(accuracy(&[0.7, 0.2, 0.6], 1, &[1.0, 0.0, 0.0]), 2.0 / 3.0);
    }
}
