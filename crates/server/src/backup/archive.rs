//! The archive's own framing: files one after another, then a manifest listing each
//! with its size and BLAKE2b-256 digest, then a BLAKE2b-256 digest of every byte before
//! it.
//!
//! A format of our own rather than tar: the archive is read by one program only (ours),
//! which must check every name against the handful of places a data folder has anyway —
//! tar's modes, owners, links, long-name and sparse extensions would be more to refuse,
//! not less — and it streams through the sealing layer (`crypt.rs`) in one pass with no
//! further crate. The framing, each field big-endian:
//!
//! ```text
//! 'F' | path length u16 | path (UTF-8, '/'-separated, relative) | size u64 | bytes
//! ... more files ...
//! 'M' | manifest length u32 | manifest (JSON)
//! digest [32]   BLAKE2b-256 of everything above
//! ```

use super::BackupError;
use blake2::Digest;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

type Hasher = blake2::Blake2b<blake2::digest::consts::U32>;

const FILE: u8 = b'F';
const MANIFEST: u8 = b'M';
const MAX_PATH: usize = 1024;
const MAX_MANIFEST: u32 = 256 << 20;

/// What the archive holds, written after the files it lists.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The archive framing's version.
    pub format: u32,
    /// When the backup was taken (RFC 3339, UTC).
    pub created_at: String,
    /// The program that took it.
    pub doorplate_version: String,
    /// Each school and the folder (relative to the data folder) it lives in.
    pub schools: Vec<ManifestSchool>,
    pub files: Vec<ManifestFile>,
    /// Set when the schools' databases are not in the archive: a deployment on
    /// PostgreSQL, whose database is backed up with PostgreSQL's own tools. The archive
    /// then holds the keys only; this says which database and schemas pair
    /// with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<ManifestDatabase>,
}

/// The database a keys-only archive pairs with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestDatabase {
    /// Its connection string, without a password.
    pub url: String,
    /// The schema listing the schools, then each school's, in the order of `schools`.
    pub schemas: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestSchool {
    pub slug: String,
    /// `""` for the root school, `schools/<slug>` for the others.
    pub dir: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ManifestFile {
    pub path: String,
    pub size: u64,
    /// BLAKE2b-256, lowercase hex.
    pub blake2b: String,
}

/// Counts and digests every byte that passes.
struct Hashing<T> {
    inner: T,
    hash: Hasher,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Writes an archive.
pub struct Writer<W: Write> {
    out: Hashing<W>,
    files: Vec<ManifestFile>,
    bytes: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Writer<W> {
        Writer {
            out: Hashing {
                inner: out,
                hash: Hasher::new(),
            },
            files: Vec::new(),
            bytes: 0,
        }
    }

    /// Adds a file of exactly `size` bytes read from `src`; a source that ends sooner
    /// fails (a file changed while it was read).
    pub fn add(&mut self, path: &str, size: u64, src: &mut dyn Read) -> Result<(), BackupError> {
        check_path(path).map_err(BackupError::Source)?;
        self.out.write_all(&[FILE])?;
        self.out.write_all(&(path.len() as u16).to_be_bytes())?;
        self.out.write_all(path.as_bytes())?;
        self.out.write_all(&size.to_be_bytes())?;
        let mut digest = Hasher::new();
        let mut left = size;
        let mut buf = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = buf.len().min(left as usize);
            let n = src.read(&mut buf[..want])?;
            if n == 0 {
                return Err(BackupError::Source(format!("{path} ended {left} bytes early")));
            }
            digest.update(&buf[..n]);
            self.out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        self.bytes += size;
        self.files.push(ManifestFile {
            path: path.to_string(),
            size,
            blake2b: crate::crypto::hex(&digest.finalize()),
        });
        Ok(())
    }

    /// Bytes of files written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes the manifest (its `files` filled in here) and the closing digest.
    pub fn finish(mut self, mut manifest: Manifest) -> Result<(W, Manifest), BackupError> {
        manifest.files = std::mem::take(&mut self.files);
        let body = serde_json::to_vec(&manifest).map_err(|e| BackupError::Source(e.to_string()))?;
        self.out.write_all(&[MANIFEST])?;
        self.out.write_all(&(body.len() as u32).to_be_bytes())?;
        self.out.write_all(&body)?;
        let digest = self.out.hash.finalize_reset();
        self.out.inner.write_all(&digest)?;
        self.out.inner.flush()?;
        Ok((self.out.inner, manifest))
    }
}

/// A path the archive may hold: relative, `/`-separated, each part of letters, digits,
/// `.`, `-` and `_`, and none `.` or `..`. Restore writes nowhere else.
pub fn check_path(path: &str) -> Result<(), String> {
    let ok = !path.is_empty()
        && path.len() <= MAX_PATH
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        });
    if ok {
        Ok(())
    } else {
        Err(format!("the archive names a file outside a data folder: {path:?}"))
    }
}

/// Turns a failed read of the archive into what it means: its end came too soon, or the
/// sealing layer found it changed — damage — or the disk failed.
fn reading(e: io::Error) -> BackupError {
    match e.kind() {
        io::ErrorKind::UnexpectedEof => BackupError::Damaged("the archive is cut short".into()),
        io::ErrorKind::InvalidData => BackupError::Damaged(e.to_string()),
        _ => BackupError::Io(e),
    }
}

/// Reads an archive: hands each file to `store` (which must read exactly `size` bytes,
/// or what it leaves is skipped), checks every file against the manifest and the whole
/// against the closing digest, and returns the manifest. Anything `store` wrote must be
/// thrown away if this fails.
pub fn read<R: Read>(
    input: R,
    mut store: impl FnMut(&str, u64, &mut dyn Read) -> Result<(), BackupError>,
) -> Result<Manifest, BackupError> {
    let mut input = Hashing {
        inner: input,
        hash: Hasher::new(),
    };
    let mut seen: Vec<ManifestFile> = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag).map_err(reading)?;
        match tag[0] {
            FILE => {
                let mut len = [0u8; 2];
                input.read_exact(&mut len).map_err(reading)?;
                let len = u16::from_be_bytes(len) as usize;
                if len > MAX_PATH {
                    return Err(BackupError::Damaged("a file name is too long".into()));
                }
                let mut name = vec![0u8; len];
                input.read_exact(&mut name).map_err(reading)?;
                let path =
                    String::from_utf8(name).map_err(|_| BackupError::Damaged("a file name is not text".into()))?;
                check_path(&path).map_err(BackupError::Damaged)?;
                let mut size = [0u8; 8];
                input.read_exact(&mut size).map_err(reading)?;
                let size = u64::from_be_bytes(size);
                let mut body = Hashing {
                    inner: (&mut input).take(size),
                    hash: Hasher::new(),
                };
                let stored = store(&path, size, &mut body);
                // What the sink left unread still counts for the digests.
                io::copy(&mut body, &mut io::sink()).map_err(reading)?;
                if body.inner.limit() > 0 {
                    return Err(BackupError::Damaged("the archive is cut short".into()));
                }
                stored?;
                seen.push(ManifestFile {
                    path,
                    size,
                    blake2b: crate::crypto::hex(&body.hash.finalize()),
                });
            }
            MANIFEST => {
                let mut len = [0u8; 4];
                input.read_exact(&mut len).map_err(reading)?;
                let len = u32::from_be_bytes(len);
                if len > MAX_MANIFEST {
                    return Err(BackupError::Damaged("the manifest is too large".into()));
                }
                let mut body = vec![0u8; len as usize];
                input.read_exact(&mut body).map_err(reading)?;
                let expected = input.hash.finalize_reset();
                let mut digest = [0u8; 32];
                input.inner.read_exact(&mut digest).map_err(reading)?;
                if digest[..] != expected[..] {
                    return Err(BackupError::Damaged("its closing digest does not match".into()));
                }
                let mut more = [0u8; 1];
                if input.inner.read(&mut more).map_err(reading)? != 0 {
                    return Err(BackupError::Damaged("bytes follow the end of the archive".into()));
                }
                let manifest: Manifest =
                    serde_json::from_slice(&body).map_err(|e| BackupError::Damaged(format!("the manifest: {e}")))?;
                if manifest.files != seen {
                    let bad = manifest
                        .files
                        .iter()
                        .zip(&seen)
                        .find(|(m, s)| m != s)
                        .map(|(m, _)| m.path.clone())
                        .unwrap_or_else(|| "the list of files".into());
                    return Err(BackupError::Damaged(format!("{bad} does not match the manifest")));
                }
                return Ok(manifest);
            }
            _ => return Err(BackupError::Damaged("unknown record".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new());
        w.add("secret.key", 3, &mut &b"key"[..]).unwrap();
        w.add("media/a.png", 5, &mut &b"hello"[..]).unwrap();
        let (bytes, m) = w
            .finish(Manifest {
                format: 1,
                created_at: "2025-01-01T00:00:00Z".into(),
                doorplate_version: "test".into(),
                schools: vec![],
                files: vec![],
                database: None,
            })
            .unwrap();
        assert_eq!(m.files.len(), 2);
        bytes
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, BackupError> {
        let mut got = Vec::new();
        read(bytes, |p, _, r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v)?;
            got.push((p.to_string(), v));
            Ok(())
        })?;
        Ok(got)
    }

    #[test]
    fn an_archive_reads_back_and_any_changed_or_missing_byte_fails() {
        let bytes = sample();
        let got = read_all(&bytes).unwrap();
        assert_eq!(got[1], ("media/a.png".to_string(), b"hello".to_vec()));
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 0x20;
            assert!(read_all(&changed).is_err(), "a change at {i} went unnoticed");
            assert!(
                matches!(read_all(&bytes[..i]), Err(BackupError::Damaged(_))),
                "a cut at {i}"
            );
        }
    }

    #[test]
    fn names_outside_a_data_folder_are_refused() {
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "media/.", "a\\b", "é"] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_path("schools/north/media/abc-1.webm").is_ok());
    }
}
