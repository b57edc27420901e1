//! The writer thread's death is reported, not hidden: a job that panics takes the thread
//! with it, and from then on every write — the readiness heartbeat first — answers
//! `WriterStopped` while reads still answer (which is why /readyz must write).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_writer_fails_the_heartbeat_while_reads_still_work() {
    let dir = std::env::temp_dir().join(format!("doorplate-store-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("t.db")).unwrap();
    store.heartbeat(1).await.unwrap();

    let crashed = store
        .write(|_| -> Result<()> { panic!("a bug inside a write job") })
        .await;
    assert!(matches!(crashed, Err(StoreError::WriterStopped)), "{crashed:?}");
    let heartbeat = store.heartbeat(2).await;
    assert!(matches!(heartbeat, Err(StoreError::WriterStopped)), "{heartbeat:?}");
    store.ping().await.expect("reads still answer");
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
