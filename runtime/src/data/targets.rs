//! Targets checked against the loss that will read them: a label out of range trains without a
//! word (a sparse label of 10 on 10 classes gathers nothing, a binary target of 2 pulls the
//! sigmoid past 1), so it is refused, naming the sample.
use onyx_compiler::train::Loss;

use crate::tensor::HostTensor;

/// Checks `y` for `loss` on a model with `classes` outputs per sample; the error names the first
/// sample (counting from 1, as rows) that is wrong, and why.
pub fn check_targets(loss: Loss, classes: Option<usize>, y: &HostTensor) -> Result<(), String> {
    let values = y.to_f64_vec();
    let n = y.shape().first().copied().unwrap_or(0);
    let width = values.len() / n.max(1);
    let row = |i: usize| i + 1;
    match loss {
        Loss::SparseCategoricalCrossentropy => {
            let Some(k) = classes else { return Ok(()) };
            let bad = match y {
                HostTensor::I64(a) => a.iter().position(|&v| v < 0 || v >= k as i64).map(|i| (i, a.as_slice().map_or(0, |s| s[i]).to_string())),
                _ => values.iter().position(|v| v.fract() != 0.0 || *v < 0.0 || *v >= k as f64).map(|i| (i, values[i].to_string())),
            };
            if let Some((i, v)) = bad {
                return Err(format!("row {}: label {v} is not a class of the model's {k} (0 to {})", row(i), k - 1));
            }
        }
        Loss::CategoricalCrossentropy => {
            for (i, r) in values.chunks(width.max(1)).enumerate() {
                let sum: f64 = r.iter().sum();
                if r.iter().any(|v| !(0.0..=1.0).contains(v)) || (sum - 1.0).abs() > 1e-3 {
                    return Err(format!("row {}: {r:?} is not a distribution over the classes (one-hot, or values in [0, 1] summing to 1)", row(i)));
                }
            }
        }
        Loss::BinaryCrossentropy | Loss::BinaryCrossentropyFromLogits => {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !(0.0..=1.0).contains(*v)) {
                return Err(format!("row {}: binary target {v} is outside [0, 1]", row(i / width.max(1))));
            }
        }
        Loss::Mse | Loss::Mae | Loss::Huber => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ndarray::ArrayD;

    use super::*;

    fn ints(v: &[i64]) -> HostTensor {
        HostTensor::I64(ArrayD::from_shape_vec(vec![v.len()], v.to_vec()).unwrap())
    }

    fn floats(shape: &[usize], v: &[f32]) -> HostTensor {
        HostTensor::F32(ArrayD::from_shape_vec(shape.to_vec(), v.to_vec()).unwrap())
    }

    #[test]
    fn labels_out_of_range_are_named_by_row() {
        let sparse = Loss::SparseCategoricalCrossentropy;
        assert!(check_targets(sparse, Some(10), &ints(&[0, 9, 3])).is_ok());
        for (bad, row) in [(10, 2), (-1, 2), (1 << 62, 2)] {
            let e = check_targets(sparse, Some(10), &ints(&[0, bad, 3])).unwrap_err();
            assert!(e.starts_with(&format!("row {row}: label {bad}")), "{e}");
        }
        let binary = Loss::BinaryCrossentropy;
        assert!(check_targets(binary, Some(1), &floats(&[3, 1], &[0.0, 1.0, 0.3])).is_ok());
        assert!(check_targets(binary, Some(1), &floats(&[3, 1], &[0.0, 2.0, 1.0])).unwrap_err().starts_with("row 2: binary target 2"));
        let onehot = Loss::CategoricalCrossentropy;
        assert!(check_targets(onehot, Some(2), &floats(&[2, 2], &[0.0, 1.0, 0.1, 0.9])).is_ok());
        assert!(check_targets(onehot, Some(2), &floats(&[2, 2], &[0.0, 1.0, 1.0, 1.0])).unwrap_err().starts_with("row 2:"));
        assert!(check_targets(Loss::Mse, None, &floats(&[1, 1], &[1e6])).is_ok());
    }
}
