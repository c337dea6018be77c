//! Checkpoints: after every epoch the trainer writes its parameters, optimizer state, update count,
//! early-stopping state (the best value, its weights and the epochs waited since) and the history so
//! far to `<model>.ckpt.npz`, in one atomic write; `--resume` continues from it to the same weights an
//! uninterrupted run reaches, early stop included.
//!
//! One file, not tensors and a JSON side by side: two renames leave a moment where a crash pairs a
//! new half with an old one, and the checkpoint before it is gone too. The JSON (epoch, history,
//! early stopping) travels inside the archive as `checkpoint.json`, UTF-8 bytes.
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use ndarray_npy::NpzWriter;

use super::EpochLog;
use crate::error::RuntimeError;
use crate::tensor::HostTensor;

/// What a checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer updates made.
    pub updates: u64,
    pub params: Vec<(String, HostTensor)>,
    pub states: Vec<(String, HostTensor)>,
    pub history: Vec<EpochLog>,
    pub early: EarlyState,
}

/// Where early stopping stands: the best monitored value with the parameters it came with, the
/// epochs since it, and whether training stopped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EarlyState {
    pub best: Option<(f64, Vec<(String, HostTensor)>)>,
    pub waited: usize,
    pub stopped: bool,
}

/// The checkpoint file of a model written to `model`.
pub fn checkpoint_path(model: &Path) -> PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "model".into());
    model.with_file_name(format!("{stem}.ckpt.npz"))
}

/// The archive member holding the epoch, history and early-stopping state.
const JSON_MEMBER: &str = "checkpoint.json";

fn data_error(path: &Path, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Data { path: path.to_path_buf(), message: message.into() }
}

fn log_json(l: &EpochLog) -> serde_json::Value {
    serde_json::json!({ "epoch": l.epoch, "loss": l.loss, "metrics": l.metrics, "val_loss": l.val_loss, "val_metrics": l.val_metrics, "seconds": l.seconds })
}

fn log_from_json(v: &serde_json::Value) -> Option<EpochLog> {
    let pairs = |v: &serde_json::Value| -> Option<Vec<(String, f64)>> {
        v.as_array()?.iter().map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.as_f64()?))).collect()
    };
    Some(EpochLog {
        epoch: v.get("epoch")?.as_u64()? as usize,
        loss: v.get("loss")?.as_f64()?,
        metrics: pairs(v.get("metrics")?)?,
        val_loss: v.get("val_loss")?.as_f64(),
        val_metrics: pairs(v.get("val_metrics")?)?,
        seconds: v.get("seconds").and_then(|s| s.as_f64()).unwrap_or(0.0),
    })
}

/// Writes the checkpoint beside `model`, replacing the previous one in a single rename.
pub fn save(model: &Path, c: &Checkpoint) -> Result<(), RuntimeError> {
    let path = checkpoint_path(model);
    let early = serde_json::json!({ "best": c.early.best.as_ref().map(|(v, _)| *v), "waited": c.early.waited, "stopped": c.early.stopped });
    let json = serde_json::json!({ "epoch": c.epoch, "updates": c.updates, "history": c.history.iter().map(log_json).collect::<Vec<_>>(), "early_stopping": early });
    let json = ndarray::Array1::from_vec(serde_json::to_vec_pretty(&json).unwrap_or_default());
    let mut bytes = vec![];
    {
        let mut npz = NpzWriter::new(std::io::Cursor::new(&mut bytes));
        let meta = ArrayD::from_shape_vec(IxDyn(&[2]), vec![c.epoch as i64, c.updates as i64]).map_err(|e| data_error(&path, e.to_string()))?;
        npz.add_array("meta", &meta).map_err(|e| data_error(&path, e.to_string()))?;
        npz.add_array(JSON_MEMBER, &json).map_err(|e| data_error(&path, e.to_string()))?;
        let best = c.early.best.as_ref().map(|(_, w)| w.clone()).unwrap_or_default();
        for (prefix, list) in [("param", &c.params), ("state", &c.states), ("best", &best)] {
            for (name, t) in list {
                let key = format!("{prefix}:{name}");
                let added = match t {
                    HostTensor::F32(a) => npz.add_array(key.as_str(), a),
                    HostTensor::I64(a) => npz.add_array(key.as_str(), a),
                    other => {
                        return Err(RuntimeError::Internal(format!(
                            "a training tensor of {}, where training keeps float32 and int64",
                            other.dtype()
                        )));
                    }
                };
                added.map_err(|e| data_error(&path, e.to_string()))?;
            }
        }
        npz.finish().map_err(|e| data_error(&path, e.to_string()))?;
    }
    onyx_proto::atomic_write(&path, &bytes)?;
    Ok(())
}

/// Reads the checkpoint beside `model`, refusing one whose parts disagree.
pub fn load(model: &Path) -> Result<Checkpoint, RuntimeError> {
    let path = checkpoint_path(model);
    if !path.exists() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no checkpoint: train without --resume first");
        return Err(RuntimeError::Io { path, source: missing });
    }
    let mut npz = crate::data::npy::Npz::open(&path).map_err(|m| data_error(&path, m))?;
    let json: ArrayD<u8> = npz.by_name(JSON_MEMBER).map_err(|e| data_error(&path, format!("`{JSON_MEMBER}`: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_slice(&json.iter().copied().collect::<Vec<u8>>()).map_err(|e| data_error(&path, format!("`{JSON_MEMBER}`: {e}")))?;
    let epoch = json.get("epoch").and_then(|v| v.as_u64()).ok_or_else(|| data_error(&path, "no `epoch`"))? as usize;
    let history: Vec<EpochLog> = json
        .get("history")
        .and_then(|h| h.as_array())
        .and_then(|h| h.iter().map(log_from_json).collect())
        .ok_or_else(|| data_error(&path, "an unreadable `history`"))?;
    let meta: ArrayD<i64> = npz.by_name("meta").map_err(|e| data_error(&path, format!("`meta`: {e}")))?;
    let (npz_epoch, updates) = (meta.iter().next().copied().unwrap_or(-1), meta.iter().nth(1).copied().unwrap_or(-1));
    if npz_epoch != epoch as i64 || updates < 0 {
        return Err(data_error(&path, format!("`meta` says epoch {npz_epoch} and `{JSON_MEMBER}` says {epoch}: the checkpoint is inconsistent")));
    }
    let names = npz.names();
    let (mut params, mut states, mut best) = (vec![], vec![], vec![]);
    for key in names {
        let Some((kind, name)) = key.split_once(':') else { continue };
        let t: ArrayD<f32> = npz.by_name(&key).map_err(|e| data_error(&path, format!("`{key}`: {e}")))?;
        let entry = (name.trim_end_matches(".npy").to_string(), HostTensor::F32(t));
        match kind {
            "param" => params.push(entry),
            "best" => best.push(entry),
            _ => states.push(entry),
        }
    }
    let early = json.get("early_stopping");
    let field = |name: &str| early.and_then(|e| e.get(name));
    let early = EarlyState {
        best: field("best").and_then(|v| v.as_f64()).map(|v| (v, best)),
        waited: field("waited").and_then(|v| v.as_u64()).unwrap_or(0) as usize,
        stopped: field("stopped").and_then(|v| v.as_bool()).unwrap_or(false),
    };
    Ok(Checkpoint { epoch, updates: updates as u64, params, states, history, early })
}
