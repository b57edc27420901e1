//! What a store's writer reports to whoever watches it (the server's metrics), the same
//! for every adapter: the store knows no metrics library, and how the numbers are kept
//! and shown is the watcher's business.

use std::sync::Arc;
use std::time::Duration;

/// Who watches a store's writer. Each call must be cheap and never block: `queued` runs
/// on every write.
pub trait WriterObserver: Send + Sync {
    /// A write joined the queue (`+1`), or the writer took one from it (`-1`).
    fn queued(&self, delta: i64);
    /// A batch of `jobs` writes ended (committed or not) `took` after its `BEGIN`: the
    /// jobs' own work plus the disk sync of the commit.
    fn committed(&self, jobs: usize, took: Duration);
}

/// The watcher of a store nobody watches.
struct Unobserved;

impl WriterObserver for Unobserved {
    fn queued(&self, _: i64) {}
    fn committed(&self, _: usize, _: Duration) {}
}

/// A writer nobody watches.
pub fn unobserved() -> Arc<dyn WriterObserver> {
    Arc::new(Unobserved)
}
