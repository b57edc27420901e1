//! Snapshots for backups, and the checks a restore runs on one.
//!
//! A snapshot is `VACUUM INTO` a new file from a connection of its own, never the
//! writer's. In WAL mode that connection holds one read transaction: it reads the
//! database as of its start while the writer goes on committing to the WAL, so no write
//! waits for it (only checkpoints cannot pass its read mark until it ends, and they run
//! on a thread of their own). SQLite's online backup API was the other choice; it
//! copies pages in steps and, from a connection other than the writer's, starts over
//! whenever the writer commits in between — under steady writes it may never finish,
//! and copying in one step would hold the read lock as long anyway. `VACUUM INTO` also
//! writes a compact file with no WAL beside it.
//!
//! These are blocking calls (run them on a blocking thread); each opens its own
//! connection, so they work on a database a running server has open, from its process
//! or another.

use super::{errors::db, internal};
use crate::{Result, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Opens a database that must exist, with no migration: a snapshot or a check only
/// reads. (Not `SQLITE_OPEN_READ_ONLY`: a read-only connection to a WAL database cannot
/// make the shared-memory file it needs when no other connection has.)
fn open_reading(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| internal(format!("{}: {e}", path.display())))?;
    conn.execute_batch("PRAGMA busy_timeout=5000;").map_err(internal)?;
    Ok(conn)
}

/// Writes a consistent copy of the database at `db` into `out` (which must not exist)
/// with `VACUUM INTO`, and returns the media files that copy refers to (`file`, size),
/// read from the copy itself so they match it exactly.
pub fn snapshot(db: &Path, out: &Path) -> Result<Vec<MediaFile>> {
    let conn = open_reading(db)?;
    let target = out
        .to_str()
        .ok_or_else(|| internal(format!("{}: not a UTF-8 path", out.display())))?;
    conn.execute("VACUUM INTO ?1", [target])
        .map_err(|e| internal(format!("snapshot of {}: {e}", db.display())))?;
    drop(conn);
    media_files(out)
}

/// A file under a school's `media/` that a media row names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaFile {
    pub file: String,
    pub size: u64,
}

/// Every media row's file and size.
pub fn media_files(db: &Path) -> Result<Vec<MediaFile>> {
    let conn = open_reading(db)?;
    let mut stmt = conn
        .prepare("SELECT file, size FROM media ORDER BY id")
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(MediaFile {
                file: r.get(0)?,
                size: r.get::<_, i64>(1)?.max(0) as u64,
            })
        })
        .map_err(db_err)?;
    rows.collect::<std::result::Result<Vec<_>, _>>().map_err(db_err)
}

fn db_err(e: rusqlite::Error) -> StoreError {
    db(e)
}

/// `PRAGMA integrity_check`: `Ok(())` when SQLite answers `ok`, else what it found.
pub fn integrity_check(db: &Path) -> Result<std::result::Result<(), String>> {
    let conn = open_reading(db)?;
    let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(db_err)?;
    let found: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(db_err)?
        .collect::<std::result::Result<_, _>>()
        .map_err(db_err)?;
    if found.len() == 1 && found[0] == "ok" {
        Ok(Ok(()))
    } else {
        Ok(Err(found.join("; ")))
    }
}

/// What a database holds, in the words a restore prints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Accounts that are not deleted.
    pub people: u64,
    pub messages: u64,
    pub media: u64,
    pub media_bytes: u64,
}

pub fn contents(db: &Path) -> Result<Contents> {
    let conn = open_reading(db)?;
    let count = |sql: &str| -> Result<u64> {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(db_err)
    };
    Ok(Contents {
        people: count("SELECT COUNT(*) FROM users WHERE deleted = 0")?,
        messages: count("SELECT COUNT(*) FROM messages")?,
        media: count("SELECT COUNT(*) FROM media")?,
        media_bytes: count("SELECT COALESCE(SUM(size), 0) FROM media")?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use super::*;
    use crate::Store;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("doorplate-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// The figure ARCHITECTURE.md quotes: a snapshot of a database of some size taken
    /// while one caller commits one write after another. Every write still completes
    /// during the snapshot, and the slowest one is printed beside the slowest without a
    /// snapshot (run with `--nocapture` to read them).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_does_not_stall_the_writer() {
        let dir = temp("snapshot-writer");
        let path = dir.join("t.db");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        // About 24 MB of rows, so the copy takes long enough to overlap many commits.
        store
            .write(|c| {
                c.execute_batch("CREATE TABLE filler (id INTEGER PRIMARY KEY, blob BLOB NOT NULL);")
                    .map_err(db)?;
                let mut s = c
                    .prepare("INSERT INTO filler (blob) VALUES (randomblob(4096))")
                    .map_err(db)?;
                for _ in 0..6000 {
                    s.execute([]).map_err(db)?;
                }
                Ok(())
            })
            .await
            .unwrap();

        /// Commits one write after another: (median, 99th percentile, slowest), count.
        async fn slowest_write(store: &SqliteStore, until: &AtomicBool, min: usize) -> (String, usize) {
            let mut took = Vec::new();
            while !until.load(Ordering::Relaxed) || took.len() < min {
                let t = Instant::now();
                store.heartbeat(took.len() as i64).await.unwrap();
                took.push(t.elapsed());
            }
            took.sort();
            let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
            let n = took.len();
            (
                format!("median {:?}, p99 {:?}, max {:?}", at(0.5), at(0.99), at(1.0)),
                n,
            )
        }

        // Without a snapshot: 200 writes.
        let never = AtomicBool::new(true);
        let (quiet_worst, _) = slowest_write(&store, &never, 200).await;

        // With one running on another thread.
        let done = Arc::new(AtomicBool::new(false));
        let out = dir.join("copy.db");
        let snap = {
            let (done, path, out) = (done.clone(), path.clone(), out.clone());
            std::thread::spawn(move || {
                let t = Instant::now();
                let media = snapshot(&path, &out);
                done.store(true, Ordering::Relaxed);
                (media, t.elapsed())
            })
        };
        let (busy_worst, writes) = slowest_write(&store, &done, 1).await;
        let (media, took) = snap.join().unwrap();
        assert!(media.unwrap().is_empty());
        println!(
            "snapshot of {} MB took {took:?}; {writes} writes committed meanwhile: {busy_worst} (without a snapshot: {quiet_worst})",
            std::fs::metadata(&out).unwrap().len() >> 20
        );
        assert!(writes > 1, "the writer went on committing during the snapshot");
        assert_eq!(integrity_check(&out).unwrap(), Ok(()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
