//! Large bodies kept on disk (OUT/bodies/) instead of inline in the results: a body past the
//! run's threshold (`--max-inline-body`) is written once, named by its SHA-256, and results
//! show its size, digest, file and a short preview. The harness's endpoint streams a large
//! incoming body straight to a file ([`Spill`]) rather than holding it.

use super::{HEAD_BYTES, StoredBody};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Bodies longer than this are kept in a file by default (`--max-inline-body`).
pub const DEFAULT_MAX_INLINE: usize = 256 * 1024;

/// The largest incoming body the endpoint writes to disk for a counterpart that accepts it
/// (its `Handler::max_body`); without one, the endpoint's in-memory limit applies.
pub const MAX_SPILLED_BODY: u64 = 4 * 1024 * 1024 * 1024;

/// Bodies larger than this are not parsed from their file (a check says so).
pub const MAX_PARSED_BODY: u64 = 512 * 1024 * 1024;

/// Where large bodies go, and from what size.
#[derive(Debug, Clone)]
pub struct BodyStore {
    pub dir: PathBuf,
    /// Bodies longer than this many bytes go to a file.
    pub threshold: usize,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A file extension for a content type.
fn extension(content_type: Option<&str>) -> &'static str {
    let ct = content_type.unwrap_or("").to_ascii_lowercase();
    if ct.contains("json") {
        "json"
    } else if ct.contains("xml") {
        "xml"
    } else if ct.starts_with("text/") {
        "txt"
    } else {
        "bin"
    }
}

fn head(bytes: &[u8]) -> Vec<u8> {
    bytes[..bytes.len().min(HEAD_BYTES)].to_vec()
}

impl BodyStore {
    pub fn new(dir: impl Into<PathBuf>, threshold: usize) -> BodyStore {
        BodyStore {
            dir: dir.into(),
            threshold,
        }
    }

    fn path_for(&self, sha256: &str, content_type: Option<&str>) -> PathBuf {
        self.dir
            .join(format!("{}.{}", &sha256[..16], extension(content_type)))
    }

    /// Keep a body held in memory in a file (once: the name is its digest).
    pub fn keep(&self, bytes: &[u8], content_type: Option<&str>) -> Result<StoredBody, String> {
        let sha256 = super::grow::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
        let path = self.path_for(&sha256, content_type);
        if !path.exists() {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
            let tmp = self.dir.join(format!(
                ".{}-{}.part",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&tmp, bytes)
                .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
            std::fs::rename(&tmp, &path)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(StoredBody {
            size: bytes.len() as u64,
            sha256: Some(sha256),
            file: Some(path),
            head: head(bytes),
        })
    }

    /// Start writing a body that arrives in pieces, beginning with `first`.
    pub async fn spill(&self, first: &[u8]) -> Result<Spill, String> {
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let tmp = self.dir.join(format!(
            ".{}-{}.part",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let file = tokio::fs::File::create(&tmp)
            .await
            .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
        let mut s = Spill {
            store: self.clone(),
            tmp,
            file: Some(tokio::io::BufWriter::with_capacity(256 * 1024, file)),
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
            head: Vec::new(),
        };
        s.write(first).await?;
        Ok(s)
    }
}

/// A body being written to disk as it arrives.
pub struct Spill {
    store: BodyStore,
    tmp: PathBuf,
    file: Option<tokio::io::BufWriter<tokio::fs::File>>,
    digest: ring::digest::Context,
    size: u64,
    head: Vec<u8>,
}

impl Spill {
    pub fn size(&self) -> u64 {
        self.size
    }

    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        use tokio::io::AsyncWriteExt;
        if self.head.len() < HEAD_BYTES {
            let room = HEAD_BYTES - self.head.len();
            self.head.extend_from_slice(&bytes[..bytes.len().min(room)]);
        }
        self.digest.update(bytes);
        self.size += bytes.len() as u64;
        let f = self.file.as_mut().ok_or("the file is closed")?;
        f.write_all(bytes)
            .await
            .map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))
    }

    /// The whole body has arrived: name the file by its digest.
    pub async fn finish(mut self, content_type: Option<&str>) -> Result<StoredBody, String> {
        use tokio::io::AsyncWriteExt;
        if let Some(mut f) = self.file.take() {
            f.flush()
                .await
                .map_err(|e| format!("cannot write {}: {e}", self.tmp.display()))?;
        }
        let digest = std::mem::replace(
            &mut self.digest,
            ring::digest::Context::new(&ring::digest::SHA256),
        );
        let sha256 = super::grow::hex(digest.finish().as_ref());
        let path = self.store.path_for(&sha256, content_type);
        tokio::fs::rename(&self.tmp, &path)
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(StoredBody {
            size: self.size,
            sha256: Some(sha256),
            file: Some(path),
            head: std::mem::take(&mut self.head),
        })
    }

    /// The body was refused part-way: drop what was written, keep its size.
    pub async fn abandon(mut self) -> u64 {
        self.file.take();
        let _ = tokio::fs::remove_file(&self.tmp).await;
        self.size
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// A stored body's bytes, read back from its file (for a check that needs them whole).
pub fn read_stored(stored: &StoredBody) -> Result<Vec<u8>, String> {
    let Some(path) = &stored.file else {
        return Err(format!(
            "the body ({} bytes) was not kept, so it cannot be checked",
            stored.size
        ));
    };
    if stored.size > MAX_PARSED_BODY {
        return Err(format!(
            "the body ({} bytes, in {}) is larger than the {} MiB the harness reads back for a check",
            stored.size,
            path.display(),
            MAX_PARSED_BODY / (1024 * 1024)
        ));
    }
    std::fs::read(path)
        .map_err(|e| format!("cannot read the body back from {}: {e}", path.display()))
}

/// `bodies/NAME` for a file of this store, relative to the results folder above it.
pub fn relative(path: &Path) -> String {
    super::redact::body_file_name(path)
}
