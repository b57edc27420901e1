//! Backup and restore, as an operator runs them: `doorplate backup` against a running
//! server while guardians write, `doorplate restore` into a new folder, a second server
//! on it — and everything a user can see compared through both servers' API. Then what
//! must fail, and fail cleanly: a folder that is not empty, an archive cut short or
//! changed, a wrong passphrase. And the server's own daily backups.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const PASSPHRASE: &str = "a long passphrase for the drill";

/// Runs the `doorplate` binary with `stdin`: (success, stdout, stderr).
fn doorplate(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorplate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn run_doorplate(args: Vec<String>, stdin: &'static str) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        doorplate(&args, stdin)
    })
    .await
    .unwrap()
}

fn is_empty_or_missing(dir: &Path) -> bool {
    match std::fs::read_dir(dir) {
        Ok(mut d) => d.next().is_none(),
        Err(_) => !dir.exists(),
    }
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_str().unwrap().parse().unwrap()
}

/// A school with something of everything a user sees: a presence, messages in each
/// status, an image, an audit trail. Returns (conversations by token, media id).
struct Loaded {
    school: School,
    /// (token, conversation id) for every conversation the test compares.
    convs: Vec<(String, String)>,
    media: String,
}

async fn load(school: School) -> Loaded {
    let s = &school;
    // Ann checks in at her door: a presence, and messages to her are `notified`.
    let (st, v) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let gwen_ann = s.conversation(&s.gwen_token, &s.ann).await;
    let hal_bob = s.conversation(&s.hal_token, &s.bob).await;
    let hal_teacher = s.conversation(&s.hal_token, &s.teacher).await;
    for i in 0..5 {
        let (st, _) = s
            .send_text(&s.gwen_token, &gwen_ann, &format!("g-{i}"), &format!("Hello Ann {i}"))
            .await;
        assert!(st.is_success());
        let (st, _) = s
            .send_text(&s.hal_token, &hal_bob, &format!("h-{i}"), "Bob, 晚饭吃什么？")
            .await;
        assert!(st.is_success());
    }
    // A message the teacher reads: `read`.
    let (_, m) = s
        .send_text(&s.hal_token, &hal_teacher, "t-1", "About Bob's homework")
        .await;
    let (st, v) = s
        .api
        .post(
            &format!("/api/v1/conversations/{hal_teacher}/read"),
            &s.teacher_token,
            json!({"up_to": m["message"]["id"]}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    // An image.
    let media_id = upload_png(&s.api, &s.gwen_token).await;
    let (st, v) = s
        .api
        .post(
            &format!("/api/v1/conversations/{gwen_ann}/messages"),
            &s.gwen_token,
            json!({"client_id": "img-1", "kind": "image", "media_id": media_id}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let convs = vec![
        (s.gwen_token.clone(), gwen_ann),
        (s.hal_token.clone(), hal_bob),
        (s.hal_token.clone(), hal_teacher),
    ];
    Loaded {
        school,
        convs,
        media: media_id,
    }
}

/// Guardians write one message after another until told to stop; returns how many
/// each school's server acknowledged.
fn write_meanwhile(l: &Loaded, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    let api = l.school.api.clone();
    let convs = l.convs[..2].to_vec();
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            for (token, conv) in &convs {
                let (st, v) = api
                    .post(
                        &format!("/api/v1/conversations/{conv}/messages"),
                        token,
                        json!({"client_id": format!("load-{n}"), "kind": "text", "text": format!("during the backup {n}")}),
                    )
                    .await;
                assert!(st.is_success(), "{st} {v}");
                n += 1;
            }
        }
        n
    })
}

/// What a user of `api` sees, for the parts the load does not change (people,
/// presences, conversations, the audit before `before`), so the original and the
/// restored server must agree exactly.
async fn stable_view(api: &Api, l: &Loaded, before: &str) -> Value {
    let s = &l.school;
    let (_, users) = api.get("/api/v1/users", &s.admin).await;
    let doorplate = s.doorplate["id"].as_str().unwrap();
    let (_, presence) = api
        .get(&format!("/api/v1/presence?doorplate_id={doorplate}"), &s.teacher_token)
        .await;
    let mut convs = Vec::new();
    for token in [&s.gwen_token, &s.hal_token, &s.teacher_token] {
        let (st, list) = api.get("/api/v1/conversations", token).await;
        assert_eq!(st, StatusCode::OK, "{list}");
        // Without what the load changes (the last message, unread counts).
        let ids: Vec<Value> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| json!({"id": c["id"], "peer": c["peer"]}))
            .collect();
        convs.push(json!(ids));
    }
    let (_, audit) = api.get("/api/v1/audit?limit=2000", &s.admin).await;
    let before: jiff::Timestamp = before.parse().unwrap();
    let audit: Vec<Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["at"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap() < before)
        .cloned()
        .collect();
    json!({"users": users, "presence": presence, "conversations": convs, "audit": audit})
}

/// Compares one school on both servers: the stable view equal, every message
/// acknowledged before the backup present and unchanged, the restored messages a
/// consistent cut (everything the original stored up to the newest restored message,
/// nothing else), and the image's bytes.
async fn compare(original: &Api, restored: &Api, l: &Loaded, before_backup: &[Vec<Value>], started: &str) {
    assert_eq!(
        stable_view(original, l, started).await,
        stable_view(restored, l, started).await,
        "people, presences, conversations or audit differ"
    );
    let mut orig_all = Vec::new();
    let mut rest_all = Vec::new();
    for (i, (token, conv)) in l.convs.iter().enumerate() {
        let orig = all_messages(original, token, conv).await;
        let rest = all_messages(restored, token, conv).await;
        for m in &before_backup[i] {
            assert!(
                rest.contains(m),
                "a message acknowledged before the backup is missing or changed: {m}"
            );
        }
        orig_all.extend(orig);
        rest_all.extend(rest);
    }
    let cut = rest_all.iter().map(id_of).max().unwrap();
    let mut expected: Vec<&Value> = orig_all.iter().filter(|m| id_of(m) <= cut).collect();
    let mut got: Vec<&Value> = rest_all.iter().collect();
    expected.sort_by_key(|m| id_of(m));
    got.sort_by_key(|m| id_of(m));
    assert_eq!(expected, got, "the restored messages are not a consistent snapshot");
    let before: usize = before_backup.iter().map(Vec::len).sum();
    println!(
        "{}: {before} messages acknowledged before the backup, {} restored, {} on the original",
        original.base,
        got.len(),
        orig_all.len()
    );
    let gwen = &l.school.gwen_token;
    let bytes = |api: &Api| {
        let req = api
            .http
            .get(format!("{}/api/v1/media/{}", api.base, l.media))
            .bearer_auth(gwen.clone());
        async move { req.send().await.unwrap().bytes().await.unwrap().to_vec() }
    };
    assert_eq!(bytes(restored).await, PNG, "the image's bytes");
    assert_eq!(bytes(original).await, PNG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_drill_a_backup_under_load_restores_everything_a_user_sees() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    add_school(&dir.0, "north").await;
    let server = TestServer::start_in(dir).await;
    let root = load(School::new(&server).await).await;
    let north = load(School::with_api(api_at(&format!("{}/s/north", server.base))).await).await;

    // What each school's users saw acknowledged before the backup started.
    let mut acknowledged = Vec::new();
    for l in [&root, &north] {
        let mut per_conv = Vec::new();
        for (token, conv) in &l.convs {
            per_conv.push(all_messages(&l.school.api, token, conv).await);
        }
        acknowledged.push(per_conv);
    }
    let started = jiff::Timestamp::now().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = [
        write_meanwhile(&root, stop.clone()),
        write_meanwhile(&north, stop.clone()),
    ];
    // Let the writers get going, then back up while they write.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let work = TempDir::new();
    let archive = work.0.join("drill.dpbk");
    let data = server.dir.0.to_str().unwrap().to_string();
    let (ok, out, err) = run_doorplate(
        vec![
            "--data".into(),
            data,
            "backup".into(),
            "--out".into(),
            archive.to_str().unwrap().into(),
            "--passphrase-stdin".into(),
        ],
        PASSPHRASE,
    )
    .await;
    assert!(ok, "backup failed: {out} {err}");
    assert!(out.contains("encrypted") && out.contains("2 school(s)"), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        let n = w.await.unwrap();
        println!("{n} messages written while the backup ran");
        assert!(n > 0, "the guardians wrote during the backup");
    }
    assert!(!work.0.join("drill.dpbk.part").exists());

    // Restore into a folder that does not exist yet.
    let target = work.0.join("restored");
    let (ok, out, err) = run_doorplate(
        vec![
            "--data".into(),
            target.to_str().unwrap().into(),
            "restore".into(),
            archive.to_str().unwrap().into(),
            "--passphrase-stdin".into(),
        ],
        PASSPHRASE,
    )
    .await;
    assert!(ok, "restore failed: {out} {err}");
    assert!(out.contains("school main:") && out.contains("school north:"), "{out}");
    assert!(out.contains("1 media files (") && out.contains(" people, "), "{out}");

    let restored = TestServer::start_in(TempDir(target.clone())).await;
    compare(&server.api(), &restored.api(), &root, &acknowledged[0], &started).await;
    compare(
        &api_at(&format!("{}/s/north", server.base)),
        &api_at(&format!("{}/s/north", restored.base)),
        &north,
        &acknowledged[1],
        &started,
    )
    .await;

    // The restored server works on: the same tokens, a new message.
    let (st, v) = root
        .school
        .send_text(&root.school.gwen_token, &root.convs[0].1, "after-restore", "still here")
        .await;
    assert!(st.is_success(), "{v}");
    let (st, v) = restored
        .api()
        .post(
            &format!("/api/v1/conversations/{}/messages", root.convs[0].1),
            &root.school.gwen_token,
            json!({"client_id": "on-restored", "kind": "text", "text": "hello from the copy"}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    restored.stop().await;
    server.stop().await;
}

/// A data folder with one school and a message, served; and an archive of it.
async fn backed_up(passphrase: Option<&str>) -> (TestServer, TempDir, PathBuf) {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    s.send_text(&s.gwen_token, &conv, "m-1", "hello").await;
    let work = TempDir::new();
    let archive = work.0.join("b.dpbk");
    let (data, out) = (server.dir.0.clone(), archive.clone());
    let pass = passphrase.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        doorplate_server::backup::take(&data, &out, pass.as_deref(), doorplate_server::school::now_micros())
    })
    .await
    .unwrap()
    .unwrap();
    (server, work, archive)
}

fn restore_into(archive: &Path, target: &Path, passphrase: Option<&str>) -> (bool, String) {
    let mut args = vec!["--data", target.to_str().unwrap(), "restore", archive.to_str().unwrap()];
    if passphrase.is_some() {
        args.push("--passphrase-stdin");
    }
    let (ok, out, err) = doorplate(&args, passphrase.unwrap_or(""));
    (ok, format!("{out}{err}"))
}

#[tokio::test]
async fn a_restore_refuses_a_folder_that_is_not_empty_and_fills_an_empty_one() {
    let (server, work, archive) = backed_up(None).await;
    let (ok, said) = restore_into(&archive, &server.dir.0, None);
    assert!(!ok && said.contains("is not empty"), "{said}");
    let empty = work.0.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (ok, said) = restore_into(&archive, &empty, None);
    assert!(ok, "{said}");
    assert!(empty.join("secret.key").is_file() && empty.join("doorplate.db").is_file());
    assert_eq!(
        std::fs::read(empty.join("secret.key")).unwrap(),
        std::fs::read(server.dir.0.join("secret.key")).unwrap()
    );
    // Nothing left beside it.
    let names: Vec<_> = std::fs::read_dir(&work.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains("restoring")), "{names:?}");
    server.stop().await;
}

#[tokio::test]
async fn a_cut_or_changed_archive_fails_as_damaged_and_leaves_the_target_empty() {
    for passphrase in [None, Some(PASSPHRASE)] {
        let (server, work, archive) = backed_up(passphrase).await;
        let bytes = std::fs::read(&archive).unwrap();
        let cut = work.0.join("cut.dpbk");
        std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let changed = work.0.join("changed.dpbk");
        let mut flipped = bytes.clone();
        let i = bytes.len() / 2;
        flipped[i] ^= 0x01;
        std::fs::write(&changed, &flipped).unwrap();
        for bad in [&cut, &changed] {
            let target = work.0.join("target");
            let (ok, said) = restore_into(bad, &target, passphrase);
            assert!(!ok, "{} restored: {said}", bad.display());
            assert!(said.contains("damaged archive"), "{said}");
            assert!(is_empty_or_missing(&target), "the target was left with files");
            let left: Vec<_> = std::fs::read_dir(&work.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| n.contains("restoring"))
                .collect();
            assert!(left.is_empty(), "{left:?}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_passphrase_says_so() {
    let (server, work, archive) = backed_up(Some(PASSPHRASE)).await;
    let target = work.0.join("target");
    let (ok, said) = restore_into(&archive, &target, Some("not the passphrase"));
    assert!(
        !ok && said.contains("wrong passphrase") && !said.contains("damaged"),
        "{said}"
    );
    assert!(is_empty_or_missing(&target));
    let (ok, said) = restore_into(&archive, &target, None);
    assert!(!ok && said.contains("encrypted"), "{said}");
    let (ok, said) = restore_into(&archive, &target, Some(PASSPHRASE));
    assert!(ok, "{said}");
    server.stop().await;
}

#[tokio::test]
async fn the_server_backs_up_daily_keeps_the_newest_and_the_console_shows_the_last() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let backups = TempDir::new();
    let config = doorplate_server::Config {
        backups: Some(doorplate_server::backup::schedule::Schedule {
            dir: backups.0.clone(),
            at_minute: 2 * 60 + 30,
            keep: 2,
            passphrase: Some(doorplate_server::backup::Passphrase::new(PASSPHRASE).unwrap()),
        }),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_configured_at(dir, config, monday_morning()).await;
    let s = School::new(&server).await;
    let api = server.api();
    let (st, v) = api.get("/api/v1/backups/last", &s.admin).await;
    assert_eq!((st, v), (StatusCode::OK, Value::Null), "no backup yet");
    let (st, _) = api.get("/api/v1/backups/last", &s.gwen_token).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (_, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert!(
        doc["paths"]["/api/v1/backups/last"]["get"].is_object(),
        "in the OpenAPI document"
    );

    let count = || std::fs::read_dir(&backups.0).unwrap().count();
    for day in 1..=3 {
        server.advance(86_400.0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut last = Value::Null;
        while std::time::Instant::now() < deadline {
            let (_, v) = api.get("/api/v1/backups/last", &s.admin).await;
            // Taken once the clock passed 02:30: at 08:00 of the next day.
            if v["at"]
                .as_str()
                .is_some_and(|at| at.starts_with(&format!("2026-12-0{day}T08:00")))
                && count() == day.min(2)
            {
                last = v;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(last["size_bytes"].as_u64().unwrap_or(0) > 0, "day {day}: {last}");
        assert_eq!(last["encrypted"], true, "sealed with the passphrase file's: {last}");
        assert_eq!(last["database_included"], true, "{last}");
        let file = last["file"].as_str().unwrap();
        assert!(backups.0.join(file).is_file());
        assert_eq!(count(), day.min(2), "keeps the newest two");
    }
    // The last one restores with the passphrase, and only with it.
    let (_, last) = api.get("/api/v1/backups/last", &s.admin).await;
    let file = backups.0.join(last["file"].as_str().unwrap());
    let work = TempDir::new();
    let (ok, said) = restore_into(&file, &work.0.join("a"), None);
    assert!(!ok && said.contains("encrypted"), "{said}");
    let (ok, said) = restore_into(&file, &work.0.join("b"), Some(PASSPHRASE));
    assert!(ok && said.contains("school main:"), "{said}");
    server.stop().await;
}

/// `serve --backup-passphrase-file`: a file that holds no usable passphrase, or one
/// without a backup folder, stops the start with the reason (before anything listens).
#[test]
fn a_backup_passphrase_file_must_hold_a_passphrase_and_needs_a_backup_folder() {
    let dir = TempDir::new();
    let short = dir.0.join("short");
    std::fs::write(&short, "short\n").unwrap();
    let good = dir.0.join("good");
    std::fs::write(&good, format!("{PASSPHRASE}\n")).unwrap();
    let data = dir.0.join("data");
    let backups = dir.0.join("backups");
    let serve = |extra: &[&str]| {
        let mut args = vec!["--data", data.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let (ok, out, err) = doorplate(&args, "");
        (ok, format!("{out}{err}"))
    };
    let (ok, said) = serve(&[
        "--backup-dir",
        backups.to_str().unwrap(),
        "--backup-passphrase-file",
        short.to_str().unwrap(),
    ]);
    assert!(!ok && said.contains("at least 8 characters"), "{said}");
    let missing = dir.0.join("missing");
    let (ok, said) = serve(&[
        "--backup-dir",
        backups.to_str().unwrap(),
        "--backup-passphrase-file",
        missing.to_str().unwrap(),
    ]);
    assert!(!ok && said.contains("reading") && said.contains("missing"), "{said}");
    let (ok, said) = serve(&["--backup-passphrase-file", good.to_str().unwrap()]);
    assert!(!ok && said.contains("need --backup-dir"), "{said}");
    assert!(!said.contains(PASSPHRASE), "the passphrase is never printed: {said}");
}

/// A deployment of its own on the throwaway PostgreSQL (its schemas dropped with the
/// folder), with the first admin in its default school.
async fn postgres_deployment(dir: &Path) -> doorplate_server::district::catalog::Database {
    let namespace = format!("b{:012x}_", rand_u64() & 0xffff_ffff_ffff);
    // TempDir's drop removes this namespace's schemas.
    std::fs::write(dir.join("test-namespace"), &namespace).unwrap();
    let url = tokio::task::spawn_blocking(pgtest::database_url).await.unwrap();
    let db = doorplate_server::district::catalog::Database { url, namespace };
    doorplate_server::crypto::Secrets::load_or_create(dir).unwrap();
    let catalog = doorplate_server::district::catalog::Catalog::open(dir, Some(&db))
        .await
        .unwrap();
    let store = catalog.open_store(&catalog.get(None).await.unwrap()).await.unwrap();
    create_admin_in(&*store).await;
    db
}

fn store_args(db: &doorplate_server::district::catalog::Database) -> Vec<String> {
    vec![
        "--database".into(),
        db.url.clone(),
        "--database-namespace".into(),
        db.namespace.clone(),
    ]
}

/// Runs a shell command line as an operator would, in `dir`, with the PostgreSQL
/// programs of the throwaway cluster's version first on `PATH`.
fn operator_runs(line: &str, dir: &Path) -> (bool, String) {
    let programs = pgtest::programs_dir().unwrap();
    let path = format!("{}:{}", programs.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The URL of another database of the same cluster.
fn other_database(url: &str, name: &str) -> String {
    let (base, rest) = url.rsplit_once('/').unwrap();
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    format!("{base}/{name}{query}")
}

/// On PostgreSQL, `backup` keeps what the database does not — the key file and the
/// media — sealed, and prints the `pg_dump` that pairs with it; the operator runs that
/// dump, restores it into an empty database with the printed `pg_restore`, and
/// `restore` puts the key (at `--key-file`) and the media back and checks them against
/// the restored database. A server on the two serves the same messages and picture,
/// and the sign-ins made before the backup still work: the key came back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_backup_keeps_the_key_and_pairs_with_the_printed_pg_dump_which_holds_the_media() {
    let dir = TempDir::new();
    let db = postgres_deployment(&dir.0).await;
    let config = doorplate_server::Config {
        database: Some(db.clone()),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_configured(dir, config).await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, _) = s.send_text(&s.gwen_token, &conv, "pg-1", "hello from PostgreSQL").await;
    assert!(st.is_success());
    let media = upload_png(&s.api, &s.gwen_token).await;
    let (st, v) = s
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "pg-img", "kind": "image", "media_id": media}),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let before = all_messages(&s.api, &s.gwen_token, &conv).await;

    let work = TempDir::new();
    let archive = work.0.join("pg.dpbk");
    let mut args = vec!["--data".to_string(), server.dir.0.to_str().unwrap().into()];
    args.extend(store_args(&db));
    args.extend([
        "backup".into(),
        "--out".into(),
        archive.to_str().unwrap().into(),
        "--passphrase-stdin".into(),
    ]);
    let (ok, out, err) = run_doorplate(args, PASSPHRASE).await;
    assert!(ok, "backup failed: {out} {err}");
    assert!(out.contains("encrypted, keys only"), "{out}");
    assert!(out.contains("NOT in this archive"), "{out}");
    let ns = &db.namespace;
    let dump_line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pg_dump") && l.contains("--schema="))
        .unwrap_or_else(|| panic!("no schema-by-schema pg_dump printed: {out}"));
    assert!(
        dump_line.contains(&format!("--schema='{ns}district'"))
            && dump_line.contains(&format!("--schema='{ns}school_main'")),
        "{dump_line}"
    );
    let restore_line = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("pg_restore"))
        .unwrap_or_else(|| panic!("no pg_restore printed: {out}"))
        .to_string();

    // The operator dumps the schemas with the printed command.
    let (ok, said) = operator_runs(dump_line, &work.0);
    assert!(ok, "{dump_line}: {said}");
    assert!(work.0.join("doorplate-db.dump").is_file());

    // Without the database at hand, a restore puts the key back and says
    // what else is needed.
    let files_only = work.0.join("files-only");
    let (ok, said) = restore_into(&archive, &files_only, Some(PASSPHRASE));
    assert!(ok, "{said}");
    assert!(
        said.contains("holds no database") && said.contains("pg_restore"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(files_only.join("secret.key")).unwrap(),
        std::fs::read(server.dir.0.join("secret.key")).unwrap()
    );

    // A new, empty database: the dump goes in with the printed pg_restore …
    let name = format!("restored_{:x}", rand_u64() & 0xffff_ffff);
    pgtest::execute(&db.url, &format!("CREATE DATABASE {name}")).unwrap();
    let new_url = other_database(&db.url, &name);
    let line = restore_line.replace(&db.url, &new_url);
    let (ok, said) = operator_runs(&line, &work.0);
    assert!(ok, "{line}: {said}");

    // … then the archive, the key kept apart (--key-file), checked against the database.
    let target = work.0.join("restored");
    let key = work.0.join("etc").join("secret.key");
    let restored_db = doorplate_server::district::catalog::Database {
        url: new_url.clone(),
        namespace: ns.clone(),
    };
    let mut args = vec!["--data".to_string(), target.to_str().unwrap().into()];
    args.extend(store_args(&restored_db));
    args.extend([
        "--key-file".into(),
        key.to_str().unwrap().into(),
        "restore".into(),
        archive.to_str().unwrap().into(),
        "--passphrase-stdin".into(),
    ]);
    let (ok, out, err) = run_doorplate(args, PASSPHRASE).await;
    assert!(ok, "restore failed: {out} {err}");
    assert!(
        out.contains("school main: every one of its 1 media rows has its bytes in the database")
            && out.contains("pair"),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&key).unwrap(),
        std::fs::read(server.dir.0.join("secret.key")).unwrap()
    );
    assert!(!target.join("secret.key").exists(), "the key went to --key-file only");

    let config = doorplate_server::Config {
        database: Some(restored_db),
        key_file: Some(key.clone()),
        ..doorplate_server::Config::new(target.clone())
    };
    let restored = TestServer::start_configured(TempDir(target), config).await;
    let api = restored.api();
    assert_eq!(
        all_messages(&api, &s.gwen_token, &conv).await,
        before,
        "the same messages"
    );
    let picture = api
        .http
        .get(format!("{}/api/v1/media/{media}", api.base))
        .bearer_auth(&s.gwen_token)
        .send()
        .await
        .unwrap();
    assert_eq!(picture.status(), StatusCode::OK);
    assert_eq!(picture.bytes().await.unwrap().to_vec(), PNG);
    restored.stop().await;
    server.stop().await;
    pgtest::execute(&db.url, &format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
}

/// On PostgreSQL the daily backup is what `backup` takes there — key and media,
/// sealed with the passphrase file's passphrase — and its name and the console say the
/// database is not in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_daily_backup_holds_no_database_and_says_so() {
    let dir = TempDir::new();
    let db = postgres_deployment(&dir.0).await;
    let backups = TempDir::new();
    let config = doorplate_server::Config {
        database: Some(db.clone()),
        backups: Some(doorplate_server::backup::schedule::Schedule {
            dir: backups.0.clone(),
            at_minute: 2 * 60 + 30,
            keep: 2,
            passphrase: Some(doorplate_server::backup::Passphrase::new(PASSPHRASE).unwrap()),
        }),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_configured_at(dir, config, monday_morning()).await;
    let s = School::new(&server).await;
    let api = server.api();
    server.advance(86_400.0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut last = Value::Null;
    while last.is_null() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        last = api.get("/api/v1/backups/last", &s.admin).await.1;
    }
    assert_eq!(last["database_included"], false, "{last}");
    assert_eq!(last["encrypted"], true, "{last}");
    let file = last["file"].as_str().unwrap();
    assert!(file.ends_with("-no-database.dpbk"), "{file}");
    let work = TempDir::new();
    let (ok, said) = restore_into(&backups.0.join(file), &work.0.join("r"), Some(PASSPHRASE));
    assert!(
        ok && said.contains("holds no database") && said.contains("school main:"),
        "{said}"
    );
    server.stop().await;
}

/// A disk that fills up during the backup: the command fails saying why, and leaves
/// neither an archive nor its `.part`. (The child may write files of at most 600 KB —
/// `RLIMIT_FSIZE`, so the write fails as on a full disk — enough for the database's
/// snapshot but not for the archive with a 1 MB picture in it.)
#[tokio::test]
async fn a_backup_that_runs_out_of_room_fails_cleanly_and_leaves_no_archive() {
    use std::os::unix::process::CommandExt;
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let mut picture = PNG.to_vec();
    picture.resize(1 << 20, 0);
    let res = s
        .api
        .http
        .post(format!("{}/api/v1/media", s.api.base))
        .bearer_auth(&s.gwen_token)
        .header("content-type", "image/png")
        .body(picture)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let work = TempDir::new();
    let archive = work.0.join("full.dpbk");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorplate"));
    cmd.args([
        "--data",
        server.dir.0.to_str().unwrap(),
        "backup",
        "--out",
        archive.to_str().unwrap(),
    ]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 600 << 10,
                rlim_max: 600 << 10,
            };
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the backup succeeded: {said}");
    assert!(
        said.contains("writing") && said.contains("full.dpbk.part") && said.contains("too large"),
        "{said}"
    );
    let left: Vec<_> = std::fs::read_dir(&work.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    server.stop().await;
}
