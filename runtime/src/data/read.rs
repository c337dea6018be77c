use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use onyx_compiler::ir::DType;

use super::npy::{self, Npz};

use crate::error::RuntimeError;
use crate::tensor::{Element, HostTensor, IoInfo};

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

/// The shape of `rows` samples of `info`, whose per-sample dimensions must be known.
fn batch_shape(path: &Path, info: &IoInfo, rows: usize) -> Result<Vec<usize>, RuntimeError> {
    info.batch_shape(rows).ok_or_else(|| data_error(path, format!("input {} has unknown dimensions", info.describe())))
}

/// Inputs read from a file, and what was done to fit them to the model (one line each).
pub struct ReadInputs {
    pub tensors: Vec<HostTensor>,
    /// Conversions a user should know of, e.g. float64 values cast to the model's float32.
    pub notes: Vec<String>,
}

/// Reads one tensor per model input from `path`, by extension: `.csv` (one sample a row, the
/// sample's values flattened; single-input models), `.npy` (single input) or `.npz` (arrays named
/// after the inputs, or one array for a single input). Arrays of another element type are converted
/// to the input's where no value changes (integers of any width, float64 to float32 is rounded).
pub fn read_inputs(path: &Path, inputs: &[IoInfo]) -> Result<Vec<HostTensor>, RuntimeError> {
    read_inputs_noted(path, inputs).map(|r| r.tensors)
}

/// [`read_inputs`], with its notes.
pub fn read_inputs_noted(path: &Path, inputs: &[IoInfo]) -> Result<ReadInputs, RuntimeError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let single = || match inputs {
        [one] => Ok(one),
        _ => Err(data_error(path, format!("the model has {} inputs; give them as named arrays in an .npz file", inputs.len()))),
    };
    let mut notes = vec![];
    let tensors = match ext.as_str() {
        "csv" => vec![read_csv(path, single()?)?],
        "npy" => {
            let info = single()?;
            let t = npy::read_npy_tensor(path).map_err(|m| data_error(path, m))?;
            let (t, note) = convert(t, info.dtype).map_err(|m| data_error(path, m))?;
            notes.extend(note.map(|n| format!("{}: {n}", path.display())));
            vec![fit_samples(path, info, t)?]
        }
        "npz" => {
            let mut npz = Npz::open(path).map_err(|m| data_error(path, m))?;
            let names = npz.names();
            let mut out = vec![];
            for info in inputs {
                let wanted = [info.name.clone(), format!("{}.npy", info.name)];
                let name = names
                    .iter()
                    .find(|n| wanted.contains(n))
                    .or(if inputs.len() == 1 && names.len() == 1 { names.first() } else { None })
                    .ok_or_else(|| data_error(path, format!("no array named `{}` (found: {})", info.name, names.join(", "))))?;
                let t = npz.tensor(name).map_err(|m| data_error(path, format!("array `{name}`: {m}")))?;
                let (t, note) = convert(t, info.dtype).map_err(|m| data_error(path, format!("array `{name}`: {m}")))?;
                notes.extend(note.map(|n| format!("{}: array `{name}`: {n}", path.display())));
                out.push(fit_samples(path, info, t)?);
            }
            out
        }
        other => return Err(data_error(path, format!("unknown input format `.{other}`; use .csv, .npy or .npz"))),
    };
    Ok(ReadInputs { tensors, notes })
}

/// Array `name` of an NPZ as `dtype` (see [`convert`]).
pub(super) fn read_array(npz: &mut Npz, name: &str, dtype: DType) -> Result<HostTensor, String> {
    let t = npz.tensor(name).map_err(|e| format!("array `{name}`: {e}"))?;
    convert(t, dtype).map(|(t, _)| t).map_err(|e| format!("array `{name}`: {e}"))
}

/// `t` as `dtype`, with a note when it became floats of another type. Any integers feed any
/// integer type when every value fits; integers and floats feed floats (as Keras casts them);
/// floats feed integers only when every value is a whole number; bools take 0 and 1.
pub fn convert(t: HostTensor, dtype: DType) -> Result<(HostTensor, Option<String>), String> {
    let from = t.dtype();
    if from == dtype {
        return Ok((t, None));
    }
    if dtype.is_float() {
        let note = Some(format!("{from} values cast to the model's {dtype}"));
        return Ok((t.cast(dtype), note));
    }
    // Integers are checked exactly (through i128), floats through their value.
    let bad = if from.is_float() {
        t.to_f64_vec()
            .into_iter()
            .enumerate()
            .find(|&(_, v)| !(v.is_finite() && v.fract() == 0.0 && fits(v as i128, dtype)))
            .map(|(i, v)| (i, v.to_string()))
    } else {
        let exact: Vec<i128> = crate::each_host_tensor!(&t, a => a.iter().map(|v| crate::tensor::Element::to_i128(*v)).collect());
        exact.into_iter().enumerate().find(|&(_, n)| !fits(n, dtype)).map(|(i, n)| (i, n.to_string()))
    };
    if let Some((i, shown)) = bad {
        return Err(format!("{from} value {shown} at flat index {i} does not fit the model's {dtype}"));
    }
    Ok((t.cast(dtype), None))
}

/// Shapes samples for `info`: an array of the input's rank is taken as it is (its known dimensions
/// checked later, its unknown ones fixed by it); an (n, flattened) one is reshaped when the
/// per-sample dimensions are known and the counts agree.
pub(super) fn fit_samples(path: &Path, info: &IoInfo, t: HostTensor) -> Result<HostTensor, RuntimeError> {
    let rows = t.shape().first().copied().unwrap_or(0);
    if t.shape().len() == info.shape.len() && t.shape().iter().zip(&info.shape).all(|(&n, d)| d.fixed().is_none_or(|f| f == n)) {
        return Ok(t);
    }
    let shape = batch_shape(path, info, rows)?;
    let total: usize = t.shape().iter().product();
    if rows == 0 || total != shape.iter().product::<usize>() {
        return Err(data_error(path, format!("an array of shape {:?} does not hold samples of {}", t.shape(), info.describe())));
    }
    t.reshaped(&shape).map_err(|e| data_error(path, e.to_string()))
}

/// One sample a row. A first row that does not parse as numbers is a header.
fn read_csv(path: &Path, info: &IoInfo) -> Result<HostTensor, RuntimeError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path).map_err(|e| data_error(path, e.to_string()))?;
    // A 2-D input of unknown width takes the rows' width.
    let mut per_sample: Option<usize> =
        if info.shape.len() == 2 && info.shape[1].fixed().is_none() { None } else { Some(batch_shape(path, info, 1)?.iter().product()) };
    let mut header: Option<Vec<String>> = None;
    let (mut floats, mut ints, mut rows) = (vec![], vec![], 0usize);
    for (i, record) in reader.records().enumerate() {
        let line = i + 1;
        let record = record.map_err(|e| data_error(path, format!("line {line}: {e}")))?;
        if i == 0 && record.iter().any(|f| f.trim().parse::<f64>().is_err()) {
            header = Some(record.iter().map(str::to_string).collect());
            continue;
        }
        let width = *per_sample.get_or_insert(record.len());
        if record.len() != width {
            return Err(data_error(path, format!("line {line}: {} values, but each sample of {} has {width}", record.len(), info.describe())));
        }
        for (c, field) in record.iter().enumerate() {
            let column = header.as_ref().and_then(|h| h.get(c)).map_or_else(|| (c + 1).to_string(), |h| format!("{} `{h}`", c + 1));
            let cell = |message: String| RuntimeError::DataCell { path: path.to_path_buf(), row: line, column: column.clone(), message };
            let field = field.trim();
            match info.dtype {
                d if !d.is_float() => {
                    let v = field.parse::<i128>().map_err(|_| cell(format!("`{field}` is not an integer")))?;
                    if !fits(v, d) {
                        return Err(cell(format!("{v} does not fit the model's {d}")));
                    }
                    ints.push(v);
                }
                _ => {
                    // Parsed at full precision: a float64 input keeps every digit.
                    let v = field.parse::<f64>().map_err(|_| cell(format!("`{field}` is not a number")))?;
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
    let shape = match per_sample {
        Some(width) if info.shape.len() == 2 => vec![rows, width],
        _ => batch_shape(path, info, rows)?,
    };
    let shape_error = |e: ndarray::ShapeError| data_error(path, e.to_string());
    crate::with_element!(info.dtype, T => {
        let values: Vec<T> = if info.dtype.is_float() { floats.into_iter().map(T::from_f64).collect() } else { ints.into_iter().map(T::from_i128).collect() };
        Ok(T::wrap(ArrayD::from_shape_vec(IxDyn(&shape), values).map_err(shape_error)?))
    })
}

/// Whether the integer `v` is a value of `dtype` (an integer type or bool).
fn fits(v: i128, dtype: DType) -> bool {
    let (lo, hi) = integer_range(dtype);
    (lo..=hi).contains(&v)
}

/// The values an integer type (or bool) holds.
fn integer_range(dtype: DType) -> (i128, i128) {
    match dtype {
        DType::Bool => (0, 1),
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        _ => (0, u64::MAX.into()),
    }
}
