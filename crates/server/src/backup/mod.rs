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

pub mod archive;
pub mod crypt;
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

/// A backup that was written.
#[derive(Clone, Debug)]
pub struct Taken {
    pub file: PathBuf,
    pub size: u64,
    pub schools: usize,
    pub files: usize,
    pub sealed: bool,
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
    if out.exists() {
        return Err(BackupError::Exists(out.to_path_buf()));
    }
    if !data.join("secret.key").is_file() {
        return Err(BackupError::Source(format!(
            "{} is not a data folder (it has no secret.key)",
            data.display()
        )));
    }
    let part = with_suffix(out, ".part");
    let scratch = with_suffix(out, ".part-snapshot");
    let result = write_archive(data, &part, &scratch, passphrase, now);
    let _ = std::fs::remove_file(&scratch);
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
    })
}

/// Writes the whole archive to `part` and syncs it: (files, schools).
fn write_archive(
    data: &Path,
    part: &Path,
    scratch: &Path,
    passphrase: Option<&str>,
    now: doorplate_domain::Micros,
) -> Result<(usize, usize), BackupError> {
    let file = create_private(part, true)?;
    let sink = crypt::Sink::start(BufWriter::with_capacity(256 * 1024, file), passphrase)?;
    let mut w = archive::Writer::new(sink);
    add_file(&mut w, &data.join("secret.key"), "secret.key", None)?;
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
        add_file(&mut w, scratch, &format!("{rel}doorplate.db"), None)?;
        let _ = std::fs::remove_file(scratch);
        for m in &media {
            add_file(
                &mut w,
                &dir.join("media").join(&m.file),
                &format!("{rel}media/{}", m.file),
                Some(m.size),
            )?;
        }
        let info = dir.join("school.json");
        if !entry.root || info.exists() {
            add_file(&mut w, &info, &format!("{rel}school.json"), None)?;
        }
        // A school moved in keeps its own key (district::catalog::KEY_FILE).
        let key = dir.join(crate::district::catalog::KEY_FILE);
        if !entry.root && key.exists() {
            add_file(
                &mut w,
                &key,
                &format!("{rel}{}", crate::district::catalog::KEY_FILE),
                None,
            )?;
        }
        schools.push(archive::ManifestSchool {
            slug: entry.info.slug.clone(),
            dir: rel.trim_end_matches('/').to_string(),
        });
    }
    let school_count = schools.len();
    let (sink, manifest) = w.finish(archive::Manifest {
        format: FORMAT,
        created_at: crate::time::rfc3339(now),
        doorplate_version: env!("CARGO_PKG_VERSION").into(),
        schools,
        files: Vec::new(),
    })?;
    let file = sink
        .finish()?
        .into_inner()
        .map_err(|e| BackupError::Io(e.into_error()))?;
    file.sync_all()?;
    Ok((manifest.files.len(), school_count))
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
fn add_file<W: Write>(
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
    pub contents: Contents,
}

/// What a restore put in place.
#[derive(Clone, Debug)]
pub struct Restored {
    pub created_at: String,
    pub schools: Vec<RestoredSchool>,
    pub files: usize,
    pub bytes: u64,
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
/// missing. Blocking.
pub fn restore(file: &Path, target: &Path, passphrase: Option<&str>) -> Result<Restored, BackupError> {
    check_target(target)?;
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
    let restored = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&temp);
            return Err(e);
        }
    };
    // The target was checked before unpacking; check again (someone may have written
    // into it meanwhile), then put the folder in its place (over an empty folder).
    let placed = check_target(target).and_then(|()| std::fs::rename(&temp, target).map_err(BackupError::from));
    if let Err(e) = placed {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(e);
    }
    sync_dir(&parent);
    Ok(restored)
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
        let expected_dir = if schools.is_empty() {
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
        crate::storage::private_dir(&dir.join("media"))?;
        schools.push(RestoredSchool {
            slug: school.slug.clone(),
            contents: snapshot::contents(&db)?,
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
    })
}
