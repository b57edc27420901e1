//! The SQLite adapter on a real file: idempotent sends, group commit under concurrency,
//! and retention.

use doorplate_domain::{MessageKind, MessageStatus, Role};
use doorplate_store::{NewMessage, NewUser, Store, sqlite::SqliteStore};
use std::sync::Arc;

fn temp_db() -> (std::path::PathBuf, SqliteStore) {
    let dir = std::env::temp_dir().join(format!(
        "doorplate-store-test-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("t.db")).unwrap();
    (dir, store)
}

async fn user(s: &SqliteStore, role: Role, name: &str) -> i64 {
    s.create_user(NewUser {
        role: Some(role),
        display_name: name.into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .id
}

fn msg(conv: i64, from: i64, to: i64, client_id: &str, now: i64) -> NewMessage {
    NewMessage {
        conversation_id: conv,
        sender_id: from,
        recipient_id: to,
        client_id: client_id.into(),
        kind: MessageKind::Text,
        text: Some(format!("text of {client_id}")),
        media_id: None,
        urgent: false,
        now,
        status: MessageStatus::Sent,
        notified_rooms: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sends_are_each_stored_once_and_retention_purges_the_old() {
    let (dir, store) = temp_db();
    let store = Arc::new(store);
    let g = user(&store, Role::Guardian, "G").await;
    let s = user(&store, Role::Student, "S").await;
    let conv = store.open_conversation(g, s, 0).await.unwrap();
    // 400 sends from 8 tasks, each sent twice: group commit batches them; the second
    // of each pair returns the first.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let id = format!("{t}-{i}");
                let (a, created) = store.insert_message(msg(conv.id, g, s, &id, 1_000 + i)).await.unwrap();
                let (b, again) = store.insert_message(msg(conv.id, g, s, &id, 9_999)).await.unwrap();
                assert!(created && !again);
                assert_eq!((a.id, b.created_at), (b.id, 1_000 + i));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = store.messages(conv.id, None, Some(0), 200).await.unwrap();
    assert_eq!(all.len(), 200);
    let unread = |counts: Vec<(i64, u32)>| counts.into_iter().find(|c| c.0 == s).map_or(0, |c| c.1);
    assert_eq!(unread(store.unread_counts().await.unwrap()), 400);

    // Retention: everything sent before 1_025 goes (8 tasks × 25 messages).
    store.purge_before(1_025).await.unwrap();
    assert_eq!(unread(store.unread_counts().await.unwrap()), 200);
    let left = store.messages(conv.id, None, None, 200).await.unwrap();
    assert!(left.iter().all(|m| m.created_at >= 1_025));
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}
