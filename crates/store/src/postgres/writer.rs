//! The one writer of a [`PgStore`](super::PgStore): a tokio task that drains a channel
//! of write jobs and commits them in batches (group commit), as the SQLite adapter's
//! writer thread does.
//!
//! The task takes the first job, then every job already waiting (up to [`MAX_BATCH`]),
//! runs them one after another in ONE transaction on one connection, commits once, and
//! only then answers each caller (`synchronous_commit` is on: a commit is on disk, or
//! on the synchronous standby, when it returns). While a commit flushes, new jobs queue
//! up and form the next batch.
//!
//! Each job runs in its own savepoint, so a job that fails (a conflict, a missing row, a
//! panic) rolls back its own changes alone and the others of its batch still commit.
//! Why savepoints and not "run the batch bare, and on a failure roll it all back and
//! run it again without the failing job": the savepoint costs no round trip here — its
//! `SAVEPOINT` (and the previous job's `RELEASE`) go out in the same pipeline as the
//! job's first statement — while a retry would run every job of the batch twice, so
//! jobs would have to be re-runnable (cloned inputs) and their ids would change between
//! the runs; failures are common (a username taken, a code expired), so retries would
//! not be rare either. What savepoints do cost is subtransaction ids: PostgreSQL keeps up
//! to 64 per transaction in shared memory and slows every other session's snapshots once
//! a transaction has more, so a batch holds at most 64 jobs. At one commit per 64 jobs
//! the flush is not the limit (a round trip per statement is).
//!
//! Fencing (several servers on one database): a writer opened with a [`Fence`] begins
//! every batch with `SELECT epoch FROM district.hosts WHERE slug = $1 FOR SHARE`, sent in
//! the same pipeline as `BEGIN`. The row lock is held until the batch commits, so a
//! server taking the school over (its `UPDATE … SET epoch = epoch + 1`) waits for a batch
//! in flight, and every batch after it sees the new epoch: the batch is rolled back, each
//! caller gets [`StoreError::Fenced`] (never an acknowledgement), and the fence's
//! `on_fenced` tells the server to drop the school. A host that was paused or cut off
//! past its lease can therefore never write again.

use super::Conn;
use super::errors::is_disk_full;
use crate::{Result, StoreError, WriterObserver};
use deadpool_postgres::Pool;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// The lease a school's writes are fenced by: its row in the district's `hosts` table
/// and the epoch this server was granted.
#[derive(Clone)]
pub struct Fence {
    /// The lease table, schema-qualified and quoted (`"district".hosts`).
    pub table: String,
    pub slug: String,
    pub epoch: i64,
    /// Called once, from the writer, when a batch finds the epoch changed.
    pub on_fenced: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("slug", &self.slug)
            .field("epoch", &self.epoch)
            .finish()
    }
}

/// Most jobs in one transaction: each has a savepoint, and PostgreSQL caches 64
/// subtransactions per transaction (PGPROC_MAX_CACHED_SUBXIDS).
pub(crate) const MAX_BATCH: usize = 64;

/// Why a batch did not commit, shared by every caller of that batch.
#[derive(Clone, Debug)]
enum CommitError {
    Full,
    /// The school's lease moved on: nothing of the batch ran.
    Fenced,
    /// The database did not answer.
    Unavailable(String),
    Other(String),
}

impl CommitError {
    fn of(e: &tokio_postgres::Error) -> CommitError {
        if is_disk_full(e) {
            CommitError::Full
        } else if e.as_db_error().is_none() {
            CommitError::Unavailable(e.to_string())
        } else {
            CommitError::Other(e.to_string())
        }
    }

    /// What the caller of a job of the batch hears.
    fn answer(self, ran: bool) -> StoreError {
        match self {
            CommitError::Full => StoreError::Full,
            CommitError::Fenced => StoreError::Fenced,
            CommitError::Unavailable(e) => StoreError::Unavailable(e),
            CommitError::Other(e) if ran => StoreError::Internal(format!("commit failed: {e}")),
            CommitError::Other(e) => StoreError::Internal(e),
        }
    }
}

type Finish = Box<dyn FnOnce(std::result::Result<(), CommitError>) + Send>;
/// A job runs on the connection (inside its savepoint) and says whether it failed; the
/// answer goes to its caller through the `Finish` once the batch's fate is known.
/// Without a connection (`None`: no transaction could begin) it fails without running.
type Job = Box<dyn for<'c> FnOnce(Option<&'c Conn>) -> BoxFuture<'c, (bool, Finish)> + Send>;

fn job<F>(f: F) -> Job
where
    F: for<'c> FnOnce(Option<&'c Conn>) -> BoxFuture<'c, (bool, Finish)> + Send + 'static,
{
    Box::new(f)
}

/// Handle to the writer task (clones share it; the task ends when the last goes).
#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Job>,
    /// Hears the queue and each batch (the server's metrics), as the SQLite writer's.
    observer: Arc<dyn WriterObserver>,
}

impl Writer {
    /// Starts the task on the current tokio runtime; it ends when the handle is dropped.
    /// `pool` may be shared with other schools' writers: each batch takes a connection
    /// for its transaction and sets the transaction's `search_path` to `schema`; with a
    /// `fence`, each batch first checks the school's lease (see [`Fence`]).
    pub(crate) fn start(pool: Pool, schema: &str, observer: Arc<dyn WriterObserver>, fence: Option<Fence>) -> Writer {
        let (tx, rx) = mpsc::unbounded_channel();
        let path = format!("SET LOCAL search_path TO {}; SAVEPOINT job", super::quoted(schema));
        tokio::spawn(run(pool, path, rx, observer.clone(), fence));
        Writer { tx, observer }
    }

    /// Runs `f` in the next batch and returns its result once the batch is committed.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.submit(f).await
    }

    /// Queues `f` for the next batch now, before returning, and gives the way to its
    /// result once the batch is committed. The queue is first in, first out: a write
    /// submitted after this one commits in the same batch or a later one.
    pub(crate) fn submit<T, F>(&self, f: F) -> crate::Queued<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job = job(move |c| {
            Box::pin(async move {
                // A job that panics (a bug) fails alone: its savepoint is rolled back and
                // the writer lives on for every other write.
                let Some(c) = c else {
                    let finish: Finish = Box::new(move |committed| {
                        let answer = match committed {
                            Err(e) => Err(e.answer(false)),
                            Ok(()) => Err(StoreError::Internal("no write transaction".into())),
                        };
                        let _ = tx.send(answer);
                    });
                    return (true, finish);
                };
                let outcome = std::panic::AssertUnwindSafe(async move { f(c).await })
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|panic| {
                        let why = panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        tracing::error!(panic = %why, "a write job panicked; its changes are rolled back");
                        Err(StoreError::Internal(format!("a write job panicked: {why}")))
                    });
                let failed = outcome.is_err();
                let finish: Finish = Box::new(move |committed| {
                    let answer = match committed {
                        Ok(()) => outcome,
                        Err(e) => Err(e.answer(true)),
                    };
                    let _ = tx.send(answer);
                });
                (failed, finish)
            })
        });
        // Counted before it is sent, so the writer never takes it off a count of zero.
        self.observer.queued(1);
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

/// Begins a fenced batch: `BEGIN` and the lease check in one pipeline. `Ok(true)` when
/// the epoch is still ours (the transaction is open, the row share-locked).
async fn begin_fenced(c: &Conn, fence: &Fence) -> std::result::Result<bool, tokio_postgres::Error> {
    let sql = format!("SELECT epoch FROM {} WHERE slug = $1 FOR SHARE", fence.table);
    let check = c.prepare_cached(&sql).await?;
    let slug: &(dyn tokio_postgres::types::ToSql + Sync) = &fence.slug;
    let params = [slug];
    let (began, row) = tokio::join!(c.batch_execute("BEGIN"), c.query_opt(&check, &params));
    began?;
    let epoch: Option<i64> = row?.map(|r| r.get(0));
    Ok(epoch == Some(fence.epoch))
}

/// `path` sets the transaction's schema and opens the first job's savepoint.
async fn run(
    pool: Pool,
    path: String,
    mut rx: mpsc::UnboundedReceiver<Job>,
    observer: Arc<dyn WriterObserver>,
    fence: Option<Fence>,
) {
    let begin = format!("BEGIN; {path}");
    // Once fenced, always fenced: the epoch only grows.
    let fenced = AtomicBool::new(false);
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut finishes: Vec<Finish> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        observer.queued(-(jobs.len() as i64));
        let refuse = |jobs: &mut Vec<Job>, why: CommitError| {
            let jobs: Vec<Job> = std::mem::take(jobs);
            async move {
                for job in jobs {
                    let (_, finish) = job(None).await;
                    finish(Err(why.clone()));
                }
            }
        };
        if fenced.load(Ordering::Relaxed) {
            refuse(&mut jobs, CommitError::Fenced).await;
            continue;
        }
        // Timed from here, as the SQLite writer times from its BEGIN: the connection,
        // the lease check, the jobs' statements and the commit (the flush).
        let began = Instant::now();
        // A connection per batch (from a pool the process's schools share): one that
        // broke is replaced.
        let conn = match pool.get().await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::error!(error = %e, "the writer has no database connection");
                refuse(
                    &mut jobs,
                    CommitError::Unavailable(format!("no database connection: {e}")),
                )
                .await;
                continue;
            }
        };
        let c: &Conn = &conn;
        if let Some(fence) = &fence {
            match begin_fenced(c, fence).await {
                Ok(true) => {}
                Ok(false) => {
                    let _ = c.batch_execute("ROLLBACK").await;
                    tracing::warn!(school = %fence.slug, epoch = fence.epoch, "the school's lease was taken over: its writes are refused");
                    fenced.store(true, Ordering::Relaxed);
                    (fence.on_fenced)();
                    refuse(&mut jobs, CommitError::Fenced).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not begin a write");
                    let _ = c.batch_execute("ROLLBACK").await;
                    refuse(&mut jobs, CommitError::of(&e)).await;
                    continue;
                }
            }
        }
        let mut broken: Option<CommitError> = None;
        for (i, job) in jobs.drain(..).enumerate() {
            if broken.is_some() {
                // The transaction is lost: the job does not run, its caller hears why.
                finishes.push(job(None).await.1);
                continue;
            }
            let prefix = if i == 0 && fence.is_none() {
                begin.as_str()
            } else if i == 0 {
                path.as_str()
            } else {
                "RELEASE job; SAVEPOINT job"
            };
            // The savepoint goes out in the same pipeline as the job's first statement.
            let (began, (failed, finish)) = tokio::join!(c.batch_execute(prefix), job(Some(c)));
            if let Err(e) = began {
                tracing::error!(error = %e, "could not begin a write");
                broken = Some(CommitError::of(&e));
            } else if failed && let Err(e) = c.batch_execute("ROLLBACK TO SAVEPOINT job").await {
                tracing::error!(error = %e, "could not roll back a failed write");
                broken = Some(CommitError::of(&e));
            }
            finishes.push(finish);
        }
        let committed = if let Some(why) = broken {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(match why {
                CommitError::Other(_) => CommitError::Other("the write transaction was lost".into()),
                other => other,
            })
        } else {
            match c.batch_execute("COMMIT").await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let _ = c.batch_execute("ROLLBACK").await;
                    Err(CommitError::of(&e))
                }
            }
        };
        if let Err(e) = &committed {
            tracing::error!(error = ?e, batch = finishes.len(), "group commit failed");
        }
        observer.committed(finishes.len(), began.elapsed());
        for finish in finishes.drain(..) {
            finish(committed.clone());
        }
    }
    tracing::debug!("postgres writer stopped");
}
