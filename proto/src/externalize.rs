//! Writing a model whose large initializers live in a data file beside it, as ONNX requires for
//! models over protobuf's 2 GiB limit.

use std::io::{self, Write};
use std::path::{Component, Path};

use crate::atomic::atomic_write_with;
use crate::error::ProtoError;
use crate::io::write_model;
use crate::onnx::tensor_proto::DataLocation;
use crate::onnx::{ModelProto, StringStringEntryProto};
use crate::walk::{Scope, for_each_tensor};

/// Each tensor starts at a multiple of this, so the data file can be memory-mapped per tensor
/// (ONNX's own writer aligns the same way).
const ALIGN: u64 = 4096;

/// Writes `model` to `path` with every initializer whose `raw_data` is at least `threshold_bytes`
/// moved into `data_file`, a plain file name in the same folder.
///
/// The data file is written first, then the model, each atomically, so a reader never finds a model
/// pointing into a data file that is not complete yet. Tensors without `raw_data` (values in typed
/// fields) stay inline, as in ONNX's own converter.
pub fn write_model_with_external_data(path: &Path, model: &ModelProto, data_file: &str, threshold_bytes: usize) -> Result<(), ProtoError> {
    check_data_file_name(path, data_file)?;
    let mut model = model.clone();
    let mut chunks: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut end = 0u64;
    for_each_tensor(&mut model, Scope::Initializers, u32::MAX, &mut |t| {
        let big = t.raw_data.as_ref().is_some_and(|raw| !raw.is_empty() && raw.len() >= threshold_bytes);
        if !big || t.is_external() {
            return Ok(());
        }
        let raw = t.raw_data.take().unwrap_or_default();
        let offset = end.next_multiple_of(ALIGN);
        let length = raw.len() as u64;
        t.external_data = vec![entry("location", data_file.to_string()), entry("offset", offset.to_string()), entry("length", length.to_string())];
        t.data_location = Some(DataLocation::External as i32);
        end = offset + length;
        chunks.push((offset, raw));
        Ok(())
    })?;

    atomic_write_with(&path.with_file_name(data_file), |out| write_chunks(out, &chunks))?;
    write_model(path, &model)
}

fn write_chunks(out: &mut impl Write, chunks: &[(u64, Vec<u8>)]) -> io::Result<()> {
    const ZEROS: [u8; ALIGN as usize] = [0; ALIGN as usize];
    let mut position = 0u64;
    for (offset, raw) in chunks {
        // Padding is always shorter than one alignment unit.
        let padding = usize::try_from(offset - position).unwrap_or(0).min(ZEROS.len());
        out.write_all(&ZEROS[..padding])?;
        out.write_all(raw)?;
        position = offset + raw.len() as u64;
    }
    Ok(())
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto { key: Some(key.to_string()), value: Some(value) }
}

fn check_data_file_name(model_path: &Path, data_file: &str) -> Result<(), ProtoError> {
    let bad = |reason: &str| ProtoError::BadDataFileName { name: data_file.to_string(), reason: reason.to_string() };
    let mut components = Path::new(data_file).components();
    let plain = match (components.next(), components.next()) {
        (Some(Component::Normal(name)), None) => name == data_file,
        _ => false,
    };
    if !plain {
        return Err(bad("it must be a plain file name, with no folders"));
    }
    if model_path.file_name().is_some_and(|name| name == data_file) {
        return Err(bad("it is the model file itself"));
    }
    Ok(())
}
