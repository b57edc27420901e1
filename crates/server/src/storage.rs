//! The data folder on disk: private modes and free space. (Writing an upload's bytes
//! durably is the store's `media_bytes::files`.)

use crate::error::{ApiError, ApiResult};
use std::io::ErrorKind;
use std::path::Path;

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

/// Tidies the media folder at start: makes files an older version left readable by
/// others private (0600). (Uploads a crash interrupted go through `MediaBytes::tidy`.)
pub fn tidy_media_dir(media_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(media_dir) else {
        return;
    };
    let mut tightened = 0usize;
    for entry in entries.flatten() {
        let path = entry.path();
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
