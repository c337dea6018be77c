use std::io::Write;
use std::path::Path;

use ndarray_npy::{NpzWriter, WriteNpyExt};

use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

/// `$body` with `$a` the array of `$t` in a type NPY files hold: float16 and bfloat16 (which the
/// NPY writer lacks, and NumPy itself for bfloat16) are written as the float32 values they equal.
macro_rules! each_writable {
    ($t:expr, $a:ident => $body:expr) => {
        match $t {
            HostTensor::F16(x) => {
                let $a = &x.mapv(|v| v.to_f32());
                $body
            }
            HostTensor::BF16(x) => {
                let $a = &x.mapv(|v| v.to_f32());
                $body
            }
            HostTensor::F32($a) => $body,
            HostTensor::F64($a) => $body,
            HostTensor::I8($a) => $body,
            HostTensor::I16($a) => $body,
            HostTensor::I32($a) => $body,
            HostTensor::I64($a) => $body,
            HostTensor::U8($a) => $body,
            HostTensor::U16($a) => $body,
            HostTensor::U32($a) => $body,
            HostTensor::U64($a) => $body,
            HostTensor::Bool($a) => $body,
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Npy,
    Npz,
    Json,
}

impl OutputFormat {
    pub fn from_path(path: &Path) -> Option<OutputFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(OutputFormat::Csv),
            "npy" => Some(OutputFormat::Npy),
            "npz" => Some(OutputFormat::Npz),
            "json" => Some(OutputFormat::Json),
            _ => None,
        }
    }
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> RuntimeError + '_ {
    move |source| RuntimeError::Io { path: path.to_path_buf(), source }
}

/// Encodes outputs in `format`. CSV: one sample a row, every output's values flattened side by side
/// under a header; JSON: `{"outputs": [{"name", "shape", "datatype", "data"}]}` as the Open
/// Inference Protocol lays tensors out.
pub fn encode_outputs(format: OutputFormat, infos: &[IoInfo], outputs: &[HostTensor], label: &Path) -> Result<Vec<u8>, RuntimeError> {
    let name = |i: usize| infos.get(i).map_or_else(|| format!("output_{i}"), |o| o.name.clone());
    let mut buf = vec![];
    let data_error = |e: ndarray_npy::WriteNpyError| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() };
    match format {
        OutputFormat::Csv => {
            let rows = outputs.first().and_then(|o| o.shape().first().copied()).unwrap_or(0);
            let mut header = vec![];
            let mut columns: Vec<(Vec<String>, usize)> = vec![];
            for (i, o) in outputs.iter().enumerate() {
                let width = o.shape().iter().skip(1).product::<usize>();
                if o.shape().first() != Some(&rows) {
                    return Err(RuntimeError::OutputFormat("outputs with different batch sizes cannot share a CSV; use .npz or .json".into()));
                }
                for c in 0..width {
                    header.push(if width == 1 { name(i) } else { format!("{}_{c}", name(i)) });
                }
                columns.push((o.to_strings(), width));
            }
            writeln!(buf, "{}", header.join(",")).map_err(io_error(label))?;
            for r in 0..rows {
                let cells: Vec<String> = columns.iter().flat_map(|(v, w)| v[r * w..(r + 1) * w].iter().cloned()).collect();
                writeln!(buf, "{}", cells.join(",")).map_err(io_error(label))?;
            }
        }
        OutputFormat::Npy => {
            let [one] = outputs else {
                return Err(RuntimeError::OutputFormat(format!("the model has {} outputs; write them to .npz or .json", outputs.len())));
            };
            each_writable!(one, a => a.write_npy(&mut buf)).map_err(data_error)?;
        }
        OutputFormat::Npz => {
            let mut npz = NpzWriter::new(std::io::Cursor::new(&mut buf));
            for (i, o) in outputs.iter().enumerate() {
                each_writable!(o, a => npz.add_array(name(i), a))
                    .map_err(|e| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() })?;
            }
            npz.finish().map_err(|e| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() })?;
        }
        OutputFormat::Json => {
            let list: Vec<serde_json::Value> = outputs
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let data = json_values(o);
                    let datatype = crate::tensor::kserve_datatype(o.dtype());
                    serde_json::json!({ "name": name(i), "shape": o.shape(), "datatype": datatype, "data": data })
                })
                .collect();
            serde_json::to_writer_pretty(&mut buf, &serde_json::json!({ "outputs": list }))
                .map_err(|e| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() })?;
            buf.push(b'\n');
        }
    }
    Ok(buf)
}

/// Values as JSON numbers: integers exactly, floats by their value (non-finite ones as null, which
/// JSON lacks), bools as booleans.
pub fn json_values(t: &HostTensor) -> Vec<serde_json::Value> {
    use serde_json::Value;
    let dtype = t.dtype();
    if dtype == onyx_compiler::ir::DType::Bool {
        return t.to_f64_vec().into_iter().map(|v| Value::Bool(v != 0.0)).collect();
    }
    if dtype.is_integer() {
        return crate::each_host_tensor!(t, a => a.iter().map(|v| {
            let n = crate::tensor::Element::to_i128(*v);
            i64::try_from(n).map(Value::from).unwrap_or_else(|_| Value::from(n as u64))
        }).collect());
    }
    // float32 values print in their shortest form, not as the f64 they widen to.
    t.to_strings().iter().map(|s| s.parse::<serde_json::Number>().map_or(Value::Null, Value::Number)).collect()
}

/// Writes outputs to `path` atomically, in the format its extension names.
pub fn write_outputs(path: &Path, infos: &[IoInfo], outputs: &[HostTensor]) -> Result<(), RuntimeError> {
    let format = OutputFormat::from_path(path)
        .ok_or_else(|| RuntimeError::Data { path: path.to_path_buf(), message: "unknown output format; use .csv, .npy, .npz or .json".into() })?;
    let bytes = encode_outputs(format, infos, outputs, path)?;
    onyx_proto::atomic_write(path, &bytes)?;
    Ok(())
}
