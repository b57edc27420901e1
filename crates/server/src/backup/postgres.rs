//! Backups of a deployment on PostgreSQL. The schools' databases live there, and
//! PostgreSQL's own tools back them up (`pg_dump` reads every schema in one snapshot, and
//! an operator of a shared database has its backups already). What the database does not
//! hold is backed up here, into the same archive format as a data folder's (sealed with
//! a passphrase likewise): the deployment's key file, and each school's own key (a school
//! moved in) and media, which stay on the data folder's disk. The manifest names the
//! database and its schemas, so a restore can say what pairs with it.
//!
//! The database first, then this archive: a media file is written and synced before its
//! row commits and never changes afterwards, so every file a dump names is on disk when
//! an archive is taken after the dump (unless the server removed it in between —
//! retention, or an upload no message took — rows the restored server drops again).

use super::archive::{ManifestDatabase, ManifestSchool};
use super::{ArchiveWriter, BackupError, Taken, add_file};
use crate::district::catalog::{Catalog, KEY_FILE};
use std::path::{Path, PathBuf};

/// What a PostgreSQL deployment keeps outside its database, to back up.
#[derive(Clone, Debug)]
pub struct Outside {
    /// The data folder: `schools/<slug>/media/` and `schools/<slug>/school.key`.
    pub data_dir: PathBuf,
    /// The deployment's key (`--key-file`, or `DATA/secret.key`).
    pub key_file: PathBuf,
    /// The schools the database lists, by slug.
    pub schools: Vec<String>,
    pub database: ManifestDatabase,
}

/// What to back up of the deployment `catalog` (on PostgreSQL) as it is now: the
/// schools it lists, their folders, the database's address and schemas.
pub async fn outside(catalog: &Catalog, key_file: &Path) -> Result<Outside, BackupError> {
    let Catalog::Postgres { district, data_dir } = catalog else {
        return Err(BackupError::Source("not a deployment on PostgreSQL".into()));
    };
    let schools: Vec<String> = catalog
        .list()
        .await
        .map_err(|e| BackupError::Source(e.to_string()))?
        .into_iter()
        .map(|e| e.info.slug)
        .collect();
    let mut schemas = vec![district.district_schema()];
    schemas.extend(schools.iter().map(|s| district.school_schema(s)));
    Ok(Outside {
        data_dir: data_dir.clone(),
        key_file: key_file.to_path_buf(),
        schools,
        database: ManifestDatabase {
            url: district.url_without_password(),
            schemas,
        },
    })
}

/// Takes the archive of what is outside the database into `out` (which must not
/// exist). Blocking: run it on a blocking thread.
pub fn take(
    outside: &Outside,
    out: &Path,
    passphrase: Option<&str>,
    now: doorplate_domain::Micros,
) -> Result<Taken, BackupError> {
    if !outside.key_file.is_file() {
        return Err(BackupError::Source(format!(
            "no key file at {} (give the deployment's with --key-file)",
            outside.key_file.display()
        )));
    }
    super::seal(out, passphrase, now, Some(outside.database.clone()), |w| {
        write(w, outside)
    })
}

fn write(w: &mut ArchiveWriter, o: &Outside) -> Result<Vec<ManifestSchool>, BackupError> {
    add_file(w, &o.key_file, "secret.key", None)?;
    let mut schools = Vec::new();
    for slug in &o.schools {
        let rel = format!("schools/{slug}");
        let dir = o.data_dir.join(&rel);
        for (name, path) in media_files(&dir.join("media"))? {
            // Removed since it was listed (retention, an upload no message took): its row
            // is gone or going too.
            let Ok(mut f) = std::fs::File::open(&path) else {
                continue;
            };
            let size = f.metadata()?.len();
            w.add(&format!("{rel}/media/{name}"), size, &mut f)?;
        }
        let own_key = dir.join(KEY_FILE);
        if own_key.exists() {
            add_file(w, &own_key, &format!("{rel}/{KEY_FILE}"), None)?;
        }
        schools.push(ManifestSchool {
            slug: slug.clone(),
            dir: rel,
        });
    }
    Ok(schools)
}

/// The finished media files of a school's folder (not an upload still being written,
/// `*.part`), by name.
fn media_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, BackupError> {
    let read = match std::fs::read_dir(dir) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BackupError::Source(format!("{}: {e}", dir.display()))),
    };
    let mut files = Vec::new();
    for item in read {
        let item = item?;
        let name = item.file_name().to_string_lossy().into_owned();
        if name.ends_with(".part") || super::archive::check_path(&name).is_err() || !item.file_type()?.is_file() {
            continue;
        }
        files.push((name, item.path()));
    }
    files.sort();
    Ok(files)
}

/// A value quoted for a POSIX shell.
fn sh(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The commands that back the database up and restore it, for an operator to run.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseCommands {
    /// `pg_dump` of the whole database.
    pub dump_whole: String,
    /// `pg_dump` of Doorplate's schemas only (the district's list and each school's),
    /// still in one snapshot: for a database shared with others.
    pub dump_schemas: String,
    /// `pg_restore` of such a dump into an empty database.
    pub restore: String,
}

/// The `pg_dump` and `pg_restore` commands for `db`, the dump in `dump_file`.
pub fn commands(db: &ManifestDatabase, dump_file: &str) -> DatabaseCommands {
    let url = sh(&db.url);
    let file = sh(dump_file);
    let schemas: Vec<String> = db.schemas.iter().map(|s| format!("--schema={}", sh(s))).collect();
    DatabaseCommands {
        dump_whole: format!("pg_dump --format=custom --file={file} --dbname={url}"),
        dump_schemas: format!(
            "pg_dump --format=custom --file={file} {} --dbname={url}",
            schemas.join(" ")
        ),
        restore: format!("pg_restore --exit-on-error --no-owner --dbname={url} {file}"),
    }
}

/// What an operator reads after a backup of a deployment on PostgreSQL: the database is
/// not in the archive, how to back it up, and how the two restore together.
pub fn backup_advice(db: &ManifestDatabase, archive: &Path) -> String {
    let c = commands(db, "doorplate-db.dump");
    format!(
        "The schools' database is NOT in this archive: it holds what PostgreSQL does not keep \
         (the key file, each school's media and own key). Back the database up with \
         PostgreSQL's own tools, BEFORE this archive (so the archive has every media file \
         the dump names), and keep the dump with the archive — the database is useless \
         without its key:\n\
         \x20 {}\n\
         \x20 or only Doorplate's schemas (a database shared with others), in one snapshot too:\n\
         \x20 {}\n\
         (the password, if any, comes from PGPASSWORD or ~/.pgpass.)\n\
         To restore: first the database, into an empty one:\n\
         \x20 {}\n\
         then this archive, into an empty data folder:\n\
         \x20 doorplate --data DIR --database {} restore {}",
        c.dump_whole,
        c.dump_schemas,
        c.restore,
        sh(&db.url),
        sh(&archive.display().to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_commands_name_the_schemas_quoted_and_no_password() {
        let db = ManifestDatabase {
            url: "postgres://doorplate@db/doorplate".into(),
            schemas: vec!["district".into(), "school_main".into(), "school_north_high".into()],
        };
        let c = commands(&db, "it's.dump");
        assert_eq!(
            c.dump_schemas,
            "pg_dump --format=custom --file='it'\\''s.dump' --schema='district' --schema='school_main' \
             --schema='school_north_high' --dbname='postgres://doorplate@db/doorplate'"
        );
        assert_eq!(
            c.dump_whole,
            "pg_dump --format=custom --file='it'\\''s.dump' --dbname='postgres://doorplate@db/doorplate'"
        );
        assert!(c.restore.starts_with("pg_restore "), "{}", c.restore);
        let advice = backup_advice(&db, Path::new("/b/x.dpbk"));
        assert!(advice.contains("NOT in this archive") && advice.contains("restore '/b/x.dpbk'"));
    }
}
