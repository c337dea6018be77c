//! A deployed app is the runner executable with a payload appended: the model, a JSON description of
//! it, and a fixed-size footer the runner finds at the end of its own file.
//!
//! ```text
//! [runner executable][model .onnx][info JSON][footer: MAGIC (8) | model length u64 LE |
//!                                            info length u64 LE | SHA-256 of model and info (32)]
//! ```
//!
//! The hash is checked before the model is decoded, so a truncated or altered payload is refused
//! with a reason instead of reaching the ONNX decoder.
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"ONYXAPP1";
const FOOTER: usize = 8 + 8 + 8 + 32;
/// Descriptions longer than this are not descriptions.
const MAX_INFO: u64 = 1 << 20;

/// Where the deployed model came from, for `app --info`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// The name it is served under.
    pub name: String,
    /// The spec it was compiled from (`onyx.spec`), when onyx made it.
    pub spec: Option<String>,
    /// When it was trained (`onyx.trained_at`), when onyx trained it.
    pub trained_at: Option<String>,
    /// The onyx that built the app.
    pub onyx_version: String,
    /// The name of the model file it was deployed from, and when.
    pub source: String,
    pub deployed_at: String,
    /// SHA-256 of the model's bytes, hex.
    pub model_sha256: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Write(#[from] onyx_proto::ProtoError),
    #[error("{}: carries no model (no onyx payload at its end: not a deployed app, or truncated)", path.display())]
    Missing { path: PathBuf },
    #[error("{}: the model payload is damaged: {reason}", path.display())]
    Damaged { path: PathBuf, reason: String },
}

/// A payload read back and verified.
pub struct Payload {
    pub model: Vec<u8>,
    pub info: Info,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `runner` followed by the payload to `out`, atomically, executable.
pub fn write_app(runner: &Path, model: &[u8], info: &Info, out: &Path) -> Result<(), PayloadError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PayloadError::Io { path, source }
    };
    let mut exe = std::fs::read(runner).map_err(io(runner))?;
    if has_payload(&exe) {
        return Err(PayloadError::Damaged { path: runner.into(), reason: "the runner already carries a model; deploy from a bare runner".into() });
    }
    let info_json = serde_json::to_vec(info).map_err(|e| PayloadError::Damaged { path: out.into(), reason: e.to_string() })?;
    let mut hasher = Sha256::new();
    hasher.update(model);
    hasher.update(&info_json);
    exe.extend_from_slice(model);
    exe.extend_from_slice(&info_json);
    exe.extend_from_slice(MAGIC);
    exe.extend_from_slice(&(model.len() as u64).to_le_bytes());
    exe.extend_from_slice(&(info_json.len() as u64).to_le_bytes());
    exe.extend_from_slice(&hasher.finalize());
    onyx_proto::atomic_write(out, &exe)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o755)).map_err(io(out))?;
    }
    Ok(())
}

fn has_payload(exe: &[u8]) -> bool {
    exe.len() >= FOOTER && &exe[exe.len() - FOOTER..exe.len() - FOOTER + 8] == MAGIC
}

/// Reads and verifies the payload at the end of the file `path` (the running executable, for an app).
pub fn read_payload(path: &Path) -> Result<Payload, PayloadError> {
    let io = |source| PayloadError::Io { path: path.into(), source };
    let damaged = |reason: String| PayloadError::Damaged { path: path.into(), reason };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size < FOOTER as u64 {
        return Err(PayloadError::Missing { path: path.into() });
    }
    let mut footer = [0u8; FOOTER];
    file.seek(SeekFrom::End(-(FOOTER as i64))).map_err(io)?;
    file.read_exact(&mut footer).map_err(io)?;
    if &footer[..8] != MAGIC {
        return Err(PayloadError::Missing { path: path.into() });
    }
    let word = |at: usize| u64::from_le_bytes(footer[at..at + 8].try_into().unwrap_or_default());
    let (model_len, info_len) = (word(8), word(16));
    let payload_len = model_len.checked_add(info_len).filter(|&n| n <= size - FOOTER as u64 && info_len <= MAX_INFO).ok_or_else(|| {
        damaged(format!("its footer declares {model_len} + {info_len} bytes, more than the file's {} before it", size - FOOTER as u64))
    })?;
    file.seek(SeekFrom::Start(size - FOOTER as u64 - payload_len)).map_err(io)?;
    let mut model = vec![0u8; model_len as usize];
    file.read_exact(&mut model).map_err(io)?;
    let mut info_json = vec![0u8; info_len as usize];
    file.read_exact(&mut info_json).map_err(io)?;
    let mut hasher = Sha256::new();
    hasher.update(&model);
    hasher.update(&info_json);
    if hasher.finalize().as_slice() != &footer[24..] {
        return Err(damaged("its SHA-256 does not match the one recorded when it was deployed (the file was altered or cut short)".into()));
    }
    let info: Info = serde_json::from_slice(&info_json).map_err(|e| damaged(format!("its description does not read: {e}")))?;
    if sha256_hex(&model) != info.model_sha256 {
        return Err(damaged("the model's SHA-256 is not the one its description records".into()));
    }
    Ok(Payload { model, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(model: &[u8]) -> Info {
        Info {
            name: "m".into(),
            spec: Some("m".into()),
            trained_at: None,
            onyx_version: "0".into(),
            source: "m.onnx".into(),
            deployed_at: "now".into(),
            model_sha256: sha256_hex(model),
        }
    }

    #[test]
    fn a_payload_reads_back_and_any_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let runner = dir.path().join("runner");
        std::fs::write(&runner, b"\x7fELF pretend executable").unwrap();
        let model = b"pretend model bytes".to_vec();
        let app = dir.path().join("app");
        write_app(&runner, &model, &info(&model), &app).unwrap();
        let back = read_payload(&app).unwrap();
        assert_eq!(back.model, model);
        assert_eq!(back.info, info(&model));
        assert!(matches!(read_payload(&runner), Err(PayloadError::Missing { .. })));
        // Deploying onto an app is refused: one model per app.
        assert!(write_app(&app, &model, &info(&model), &dir.path().join("app2")).is_err());
        let bytes = std::fs::read(&app).unwrap();
        // A flipped bit anywhere in the model or the description.
        for at in [bytes.len() - FOOTER - 1, 30, 24] {
            let mut bad = bytes.clone();
            bad[at] ^= 1;
            std::fs::write(&app, &bad).unwrap();
            assert!(matches!(read_payload(&app), Err(PayloadError::Damaged { .. })), "byte {at}");
        }
        // Cut short: the footer is gone, or declares more than there is.
        for cut in [1, FOOTER + 5] {
            std::fs::write(&app, &bytes[..bytes.len() - cut]).unwrap();
            assert!(read_payload(&app).is_err(), "cut {cut}");
        }
        let mut short = bytes[..24].to_vec();
        short.extend_from_slice(&bytes[bytes.len() - FOOTER..]);
        std::fs::write(&app, &short).unwrap();
        let e = read_payload(&app).err().unwrap().to_string();
        assert!(e.contains("declares"), "{e}");
    }
}
