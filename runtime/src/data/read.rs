use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::DType;

use super::npy::{self, Npz};

use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

/// The shape of `rows` samples of `info`, whose per-sample dimensions must be known.
fn batch_shape(path: &Path, info: &IoInfo, rows: usize) -> Result<Vec<usize>, RuntimeError> {
    info.batch_shape(rows).ok_or_else(|| data_error(path, format!("input {} has unknown dimensions", info.describe())))
}

/// Reads one tensor per model input from `path`, by extension: `.csv` (one sample a row, the
/// sample's values flattened; single-input models), `.npy` (single input) or `.npz` (arrays named
/// after the inputs, or one array for a single input).
pub fn read_inputs(path: &Path, inputs: &[IoInfo]) -> Result<Vec<HostTensor>, RuntimeError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let single = || match inputs {
        [one] => Ok(one),
        _ => Err(data_error(path, format!("the model has {} inputs; give them as named arrays in an .npz file", inputs.len()))),
    };
    match ext.as_str() {
        "csv" => Ok(vec![read_csv(path, single()?)?]),
        "npy" => {
            let info = single()?;
            let t = read_npy(path, info.dtype).map_err(|m| data_error(path, m))?;
            Ok(vec![fit_samples(path, info, t)?])
        }
        "npz" => {
            let mut npz = Npz::open(path).map_err(|m| data_error(path, m))?;
            let names = npz.names();
            inputs
                .iter()
                .map(|info| {
                    let wanted = [info.name.clone(), format!("{}.npy", info.name)];
                    let name = names
                        .iter()
                        .find(|n| wanted.contains(n))
                        .or(if inputs.len() == 1 && names.len() == 1 { names.first() } else { None })
                        .ok_or_else(|| data_error(path, format!("no array named `{}` (found: {})", info.name, names.join(", "))))?;
                    let t = read_array(&mut npz, name, info.dtype).map_err(|m| data_error(path, m))?;
                    fit_samples(path, info, t)
                })
                .collect()
        }
        other => Err(data_error(path, format!("unknown input format `.{other}`; use .csv, .npy or .npz"))),
    }
}

/// Array `name` of an NPZ, as int64 for integer inputs and float32 otherwise.
pub(super) fn read_array(npz: &mut Npz, name: &str, dtype: DType) -> Result<HostTensor, String> {
    match dtype {
        DType::I64 => npz.by_name::<i64>(name).map(HostTensor::I64),
        _ => npz.by_name::<f32>(name).map(HostTensor::F32),
    }
    .map_err(|e| format!("array `{name}`: {e} (expected {dtype})"))
}

fn read_npy(path: &Path, dtype: DType) -> Result<HostTensor, String> {
    match dtype {
        DType::I64 => npy::read_npy::<i64>(path).map(HostTensor::I64).map_err(|e| format!("{e} (expected int64 values)")),
        _ => npy::read_npy::<f32>(path).map(HostTensor::F32).map_err(|e| format!("{e} (expected float32 values)")),
    }
}

/// Reshapes (n, flattened) data to the input's (n, per-sample...) shape when the counts agree.
pub(super) fn fit_samples(path: &Path, info: &IoInfo, t: HostTensor) -> Result<HostTensor, RuntimeError> {
    let rows = t.shape().first().copied().unwrap_or(0);
    let shape = batch_shape(path, info, rows)?;
    let total: usize = t.shape().iter().product();
    if rows == 0 || total != shape.iter().product::<usize>() {
        return Err(data_error(path, format!("an array of shape {:?} does not hold samples of {}", t.shape(), info.describe())));
    }
    let reshape_error = |e: ndarray::ShapeError| data_error(path, e.to_string());
    Ok(match t {
        HostTensor::F32(a) => HostTensor::F32(a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(reshape_error)?),
        HostTensor::I64(a) => HostTensor::I64(a.as_standard_layout().into_owned().into_shape_with_order(IxDyn(&shape)).map_err(reshape_error)?),
    })
}

/// One sample a row. A first row that does not parse as numbers is a header.
fn read_csv(path: &Path, info: &IoInfo) -> Result<HostTensor, RuntimeError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| data_error(path, e.to_string()))?;
    let per_sample: usize = batch_shape(path, info, 1)?.iter().product();
    let mut header: Option<Vec<String>> = None;
    let (mut floats, mut ints, mut rows) = (vec![], vec![], 0usize);
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| data_error(path, format!("line {line}: {e}")))?;
        if i == 0 && record.iter().any(|f| f.trim().parse::<f64>().is_err()) {
            header = Some(record.iter().map(str::to_string).collect());
            continue;
        }
        if record.len() != per_sample {
            return Err(data_error(path, format!("line {line}: {} values, but each sample of {} has {per_sample}", record.len(), info.describe())));
        }
        for (c, field) in record.iter().enumerate() {
            let column = header.as_ref().and_then(|h| h.get(c)).map_or_else(|| (c + 1).to_string(), |h| format!("{} `{h}`", c + 1));
            let cell = |message: String| RuntimeError::DataCell { path: path.to_path_buf(), row: line, column: column.clone(), message };
            let field = field.trim();
            match info.dtype {
                DType::I64 => ints.push(field.parse::<i64>().map_err(|_| cell(format!("`{field}` is not an integer")))?),
                _ => {
                    let v = field.parse::<f32>().map_err(|_| cell(format!("`{field}` is not a number")))?;
                    if !v.is_finite() {
                        return Err(cell(format!("`{field}` is not finite")));
                    }
                    floats.push(v);
                }
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(data_error(path, "no data rows"));
    }
    let shape = batch_shape(path, info, rows)?;
    let shape_error = |e: ndarray::ShapeError| data_error(path, e.to_string());
    Ok(match info.dtype {
        DType::I64 => HostTensor::I64(ArrayD::from_shape_vec(IxDyn(&shape), ints).map_err(shape_error)?),
        _ => HostTensor::F32(ArrayD::from_shape_vec(IxDyn(&shape), floats).map_err(shape_error)?),
    })
}
