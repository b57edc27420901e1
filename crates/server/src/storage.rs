//! The data folder on disk: private modes, free space, and writing an upload so that it
//! is acknowledged only once its bytes are on disk.
//!
//! An upload goes to `<name>.part` in the media folder, is synced, renamed to `<name>`,
//! and the folder is synced so the rename survives a crash; only then does the caller
//! write the media row. A failed write anywhere (a full disk, an I/O error) is an error
//! for the caller and leaves no file behind: `tokio::fs::File` reports a failed last
//! write only on the next call, and `sync_all` does not make one — so a full disk once
//! answered 201 for a file of 0 bytes. Here every write is a plain blocking `write_all`
//! on a blocking thread, whose error is the caller's answer.

use crate::error::{ApiError, ApiResult};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

/// Suffix of an upload still being received; such files are removed at start.
const PARTIAL: &str = ".part";

/// Bytes gathered before one write: few thread hops per upload, little memory each.
const WRITE_BUFFER: usize = 256 * 1024;

/// Creates `dir` (and its parents) readable by the server's user alone (0700), and
/// tightens it if it exists with a looser mode — unless it is a shared folder (sticky,
/// like `/tmp`) or another user's, which only gets a warning: `--data /tmp` must not
/// lock everyone else out of `/tmp`.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        let meta = std::fs::metadata(dir)?;
        let mode = meta.permissions().mode();
        if mode & 0o077 == 0 {
            return Ok(());
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let ours = meta.uid() == unsafe { libc::geteuid() };
        if mode & 0o1000 != 0 || !ours {
            tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o7777),
                "the data folder is shared or not ours, so it stays as it is; use a folder of its own");
            return Ok(());
        }
        tracing::warn!(dir = %dir.display(), "making the folder private (0700)");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Tightens a file that holds secrets (the key file) to 0600 if it is looser.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(path) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                tracing::warn!(file = %path.display(), "making the file private (0600)");
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            }
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Bytes an unprivileged process may still write to the file system holding `dir`.
#[cfg(unix)]
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a zeroed struct that statvfs
    // fills; nothing else is read or kept.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        st
    };
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(not(unix))]
pub fn free_bytes(_dir: &Path) -> std::io::Result<u64> {
    Ok(u64::MAX)
}

/// Refuses (507) an upload of `incoming` bytes that would leave less than `floor` bytes
/// free in the media folder: the database needs room to keep working.
pub fn ensure_room(dir: &Path, floor: u64, incoming: u64) -> ApiResult<()> {
    match free_bytes(dir) {
        Ok(free) if free < floor.saturating_add(incoming) => {
            tracing::warn!(free, floor, incoming, "upload refused: the data folder is nearly full");
            Err(ApiError::InsufficientStorage(
                "the server's disk is full; try again later".into(),
            ))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(io_error("checking free space", e)),
    }
}

/// What a failed file operation means for the caller: no room (ENOSPC, a disk quota, a
/// file-size limit) is 507 `insufficient_storage`; anything else 503
/// `storage_unavailable`. Either way nothing was stored, and the cause is logged.
pub fn io_error(doing: &str, e: std::io::Error) -> ApiError {
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
            tracing::warn!(error = %e, "{doing}: no room");
            ApiError::InsufficientStorage("the server's disk is full; the file was not stored".into())
        }
        _ => {
            tracing::error!(error = %e, "{doing}");
            ApiError::StorageUnavailable("the server could not store the file; try again later".into())
        }
    }
}

/// Tidies the media folder at start: removes uploads a crash interrupted (`*.part`;
/// nothing refers to them) and makes files an older version left readable by others
/// private (0600).
pub fn tidy_media_dir(media_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(media_dir) else {
        return;
    };
    let mut tightened = 0usize;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().ends_with(PARTIAL) {
            tracing::info!(file = %path.display(), "removing an interrupted upload");
            let _ = std::fs::remove_file(&path);
            continue;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let loose = entry
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o077 != 0);
            if loose && std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).is_ok() {
                tightened += 1;
            }
        }
    }
    if tightened > 0 {
        tracing::warn!(files = tightened, "made media files private (0600)");
    }
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    doing: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("{doing}: {e}")))?
        .map_err(|e| io_error(doing, e))
}

/// An upload being written. Dropped before [`MediaFile::keep`], it removes what it
/// wrote (the partial file, or the final one if the row could not be stored).
pub struct MediaFile {
    dir: PathBuf,
    name: String,
    /// `None` while a write runs on the blocking pool, or after `finish`.
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
    /// The path to remove when dropped: the partial file, then the final one.
    written: Option<PathBuf>,
}

impl MediaFile {
    /// Creates `<dir>/<name>.part`, private to the server's user (0600).
    pub async fn create(dir: PathBuf, name: String) -> ApiResult<MediaFile> {
        let partial = dir.join(format!("{name}{PARTIAL}"));
        let path = partial.clone();
        let file = blocking("creating an upload", move || {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&path)
        })
        .await?;
        Ok(MediaFile {
            dir,
            name,
            file: Some(file),
            buffer: Vec::with_capacity(WRITE_BUFFER),
            written: Some(partial),
        })
    }

    /// Adds bytes; they are written once the buffer is full, and any error is returned.
    pub async fn write(&mut self, bytes: &[u8]) -> ApiResult<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= WRITE_BUFFER {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> ApiResult<()> {
        let mut file = self.take_file()?;
        let buffer = std::mem::take(&mut self.buffer);
        let (file, mut buffer) = blocking("writing an upload", move || {
            file.write_all(&buffer)?;
            Ok((file, buffer))
        })
        .await?;
        buffer.clear();
        self.buffer = buffer;
        self.file = Some(file);
        Ok(())
    }

    fn take_file(&mut self) -> ApiResult<std::fs::File> {
        self.file
            .take()
            .ok_or_else(|| ApiError::Internal("an upload's file was used after a failure".into()))
    }

    /// Writes the rest, syncs the file, renames it to its final name and syncs the
    /// folder: when this returns `Ok`, the whole file is on disk under its name.
    pub async fn finish(&mut self) -> ApiResult<()> {
        let mut file = self.take_file()?;
        let buffer = std::mem::take(&mut self.buffer);
        let partial = self.dir.join(format!("{}{PARTIAL}", self.name));
        let done = self.dir.join(&self.name);
        let dir = self.dir.clone();
        let (from, to) = (partial, done.clone());
        blocking("storing an upload", move || {
            file.write_all(&buffer)?;
            file.sync_all()?;
            drop(file);
            std::fs::rename(&from, &to)?;
            sync_dir(&dir)
        })
        .await
        .inspect_err(|_| {
            // The rename may have happened before the folder's sync failed.
            let _ = std::fs::remove_file(&done);
        })?;
        self.written = Some(done);
        Ok(())
    }

    /// The row is stored: the file stays.
    pub fn keep(mut self) {
        self.written = None;
    }
}

impl Drop for MediaFile {
    fn drop(&mut self) {
        if let Some(path) = self.written.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    #[cfg(unix)]
    #[test]
    fn a_shared_sticky_folder_is_left_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("doorplate-sticky-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("own")).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::set_permissions(dir.join("own"), std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        private_dir(&dir.join("own")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&dir), 0o1777);
        assert_eq!(mode(&dir.join("own")), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn no_room_is_507_and_other_failures_503() {
        let status = |kind| io_error("test", std::io::Error::from(kind)).into_response().status();
        assert_eq!(status(ErrorKind::StorageFull), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(status(ErrorKind::QuotaExceeded), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(status(ErrorKind::FileTooLarge), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(status(ErrorKind::NotFound), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            io_error("test", std::io::Error::from_raw_os_error(libc::EIO))
                .into_response()
                .status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
