//! `serve --metrics-listen`: Prometheus text at `/metrics` on a listener of its own, with
//! the series an operator watches, each school's under its slug, and never a message,
//! a name, a username or a token in it.

mod common;

use common::*;
use doorplate_server::district::SchoolInfo;
use doorplate_server::district::catalog::FolderCatalog;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The value of the one series `name{…}` that carries every label in `labels`.
fn value(scrape: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<f64> = scrape
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|(k, v)| l.contains(&format!("{k}=\"{v}\""))))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(found.len(), 1, "one series {name} {labels:?} in:\n{scrape}");
    found[0]
}

/// The series lines (not comments) of a scrape.
fn series(scrape: &str) -> usize {
    scrape.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count()
}

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    let res = http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.contains("openmetrics-text"), "{kind}");
    res.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_counts_what_happened_and_names_nobody() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    FolderCatalog::new(&dir.0)
        .create(SchoolInfo {
            slug: "north".into(),
            name: "North".into(),
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", metrics.local_addr().unwrap());
    let config = doorplate_server::Config {
        metrics_listener: Some(Arc::new(metrics)),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_configured(dir, config).await;
    let http = reqwest::Client::new();
    let s = School::new(&server).await;
    let main = [("school", "main")];

    let before = scrape(&http, &url).await;
    assert_eq!(value(&before, "doorplate_schools_hosted", &[]), 2.0);
    for kind in ["device", "user", "session"] {
        assert_eq!(
            value(&before, "doorplate_live_sockets", &[("school", "main"), ("kind", kind)]),
            0.0
        );
    }
    assert_eq!(value(&before, "doorplate_messages_stored_total", &main), 0.0);
    assert_eq!(
        value(&before, "doorplate_messages_stored_total", &[("school", "north")]),
        0.0
    );

    // The doorplate's socket; Ann opens her session at it (an active presence), and
    // watches on a socket of the session; Gwen watches on her app's.
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let session = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let session_token = session["session_token"].as_str().unwrap().to_string();
    plate.expect("presence.joined").await;
    let _ann = Events::open(&server.base, &session_token, None).await;
    let _gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let hints_before = value(&scrape(&http, &url).await, "doorplate_hints_sent_total", &main);

    // Gwen writes to Ann: stored, and a hint to the doorplate Ann is at.
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let secret_text = "the-lunch-box-is-blue-7731";
    let (status, _) = s.send_text(&s.gwen_token, &conv, "cid-metrics-1", secret_text).await;
    assert!(status.is_success());
    plate.expect("notify.new_message").await;
    // The same client id again is not a second message.
    let (status, _) = s.send_text(&s.gwen_token, &conv, "cid-metrics-1", secret_text).await;
    assert!(status.is_success());

    // A guesser runs out an account's budget (5 wrong passwords a minute).
    let guessed = "mallory-was-here";
    for _ in 0..6 {
        s.api
            .http
            .post(format!("{}/api/v1/auth/login", s.api.base))
            .json(&json!({"username": guessed, "password": "wrong-wrong"}))
            .send()
            .await
            .unwrap();
    }
    // A path no route has: counted as `unmatched`, its text never a label.
    let stray = "zz-no-such-endpoint-qq";
    let (st, _) = s.api.get(&format!("/api/v1/{stray}/12345"), &s.admin).await;
    assert_eq!(st, 404);

    let after = scrape(&http, &url).await;
    assert_eq!(value(&after, "doorplate_messages_stored_total", &main), 1.0);
    assert_eq!(
        value(&after, "doorplate_messages_stored_total", &[("school", "north")]),
        0.0
    );
    assert_eq!(value(&after, "doorplate_hints_sent_total", &main), hints_before + 1.0);
    for kind in ["device", "user", "session"] {
        assert_eq!(
            value(&after, "doorplate_live_sockets", &[("school", "main"), ("kind", kind)]),
            1.0,
            "{kind} socket"
        );
    }
    assert_eq!(value(&after, "doorplate_personal_sessions", &main), 1.0);
    assert_eq!(
        value(
            &after,
            "doorplate_presences",
            &[("school", "main"), ("source", "active")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "doorplate_presences",
            &[("school", "main"), ("source", "timetable")]
        ),
        0.0
    );
    assert!(
        value(
            &after,
            "doorplate_throttled_attempts_total",
            &[("school", "main"), ("kind", "account")]
        ) >= 1.0
    );
    let send = [
        ("school", "main"),
        ("method", "POST"),
        ("route", "/api/v1/conversations/{id}/messages"),
        ("status", "2xx"),
    ];
    assert_eq!(value(&after, "doorplate_http_requests_total", &send), 2.0);
    assert!(
        value(
            &after,
            "doorplate_http_request_duration_seconds_count",
            &[("method", "POST"), ("route", "/api/v1/conversations/{id}/messages")]
        ) >= 2.0
    );
    let unmatched = [("school", "main"), ("route", "unmatched"), ("status", "4xx")];
    assert_eq!(value(&after, "doorplate_http_requests_total", &unmatched), 1.0);
    // The writer committed batches and has nothing waiting.
    assert!(value(&after, "doorplate_store_commit_seconds_count", &main) >= 1.0);
    assert!(value(&after, "doorplate_store_batch_size_count", &main) >= 1.0);
    assert!(value(&after, "doorplate_store_batch_size_sum", &main) >= 1.0);
    assert_eq!(value(&after, "doorplate_store_writer_queue", &main), 0.0);

    // Routes are templates: no id of anything appears in a label.
    let routes: Vec<&str> = after
        .split("route=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap())
        .collect();
    assert!(routes.contains(&"/api/v1/conversations/{id}/messages"), "{routes:?}");
    for r in &routes {
        assert!(
            *r == "unmatched" || !r.replace("/api/v1", "").chars().any(|c| c.is_ascii_digit()),
            "route label {r:?} carries an id"
        );
    }
    // Nothing a person wrote or is called, and no credential.
    for secret in [
        secret_text,
        guessed,
        stray,
        "gwen",
        "Gwen",
        "Ann",
        "mum",
        "Room 301",
        "Door 301",
        s.admin.as_str(),
        s.gwen_token.as_str(),
        s.device.as_str(),
        session_token.as_str(),
        s.ann_qr.as_str(),
        "04A1B2C3",
        PASSWORD,
        ADMIN_PASSWORD,
    ] {
        assert!(!after.contains(secret), "{secret:?} appears in the scrape");
    }

    // Fixed buckets, closed label sets: scraping again adds no series.
    let again = scrape(&http, &url).await;
    assert_eq!(series(&again), series(&after));

    // Sockets that close stop being counted.
    plate.close().await;
    let mut gone = f64::NAN;
    for _ in 0..50 {
        let now = scrape(&http, &url).await;
        gone = value(
            &now,
            "doorplate_live_sockets",
            &[("school", "main"), ("kind", "device")],
        );
        if gone == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gone, 0.0);
    server.stop().await;
}

#[tokio::test]
async fn without_the_flag_nothing_listens_for_metrics() {
    let server = TestServer::start().await;
    // The API does not serve them either.
    let (status, _) = server.api().get("/metrics", "none").await;
    assert_eq!(status, 404);
    server.stop().await;
}

/// On PostgreSQL the writer is measured as on SQLite (the same series, the same labels),
/// and a school the process no longer hosts leaves no series behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_writer_is_measured_and_a_removed_school_leaves_no_series() {
    use doorplate_server::district::catalog::{Catalog, Database};
    let dir = TempDir::new();
    let namespace = format!("x{:012x}_", rand_u64() & 0xffff_ffff_ffff);
    // TempDir's drop removes this namespace's schemas.
    std::fs::write(dir.0.join("test-namespace"), &namespace).unwrap();
    let url = tokio::task::spawn_blocking(pgtest::database_url).await.unwrap();
    let db = Database { url, namespace };
    doorplate_server::crypto::Secrets::load_or_create(&dir.0).unwrap();
    let catalog = Catalog::open(&dir.0, Some(&db)).await.unwrap();
    catalog
        .open_store(&catalog.get(None).await.unwrap())
        .await
        .unwrap()
        .create_user(doorplate_store::NewUser {
            role: Some(doorplate_domain::Role::Admin),
            display_name: "Admin".into(),
            username: Some("admin".into()),
            password_hash: Some(doorplate_server::crypto::hash_password(ADMIN_PASSWORD)),
            card_hash: None,
            now: doorplate_server::school::now_micros(),
        })
        .await
        .unwrap();
    catalog
        .create(SchoolInfo {
            slug: "north".into(),
            name: "North".into(),
            timezone: "UTC".into(),
        })
        .await
        .unwrap();
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metrics", metrics.local_addr().unwrap());
    let config = doorplate_server::Config {
        metrics_listener: Some(Arc::new(metrics)),
        database: Some(db.clone()),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_configured(dir, config).await;
    let http = reqwest::Client::new();
    let s = School::new(&server).await;
    let main = [("school", "main")];
    let north = [("school", "north")];

    let before = scrape(&http, &url).await;
    let commits_before = value(&before, "doorplate_store_commit_seconds_count", &main);
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    for i in 0..5 {
        let (status, _) = s
            .send_text(&s.gwen_token, &conv, &format!("pg-metrics-{i}"), "hello")
            .await;
        assert!(status.is_success());
    }
    // A request to north, so it has a request series too.
    let (st, _) = api_at(&format!("{}/s/north", server.base))
        .get("/api/v1/me", "no-such-token")
        .await;
    assert_eq!(st, 401);

    let after = scrape(&http, &url).await;
    assert_eq!(value(&after, "doorplate_messages_stored_total", &main), 5.0);
    // Every message is a write the PostgreSQL writer committed and timed.
    let commits = value(&after, "doorplate_store_commit_seconds_count", &main);
    assert!(commits >= commits_before + 1.0, "{commits_before} → {commits}");
    assert!(value(&after, "doorplate_store_commit_seconds_sum", &main) > 0.0);
    assert!(value(&after, "doorplate_store_batch_size_sum", &main) >= 5.0);
    assert!(value(&after, "doorplate_store_batch_size_count", &main) >= 1.0);
    assert_eq!(value(&after, "doorplate_store_writer_queue", &main), 0.0);
    // North is hosted and has its series (its writer committed its settings at least
    // when the server read them, or not: the series is there either way).
    value(&after, "doorplate_store_writer_queue", &north);
    value(&after, "doorplate_messages_stored_total", &north);
    assert_eq!(value(&after, "doorplate_schools_hosted", &[]), 2.0);
    assert!(
        after.contains("school=\"north\",method=\"GET\",route=\"/api/v1/me\""),
        "{after}"
    );

    // North leaves the district's list: within a few seconds it is no longer hosted,
    // and not one series names it any more.
    let schema = format!("{}district", db.namespace);
    pgtest::execute(
        &db.url,
        &format!("DELETE FROM \"{schema}\".schools WHERE slug = 'north'"),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut now = scrape(&http, &url).await;
    while now.contains("school=\"north\"") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        now = scrape(&http, &url).await;
    }
    assert_eq!(value(&now, "doorplate_schools_hosted", &[]), 1.0);
    assert!(!now.contains("north"), "a removed school is still reported:\n{now}");
    assert_eq!(
        value(&now, "doorplate_messages_stored_total", &main),
        5.0,
        "main's stay"
    );
    server.stop().await;
}
