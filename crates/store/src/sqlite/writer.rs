//! The one writer: a thread that owns the SQLite write connection and commits in
//! batches (group commit).
//!
//! Callers send a job through a channel and wait on a oneshot. The thread takes the
//! first job, then every job already waiting (up to [`MAX_BATCH`]), runs each in its own
//! savepoint inside one transaction, commits once — one disk sync for the whole batch —
//! and only then answers each caller. A job that fails rolls back its savepoint alone.
//! While a commit syncs, new jobs queue up and form the next batch, so the batch grows
//! with the load and no caller waits for more than one sync plus its batch's work.

use crate::{Result, StoreError};
use rusqlite::Connection;
use std::sync::{Arc, mpsc};
use std::time::Instant;

pub use crate::observe::WriterObserver;

/// A writer nobody watches.
pub(crate) fn unobserved() -> Arc<dyn WriterObserver> {
    crate::observe::unobserved()
}

/// Most jobs in one transaction: bounds the time the first caller waits.
const MAX_BATCH: usize = 2048;

/// Why a batch did not commit, shared by every caller of that batch (so it is `Clone`).
#[derive(Clone, Debug)]
enum CommitError {
    /// SQLITE_FULL: the disk has no room for the WAL; the caller hears [`StoreError::Full`].
    Full,
    Other(String),
}

impl CommitError {
    fn of(e: &rusqlite::Error) -> CommitError {
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            CommitError::Full
        } else {
            CommitError::Other(e.to_string())
        }
    }
}

type Finish = Box<dyn FnOnce(std::result::Result<(), CommitError>) + Send>;
/// A job runs on the connection, or is refused (`None`) when no transaction could begin.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;

/// Handle to the writer thread; cheap to share (the std `Sender` is `Sync`).
///
/// Dropping it closes the queue and waits for the thread to finish every write it had
/// already accepted (each caller still gets its answer), so a store dropped at shutdown
/// leaves nothing it took half done.
pub(crate) struct Writer {
    tx: mpsc::Sender<Job>,
    observer: Arc<dyn WriterObserver>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection, observer: Arc<dyn WriterObserver>) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Job>();
        let watcher = observer.clone();
        let thread = std::thread::Builder::new()
            .name("doorplate-sqlite-writer".into())
            .spawn(move || run(conn, rx, watcher.as_ref()))?;
        Ok(Writer {
            tx,
            observer,
            thread: Some(thread),
        })
    }

    /// Runs `f` in the next batch and returns its result once the batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.submit(f).await
    }

    /// Queues `f` for the next batch now, before returning, and gives the way to its
    /// result once the batch is committed. The queue is first in, first out: a write
    /// submitted after this one commits in the same batch or a later one, so a caller may
    /// fix the order of two writes without waiting for the first to commit.
    pub(crate) fn submit<T, F>(&self, f: F) -> crate::Queued<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = match conn {
                Some(conn) => in_savepoint(conn, f),
                None => Err(StoreError::Internal("no write transaction".into())),
            };
            Box::new(move |committed| {
                let answer = match committed {
                    Ok(()) => outcome,
                    Err(CommitError::Full) => Err(StoreError::Full),
                    Err(CommitError::Other(e)) => Err(StoreError::Internal(format!("commit failed: {e}"))),
                };
                let _ = tx.send(answer);
            })
        });
        // Counted before it is sent, so the writer never takes it off a count of zero.
        self.observer.queued(1);
        // The receiver goes only when the thread ends (a panic outside a job, say): then
        // no write can ever succeed, and /readyz must say so.
        let sent = self.tx.send(job).is_ok();
        if !sent {
            self.observer.queued(-1);
        }
        Box::pin(async move {
            if !sent {
                return Err(StoreError::WriterStopped);
            }
            rx.await.map_err(|_| StoreError::WriterStopped)?
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // A fresh sender in its place: dropping ours closes the queue, and the thread
        // ends once it has written (and answered) every job already in it.
        drop(std::mem::replace(&mut self.tx, mpsc::channel().0));
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// Runs one job in its own savepoint. A job that panics (a bug) is caught here: its
/// savepoint is rolled back, its caller gets an internal error, and the one writer
/// thread lives on for every other write instead of dying with it.
fn in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    // Cached statements: a savepoint per job is on the hot path of every write.
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(super::internal)
    };
    run("SAVEPOINT job")?;
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn))).unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %why, "a write job panicked; its changes are rolled back");
        Err(StoreError::Internal(format!("a write job panicked: {why}")))
    });
    if out.is_err() {
        run("ROLLBACK TO job")?;
    }
    run("RELEASE job")?;
    out
}

fn run(conn: Connection, rx: mpsc::Receiver<Job>, observer: &dyn WriterObserver) {
    let mut finishes: Vec<Finish> = Vec::with_capacity(64);
    while let Ok(first) = rx.recv() {
        observer.queued(-1);
        let began = Instant::now();
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "could not begin a write transaction");
            first(None)(Err(CommitError::of(&e)));
            continue;
        }
        finishes.push(first(Some(&conn)));
        while finishes.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    observer.queued(-1);
                    finishes.push(job(Some(&conn)));
                }
                Err(_) => break,
            }
        }
        let committed = conn.execute_batch("COMMIT").map_err(|e| CommitError::of(&e));
        if let Err(e) = &committed {
            tracing::error!(error = ?e, batch = finishes.len(), "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        observer.committed(finishes.len(), began.elapsed());
        for finish in finishes.drain(..) {
            finish(committed.clone());
        }
    }
    tracing::debug!("sqlite writer stopped");
}
