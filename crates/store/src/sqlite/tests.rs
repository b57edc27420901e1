//! A job that panics (a bug) fails alone: its changes are rolled back, its caller hears
//! an internal error, and the writer thread goes on serving every other write — the
//! readiness heartbeat included.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_job_fails_alone_and_the_writer_lives_on() {
    let dir = std::env::temp_dir().join(format!("doorplate-store-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("t.db")).unwrap();
    store.heartbeat(1).await.unwrap();

    let crashed = store
        .write(|c| -> Result<()> {
            c.execute("INSERT INTO kv (key, value) VALUES ('half', 'done')", [])
                .map_err(db)?;
            panic!("a bug inside a write job")
        })
        .await;
    assert!(
        matches!(&crashed, Err(StoreError::Internal(m)) if m.contains("panicked")),
        "{crashed:?}"
    );
    // Its half-done change is gone; the writer still commits.
    assert_eq!(store.kv_get("half".into()).await.unwrap(), None);
    store.heartbeat(2).await.expect("the writer lives on");
    store.kv_put("after".into(), "yes".into()).await.unwrap();
    assert_eq!(store.kv_get("after".into()).await.unwrap().as_deref(), Some("yes"));
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
