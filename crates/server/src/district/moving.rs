//! Moving a school between deployments — a data folder (SQLite) and a PostgreSQL
//! database, either way — with everything it holds.
//!
//! `export` writes one file in the backup's framing (`backup/archive.rs`: every file
//! digested, the whole sealed by a closing digest):
//!
//! - `move.json` — the school's slug, name, zone, and the key its card, badge, doorplate
//!   and token hashes were made with;
//! - `dump.json` — every table ([`doorplate_store::dump`]), ids and all;
//! - `media/<file>` — the bytes of each upload a media row names, read from the
//!   school's `MediaBytes` (files of a data folder, or pieces in a PostgreSQL schema).
//!
//! `import` checks the whole file first, then makes the school under its slug (or a new
//! one): its database, the bytes of its media (into files, or pieces in its schema), then
//! the rows in one transaction into its empty database, then its key, and lists it
//! last — so a failed import leaves nothing behind and a taken slug
//! changes nothing. The hashes only match under the key they were made with, so when the
//! key the school brought is not the one its new place would derive (another deployment
//! key, another slug, or the root school of a data folder), it is kept in the school's
//! folder as `school.key` ([`KEY_FILE`]), which the server prefers: cards, badges,
//! paired doorplates and sign-ins keep working after the move.

use super::catalog::{Catalog, CatalogError, Entry, KEY_FILE, write_info};
use super::{SchoolInfo, check_slug};
use crate::backup::{BackupError, archive};
use crate::crypto::Secrets;
use doorplate_store::StoreError;
use doorplate_store::dump::{SchoolDump, Value};
use doorplate_store::media_bytes::{ByteStream, MediaBytes, MediaSink};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The archive's manifest format for a moved school.
const FORMAT: u32 = 1;
const META: &str = "move.json";
const DUMP: &str = "dump.json";

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{0}")]
    Archive(#[from] BackupError),
    #[error("{0} already exists: choose another name or remove it first")]
    Exists(PathBuf),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("database: {0}")]
    Store(#[from] StoreError),
}

/// What `move.json` says.
#[derive(Serialize, Deserialize)]
struct Meta {
    slug: String,
    name: String,
    timezone: String,
    /// The school's hashing key, lowercase hex.
    key: String,
}

/// What an export or import moved.
#[derive(Debug)]
pub struct Moved {
    pub info: SchoolInfo,
    pub rows: usize,
    pub media: usize,
    /// Import: the school kept the key it brought in its own `school.key`.
    pub own_key: bool,
}

/// The media files the dump's media rows name, with their sizes.
fn media_files(dump: &SchoolDump) -> Result<Vec<(String, u64)>, MoveError> {
    dump.rows("media")
        .iter()
        .map(|r| match (r.get(4), r.get(3)) {
            (Some(Value::Text(file)), Some(Value::Int(size))) if *size >= 0 => Ok((file.clone(), *size as u64)),
            _ => Err(MoveError::Invalid("a media row has no file or size".into())),
        })
        .collect()
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// Writes the school `slug` of `catalog` to `out` (a new file, mode 0600: it holds the
/// school's key and every message).
pub async fn export(catalog: &Catalog, master: &Secrets, slug: &str, out: &Path) -> Result<Moved, MoveError> {
    let entry = catalog.get(Some(slug)).await?;
    let dir = catalog.dir_of(&entry);
    let key = catalog
        .secrets_of(&entry, master)
        .map_err(|e| MoveError::Io(dir.join(KEY_FILE), e))?;
    let opened = catalog.open_school(&entry, None).await?;
    let dump = opened.store.export_dump().await?;
    let files = media_files(&dump)?;
    for (name, size) in &files {
        let stored = opened.media.stored_len(name).await.map_err(|e| match e {
            StoreError::NotFound => MoveError::Invalid(format!("the bytes of upload {name} are missing")),
            other => other.into(),
        })?;
        if stored != *size {
            return Err(MoveError::Invalid(format!(
                "upload {name} is {stored} bytes but its media row says {size}"
            )));
        }
    }
    let meta = Meta {
        slug: entry.info.slug.clone(),
        name: entry.info.name.clone(),
        timezone: entry.info.timezone.clone(),
        key: crate::crypto::hex(key.bytes()),
    };
    let file = private_file(out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => MoveError::Exists(out.to_path_buf()),
        _ => MoveError::Io(out.to_path_buf(), e),
    })?;
    let (rows, media) = (dump.row_count(), files.len());
    // The archive is written with blocking I/O; each upload's bytes stream from the
    // store into it a piece at a time.
    let bytes = opened.media.clone();
    let rt = tokio::runtime::Handle::current();
    let written = tokio::task::spawn_blocking(move || {
        let open = |name: &str, size: u64| StreamRead::new(rt.clone(), bytes.read(name, 0, size));
        write_archive(file, &meta, &dump, &files, open)
    })
    .await
    .unwrap_or_else(|e| Err(MoveError::Invalid(format!("writing the export failed: {e}"))));
    if let Err(e) = written {
        let _ = std::fs::remove_file(out);
        return Err(e);
    }
    Ok(Moved {
        info: entry.info,
        rows,
        media,
        own_key: false,
    })
}

/// A download stream read as blocking `Read`, on a thread outside the runtime.
struct StreamRead {
    rt: tokio::runtime::Handle,
    stream: ByteStream,
    piece: Vec<u8>,
    at: usize,
}

impl StreamRead {
    fn new(rt: tokio::runtime::Handle, stream: ByteStream) -> StreamRead {
        StreamRead {
            rt,
            stream,
            piece: Vec::new(),
            at: 0,
        }
    }
}

impl Read for StreamRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at >= self.piece.len() {
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(piece)) => {
                    self.piece = piece;
                    self.at = 0;
                }
                Some(Err(e)) => return Err(std::io::Error::other(e.to_string())),
            }
        }
        let n = buf.len().min(self.piece.len() - self.at);
        buf[..n].copy_from_slice(&self.piece[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn write_archive(
    file: std::fs::File,
    meta: &Meta,
    dump: &SchoolDump,
    files: &[(String, u64)],
    open: impl Fn(&str, u64) -> StreamRead,
) -> Result<(), MoveError> {
    let mut w = archive::Writer::new(std::io::BufWriter::new(file));
    let head = serde_json::to_vec(meta).expect("plain data serialises");
    w.add(META, head.len() as u64, &mut &head[..])?;
    let body = serde_json::to_vec(dump).expect("plain data serialises");
    w.add(DUMP, body.len() as u64, &mut &body[..])?;
    for (name, size) in files {
        w.add(&format!("media/{name}"), *size, &mut open(name, *size))?;
    }
    let (out, _) = w.finish(archive::Manifest {
        format: FORMAT,
        created_at: crate::time::rfc3339(crate::school::now_micros()),
        doorplate_version: env!("CARGO_PKG_VERSION").into(),
        schools: vec![archive::ManifestSchool {
            slug: meta.slug.clone(),
            dir: String::new(),
        }],
        files: Vec::new(),
        database: None,
    })?;
    let file = out.into_inner().map_err(|e| BackupError::Io(e.into_error()))?;
    file.sync_all().map_err(BackupError::Io)?;
    Ok(())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// A media file's name in the archive, when `path` is one.
fn media_name(path: &str) -> Option<&str> {
    path.strip_prefix("media/").filter(|n| !n.contains('/'))
}

/// Reads and checks the whole archive, keeping its `move.json` and `dump.json`.
fn read_head(file: &Path) -> Result<(Meta, Secrets, SchoolDump), MoveError> {
    let input = std::fs::File::open(file).map_err(|e| MoveError::Io(file.to_path_buf(), e))?;
    let (mut meta, mut dump) = (None, None);
    let manifest = archive::read(std::io::BufReader::new(input), |path, _, body| {
        let slot = match path {
            META => &mut meta,
            DUMP => &mut dump,
            p if media_name(p).is_some() => return Ok(()),
            other => {
                return Err(BackupError::Damaged(format!(
                    "it holds {other}, which no school export has"
                )));
            }
        };
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes)?;
        *slot = Some(bytes);
        Ok(())
    })?;
    let not_export = || MoveError::Invalid(format!("{} is not a school export", file.display()));
    if manifest.format != FORMAT {
        return Err(not_export());
    }
    let (Some(meta), Some(dump)) = (meta, dump) else {
        return Err(not_export());
    };
    let meta: Meta = serde_json::from_slice(&meta).map_err(|_| not_export())?;
    let key = unhex(&meta.key)
        .and_then(|k| Secrets::from_bytes(&k))
        .ok_or_else(not_export)?;
    let dump: SchoolDump =
        serde_json::from_slice(&dump).map_err(|e| MoveError::Invalid(format!("{}: {e}", file.display())))?;
    Ok((meta, key, dump))
}

/// Makes a school of `catalog` from the export at `file`, under `slug` (default: the
/// slug it had). A slug that is taken is refused, changing nothing.
pub async fn import(
    catalog: &Catalog,
    master: &Secrets,
    file: &Path,
    slug: Option<String>,
) -> Result<Moved, MoveError> {
    let (meta, key, dump) = read_head(file)?;
    let slug = slug.unwrap_or(meta.slug);
    check_slug(&slug).map_err(CatalogError::from)?;
    if jiff::tz::TimeZone::get(&meta.timezone).is_err() {
        return Err(CatalogError::TimeZone(meta.timezone).into());
    }
    if catalog.list().await?.iter().any(|e| e.info.slug == slug) {
        return Err(CatalogError::Taken(slug).into());
    }
    let entry = Entry {
        info: SchoolInfo {
            slug: slug.clone(),
            name: meta.name,
            timezone: meta.timezone,
        },
        root: false,
    };
    let dir = catalog.dir_of(&entry);
    if dir.exists() {
        return Err(MoveError::Invalid(format!(
            "{} already exists (left by an earlier attempt?): remove it, or import under another --slug",
            dir.display()
        )));
    }
    let rows = dump.row_count();
    let media = media_files(&dump)?.len();
    let made = make(catalog, master, file, &entry, &dir, &key, dump).await;
    match made {
        Ok(own_key) => Ok(Moved {
            info: entry.info,
            rows,
            media,
            own_key,
        }),
        // Listed meanwhile by someone else: what is there is theirs now.
        Err(e @ MoveError::Catalog(CatalogError::Taken(_))) => Err(e),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            if let Catalog::Postgres { district, .. } = catalog {
                let _ = district.discard_unlisted_school(&slug).await;
            }
            Err(e)
        }
    }
}

/// Stores the bytes of every upload in the archive at `file` through `media`; returns
/// the finished sinks (dropped unkept, they remove what they wrote).
async fn write_media(file: &Path, media: Arc<dyn MediaBytes>) -> Result<Vec<Box<dyn MediaSink>>, MoveError> {
    let input = std::fs::File::open(file).map_err(|e| MoveError::Io(file.to_path_buf(), e))?;
    let rt = tokio::runtime::Handle::current();
    let now = crate::school::now_micros();
    tokio::task::spawn_blocking(move || {
        let mut sinks: Vec<Box<dyn MediaSink>> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let store = |e: StoreError| BackupError::Io(std::io::Error::other(e.to_string()));
        archive::read(std::io::BufReader::new(input), |path, _, body| {
            let Some(name) = media_name(path) else {
                return Ok(());
            };
            if !seen.insert(name.to_string()) {
                return Err(BackupError::Damaged(format!("{path} appears twice")));
            }
            let mut sink = rt.block_on(media.create(name, now)).map_err(store)?;
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = body.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                rt.block_on(sink.write(&buf[..n])).map_err(store)?;
            }
            rt.block_on(sink.finish()).map_err(store)?;
            sinks.push(sink);
            Ok(())
        })?;
        Ok(sinks)
    })
    .await
    .unwrap_or_else(|e| Err(MoveError::Invalid(format!("reading the export failed: {e}"))))
}

/// Everything of an import after the checks; the caller removes what it made on failure.
async fn make(
    catalog: &Catalog,
    master: &Secrets,
    file: &Path,
    entry: &Entry,
    dir: &Path,
    key: &Secrets,
    dump: SchoolDump,
) -> Result<bool, MoveError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| MoveError::Io(p, e)
    };
    crate::storage::private_dir(dir).map_err(io(dir))?;
    if let Catalog::Folder(_) = catalog {
        let media_dir = dir.join("media");
        crate::storage::private_dir(&media_dir).map_err(io(&media_dir))?;
    }
    let files = media_files(&dump)?;
    let opened = catalog.open_school(entry, None).await?;
    // The bytes first (each upload durable when its sink finishes), then the rows that
    // name them; the sinks are kept only once the rows are in, and remove their bytes
    // when dropped otherwise.
    let sinks = write_media(file, opened.media.clone()).await?;
    for (name, size) in &files {
        let stored = opened.media.stored_len(name).await.ok();
        if stored != Some(*size) {
            return Err(MoveError::Invalid(format!(
                "the export's media file {name} is missing or not the size its row says"
            )));
        }
    }
    {
        let store = opened.store;
        match store.import_dump(dump).await {
            Err(StoreError::Conflict("school")) => {
                return Err(MoveError::Invalid(format!(
                    "the database of school {} is not empty (left by an earlier attempt?)",
                    entry.info.slug
                )));
            }
            other => other?,
        }
    }
    for sink in sinks {
        sink.keep();
    }
    let own_key = catalog.derived_secrets(&entry.info.slug, master).bytes() != key.bytes();
    if own_key {
        let path = dir.join(KEY_FILE);
        let mut f = private_file(&path).map_err(io(&path))?;
        f.write_all(key.bytes()).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))?;
    }
    // Listed last: a school half made is never served.
    match catalog {
        Catalog::Folder(_) => write_info(&dir.join("school.json"), &entry.info)?,
        Catalog::Postgres { district, .. } => {
            let row = doorplate_store::postgres::district::SchoolRow {
                slug: entry.info.slug.clone(),
                name: entry.info.name.clone(),
                timezone: entry.info.timezone.clone(),
            };
            match district.register_school(row, crate::school::now_micros()).await {
                Err(StoreError::Conflict(_)) => return Err(CatalogError::Taken(entry.info.slug.clone()).into()),
                other => other?,
            }
        }
    }
    Ok(own_key)
}
