//! Generated files the hub serves back to clients (images an upstream returned as base64 when
//! the client asked for a URL), kept under `<data-dir>/files/` for a bounded time.
//!
//! File names are random ids the hub makes; a caller's input never becomes a path. The content
//! type is sniffed from the bytes, never taken from a client or an upstream.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::RngCore;

use crate::error::StoreError;

/// Length of a file id: 16 random bytes in lowercase hex.
const ID_LEN: usize = 32;

/// A stored file read back.
#[derive(Debug)]
pub struct StoredFile {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Opens (creating with mode 0700) `<data-dir>/files`.
    pub fn open(data_dir: &Path) -> Result<FileStore, StoreError> {
        let dir = data_dir.join("files");
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(FileStore { dir })
    }

    /// Stores `bytes` under a new random id and returns the id.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<String, StoreError> {
        let mut raw = [0u8; ID_LEN / 2];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join(&id);
        tokio::task::spawn_blocking(move || write_new(&path, &bytes))
            .await
            .map_err(|e| StoreError::Io(std::io::Error::other(e.to_string())))??;
        Ok(id)
    }

    /// The file stored under `id`, or `None` when there is none (or `id` is not an id the store
    /// could have made).
    pub async fn get(&self, id: &str) -> Result<Option<StoredFile>, StoreError> {
        if !is_id(id) {
            return Ok(None);
        }
        match tokio::fs::read(self.dir.join(id)).await {
            Ok(bytes) => Ok(Some(StoredFile { content_type: sniff(&bytes), bytes })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes files last modified more than `retention` ago; returns how many went.
    pub fn sweep(&self, retention: Duration) -> Result<usize, StoreError> {
        let cutoff = SystemTime::now().checked_sub(retention).unwrap_or(SystemTime::UNIX_EPOCH);
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if !name.to_str().is_some_and(is_id) {
                continue;
            }
            let modified = entry.metadata().and_then(|m| m.modified());
            if matches!(modified, Ok(t) if t < cutoff) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Sweeps every `every` until the task is dropped.
    pub async fn run_sweeper(self, every: Duration, retention: Duration) {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let store = self.clone();
            match tokio::task::spawn_blocking(move || store.sweep(retention)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::debug!(removed = n, "expired files removed"),
                Ok(Err(e)) => tracing::warn!(error = %e, "sweeping stored files failed"),
                Err(e) => tracing::warn!(error = %e, "file sweep task failed"),
            }
        }
    }
}

/// Whether `s` has the shape of an id the store makes (so it is safe as a file name).
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The content type told by the bytes' magic number.
pub fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        "image/jpeg"
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        // ISO base media files: QuickTime by its brand, every other brand plays as MP4.
        if &bytes[8..12] == b"qt  " {
            "video/quicktime"
        } else {
            "video/mp4"
        }
    } else if bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        "video/webm"
    } else {
        "application/octet-stream"
    }
}

fn write_new(path: &Path, contents: &[u8]) -> Result<(), StoreError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(contents)?;
    Ok(())
}
