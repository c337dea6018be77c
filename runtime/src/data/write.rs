use std::io::Write;
use std::path::Path;

use ndarray_npy::{NpzWriter, WriteNpyExt};

use crate::error::RuntimeError;
use crate::tensor::{HostTensor, IoInfo};

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
    match format {
        OutputFormat::Csv => {
            let rows = outputs.first().and_then(|o| o.shape().first().copied()).unwrap_or(0);
            let mut header = vec![];
            let mut columns: Vec<(Vec<f64>, usize)> = vec![];
            for (i, o) in outputs.iter().enumerate() {
                let width = o.shape().iter().skip(1).product::<usize>();
                if o.shape().first() != Some(&rows) {
                    return Err(RuntimeError::Unsupported("outputs with different batch sizes cannot share a CSV; use .npz or .json".into()));
                }
                for c in 0..width {
                    header.push(if width == 1 { name(i) } else { format!("{}_{c}", name(i)) });
                }
                columns.push((o.to_f64_vec(), width));
            }
            writeln!(buf, "{}", header.join(",")).map_err(io_error(label))?;
            for r in 0..rows {
                let cells: Vec<String> = columns.iter().flat_map(|(v, w)| v[r * w..(r + 1) * w].iter().map(|x| format!("{x}"))).collect();
                writeln!(buf, "{}", cells.join(",")).map_err(io_error(label))?;
            }
        }
        OutputFormat::Npy => {
            let [one] = outputs else {
                return Err(RuntimeError::Unsupported(format!("the model has {} outputs; write them to .npz or .json", outputs.len())));
            };
            let written = match one {
                HostTensor::F32(a) => a.write_npy(&mut buf),
                HostTensor::I64(a) => a.write_npy(&mut buf),
            };
            written.map_err(|e| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() })?;
        }
        OutputFormat::Npz => {
            let mut npz = NpzWriter::new(std::io::Cursor::new(&mut buf));
            for (i, o) in outputs.iter().enumerate() {
                let added = match o {
                    HostTensor::F32(a) => npz.add_array(name(i), a),
                    HostTensor::I64(a) => npz.add_array(name(i), a),
                };
                added.map_err(|e| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() })?;
            }
            npz.finish().map_err(|e| RuntimeError::Data { path: label.to_path_buf(), message: e.to_string() })?;
        }
        OutputFormat::Json => {
            let list: Vec<serde_json::Value> = outputs
                .iter()
                .enumerate()
                .map(|(i, o)| {
                    let data: Vec<serde_json::Value> = match o {
                        HostTensor::F32(a) => a.iter().map(|&v| serde_json::json!(v)).collect(),
                        HostTensor::I64(a) => a.iter().map(|&v| serde_json::json!(v)).collect(),
                    };
                    let datatype = if o.dtype() == onyx_compiler::ir::DType::I64 { "INT64" } else { "FP32" };
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

/// Writes outputs to `path` atomically, in the format its extension names.
pub fn write_outputs(path: &Path, infos: &[IoInfo], outputs: &[HostTensor]) -> Result<(), RuntimeError> {
    let format = OutputFormat::from_path(path)
        .ok_or_else(|| RuntimeError::Data { path: path.to_path_buf(), message: "unknown output format; use .csv, .npy, .npz or .json".into() })?;
    let bytes = encode_outputs(format, infos, outputs, path)?;
    onyx_proto::atomic_write(path, &bytes)?;
    Ok(())
}
