//! Replacing a file so that readers (and a crash) see either the old content or the new, never a
//! half-written file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::ProtoError;

/// Distinguishes temporary files of concurrent writes from one process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically: into a temporary file in the same folder, synced, then
/// renamed over `path`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ProtoError> {
    atomic_write_with(path, |out| out.write_all(bytes))
}

/// Like [`atomic_write`], with the content produced by `fill`, so large outputs can be streamed.
pub(crate) fn atomic_write_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), ProtoError> {
    let Some(name) = path.file_name() else {
        let reason = io::Error::new(io::ErrorKind::InvalidInput, "the path names no file");
        return Err(ProtoError::io("write", path, reason));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Same folder as the target, so the rename stays on one file system and is atomic.
    let temp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        NEXT_TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = write_synced(&temp, fill)
        .and_then(|()| fs::rename(&temp, path).map_err(|e| ProtoError::io("replace", path, e)));
    if result.is_err() {
        // Best effort: the original error is what the caller needs to see.
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_dir(dir);
    Ok(())
}

fn write_synced(
    temp: &PathBuf,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), ProtoError> {
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(temp)
        .map_err(|e| ProtoError::io("create", temp, e))?;
    let mut out = BufWriter::new(file);
    fill(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| ProtoError::io("write", temp, e))?;
    let file = out
        .into_inner()
        .map_err(|e| ProtoError::io("write", temp, e.into_error()))?;
    file.sync_all().map_err(|e| ProtoError::io("sync", temp, e))
}

/// Makes the rename itself durable. Not every platform can open a folder for syncing (Windows
/// cannot), and the data is already safe in the renamed file, so failure here is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}
