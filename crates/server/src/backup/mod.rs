//! Backups of a whole data folder while the server runs, and their restore.
//!
//! A backup is one file: the deployment's key, each school's database as a consistent
//! snapshot (`VACUUM INTO` from a connection of its own — see
//! `doorplate_store::sqlite::snapshot` for why that never stalls the writer), every media
//! file that snapshot's media table names (media files never change once written, so a
//! copy taken after the snapshot is the file the snapshot means), and the `school.json`
//! files, in the framing of [`archive`], optionally sealed with a passphrase
//! ([`crypt`]). It is written to `FILE.part`, synced, and renamed only when whole.
//!
//! A restore goes into an empty or missing data folder only: it unpacks into a
//! temporary folder beside it, checks every file against the manifest, each database
//! with `PRAGMA integrity_check` and every media row against its file, and renames the
//! folder into place only when all of that passed — so a failed restore leaves the
//! target as it was.
//!
//! A deployment on PostgreSQL keeps its schools' databases there, and PostgreSQL's own
//! tools back them up ([`postgres`]): its archive holds what the database does not —
//! the key file, each school's own key and its media — and says which database pairs
//! with it.

pub mod archive;
pub mod crypt;
pub mod postgres;
pub mod schedule;

use crate::district::catalog::FolderCatalog;
use doorplate_store::sqlite::snapshot::{self, Contents, MediaFile};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The archive framing's version in the manifest.
const FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("wrong passphrase")]
    WrongPassphrase,
    #[error("this archive is encrypted: give its passphrase with --passphrase-stdin")]
    PassphraseNeeded,
    #[error("damaged archive: {0}")]
    Damaged(String),
    #[error("{0}")]
    Source(String),
    #[error("{0} is not empty: restore only into an empty or new data folder")]
    NotEmpty(PathBuf),
    #[error("{0} already exists: choose another name or remove it first")]
    Exists(PathBuf),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<doorplate_store::StoreError> for BackupError {
    fn from(e: doorplate_store::StoreError) -> Self {
        BackupError::Source(e.to_string())
    }
}

/// A passphrase that seals archives: never shown in a log or a `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(String);

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

impl Passphrase {
    /// The fewest characters a passphrase that seals a backup may have.
    pub const MIN_CHARS: usize = 8;

    /// A passphrase of at least [`Passphrase::MIN_CHARS`] characters.
    pub fn new(text: &str) -> Result<Passphrase, String> {
        if text.chars().count() < Self::MIN_CHARS {
            return Err(format!("the passphrase needs at least {} characters", Self::MIN_CHARS));
        }
        Ok(Passphrase(text.to_string()))
    }

    /// The passphrase in the file at `path` (its first line; a trailing line break is
    /// not part of it).
    pub fn read_file(path: &Path) -> Result<Passphrase, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let line = text.lines().next().unwrap_or("");
        Passphrase::new(line).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A backup that was written.
#[derive(Clone, Debug)]
pub struct Taken {
    pub file: PathBuf,
    pub size: u64,
    pub schools: usize,
    pub files: usize,
    pub sealed: bool,
    /// Whether the schools' databases are in it (not on PostgreSQL: see [`postgres`]).
    pub database_included: bool,
}

/// `path` with `suffix` added to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A file only the server's user may read: every archive and restored file holds the
/// data folder's secrets.
fn create_private(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true);
    if truncate {
        o.create(true).truncate(true);
    } else {
        o.create_new(true);
    }
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Takes a backup of the data folder `data` into `out` (which must not exist), sealed
/// with `passphrase` if one is given. `now` names the moment in the manifest. Blocking:
/// run it on a blocking thread.
pub fn take(
    data: &Path,
    out: &Path,
    passphrase: Option<&str>,
    now: doorplate_domain::Micros,
) -> Result<Taken, BackupError> {
    take_folder(data, &data.join("secret.key"), out, passphrase, now)
}

/// [`take`] of a data folder whose deployment key is `key` (`--key-file`).
pub fn take_folder(
    data: &Path,
    key: &Path,
    out: &Path,
    passphrase: Option<&str>,
    now: doorplate_domain::Micros,
) -> Result<Taken, BackupError> {
    if !key.is_file() {
        return Err(BackupError::Source(format!(
            "{} is not a data folder (it has no key at {})",
            data.display(),
            key.display()
        )));
    }
    let scratch = with_suffix(out, ".part-snapshot");
    let taken = seal(out, passphrase, now, None, |w| write_folder(w, data, key, &scratch));
    let _ = std::fs::remove_file(&scratch);
    taken
}

/// The archive being written: the framing over the (maybe sealed) file.
pub(crate) type ArchiveWriter = archive::Writer<crypt::Sink<BufWriter<std::fs::File>>>;

/// Writes an archive into `out` (which must not exist) as `out.part`, with the files
/// `fill` adds and the schools it returns, syncs it, and renames it into place; any
/// failure removes the `.part`.
pub(crate) fn seal(
    out: &Path,
    passphrase: Option<&str>,
    now: doorplate_domain::Micros,
    database: Option<archive::ManifestDatabase>,
    fill: impl FnOnce(&mut ArchiveWriter) -> Result<Vec<archive::ManifestSchool>, BackupError>,
) -> Result<Taken, BackupError> {
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    let part = with_suffix(out, ".part");
    let database_included = database.is_none();
    let result = write_archive(&part, passphrase, now, database, fill);
    let (files, schools) = match result {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(match e {
                BackupError::Io(e) => BackupError::Source(format!("writing {}: {e}", part.display())),
                other => other,
            });
        }
    };
    if let Err(e) = std::fs::rename(&part, out) {
        let _ = std::fs::remove_file(&part);
        return Err(e.into());
    }
    sync_dir(&parent_of(out));
    Ok(Taken {
        file: out.to_path_buf(),
        size: std::fs::metadata(out)?.len(),
        schools,
        files,
        sealed: passphrase.is_some(),
        database_included,
    })
}

/// Writes the whole archive to `part` and syncs it: (files, schools).
fn write_archive(
    part: &Path,
    passphrase: Option<&str>,
    now: doorplate_domain::Micros,
    database: Option<archive::ManifestDatabase>,
    fill: impl FnOnce(&mut ArchiveWriter) -> Result<Vec<archive::ManifestSchool>, BackupError>,
) -> Result<(usize, usize), BackupError> {
    let file = create_private(part, true)?;
    let sink = crypt::Sink::start(BufWriter::with_capacity(256 * 1024, file), passphrase)?;
    let mut w = archive::Writer::new(sink);
    let schools = fill(&mut w)?;
    let school_count = schools.len();
    let (sink, manifest) = w.finish(archive::Manifest {
        format: FORMAT,
        created_at: crate::time::rfc3339(now),
        doorplate_version: env!("CARGO_PKG_VERSION").into(),
        schools,
        files: Vec::new(),
        database,
    })?;
    let file = sink
        .finish()?
        .into_inner()
        .map_err(|e| BackupError::Io(e.into_error()))?;
    file.sync_all()?;
    Ok((manifest.files.len(), school_count))
}

/// A data folder's files: the key, and each school's database snapshot, media,
/// `school.json` and own key.
fn write_folder(
    w: &mut ArchiveWriter,
    data: &Path,
    key: &Path,
    scratch: &Path,
) -> Result<Vec<archive::ManifestSchool>, BackupError> {
    add_file(w, key, "secret.key", None)?;
    let catalog = FolderCatalog::new(data);
    let entries = catalog.list().map_err(|e| BackupError::Source(e.to_string()))?;
    let mut schools = Vec::new();
    for entry in &entries {
        let dir = catalog.dir_of(entry);
        let rel = if entry.root {
            String::new()
        } else {
            format!("schools/{}/", entry.info.slug)
        };
        let media = snapshot_school(&dir, scratch)?;
        add_file(w, scratch, &format!("{rel}doorplate.db"), None)?;
        let _ = std::fs::remove_file(scratch);
        for m in &media {
            add_file(
                w,
                &dir.join("media").join(&m.file),
                &format!("{rel}media/{}", m.file),
                Some(m.size),
            )?;
        }
        let info = dir.join("school.json");
        if !entry.root || info.exists() {
            add_file(w, &info, &format!("{rel}school.json"), None)?;
        }
        // A school moved in keeps its own key (district::catalog::KEY_FILE).
        let own_key = dir.join(crate::district::catalog::KEY_FILE);
        if !entry.root && own_key.exists() {
            add_file(
                w,
                &own_key,
                &format!("{rel}{}", crate::district::catalog::KEY_FILE),
                None,
            )?;
        }
        schools.push(archive::ManifestSchool {
            slug: entry.info.slug.clone(),
            dir: rel.trim_end_matches('/').to_string(),
        });
    }
    Ok(schools)
}

/// Snapshots one school's database into `scratch` and returns the media files the
/// snapshot names, each checked to be there. A file missing means the server removed it
/// (retention, an abandoned upload) after the snapshot was taken, so a new snapshot no
/// longer names it: the snapshot is taken again, a few times at most.
fn snapshot_school(dir: &Path, scratch: &Path) -> Result<Vec<MediaFile>, BackupError> {
    let db = dir.join("doorplate.db");
    let mut last_missing = String::new();
    for _ in 0..3 {
        let _ = std::fs::remove_file(scratch);
        let media = snapshot::snapshot(&db, scratch)?;
        match media.iter().find(|m| !dir.join("media").join(&m.file).is_file()) {
            None => return Ok(media),
            Some(m) => last_missing = m.file.clone(),
        }
    }
    Err(BackupError::Source(format!(
        "media file {last_missing} of {} keeps disappearing during the backup",
        dir.display()
    )))
}

/// Adds one file; `expected` is the size its media row records.
pub(crate) fn add_file<W: Write>(
    w: &mut archive::Writer<W>,
    path: &Path,
    name: &str,
    expected: Option<u64>,
) -> Result<(), BackupError> {
    let mut f = std::fs::File::open(path).map_err(|e| BackupError::Source(format!("{}: {e}", path.display())))?;
    let size = f.metadata()?.len();
    if let Some(want) = expected
        && want != size
    {
        return Err(BackupError::Source(format!(
            "{} is {size} bytes but its media row says {want}",
            path.display()
        )));
    }
    w.add(name, size, &mut f)
}

/// A school as restored.
#[derive(Clone, Debug)]
pub struct RestoredSchool {
    pub slug: String,
    /// What its restored database holds; `None` when the archive holds no database (a
    /// deployment on PostgreSQL: the database is restored with `pg_restore`).
    pub contents: Option<Contents>,
    /// Media files put back, and their bytes.
    pub media: u64,
    pub media_bytes: u64,
}

/// What a restore put in place.
#[derive(Clone, Debug)]
pub struct Restored {
    pub created_at: String,
    pub schools: Vec<RestoredSchool>,
    pub files: usize,
    pub bytes: u64,
    /// Where the deployment's key was put.
    pub key_file: PathBuf,
    /// The database the archive pairs with, when it is not in it (PostgreSQL).
    pub database: Option<archive::ManifestDatabase>,
}

/// Refuses a target that exists and is not an empty folder.
fn check_target(target: &Path) -> Result<(), BackupError> {
    match std::fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                Err(BackupError::NotEmpty(target.to_path_buf()))
            } else {
                Ok(())
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Err(BackupError::NotEmpty(target.to_path_buf())),
        Err(e) => Err(BackupError::Source(format!("{}: {e}", target.display()))),
    }
}

/// Restores the archive `file` into the data folder `target`, which must be empty or
/// missing, with the deployment's key at `key_file` (`--key-file`; default
/// `target/secret.key`), which must not exist. Blocking.
pub fn restore(
    file: &Path,
    target: &Path,
    key_file: Option<&Path>,
    passphrase: Option<&str>,
) -> Result<Restored, BackupError> {
    check_target(target)?;
    // A key kept outside the data folder goes back where the deployment reads it; a
    // restore never replaces a key that is there.
    let key_apart = key_file.filter(|k| *k != target.join("secret.key"));
    if let Some(k) = key_apart
        && (k.exists() || k.is_symlink())
    {
        return Err(BackupError::Source(format!(
            "{} already exists: a restore does not replace a key (move it away first)",
            k.display()
        )));
    }
    let input = std::fs::File::open(file).map_err(|e| BackupError::Source(format!("{}: {e}", file.display())))?;
    let source = crypt::open(BufReader::with_capacity(256 * 1024, input), passphrase)?;
    let parent = parent_of(target);
    std::fs::create_dir_all(&parent)?;
    let name = target
        .file_name()
        .ok_or_else(|| BackupError::Source(format!("{} names no folder", target.display())))?;
    let temp = parent.join(format!(
        ".{}.restoring-{}",
        name.to_string_lossy(),
        crate::crypto::new_token("")
    ));
    crate::storage::private_dir(&temp)?;
    let result = unpack_and_check(source, &temp);
    let mut restored = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
    };
    restored.key_file = target.join("secret.key");
    if let Some(k) = key_apart {
        if let Err(e) = move_key(&temp.join("secret.key"), k) {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
        restored.key_file = k.to_path_buf();
    }
    // The target was checked before unpacking; check again (someone may have written
    // into it meanwhile), then put the folder in its place (over an empty folder).
    let placed = check_target(target).and_then(|()| std::fs::rename(&temp, target).map_err(BackupError::from));
    if let Err(e) = placed {
        let _ = std::fs::remove_dir_all(&temp);
        if let Some(k) = key_apart {
            let _ = std::fs::remove_file(k);
        }
        return Err(e);
    }
    sync_dir(&parent);
    Ok(restored)
}

/// Puts the restored key at `to` (a new file, 0600, synced), then removes it from the
/// unpacked folder.
fn move_key(from: &Path, to: &Path) -> Result<(), BackupError> {
    let key = std::fs::read(from)?;
    let dir = parent_of(to);
    std::fs::create_dir_all(&dir).map_err(|e| BackupError::Source(format!("{}: {e}", dir.display())))?;
    let written = create_private(to, false).and_then(|mut f| {
        f.write_all(&key)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(to);
        return Err(BackupError::Source(format!("writing the key to {}: {e}", to.display())));
    }
    sync_dir(&dir);
    std::fs::remove_file(from)?;
    Ok(())
}

fn unpack_and_check<R: Read>(source: crypt::Source<R>, temp: &Path) -> Result<Restored, BackupError> {
    let mut bytes = 0u64;
    let manifest = archive::read(source, |path, size, body| {
        let dest = temp.join(path);
        if let Some(dir) = dest.parent() {
            crate::storage::private_dir(dir)?;
        }
        let mut f = create_private(&dest, false).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => BackupError::Damaged(format!("{path} appears twice")),
            _ => BackupError::Io(e),
        })?;
        let copied = std::io::copy(body, &mut f).map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => BackupError::Damaged(e.to_string()),
            _ => BackupError::Io(e),
        })?;
        if copied != size {
            return Err(BackupError::Damaged("the archive is cut short".into()));
        }
        f.sync_all()?;
        bytes += size;
        Ok(())
    })?;
    if manifest.format != FORMAT {
        return Err(BackupError::Damaged(format!("unknown format {}", manifest.format)));
    }
    let key = std::fs::metadata(temp.join("secret.key")).map(|m| m.len()).unwrap_or(0);
    if key != 32 {
        return Err(BackupError::Damaged("it holds no 32-byte secret.key".into()));
    }
    let mut schools = Vec::new();
    for school in &manifest.schools {
        // A data folder's first school is its root one; on PostgreSQL every school has
        // a folder of its own (for its media).
        let expected_dir = if schools.is_empty() && manifest.database.is_none() {
            String::new()
        } else {
            format!("schools/{}", school.slug)
        };
        if school.dir != expected_dir || crate::district::check_slug(&school.slug).is_err() {
            return Err(BackupError::Damaged(format!(
                "school {:?} is listed in the wrong place",
                school.slug
            )));
        }
        let dir = temp.join(&school.dir);
        crate::storage::private_dir(&dir.join("media"))?;
        if manifest.database.is_some() {
            let prefix = format!("{}/media/", school.dir);
            let media: Vec<_> = manifest.files.iter().filter(|f| f.path.starts_with(&prefix)).collect();
            schools.push(RestoredSchool {
                slug: school.slug.clone(),
                contents: None,
                media: media.len() as u64,
                media_bytes: media.iter().map(|f| f.size).sum(),
            });
            continue;
        }
        let db = dir.join("doorplate.db");
        if !db.is_file() {
            return Err(BackupError::Damaged(format!("school {} has no database", school.slug)));
        }
        if let Err(found) = snapshot::integrity_check(&db)? {
            return Err(BackupError::Damaged(format!(
                "school {}'s database fails its integrity check: {found}",
                school.slug
            )));
        }
        for m in snapshot::media_files(&db)? {
            let on_disk = std::fs::metadata(dir.join("media").join(&m.file)).map(|x| x.len()).ok();
            if on_disk != Some(m.size) {
                return Err(BackupError::Damaged(format!(
                    "school {}'s media file {} is {} (its row says {} bytes)",
                    school.slug,
                    m.file,
                    on_disk.map_or("missing".to_string(), |n| format!("{n} bytes")),
                    m.size
                )));
            }
        }
        let contents = snapshot::contents(&db)?;
        schools.push(RestoredSchool {
            slug: school.slug.clone(),
            media: contents.media,
            media_bytes: contents.media_bytes,
            contents: Some(contents),
        });
    }
    if schools.is_empty() {
        return Err(BackupError::Damaged("it holds no school".into()));
    }
    Ok(Restored {
        created_at: manifest.created_at,
        schools,
        files: manifest.files.len(),
        bytes,
        key_file: temp.join("secret.key"),
        database: manifest.database,
    })
}
