//! The PostgreSQL adapter on a real server (crates/pgtest's throwaway cluster, or
//! `DOORPLATE_TEST_DATABASE`): the conformance suite every adapter passes, each case on
//! a schema of its own, then what is PostgreSQL's own (group commit under concurrency
//! with failing jobs in the batches, the migration check, the CHECK constraints, a
//! database that does not answer).

mod conformance;

use doorplate_domain::{MessageKind, MessageStatus, Role};
use doorplate_store::postgres::PgStore;
use doorplate_store::{DirectoryStore, MessageStore, NewMessage, NewUser, StoreError};
use pgtest::TestSchema;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A database URL and a fresh schema name (dropped with the guard); blocking work off the
/// runtime's threads.
async fn schema() -> TestSchema {
    tokio::task::spawn_blocking(TestSchema::new).await.unwrap()
}

/// A fresh store on a schema of its own, for the conformance suite.
async fn fresh_pg() -> conformance::Fixture {
    let schema = schema().await;
    let store = PgStore::open(&schema.url, &schema.name).await.unwrap();
    conformance::Fixture {
        media: Arc::new(store.media_bytes()),
        store: Arc::new(store),
        guard: Box::new(schema),
    }
}

conformance::conformance_suite!(fresh_pg);
conformance::media_bytes_suite!(fresh_pg);

/// A plain connection to the test database, for what goes around the store.
async fn raw(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    client
}

async fn user(s: &PgStore, role: Role, name: &str) -> i64 {
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
    let schema = schema().await;
    let store = Arc::new(PgStore::open(&schema.url, &schema.name).await.unwrap());
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
}

/// Jobs that fail share batches with jobs that succeed: each failure spoils only itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_spoils_only_itself_in_a_batch() {
    let schema = schema().await;
    let store = Arc::new(PgStore::open(&schema.url, &schema.name).await.unwrap());
    // 8 tasks each create 30 users, every one also trying a username another task took.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..30 {
                let mine = format!("u{t}-{i}");
                let shared = format!("shared-{i}");
                for name in [mine, shared] {
                    let made = store
                        .create_user(NewUser {
                            role: Some(Role::Student),
                            display_name: name.clone(),
                            username: Some(name.clone()),
                            ..Default::default()
                        })
                        .await;
                    outcomes.push((name, made.map(|u| u.id)));
                }
            }
            outcomes
        }));
    }
    let mut created = 0;
    let mut conflicts = 0;
    for t in tasks {
        for (name, made) in t.await.unwrap() {
            match made {
                Ok(id) => {
                    created += 1;
                    assert_eq!(store.user(id).await.unwrap().username.as_deref(), Some(name.as_str()));
                }
                Err(StoreError::Conflict("username")) => {
                    assert!(name.starts_with("shared-"));
                    conflicts += 1;
                }
                Err(e) => panic!("{name}: {e:?}"),
            }
        }
    }
    // Every own name and one of each shared name went in; the 7 others of each conflict.
    assert_eq!((created, conflicts), (8 * 30 + 30, 7 * 30));
    assert_eq!(store.list_users(None, None, 1_000).await.unwrap().len(), 8 * 30 + 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_migration_stops_the_open_with_its_name() {
    let schema = schema().await;
    drop(PgStore::open(&schema.url, &schema.name).await.unwrap());
    // Reopening an untouched schema is fine.
    drop(PgStore::open(&schema.url, &schema.name).await.unwrap());
    // What the runner sees when 0001's text changed after it was applied: a digest that
    // differs from the recorded one.
    raw(&schema.url)
        .await
        .execute(
            &format!(
                "UPDATE {}.schema_migrations SET digest = 'beef' WHERE version = 1",
                schema.name
            ),
            &[],
        )
        .await
        .unwrap();
    let err = PgStore::open(&schema.url, &schema.name)
        .await
        .expect_err("refused")
        .to_string();
    assert!(err.contains("0001_init.sql was edited"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_opening_one_new_schema_at_once_both_work() {
    let schema = schema().await;
    let (a, b) = tokio::join!(
        PgStore::open(&schema.url, &schema.name),
        PgStore::open(&schema.url, &schema.name)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let id = user(&a, Role::Admin, "A").await;
    assert_eq!(b.user(id).await.unwrap().display_name, "A");
}

/// The CHECK constraints refuse values no enum of ours writes (the typed store cannot
/// produce them, so this goes around it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_constraints_refuse_unknown_kinds_statuses_and_sources() {
    let schema = schema().await;
    drop(PgStore::open(&schema.url, &schema.name).await.unwrap());
    let c = raw(&schema.url).await;
    c.batch_execute(&format!(
        "SET search_path = {};
         INSERT INTO users (id, role, display_name, created_at) VALUES (1, 'guardian', 'G', 0), (2, 'student', 'S', 0);
         INSERT INTO conversations (id, a_id, b_id, created_at) VALUES (1, 1, 2, 0);
         INSERT INTO rooms (id, name, kind) VALUES (1, 'A101', 'classroom');
         INSERT INTO doorplates (id, room_id, name, created_at) VALUES (1, 1, 'D', 0);
         INSERT INTO messages (id, conversation_id, sender_id, recipient_id, client_id, kind, created_at)
              VALUES (1, 1, 1, 2, 'ok', 'text', 0);",
        schema.name
    ))
    .await
    .unwrap();
    for sql in [
        "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, created_at)
              VALUES (1, 1, 2, 'x', 'gif', 0)",
        "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, status, created_at)
              VALUES (1, 1, 2, 'y', 'text', 'lost', 0)",
        "UPDATE messages SET status = 'deleted' WHERE id = 1",
        "INSERT INTO presences (student_id, doorplate_id, source, since) VALUES (2, 1, 'magic', 0)",
        "INSERT INTO timetable_slots (room_id, weekday, start_secs, end_secs, kind, title) VALUES (1, 1, 0, 1, 'party', 't')",
        "INSERT INTO arrangements (room_id, kind, title, starts_at, ends_at) VALUES (1, 'party', 't', 0, 1)",
        "INSERT INTO notices (kind, title, created_at) VALUES ('poster', 't', 0)",
        "INSERT INTO rooms (name, kind) VALUES ('X', 'garden')",
    ] {
        let e = c.batch_execute(sql).await.expect_err(sql);
        assert_eq!(
            e.code(),
            Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION),
            "{sql}: {e}"
        );
    }
    c.batch_execute(
        "UPDATE messages SET status = 'read' WHERE id = 1;
         INSERT INTO presences (student_id, doorplate_id, source, since) VALUES (2, 1, 'teacher_advance', 0);",
    )
    .await
    .unwrap();
}

/// A database that is not there is a clear error, soon: nothing listens on the port, or
/// the address leads nowhere (TEST-NET-1 is never routed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_does_not_answer_is_a_clear_error_within_seconds() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [
        format!("postgresql://postgres@127.0.0.1:{closed}/postgres"),
        "postgresql://postgres@192.0.2.1:5432/postgres".to_string(),
    ] {
        let started = Instant::now();
        let opened = tokio::time::timeout(Duration::from_secs(10), PgStore::open(&url, "school_x"))
            .await
            .expect("open returned");
        let took = started.elapsed();
        let err = opened.expect_err("no database there").to_string();
        assert!(took < Duration::from_secs(5), "{url}: {took:?}");
        assert!(err.contains("cannot connect to the PostgreSQL database at"), "{err}");
    }
    let bad = PgStore::open("postgresql://postgres@127.0.0.1:1/postgres", "Bad-Name").await;
    assert!(bad.expect_err("refused").to_string().contains("schema name"));
}

/// A row in every table, with every kind of value (and nulls), as a dump.
fn every_table_dump() -> doorplate_store::dump::SchoolDump {
    use doorplate_store::dump::{SchoolDump, TABLES, TableRows, Value};
    use serde_json::json;
    let (i, t, b, by) = (
        Value::Int,
        |s: &str| Value::Text(s.into()),
        Value::Bool,
        |s: &[u8]| Value::Bytes(s.to_vec()),
    );
    let n = || Value::Null;
    let user =
        |id, role: &str, name: &str| vec![i(id), t(role), t(name), n(), n(), n(), n(), b(false), b(false), i(100)];
    let rows: Vec<(&str, Vec<Vec<Value>>)> = vec![
        (
            "users",
            vec![
                vec![
                    i(1),
                    t("admin"),
                    t("Ada"),
                    t("ada"),
                    t("$argon2id$x"),
                    by(b"card"),
                    by(b"qr"),
                    b(false),
                    b(false),
                    i(100),
                ],
                user(2, "student", "Sam"),
                user(3, "guardian", "Gus"),
                user(4, "teacher", "Tea"),
            ],
        ),
        ("guardianships", vec![vec![i(3), i(2), b(true)]]),
        ("tokens", vec![vec![by(&[0, 1, 2]), i(1), i(100), i(200)]]),
        ("rooms", vec![vec![i(7), t("R1"), t("classroom")]]),
        ("groups", vec![vec![i(1), t("7A"), i(4)]]),
        ("group_members", vec![vec![i(1), i(2)]]),
        (
            "doorplates",
            vec![vec![i(1), i(7), t("Door"), by(b"tok"), n(), n(), i(150), i(100)]],
        ),
        ("presences", vec![vec![i(2), i(1), t("active"), i(100), n()]]),
        ("conversations", vec![vec![i(1), i(1), i(2), i(100)]]),
        (
            "media",
            vec![vec![i(1), i(1), t("image/png"), i(5), t("abc.png"), i(100)]],
        ),
        (
            "messages",
            vec![
                vec![
                    i(1),
                    i(1),
                    i(1),
                    i(2),
                    t("c1"),
                    t("text"),
                    t("hi"),
                    n(),
                    b(true),
                    i(110),
                    t("notified"),
                    Value::Texts(vec!["R1".into()]),
                ],
                vec![
                    i(5),
                    i(1),
                    i(2),
                    i(1),
                    t("c2"),
                    t("image"),
                    n(),
                    i(1),
                    b(false),
                    i(120),
                    t("read"),
                    Value::Texts(vec![]),
                ],
            ],
        ),
        (
            "settings",
            vec![vec![i(1), Value::Json(json!({"timezone": "Asia/Shanghai"}))]],
        ),
        (
            "audit",
            vec![vec![
                i(3),
                i(100),
                i(1),
                t("login"),
                n(),
                Value::Json(json!({"a": [1, "x"]})),
            ]],
        ),
        (
            "timetable_slots",
            vec![vec![
                i(1),
                i(7),
                i(1),
                i(28800),
                i(32400),
                t("lesson"),
                t("Maths"),
                i(1),
                i(4),
                t("2026-09-01"),
                n(),
            ]],
        ),
        (
            "arrangements",
            vec![vec![
                i(1),
                i(7),
                t("exam"),
                t("Test"),
                i(100),
                i(200),
                Value::Ints(vec![1]),
                Value::Ints(vec![2, 3]),
                i(4),
                i(1),
            ]],
        ),
        (
            "notices",
            vec![vec![
                i(1),
                t("notice"),
                t("Hi"),
                t("body"),
                Value::Ints(vec![7]),
                Value::Ints(vec![]),
                t("2026-09-01"),
                n(),
                i(1),
                i(100),
            ]],
        ),
        ("suppressions", vec![vec![i(2), i(1), i(300)]]),
        ("kv", vec![vec![t("k"), t("v")]]),
        ("alerts", vec![vec![i(1), i(4), i(1), i(2), i(1), i(110), n()]]),
        ("quiet_hours", vec![vec![i(2), Value::Json(json!([[1, 2]]))]]),
        (
            "push_subscriptions",
            vec![vec![
                i(1),
                i(2),
                t("https://fcm.googleapis.com/fcm/send/x"),
                Value::Bytes(vec![4; 65]),
                Value::Bytes(vec![7; 16]),
                t("Phone"),
                n(),
                i(100),
                i(120),
            ]],
        ),
        (
            "push_queue",
            vec![vec![
                i(1),
                i(1),
                t("c:1"),
                t("{}"),
                i(5),
                i(130),
                i(140),
                i(1),
                i(2),
                n(),
            ]],
        ),
        ("push_settings", vec![vec![i(2), Value::Bool(true)]]),
    ];
    let dump = SchoolDump {
        tables: TABLES
            .iter()
            .map(|table| TableRows {
                name: table.name.into(),
                rows: rows
                    .iter()
                    .find(|(name, _)| *name == table.name)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default(),
            })
            .collect(),
    };
    assert!(dump.tables.iter().all(|t| !t.rows.is_empty()), "a row in every table");
    dump
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_moves_between_sqlite_and_postgres_unchanged_and_ids_go_on() {
    use doorplate_store::Store;
    let dump = every_table_dump();
    let dir = std::env::temp_dir().join(format!("doorplate-dump-{}-{}", std::process::id(), line!()));
    std::fs::create_dir_all(&dir).unwrap();
    let lite = doorplate_store::sqlite::SqliteStore::open(&dir.join("a.db")).unwrap();
    lite.import_dump(dump.clone()).await.unwrap();
    let from_lite = lite.export_dump().await.unwrap();
    assert_eq!(from_lite, dump);
    // A school that is not empty takes nothing.
    assert!(matches!(
        lite.import_dump(dump.clone()).await,
        Err(StoreError::Conflict("school"))
    ));

    let schema = schema().await;
    let pg = PgStore::open(&schema.url, &schema.name).await.unwrap();
    pg.import_dump(from_lite).await.unwrap();
    let from_pg = pg.export_dump().await.unwrap();
    assert_eq!(from_pg, dump);
    assert!(matches!(
        pg.import_dump(dump.clone()).await,
        Err(StoreError::Conflict("school"))
    ));
    assert_eq!(
        pg.export_dump().await.unwrap(),
        dump,
        "the refused import changed nothing"
    );
    // New rows are numbered after the imported ones.
    let id = user(&pg, Role::Student, "New").await;
    assert_eq!(id, 5);

    let back = doorplate_store::sqlite::SqliteStore::open(&dir.join("b.db")).unwrap();
    back.import_dump(from_pg).await.unwrap();
    assert_eq!(back.export_dump().await.unwrap(), dump);
    let _ = std::fs::remove_dir_all(dir);
}

/// Many schools of one process share a fixed number of connections (a district's
/// pools), and a shared connection never shows one school another's rows: 30 schools
/// with the same username each find their own person, in parallel and interleaved,
/// and their media's bytes stay theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schools_share_a_fixed_set_of_connections_and_never_see_each_other() {
    use doorplate_store::media_bytes::{read_all, write_all};
    use doorplate_store::postgres::district::PgDistrict;
    use doorplate_store::postgres::{SHARED_READERS, SHARED_WRITERS};
    let url = tokio::task::spawn_blocking(pgtest::database_url).await.unwrap();
    let ns = format!("c{:x}_", std::process::id());
    let district = PgDistrict::connect(&url, &ns).await.unwrap();
    let mut schools = Vec::new();
    for i in 0..30 {
        let store = Arc::new(district.open_school(&format!("s{i}")).await.unwrap());
        store
            .create_user(NewUser {
                role: Some(Role::Teacher),
                display_name: format!("Teacher of school {i}"),
                username: Some("same".into()),
                ..Default::default()
            })
            .await
            .unwrap();
        write_all(&store.media_bytes(), "m_same", format!("bytes of {i}").as_bytes(), 1)
            .await
            .unwrap();
        schools.push(store);
    }
    for round in 0..3 {
        let reads = schools.iter().enumerate().map(|(i, s)| {
            let s = s.clone();
            async move {
                let u = s.user_by_username("same".into()).await.unwrap();
                assert_eq!(u.display_name, format!("Teacher of school {i}"), "round {round}");
                let bytes = read_all(&s.media_bytes(), "m_same").await.unwrap();
                assert_eq!(bytes, format!("bytes of {i}").as_bytes(), "round {round}");
            }
        });
        futures_util::future::join_all(reads).await;
    }
    let (writers, readers) = district.pools().open_connections();
    assert!(
        writers <= SHARED_WRITERS && readers <= SHARED_READERS,
        "{writers} write and {readers} read connections for 30 schools"
    );
    drop(schools);
    tokio::task::spawn_blocking(move || pgtest::drop_schemas_with_prefix(&url, &ns))
        .await
        .unwrap();
}
