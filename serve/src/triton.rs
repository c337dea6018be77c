//! A Triton Inference Server model repository for one ONNX model: `DIR/<name>/1/model.onnx` and a
//! `config.pbtxt` naming the ONNX Runtime backend, the inputs and outputs, and the batch size, so the
//! clients of `onyx serve` talk to Triton (or KServe) unchanged.
use std::path::{Path, PathBuf};

use onyx_compiler::ir::DType;
use onyx_runtime::IoInfo;

#[derive(Debug, thiserror::Error)]
pub enum TritonError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Write(#[from] onyx_proto::ProtoError),
    #[error("`{0}` cannot name a Triton model (letters, digits, `_`, `-` and `.` only)")]
    Name(String),
}

/// Triton's `DataType` for an element type.
fn triton_type(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "TYPE_FP32",
        DType::F16 => "TYPE_FP16",
        DType::F64 => "TYPE_FP64",
        DType::I64 => "TYPE_INT64",
        DType::I32 => "TYPE_INT32",
        DType::I8 => "TYPE_INT8",
        DType::U8 => "TYPE_UINT8",
        DType::Bool => "TYPE_BOOL",
        DType::U16 => "TYPE_UINT16",
        DType::I16 => "TYPE_INT16",
        DType::U32 => "TYPE_UINT32",
        DType::U64 => "TYPE_UINT64",
        DType::BF16 => "TYPE_BF16",
    }
}

/// Whether every input and output has a symbolic first dimension, which Triton then batches.
pub fn batches(inputs: &[IoInfo], outputs: &[IoInfo]) -> bool {
    inputs.iter().chain(outputs).all(|t| t.shape.first().is_some_and(|d| d.fixed().is_none()))
}

/// The text of `config.pbtxt`. With `max_batch_size` > 0 (a model with a batch axis), dims leave
/// the batch out, as Triton wants; dynamic batching gathers single requests into batches.
pub fn config_pbtxt(name: &str, inputs: &[IoInfo], outputs: &[IoInfo], max_batch_size: usize) -> String {
    let batched = max_batch_size > 0 && batches(inputs, outputs);
    let tensor = |t: &IoInfo| -> String {
        let dims: Vec<String> = t.shape.iter().skip(batched as usize).map(|d| d.fixed().map_or("-1".to_string(), |n| n.to_string())).collect();
        format!("  {{\n    name: \"{}\"\n    data_type: {}\n    dims: [ {} ]\n  }}", escape(&t.name), triton_type(t.dtype), dims.join(", "))
    };
    let list = |ts: &[IoInfo]| -> String { ts.iter().map(tensor).collect::<Vec<_>>().join(",\n") };
    let mut text = format!(
        "name: \"{}\"\nplatform: \"onnxruntime_onnx\"\nbackend: \"onnxruntime\"\nmax_batch_size: {}\ninput [\n{}\n]\noutput [\n{}\n]\n",
        escape(name),
        if batched { max_batch_size } else { 0 },
        list(inputs),
        list(outputs)
    );
    if batched {
        text += "dynamic_batching { }\n";
    }
    text += "instance_group [\n  {\n    kind: KIND_CPU\n  }\n]\n";
    text
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Writes `dir/<name>/1/model.onnx` and `dir/<name>/config.pbtxt`; returns the model's folder.
pub fn write_repository(
    dir: &Path,
    name: &str,
    model: &[u8],
    inputs: &[IoInfo],
    outputs: &[IoInfo],
    max_batch_size: usize,
) -> Result<PathBuf, TritonError> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) || name.starts_with('.') {
        return Err(TritonError::Name(name.into()));
    }
    let config = config_pbtxt(name, inputs, outputs, max_batch_size);
    let folder = dir.join(name);
    let version = folder.join("1");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TritonError::Io { path, source }
    };
    std::fs::create_dir_all(&version).map_err(io(&version))?;
    onyx_proto::atomic_write(&version.join("model.onnx"), model)?;
    onyx_proto::atomic_write(&folder.join("config.pbtxt"), config.as_bytes())?;
    Ok(folder)
}
