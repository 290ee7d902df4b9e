//! Atomic file writes: a reader sees either the old file or the complete new one, never a
//! half-written file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
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
    write_atomic_with(path, |out| out.write_all(contents))
}

/// Write a file atomically as [`write_atomic`] does, its bytes produced by `write` step by
/// step (through a buffer) instead of held whole in memory: the report of a large run is
/// several megabytes. Whatever `write` fails with (a full disk, or a rendering error it turns
/// into an [`io::Error`]) removes the temporary file and comes back as a [`WriteError`]
/// naming `path`; nothing is left at `path` but its previous contents, if any.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
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

    write_temp(&temp, write)
        .map_err(|e| fail(format!("writing temporary file {}", temp.display()), e))?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(fail(format!("renaming {} into place", temp.display()), e));
    }
    sync_dir(&dir);
    Ok(())
}

/// Create `temp` (which must not exist), write everything through a buffer and flush it to
/// disk. If writing fails after the file was created, the file is removed (best effort); a file
/// that already existed is never touched.
fn write_temp(temp: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let file = File::create_new(temp)?;
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let result = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.get_ref().sync_all());
    if result.is_err() {
        drop(out);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cdex-atomic-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn streamed_write_lands_whole() {
        let dir = scratch("whole");
        let path = dir.join("report.html");
        write_atomic_with(&path, |out| {
            for i in 0..10_000 {
                writeln!(out, "line {i}")?;
            }
            Ok(())
        })
        .unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 10_000);
        assert!(text.ends_with("line 9999\n"));
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        let _ = fs::remove_dir_all(&dir);
    }

    /// A disk that fills up half way through a streamed report: a clear error naming the
    /// report and the OS error, no temporary file left, the previous report untouched.
    #[test]
    fn full_disk_while_streaming_leaves_no_half_file() {
        let dir = scratch("full");
        let path = dir.join("results.json");
        fs::write(&path, "previous run").unwrap();
        let err = write_atomic_with(&path, |out| {
            // More than the buffer, so part of it has reached the temporary file.
            out.write_all(&[b'x'; 200 * 1024])?;
            Err(io::Error::from(io::ErrorKind::StorageFull))
        })
        .unwrap_err();
        assert_eq!(err.path, path);
        assert_eq!(err.error.kind(), io::ErrorKind::StorageFull);
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot write report {}: writing temporary file",
                path.display()
            )),
            "{text}"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "previous run");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "the temporary file is removed"
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
