//! Atomic file writes: a reader sees either the old file or the complete new one, never a
//! half-written file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A report file could not be written. The message names the path, what was being done and
/// the OS error.
#[derive(Debug, thiserror::Error)]
#[error("cannot write report {}: {action}: {error}", path.display())]
pub struct WriteError {
    /// The report file that was being written.
    pub path: PathBuf,
    /// What failed, in words (for example `creating directory /x/y`).
    pub action: String,
    /// The underlying OS error. Deliberately not exposed as `source()`, since the message
    /// already includes it and error chains would print it twice.
    pub error: io::Error,
}

/// Distinguishes temporary files of concurrent writes within one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `contents` to `path` atomically, creating parent directories as needed.
///
/// The bytes go to a temporary file in the same directory (`.<name>.<pid>.<n>.tmp`), which is
/// flushed to disk and then renamed over `path`. On any failure the temporary file is removed
/// and an error naming `path` and the OS error is returned.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let fail = |action: String, error: io::Error| WriteError {
        path: path.to_path_buf(),
        action,
        error,
    };

    let file_name = path.file_name().ok_or_else(|| {
        fail(
            "the path does not name a file".to_owned(),
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir)
        .map_err(|e| fail(format!("creating directory {}", dir.display()), e))?;

    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.{n}.tmp", std::process::id()));
    let temp = dir.join(temp_name);

    write_temp(&temp, contents)
        .map_err(|e| fail(format!("writing temporary file {}", temp.display()), e))?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(fail(format!("renaming {} into place", temp.display()), e));
    }
    sync_dir(&dir);
    Ok(())
}

/// Create `temp` (which must not exist), write everything and flush it to disk. If writing
/// fails after the file was created, the file is removed (best effort); a file that already
/// existed is never touched.
fn write_temp(temp: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = File::create_new(temp)?;
    let result = file.write_all(contents).and_then(|()| file.sync_all());
    if result.is_err() {
        drop(file);
        let _ = fs::remove_file(temp);
    }
    result
}

/// Make the rename itself durable where the platform allows it. Best effort: the file is
/// already complete and in place, so a failure here is not worth reporting.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
