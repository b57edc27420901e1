//! The SQLite adapter on a real file: the conformance suite every adapter passes, then
//! what is SQLite's own (group commit under concurrency, the migration runner, the
//! check triggers).

mod conformance;

use doorplate_domain::{MessageKind, MessageStatus, Role};
use doorplate_store::{DirectoryStore, MessageStore, NewMessage, NewUser, sqlite::SqliteStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A folder of its own under the system's temporary folder, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "doorplate-store-conformance-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite store on a new file, for the conformance suite.
async fn fresh_sqlite() -> conformance::Fixture {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.0.join("t.db")).unwrap();
    std::fs::create_dir_all(dir.0.join("media")).unwrap();
    conformance::Fixture {
        store: Arc::new(store),
        media: Arc::new(doorplate_store::media_bytes::files::FileBytes::new(dir.0.join("media"))),
        guard: Box::new(dir),
    }
}

conformance::conformance_suite!(fresh_sqlite);
conformance::media_bytes_suite!(fresh_sqlite);

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
        push: None,
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

#[test]
fn an_edited_migration_stops_the_start_with_its_name() {
    let dir = TempDir::new();
    let path = dir.0.join("t.db");
    drop(SqliteStore::open(&path).unwrap());
    // Reopening an untouched database is fine.
    drop(SqliteStore::open(&path).unwrap());
    // What the runner sees when 0002's text changed after it was applied: a digest
    // that differs from the recorded one.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE schema_migrations SET digest = 'beef' WHERE version = 2", [])
        .unwrap();
    drop(raw);
    let err = SqliteStore::open(&path).err().expect("refused").to_string();
    assert!(err.contains("0002_schedule.sql was edited"), "{err}");
}

#[test]
fn a_database_from_before_checksums_is_adopted_and_upgraded() {
    let dir = TempDir::new();
    let path = dir.0.join("t.db");
    // The old runner: 0001 and 0002 with only user_version to say so.
    let raw = rusqlite::Connection::open(&path).unwrap();
    for (i, sql) in [
        include_str!("../src/sqlite/migrations/0001_init.sql"),
        include_str!("../src/sqlite/migrations/0002_schedule.sql"),
    ]
    .iter()
    .enumerate()
    {
        raw.execute_batch(&format!("BEGIN; {sql}\nPRAGMA user_version = {};\nCOMMIT;", i + 1))
            .unwrap();
    }
    drop(raw);
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<i64> = raw
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(versions, (1..=11).collect::<Vec<i64>>());
    let made = |name: &str| -> i64 {
        raw.query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(made("messages_created"), 1, "0004 ran");
    assert_eq!(made("alerts"), 1, "0005 ran");
    assert_eq!(made("quiet_hours"), 1, "0006 ran");
    let trigger: String = raw
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'messages_check_insert'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(trigger.contains("'call'"), "0008 ran: {trigger}");
    assert!(!trigger.contains("NOT IN"), "0011 ran: {trigger}");
}

/// The check triggers refuse values no enum of ours writes (the typed store cannot
/// produce them, so this goes around it).
#[test]
fn check_triggers_refuse_unknown_kinds_statuses_and_sources() {
    let dir = TempDir::new();
    let path = dir.0.join("t.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "INSERT INTO users (id, role, display_name, created_at) VALUES (1, 'guardian', 'G', 0), (2, 'student', 'S', 0);
         INSERT INTO conversations (id, a_id, b_id, created_at) VALUES (1, 1, 2, 0);
         INSERT INTO rooms (id, name, kind) VALUES (1, 'A101', 'classroom');
         INSERT INTO doorplates (id, room_id, name, created_at) VALUES (1, 1, 'D', 0);
         INSERT INTO messages (id, conversation_id, sender_id, recipient_id, client_id, kind, created_at)
              VALUES (1, 1, 1, 2, 'ok', 'text', 0);",
    )
    .unwrap();
    let refused = |sql: &str| {
        let e = raw.execute_batch(sql).expect_err(sql).to_string();
        assert!(e.contains("check failed"), "{sql}: {e}");
    };
    refused(
        "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, created_at)
              VALUES (1, 1, 2, 'x', 'gif', 0)",
    );
    refused(
        "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, status, created_at)
              VALUES (1, 1, 2, 'y', 'text', 'lost', 0)",
    );
    refused("UPDATE messages SET status = 'deleted' WHERE id = 1");
    refused("INSERT INTO presences (student_id, doorplate_id, source, since) VALUES (2, 1, 'magic', 0)");
    refused(
        "INSERT INTO timetable_slots (room_id, weekday, start_secs, end_secs, kind, title) VALUES (1, 1, 0, 1, 'party', 't')",
    );
    refused("INSERT INTO arrangements (room_id, kind, title, starts_at, ends_at) VALUES (1, 'party', 't', 0, 1)");
    refused("INSERT INTO notices (kind, title, created_at) VALUES ('poster', 't', 0)");
    // Good values still pass, the trace of a call too (0008).
    raw.execute_batch(
        "UPDATE messages SET status = 'read' WHERE id = 1;
         INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, text, created_at)
              VALUES (1, 1, 2, 'call-1', 'call', 'missed:video', 0);
         INSERT INTO presences (student_id, doorplate_id, source, since) VALUES (2, 1, 'teacher_advance', 0);",
    )
    .unwrap();
    // Every value each check lists passes (0011 wrote the lists as comparisons).
    for (i, kind) in ["text", "image", "voice", "video", "call"].iter().enumerate() {
        for status in ["sent", "notified", "read"] {
            raw.execute(
                "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, status, created_at)
                      VALUES (1, 1, 2, ?1, ?2, ?3, 0)",
                rusqlite::params![format!("v{i}{status}"), kind, status],
            )
            .unwrap();
        }
    }
    for source in ["active", "timetable", "teacher_now", "teacher_advance"] {
        raw.execute("UPDATE presences SET source = ?1", [source]).unwrap();
    }
    for kind in ["lesson", "exam", "meeting", "dorm", "activity"] {
        raw.execute(
            "INSERT INTO timetable_slots (room_id, weekday, start_secs, end_secs, kind, title) VALUES (1, 1, 0, 1, ?1, 't')",
            [kind],
        )
        .unwrap();
        raw.execute(
            "INSERT INTO arrangements (room_id, kind, title, starts_at, ends_at) VALUES (1, ?1, 't', 0, 1)",
            [kind],
        )
        .unwrap();
    }
    for kind in ["notice", "announcement", "honour", "showcase"] {
        raw.execute(
            "INSERT INTO notices (kind, title, created_at) VALUES (?1, 't', 0)",
            [kind],
        )
        .unwrap();
    }
}

/// The queries that scanned before 0004 now use its indexes (the statements are the
/// store's own, as shapes: retention by age, the audit log by one filter, unread counts
/// per conversation, the audit's retention).
#[test]
fn retention_audit_and_unread_queries_use_their_indexes() {
    let dir = TempDir::new();
    let path = dir.0.join("t.db");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        let mut s = raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = s.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    for (sql, index) in [
        ("DELETE FROM messages WHERE created_at < 5", "messages_created"),
        (
            "SELECT at FROM audit WHERE 1 = 1 AND action = 'x' ORDER BY id DESC LIMIT 5",
            "audit_action",
        ),
        (
            "SELECT at FROM audit WHERE 1 = 1 AND subject_id = 3 ORDER BY id DESC LIMIT 5",
            "audit_subject",
        ),
        (
            "SELECT COUNT(*) FROM messages m WHERE m.recipient_id = 1 AND m.conversation_id = 2 AND m.status != 'read'",
            "messages_unread_by_conversation",
        ),
        // The messages that wait for a student's arrival (`unnotified_for`, 0011).
        (
            "SELECT m.id FROM messages m WHERE m.recipient_id = 1 AND m.status = 'sent' AND m.status != 'read' ORDER BY m.id",
            "messages_unread_by_conversation",
        ),
        (
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < 5 ORDER BY at LIMIT 10)",
            "audit_at",
        ),
        (
            "SELECT file FROM media WHERE created_at < 5 AND id NOT IN (SELECT image_media_id FROM notices WHERE image_media_id IS NOT NULL)",
            "media_created",
        ),
    ] {
        let p = plan(sql);
        assert!(p.contains(index), "{sql}\n  plan: {p}");
    }
}
