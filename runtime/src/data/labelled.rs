//! Labelled training data from any of the formats onyx reads: a CSV with a header (the target column
//! by name), a 2-D NPY table (the target column by index, the last by default), or an NPZ holding the
//! features (named after the model's input, or `x`) and the targets (`y` or `target`).
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::{DType, TensorType};

use super::read::{fit_samples, read_array};
use super::{Table, read_table};
use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

/// Features shaped for `input` and targets typed as `target`, from `path`.
pub fn read_labelled(
    path: &Path,
    input: &IoInfo,
    target: &TensorType,
    target_column: Option<&str>,
) -> Result<(HostTensor, HostTensor), RuntimeError> {
    let (x, y) = read_unchecked(path, input, target, target_column)?;
    check_finite(&x, &y).map_err(|m| data_error(path, m))?;
    Ok((x, y))
}

/// Refuses NaN and infinities in training data, naming the first: they train a model of NaN without
/// a word where pooling and Relu hide them from the loss.
pub fn check_finite(x: &HostTensor, y: &HostTensor) -> Result<(), String> {
    for (what, t) in [("the features", x), ("the targets", y)] {
        if let Some((value, index)) = t.first_non_finite_at() {
            return Err(format!("{what} hold {value} at index {index:?}; training needs finite numbers"));
        }
    }
    Ok(())
}

fn read_unchecked(path: &Path, input: &IoInfo, target: &TensorType, target_column: Option<&str>) -> Result<(HostTensor, HostTensor), RuntimeError> {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase().as_str() {
        "csv" => read_table(path)?.split(path, input, target, target_column),
        "npy" => {
            // A table of any numeric type, as NumPy saves one (float64 by default), read as numbers.
            let t = super::npy::read_npy_tensor(path).map_err(|e| data_error(path, e))?;
            let &[_, width] = t.shape() else {
                return Err(data_error(path, format!("an array of shape {:?} (expected a 2-D table: one sample a row)", t.shape())));
            };
            let columns: Vec<String> = (0..width).map(|c| c.to_string()).collect();
            let rows = t.to_f64_vec().chunks(width.max(1)).map(<[f64]>::to_vec).collect();
            Table { columns, rows }.split(path, input, target, target_column)
        }
        "npz" => {
            let mut npz = super::npy::Npz::open(path).map_err(|m| data_error(path, m))?;
            let names = npz.names();
            let pick = |wanted: &[&str]| -> Result<String, RuntimeError> {
                names
                    .iter()
                    .find(|n| wanted.iter().any(|w| *n == w || n.strip_suffix(".npy") == Some(w)))
                    .cloned()
                    .ok_or_else(|| data_error(path, format!("no array named {} (found: {})", wanted.join(" or "), names.join(", "))))
            };
            let x_name = pick(&[input.name.as_str(), "x"])?;
            let y_name = pick(&["y", "target"])?;
            // The arrays as NumPy names them (`np.savez(f, x=..., y=...)`), without the members' `.npy`.
            let (x_shown, y_shown) = (x_name.strip_suffix(".npy").unwrap_or(&x_name), y_name.strip_suffix(".npy").unwrap_or(&y_name));
            let x = fit_samples(path, input, read_array(&mut npz, &x_name, input.dtype).map_err(|m| data_error(path, m))?)?;
            let y = read_array(&mut npz, &y_name, target.dtype).map_err(|m| data_error(path, m))?;
            if y.shape().first() != x.shape().first() {
                let (nx, ny) = (x.shape().first().copied().unwrap_or(0), y.shape().first().copied().unwrap_or(0));
                return Err(data_error(path, format!("{nx} samples of `{x_shown}` but {ny} of `{y_shown}`")));
            }
            let y = match (y, target.dtype) {
                (HostTensor::I64(a), DType::I64) => {
                    HostTensor::I64(a.into_shape_with_order(IxDyn(&[x.shape()[0]])).map_err(|e| data_error(path, format!("`{y_name}`: {e}")))?)
                }
                (HostTensor::F32(a), _) => {
                    let n = x.shape()[0];
                    let width = a.len() / n.max(1);
                    let a: ArrayD<f32> = a.into_shape_with_order(IxDyn(&[n, width])).map_err(|e| data_error(path, format!("`{y_name}`: {e}")))?;
                    if target.shape.get(1).and_then(|d| d.fixed()) != Some(width) {
                        return Err(data_error(
                            path,
                            format!(
                                "`{y_name}` has {width} values per sample; the model predicts {}",
                                target.shape.get(1).map_or("?".into(), |d| d.to_string())
                            ),
                        ));
                    }
                    HostTensor::F32(a)
                }
                (other, _) => other,
            };
            if y.shape()[0] != x.shape()[0] {
                return Err(data_error(path, format!("{} samples of `{x_shown}` but {} of `{y_shown}`", x.shape()[0], y.shape()[0])));
            }
            Ok((x, y))
        }
        other => Err(data_error(path, format!("unknown training data format `.{other}`; use .csv, .npy or .npz"))),
    }
}
