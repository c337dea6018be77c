//! Reading and writing `.onnx` files.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::check::{check_raw_size, declared_bytes};
use crate::error::ProtoError;
use crate::external;
use crate::limits::Limits;
use crate::onnx::ModelProto;
use crate::walk::{Scope, for_each_tensor};

pub use crate::atomic::atomic_write;
pub use crate::externalize::write_model_with_external_data;

/// The IR versions onyx reads: 3 (the first with opsets) to 14 (onnx 1.23's). A file outside them
/// is not a model of any ONNX this code knows, whatever it decodes to.
pub const IR_VERSIONS: std::ops::RangeInclusive<i64> = 3..=14;

fn check_ir_version(model: &ModelProto) -> Result<(), ProtoError> {
    match model.ir_version {
        Some(v) if IR_VERSIONS.contains(&v) => Ok(()),
        v => Err(ProtoError::IrVersion { version: v.unwrap_or(0) }),
    }
}

/// Decodes a model from protobuf bytes, as they are: no check beyond the protobuf's own, no
/// external data loaded. Files from users go through [`read_model`].
pub fn decode_model(bytes: &[u8]) -> Result<ModelProto, ProtoError> {
    ModelProto::decode(bytes).map_err(|source| ProtoError::Decode { path: None, source })
}

/// Encodes a model to protobuf bytes.
pub fn encode_model(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Reads a model with the default [`Limits`]; see [`read_model_with`].
pub fn read_model(path: &Path) -> Result<ModelProto, ProtoError> {
    read_model_with(path, &Limits::default())
}

/// Reads a model, loads every tensor's external data into `raw_data`, and checks each tensor's
/// declared size against its data and against `limits`.
pub fn read_model_with(path: &Path, limits: &Limits) -> Result<ModelProto, ProtoError> {
    let file = File::open(path).map_err(|e| ProtoError::io("open", path, e))?;
    let len = file.metadata().map_err(|e| ProtoError::io("inspect", path, e))?.len();
    let too_large = |bytes| ProtoError::TooLarge { what: format!("model file `{}`", path.display()), bytes, limit: limits.max_model_bytes };
    if len > limits.max_model_bytes {
        return Err(too_large(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // Read at most one byte past the limit, in case the file grew after we looked.
    file.take(limits.max_model_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| ProtoError::io("read", path, e))?;
    if bytes.len() as u64 > limits.max_model_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    let mut model = ModelProto::decode(bytes.as_slice()).map_err(|source| ProtoError::Decode { path: Some(path.to_path_buf()), source })?;
    drop(bytes);
    check_ir_version(&model)?;

    let mut model_dir = ModelDir { model: path, canonical: None };
    for_each_tensor(&mut model, Scope::Everything, limits.max_nesting, &mut |t| {
        let declared = declared_bytes(t, limits)?;
        if t.is_external() {
            external::load(t, model_dir.canonical()?, declared)?;
        }
        check_raw_size(t, declared)
    })?;
    Ok(model)
}

/// Writes a model atomically (see [`atomic_write`]). Models of 2 GiB or more cannot be encoded as
/// one protobuf message; write those with [`write_model_with_external_data`].
pub fn write_model(path: &Path, model: &ModelProto) -> Result<(), ProtoError> {
    let limit = Limits::default().max_model_bytes;
    let len = model.encoded_len() as u64;
    if len > limit {
        return Err(ProtoError::TooLarge { what: "the encoded model".to_string(), bytes: len, limit });
    }
    atomic_write(path, &encode_model(model))
}

/// The model's folder, canonicalized on first use: models without external data never need it.
struct ModelDir<'a> {
    model: &'a Path,
    canonical: Option<PathBuf>,
}

impl ModelDir<'_> {
    fn canonical(&mut self) -> Result<&Path, ProtoError> {
        let canonical = match self.canonical.take() {
            Some(canonical) => canonical,
            None => {
                let dir = match self.model.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                dir.canonicalize().map_err(|e| ProtoError::io("resolve", dir, e))?
            }
        };
        Ok(self.canonical.insert(canonical))
    }
}
