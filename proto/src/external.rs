//! Loading tensor data stored beside the model, following ONNX's external-data convention: the
//! tensor's `external_data` entries name a `location` relative to the model's folder and optionally
//! an `offset` and `length` within it.
//!
//! The location comes from the model file, which may be hostile, so it must stay inside the
//! model's folder: no absolute paths, no `..`, and no symlinks that lead out.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use crate::error::ProtoError;
use crate::onnx::TensorProto;
use crate::onnx::tensor_proto::DataLocation;

/// Where a tensor's bytes are, as its `external_data` entries say.
struct Entries {
    location: String,
    offset: u64,
    length: Option<u64>,
}

/// Replaces the external reference of `t` with the bytes it points to, in `raw_data`.
///
/// `model_dir` must already be canonical. `declared` is the byte size the tensor's dims and type
/// call for, already checked against the size limit; `None` means the type cannot be stored
/// externally.
pub(crate) fn load(t: &mut TensorProto, model_dir: &Path, declared: Option<u64>) -> Result<(), ProtoError> {
    let tensor = t.display_name().to_string();
    let entries = parse_entries(t, &tensor)?;
    let Some(declared) = declared else {
        return Err(ProtoError::BadExternalData {
            tensor,
            reason: "only tensors of fixed-size element types can keep their data externally".to_string(),
        });
    };
    let path = resolve(model_dir, &tensor, &entries.location)?;
    let mut file = File::open(&path).map_err(|e| ProtoError::io("open", &path, e))?;
    let file_len = file.metadata().map_err(|e| ProtoError::io("inspect", &path, e))?.len();

    let range_error =
        |end| ProtoError::ExternalDataRange { tensor: tensor.clone(), location: entries.location.clone(), offset: entries.offset, end, file_len };
    let present = match entries.length {
        Some(length) => {
            let end = entries.offset.checked_add(length).ok_or_else(|| range_error(u64::MAX))?;
            if end > file_len {
                return Err(range_error(end));
            }
            length
        }
        None => file_len.checked_sub(entries.offset).ok_or_else(|| range_error(entries.offset))?,
    };
    if present != declared {
        return Err(ProtoError::ExternalDataSize { tensor, location: entries.location, declared, present });
    }

    // `declared` fits the tensor limit and the file, so this allocation is bounded by both.
    let capacity = usize::try_from(declared).map_err(|_| ProtoError::TooLarge {
        what: format!("tensor `{tensor}`"),
        bytes: declared,
        limit: usize::MAX as u64,
    })?;
    let mut bytes = Vec::with_capacity(capacity);
    file.seek(SeekFrom::Start(entries.offset)).map_err(|e| ProtoError::io("seek in", &path, e))?;
    file.take(declared).read_to_end(&mut bytes).map_err(|e| ProtoError::io("read", &path, e))?;
    // The file can shrink between the size check and the read.
    if bytes.len() as u64 != declared {
        return Err(ProtoError::ExternalDataSize { tensor, location: entries.location, declared, present: bytes.len() as u64 });
    }

    t.raw_data = Some(bytes);
    t.external_data.clear();
    t.data_location = Some(DataLocation::Default as i32);
    Ok(())
}

fn parse_entries(t: &TensorProto, tensor: &str) -> Result<Entries, ProtoError> {
    let bad = |reason: String| ProtoError::BadExternalData { tensor: tensor.to_string(), reason };
    let number =
        |key: &str, value: &str| value.trim().parse::<u64>().map_err(|_| bad(format!("`{key}` is `{value}`, not a non-negative whole number")));
    let mut location = None;
    let mut offset = 0;
    let mut length = None;
    for entry in &t.external_data {
        let value = entry.value();
        // `checksum` is advisory and `basepath` is an in-memory helper of the Python API; other
        // keys are ignored like onnx does, so newer writers stay readable.
        match entry.key() {
            "location" => location = Some(value.to_string()),
            "offset" => offset = number("offset", value)?,
            "length" => length = Some(number("length", value)?),
            _ => {}
        }
    }
    let location = location.filter(|l| !l.is_empty()).ok_or_else(|| bad("it has no `location` entry".to_string()))?;
    Ok(Entries { location, offset, length })
}

/// The file `location` names, if it exists inside `model_dir` (canonical) once symlinks resolve.
fn resolve(model_dir: &Path, tensor: &str, location: &str) -> Result<PathBuf, ProtoError> {
    let outside = || ProtoError::ExternalDataOutsideFolder { tensor: tensor.to_string(), location: location.to_string() };
    let relative = Path::new(location);
    if !relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return Err(outside());
    }
    let joined = model_dir.join(relative);
    let canonical = match joined.canonicalize() {
        Ok(path) => path,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProtoError::ExternalDataMissing { tensor: tensor.to_string(), location: location.to_string() });
        }
        Err(e) => return Err(ProtoError::io("resolve", &joined, e)),
    };
    if !canonical.starts_with(model_dir) {
        return Err(outside());
    }
    // Directories, pipes and devices are refused: reading them would fail or never finish.
    if !canonical.is_file() {
        return Err(ProtoError::BadExternalData { tensor: tensor.to_string(), reason: format!("`{location}` is not a regular file") });
    }
    Ok(canonical)
}
