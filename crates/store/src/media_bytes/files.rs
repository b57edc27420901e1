//! Uploads as files in a school's media folder (the SQLite deployments; `backup` copies
//! this folder as it is).
//!
//! An upload goes to `<name>.part`, is synced, renamed to `<name>`, and the folder is
//! synced so the rename survives a crash. A failed write anywhere (a full disk, an I/O
//! error) is an error for the caller and leaves no file behind: `tokio::fs::File`
//! reports a failed last write only on the next call, and `sync_all` does not make one —
//! so a full disk once answered 201 for a file of 0 bytes. Here every write is a plain
//! blocking `write_all` on a blocking thread, whose error is the caller's answer.

use super::{ByteStream, MediaBytes, MediaSink};
use crate::{Result, StoreError};
use async_trait::async_trait;
use doorplate_domain::Micros;
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Suffix of an upload still being received; [`MediaBytes::tidy`] removes such files.
const PARTIAL: &str = ".part";

/// Bytes gathered before one write, and the size of a piece read: few thread hops per
/// upload, little memory each.
const PIECE: usize = 256 * 1024;

/// The media folder of one school.
#[derive(Clone, Debug)]
pub struct FileBytes {
    dir: PathBuf,
}

impl FileBytes {
    /// The files of the folder `dir` (made by the caller, private to the server's user).
    pub fn new(dir: PathBuf) -> FileBytes {
        FileBytes { dir }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        // Names are ours (`m_…`), but a name is never a way out of the folder.
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(StoreError::Internal(format!("{name:?} is not a media file name")));
        }
        Ok(self.dir.join(name))
    }
}

/// What a failed file operation means for the caller: no room (ENOSPC, a disk quota, a
/// file-size limit) is [`StoreError::Full`]; anything else
/// [`StoreError::Unavailable`]. Either way nothing was stored.
pub fn io_error(doing: &str, e: std::io::Error) -> StoreError {
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
            tracing::warn!(error = %e, "{doing}: no room");
            StoreError::Full
        }
        ErrorKind::NotFound => StoreError::NotFound,
        _ => {
            tracing::error!(error = %e, "{doing}");
            StoreError::Unavailable(format!("{doing}: {e}"))
        }
    }
}

/// Runs blocking file work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    doing: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Internal(format!("{doing}: {e}")))?
        .map_err(|e| io_error(doing, e))
}

#[async_trait]
impl MediaBytes for FileBytes {
    async fn create(&self, name: &str, _now: Micros) -> Result<Box<dyn MediaSink>> {
        let done = self.path(name)?;
        let partial = self.dir.join(format!("{name}{PARTIAL}"));
        let path = partial.clone();
        let file = blocking("creating an upload", move || {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            opts.open(&path)
        })
        .await?;
        Ok(Box::new(FileSink {
            dir: self.dir.clone(),
            partial,
            done,
            file: Some(file),
            buffer: Vec::with_capacity(PIECE),
            written: None,
        }))
    }

    async fn stored_len(&self, name: &str) -> Result<u64> {
        let path = self.path(name)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_file() => Ok(m.len()),
            Ok(_) => Err(StoreError::NotFound),
            Err(e) => Err(io_error("opening an upload", e)),
        }
    }

    fn read(&self, name: &str, start: u64, end: u64) -> ByteStream {
        let path = match self.path(name) {
            Ok(p) => p,
            Err(e) => return Box::pin(futures_util::stream::once(async move { Err(e) })),
        };
        // The file opens on the first poll; each piece is one blocking read.
        let state: (Option<std::fs::File>, PathBuf, u64) = (None, path, start);
        Box::pin(futures_util::stream::try_unfold(
            state,
            move |(file, path, pos)| async move {
                if pos >= end {
                    return Ok(None);
                }
                let want = (end - pos).min(PIECE as u64) as usize;
                let opened = file;
                let read_path = path.clone();
                let (file, piece) = blocking("reading an upload", move || {
                    let mut file = match opened {
                        Some(f) => f,
                        None => {
                            let mut f = std::fs::File::open(&read_path)?;
                            f.seek(SeekFrom::Start(pos))?;
                            f
                        }
                    };
                    let mut piece = vec![0u8; want];
                    let mut got = 0;
                    while got < want {
                        match file.read(&mut piece[got..])? {
                            0 => {
                                return Err(std::io::Error::new(
                                    ErrorKind::UnexpectedEof,
                                    "the file is shorter than its row",
                                ));
                            }
                            n => got += n,
                        }
                    }
                    Ok((file, piece))
                })
                .await?;
                Ok(Some((piece, (Some(file), path, pos + want as u64))))
            },
        ))
    }

    async fn remove(&self, names: Vec<String>) -> Result<()> {
        for name in names {
            let path = self.path(&name)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(io_error("removing an upload", e)),
            }
        }
        Ok(())
    }

    async fn tidy(&self, before: Micros) -> Result<u64> {
        let dir = self.dir.clone();
        blocking("tidying the media folder", move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(e),
            };
            let mut removed = 0;
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().ends_with(PARTIAL) {
                    continue;
                }
                let started = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_micros() as i64);
                if started < before {
                    tracing::info!(file = %entry.path().display(), "removing an interrupted upload");
                    if std::fs::remove_file(entry.path()).is_ok() {
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
    }

    async fn names(&self) -> Result<Vec<String>> {
        let dir = self.dir.clone();
        blocking("listing the media folder", move || {
            let mut names = Vec::new();
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(names),
                Err(e) => return Err(e),
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !name.ends_with(PARTIAL) && entry.file_type().is_ok_and(|t| t.is_file()) {
                    names.push(name);
                }
            }
            Ok(names)
        })
        .await
    }
}

/// An upload being written to `<name>.part`.
struct FileSink {
    dir: PathBuf,
    partial: PathBuf,
    done: PathBuf,
    /// `None` while a write runs on the blocking pool, or after `finish`.
    file: Option<std::fs::File>,
    buffer: Vec<u8>,
    /// Set once the file has its final name: the path to remove when dropped unkept.
    written: Option<PathBuf>,
}

impl FileSink {
    fn take_file(&mut self) -> Result<std::fs::File> {
        self.file
            .take()
            .ok_or_else(|| StoreError::Internal("an upload's file was used after a failure".into()))
    }

    async fn flush(&mut self) -> Result<()> {
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
}

#[async_trait]
impl MediaSink for FileSink {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PIECE {
            self.flush().await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        let mut file = self.take_file()?;
        let buffer = std::mem::take(&mut self.buffer);
        let dir = self.dir.clone();
        let (from, to) = (self.partial.clone(), self.done.clone());
        let done = self.done.clone();
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
        self.written = Some(self.done.clone());
        Ok(())
    }

    fn keep(mut self: Box<Self>) {
        self.written = None;
        self.partial = PathBuf::new();
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if let Some(path) = self.written.take() {
            let _ = std::fs::remove_file(path);
        }
        if !self.partial.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.partial);
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
