//! The embedded store: SQLite in WAL mode with `synchronous=FULL` (crash-safe), one
//! writer thread with group commit ([`writer`]) and a small pool of read connections.
//! Each area's trait is implemented in a file of its own (directory, messages, records,
//! schedule); [`migrate`] applies and checks the migrations, [`errors`] maps SQLite's
//! errors.

mod directory;
mod dump;
mod errors;
mod messages;
mod migrate;
mod records;
mod rows;
mod schedule;
pub mod snapshot;
mod writer;

use crate::*;
use errors::db;
use rusqlite::Connection;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use writer::Writer;
pub use writer::WriterObserver;

/// SQLite adapter of [`Store`].
pub struct SqliteStore {
    writer: Writer,
    readers: mpsc::Sender<ReadJob>,
    /// Tells the checkpointer to stop when the store goes.
    stop: Arc<AtomicBool>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Checkpoints the WAL in the background twice a second (PASSIVE: it never blocks the
/// writer or the readers), so the WAL stays small without stalling a commit.
fn start_checkpointer(path: &Path, stop: Arc<AtomicBool>) -> Result<()> {
    let conn = open(path, false)?;
    std::thread::Builder::new()
        .name("doorplate-sqlite-checkpoint".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
        .map_err(internal)?;
    Ok(())
}

/// How many reader threads (each with its own connection) serve queries. WAL lets them
/// read while the writer writes; a fixed few avoid both connection churn and a thread
/// per waiting request on a small machine.
const READERS: usize = 4;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Starts the reader threads; they share one queue (a std `Mutex` around the receiver,
/// held only while taking the next job).
fn start_readers(path: &Path) -> Result<mpsc::Sender<ReadJob>> {
    let (tx, rx) = mpsc::channel::<ReadJob>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..READERS {
        let conn = open(path, true)?;
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("doorplate-sqlite-reader-{i}"))
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&conn),
                        Err(_) => return,
                    }
                }
            })
            .map_err(internal)?;
    }
    Ok(tx)
}

fn open(path: &Path, read_only: bool) -> Result<Connection> {
    let conn = Connection::open(path).map_err(internal)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
         PRAGMA busy_timeout=5000; PRAGMA cache_size=-16000;",
    )
    .map_err(internal)?;
    if read_only {
        conn.execute_batch("PRAGMA query_only=ON;").map_err(internal)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates the database file with mode 0600 if it is missing, and tightens an existing
/// one (and a WAL or shared-memory file left from an earlier run) to 0600. SQLite gives
/// the `-wal` and `-shm` files it creates later the mode of the database file, so this
/// is enough to keep all three private.
#[cfg(unix)]
fn make_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        match std::fs::metadata(file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                tracing::warn!(file = %file.display(), "making the database file private (0600)");
                std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the database file and applies pending migrations. The
    /// database, its WAL and its shared-memory file are readable by the server's user
    /// alone (0600): they hold every message.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        Self::open_observed(path, writer::unobserved())
    }

    /// [`SqliteStore::open`], with the writer reporting its queue and its commits to
    /// `observer` (the server's metrics).
    pub fn open_observed(path: &Path, observer: Arc<dyn WriterObserver>) -> Result<SqliteStore> {
        make_private(path).map_err(|e| internal(format!("{}: {e}", path.display())))?;
        let conn = open(path, false)?;
        migrate::migrate(&conn)?;
        // The writer never checkpoints: copying the WAL back into the database (and its
        // sync) would stall every caller of that batch. A thread of its own does it.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0;").map_err(internal)?;
        let writer = Writer::start(conn, observer).map_err(internal)?;
        let stop = Arc::new(AtomicBool::new(false));
        start_checkpointer(path, stop.clone())?;
        Ok(SqliteStore {
            writer,
            readers: start_readers(path)?,
            stop,
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.readers
            .send(job)
            .map_err(|_| StoreError::Internal("the readers have stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("a reader dropped a query".into()))?
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// [`SqliteStore::write`], queued before it returns (see [`writer::Writer::submit`]).
    fn submit<T, F>(&self, f: F) -> crate::Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.submit(f)
    }
}

/// A failure that is ours, not the caller's (logged by the server, never shown).
pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

#[async_trait]
impl Store for SqliteStore {
    async fn import(&self, ops: Vec<ImportOp>, dry_run: bool) -> Result<ImportReport> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        self.write(move |c| schedule::import(c, &ops, dry_run, now)).await
    }

    async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db)).await
    }

    async fn heartbeat(&self, now: Micros) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("INSERT INTO heartbeat (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = ?1")
                .and_then(|mut s| s.execute([now]))
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn export_dump(&self) -> Result<crate::dump::SchoolDump> {
        self.read(|c| {
            // One read transaction: every table as of the same moment.
            c.execute_batch("BEGIN").map_err(db)?;
            let dump = dump::export(c);
            let _ = c.execute_batch("COMMIT");
            dump
        })
        .await
    }

    async fn import_dump(&self, dump: crate::dump::SchoolDump) -> Result<()> {
        self.write(move |c| dump::import(c, &dump)).await
    }
}

#[cfg(test)]
mod tests;
