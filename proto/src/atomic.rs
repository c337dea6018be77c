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
pub(crate) fn atomic_write_with(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> Result<(), ProtoError> {
    let Some(name) = path.file_name() else {
        let reason = io::Error::new(io::ErrorKind::InvalidInput, "the path names no file");
        return Err(ProtoError::io("write", path, reason));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let prefix = format!(".{}.tmp-", name.to_string_lossy());
    remove_orphans(dir, &prefix);
    // Same folder as the target, so the rename stays on one file system and is atomic.
    let temp = dir.join(format!("{prefix}{}-{}", std::process::id(), NEXT_TEMP.fetch_add(1, Ordering::Relaxed)));
    let result = write_synced(&temp, fill).and_then(|()| fs::rename(&temp, path).map_err(|e| ProtoError::io("replace", path, e)));
    if result.is_err() {
        // Best effort: the original error is what the caller needs to see.
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_dir(dir);
    Ok(())
}

fn write_synced(temp: &PathBuf, fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>) -> Result<(), ProtoError> {
    let file = OpenOptions::new().write(true).create_new(true).open(temp).map_err(|e| ProtoError::io("create", temp, e))?;
    let mut out = BufWriter::new(file);
    fill(&mut out).and_then(|()| out.flush()).map_err(|e| ProtoError::io("write", temp, e))?;
    let file = out.into_inner().map_err(|e| ProtoError::io("write", temp, e.into_error()))?;
    file.sync_all().map_err(|e| ProtoError::io("sync", temp, e))
}

/// Removes the temporary files of earlier writes to the same target whose process is gone (killed
/// mid-write), so a crash costs no disk space beyond the next write. A file stays while its process
/// may be alive, where liveness cannot be asked (outside Linux), and while it changed in the last
/// minute: a writer in another PID namespace sharing the folder is invisible in `/proc`, but its
/// file is fresh.
fn remove_orphans(dir: &Path, prefix: &str) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) =
            name.to_str().and_then(|n| n.strip_prefix(prefix)).and_then(|rest| rest.split_once('-')).and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let idle = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if pid != std::process::id() && !process_alive(pid).unwrap_or(true) && idle.is_some_and(|d| d >= ORPHAN_AGE) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// How long a dead writer's temporary file must have been left alone before it is removed.
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether process `pid` exists, where the platform can say.
fn process_alive(pid: u32) -> Option<bool> {
    if cfg!(target_os = "linux") { Some(Path::new("/proc").join(pid.to_string()).exists()) } else { None }
}

/// Makes the rename itself durable. Not every platform can open a folder for syncing (Windows
/// cannot), and the data is already safe in the renamed file, so failure here is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}
