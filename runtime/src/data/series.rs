//! Time series for forecasting: one numeric column of a CSV in file (time) order, cut into sliding
//! windows of `window` steps, each labelled with the value `horizon` steps after its last.
use std::path::Path;

use ndarray::{ArrayD, IxDyn};

use crate::error::RuntimeError;
use crate::tensor::HostTensor;

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

/// The column named `column` (the last by default) of a CSV with a header, in file order; other
/// columns (dates, labels) are not read. A cell that is not a finite number is an error naming its
/// row and column.
pub fn read_series(path: &Path, column: Option<&str>) -> Result<(String, Vec<f64>), RuntimeError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_path(path).map_err(|e| data_error(path, e.to_string()))?;
    let columns: Vec<String> = reader.headers().map_err(|e| data_error(path, e.to_string()))?.iter().map(|h| h.trim().to_string()).collect();
    let c = match column {
        Some(name) => columns
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| data_error(path, format!("no column `{name}`; the columns are {}", columns.join(", "))))?,
        None => columns.len().checked_sub(1).ok_or_else(|| data_error(path, "the header names no column"))?,
    };
    let mut values = vec![];
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| data_error(path, format!("line {line}: {e}")))?;
        let cell = record.get(c).map(str::trim).unwrap_or_default();
        let value = cell.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| RuntimeError::DataCell {
            path: path.to_path_buf(),
            row: line,
            column: format!("{} `{}`", c + 1, columns[c]),
            message: if cell.is_empty() { "is empty: a series needs every step".into() } else { format!("`{cell}` is not a number") },
        })?;
        values.push(value);
    }
    Ok((columns[c].clone(), values))
}

/// Sliding windows over `series`: sample i reads steps i..i+window (shape (window, 1)) and is
/// labelled with step i+window+horizon−1. A series shorter than window + horizon has no sample and
/// is refused (onyx does not pad and mask short sequences).
pub fn windows(series: &[f64], window: usize, horizon: usize) -> Result<(HostTensor, HostTensor), String> {
    if window == 0 || horizon == 0 {
        return Err("the window and the horizon must be at least 1".into());
    }
    let span = window + horizon;
    if series.len() < span {
        return Err(format!("{} values make no window of {window} steps with a target {horizon} ahead (that needs {span})", series.len()));
    }
    let n = series.len() - span + 1;
    let x = windows_ending(series, window, &(window..window + n).collect::<Vec<_>>());
    let y: Vec<f32> = (0..n).map(|i| series[i + span - 1] as f32).collect();
    let y = ArrayD::from_shape_vec(IxDyn(&[n, 1]), y).map_err(|e| e.to_string())?;
    Ok((x, HostTensor::F32(y)))
}

/// One (window, 1) sample per index in `ends`: the `window` values just before it. Every end must
/// be at least `window` and at most the series' length.
pub fn windows_ending(series: &[f64], window: usize, ends: &[usize]) -> HostTensor {
    let values: Vec<f32> = ends.iter().flat_map(|&e| series[e - window..e].iter().map(|&v| v as f32)).collect();
    HostTensor::F32(ArrayD::from_shape_vec(IxDyn(&[ends.len(), window, 1]), values).expect("shape and count agree"))
}

/// Windows as their step-to-step changes (one step fewer), targets as the change from each window's
/// last value: the form `--difference` trains on.
pub fn changes(x: &HostTensor, y: &HostTensor) -> (HostTensor, HostTensor) {
    let (n, steps) = (x.shape()[0], x.shape().get(1).copied().unwrap_or(1));
    let (values, targets) = (x.to_f64_vec(), y.to_f64_vec());
    let dx: Vec<f32> =
        (0..n).flat_map(|i| (1..steps).map(move |t| (i, t))).map(|(i, t)| (values[i * steps + t] - values[i * steps + t - 1]) as f32).collect();
    let dy: Vec<f32> = (0..n).map(|i| (targets[i] - values[i * steps + steps - 1]) as f32).collect();
    let dx = ArrayD::from_shape_vec(IxDyn(&[n, steps.saturating_sub(1), 1]), dx).expect("shape and count agree");
    let dy = ArrayD::from_shape_vec(IxDyn(&[n, 1]), dy).expect("shape and count agree");
    (HostTensor::F32(dx), HostTensor::F32(dy))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_label_the_value_horizon_steps_after_their_last() {
        let s: Vec<f64> = (0..7).map(f64::from).collect();
        let (x, y) = windows(&s, 3, 2).unwrap();
        assert_eq!(x.shape(), &[3, 3, 1]);
        assert_eq!(x.to_f64_vec(), vec![0.0, 1.0, 2.0, 1.0, 2.0, 3.0, 2.0, 3.0, 4.0]);
        // Window 0..3 ends at step 2; two steps later is step 4.
        assert_eq!(y.to_f64_vec(), vec![4.0, 5.0, 6.0]);
        assert!(windows(&s, 6, 2).unwrap_err().contains("needs 8"));
        assert_eq!(windows(&s, 6, 1).unwrap().1.to_f64_vec(), vec![6.0]);
    }

    #[test]
    fn changes_are_differences_and_the_target_is_relative_to_the_last_value() {
        let squares: Vec<f64> = (0..6).map(|v| f64::from(v * v)).collect();
        let (x, y) = windows(&squares, 3, 1).unwrap();
        let (dx, dy) = changes(&x, &y);
        assert_eq!(dx.shape(), &[3, 2, 1]);
        // 0 1 4 → 1 3, then 9 − 4 = 5; 1 4 9 → 3 5, 16 − 9 = 7; 4 9 16 → 5 7, 25 − 16 = 9.
        assert_eq!(dx.to_f64_vec(), vec![1.0, 3.0, 3.0, 5.0, 5.0, 7.0]);
        assert_eq!(dy.to_f64_vec(), vec![5.0, 7.0, 9.0]);
    }
}
