//! Uploads and files on disk: the per-user quota of unattached uploads is checked in the
//! same write that stores one, uploads no message or notice took are found by age and
//! deleted (but never one a message took in between), the database files are private,
//! and the heartbeat writes.

use doorplate_domain::{MessageKind, MessageStatus, Role};
use doorplate_store::{
    DirectoryStore, MediaStore, MessageStore, NewMessage, NewUser, Notice, ScheduleStore, Store, StoreError,
    sqlite::SqliteStore,
};
use std::path::PathBuf;
use std::sync::Arc;

/// A fresh folder for one test's database, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("doorplate-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

async fn upload(s: &SqliteStore, owner: i64, size: u64, at: i64) -> i64 {
    s.insert_media(owner, "image/png".into(), size, format!("m_{owner}_{at}"), at)
        .await
        .unwrap()
        .id
}

fn message(conv: i64, from: i64, to: i64, client_id: &str, media_id: i64) -> NewMessage {
    NewMessage {
        conversation_id: conv,
        sender_id: from,
        recipient_id: to,
        client_id: client_id.into(),
        kind: MessageKind::Image,
        text: None,
        media_id: Some(media_id),
        urgent: false,
        now: 1_000,
        status: MessageStatus::Sent,
        notified_rooms: vec![],
        push: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unattached_uploads_are_found_by_age_and_deleted_unless_something_took_them() {
    let dir = Dir::new("unattached");
    let store = SqliteStore::open(&dir.0.join("t.db")).unwrap();
    let g = user(&store, Role::Guardian, "G").await;
    let s = user(&store, Role::Student, "S").await;
    let t = user(&store, Role::Teacher, "T").await;
    let conv = store.open_conversation(g, s, 0).await.unwrap();
    let old_orphan = upload(&store, g, 10, 100).await;
    let sent = upload(&store, g, 20, 200).await;
    let on_notice = upload(&store, t, 30, 250).await;
    let late = upload(&store, g, 40, 300).await;
    let young = upload(&store, g, 50, 5_000).await;
    store.insert_message(message(conv.id, g, s, "c1", sent)).await.unwrap();
    store
        .create_notice(Notice {
            id: 0,
            kind: "notice".into(),
            title: "Trip".into(),
            body: String::new(),
            room_ids: vec![],
            group_ids: vec![],
            starts_on: None,
            ends_on: None,
            image_media_id: Some(on_notice),
            created_at: 250,
        })
        .await
        .unwrap();

    let ids = |list: Vec<doorplate_store::Media>| list.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(store.unattached_media_before(250).await.unwrap()), vec![old_orphan]);
    assert_eq!(
        ids(store.unattached_media_before(1_000).await.unwrap()),
        vec![old_orphan, late],
        "what a message or a notice carries is not an orphan; what is younger than the cutoff waits"
    );
    assert_eq!(store.unattached_media_bytes(g).await.unwrap(), 10 + 40 + 50);
    assert_eq!(store.unattached_media_bytes(t).await.unwrap(), 0);

    // A message takes `late` after the sweep listed it: the delete leaves it alone.
    store.insert_message(message(conv.id, g, s, "c2", late)).await.unwrap();
    let files = store.delete_unattached_media(vec![old_orphan, late]).await.unwrap();
    assert_eq!(files, vec![format!("m_{g}_100")]);
    assert!(matches!(store.media(old_orphan).await, Err(StoreError::NotFound)));
    for kept in [sent, on_notice, late, young] {
        store.media(kept).await.unwrap();
    }
    assert_eq!(store.unattached_media_bytes(g).await.unwrap(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pending_quota_holds_for_parallel_uploads_and_frees_up_when_a_message_takes_one() {
    let dir = Dir::new("quota");
    let store = Arc::new(SqliteStore::open(&dir.0.join("t.db")).unwrap());
    let g = user(&store, Role::Guardian, "G").await;
    let s = user(&store, Role::Student, "S").await;
    // Ten uploads of 30 bytes at once under a limit of 100: exactly three fit.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .insert_media_within(g, "image/png".into(), 30, format!("f{i}"), i, 100)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut stored = Vec::new();
    for t in tasks {
        stored.extend(t.await.unwrap());
    }
    assert_eq!(stored.len(), 3);
    assert_eq!(store.unattached_media_bytes(g).await.unwrap(), 90);
    let refused = store
        .insert_media_within(g, "image/png".into(), 30, "more".into(), 20, 100)
        .await
        .unwrap();
    assert!(refused.is_none());
    assert!(
        matches!(store.media(4).await, Err(StoreError::NotFound)),
        "a refused upload leaves no row"
    );
    // Sending one frees its bytes.
    let conv = store.open_conversation(g, s, 0).await.unwrap();
    store
        .insert_message(message(conv.id, g, s, "c1", stored[0].id))
        .await
        .unwrap();
    let again = store
        .insert_media_within(g, "image/png".into(), 30, "more".into(), 21, 100)
        .await
        .unwrap();
    assert!(again.is_some());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_its_wal_and_shm_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new("modes");
    let mode = |name: &str| {
        std::fs::metadata(dir.0.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    // A database an older version left readable by everyone is tightened too.
    let old = dir.0.join("old.db");
    drop(SqliteStore::open(&old).unwrap());
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    for name in ["new.db", "old.db"] {
        let store = SqliteStore::open(&dir.0.join(name)).unwrap();
        user(&store, Role::Guardian, "G").await;
        store.heartbeat(1).await.unwrap();
        for file in [name.to_string(), format!("{name}-wal"), format!("{name}-shm")] {
            assert_eq!(mode(&file), 0o600, "{file}");
        }
    }
}
