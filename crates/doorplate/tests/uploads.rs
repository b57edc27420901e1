//! Uploads on either store (this binary runs in the SQLite pass and in the PostgreSQL
//! one, where the bytes are pieces in the school's schema): a refused upload leaves no
//! bytes, however many pieces it had stored; one user cannot pile up uploads nobody
//! sends; uploads no message took are removed after an hour, bytes and rows; a stored
//! upload whose bytes are shorter than its row is 404, not a dropped connection.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A PNG signature followed by bytes that depend on their offset: sniffed as a picture,
/// `size` bytes long.
fn png(size: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let n = v.len();
    v.extend((n..size).map(|i| (i * 13 + i / 977) as u8));
    v.truncate(size);
    v
}

/// The stored uploads once a refused upload's clean-up has run (on PostgreSQL it
/// removes its pieces in a task of its own, right after the answer).
async fn settled_uploads(dir: &std::path::Path, expected: usize) -> Vec<String> {
    for _ in 0..50 {
        let names = stored_uploads(dir).await;
        if names.len() == expected {
            return names;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stored_uploads(dir).await
}

/// A picture larger than the school's limit is refused (413) once the limit is passed —
/// after pieces of it were already stored — and leaves no bytes; one within the limit
/// of several pieces is stored whole and downloads whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_leaves_no_bytes_however_far_it_got() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let (st, v) = s
        .api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"max_image_bytes": 700_000})),
        )
        .await;
    assert!(st.is_success(), "{v}");
    let (st, v) = upload_bytes(&s.api, &s.gwen_token, png(2_000_000)).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        "{v}"
    );
    assert_eq!(settled_uploads(&server.dir.0, 0).await, Vec::<String>::new());

    let good = png(650_000);
    let (st, v) = upload_bytes(&s.api, &s.gwen_token, good.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, bytes) = download_media(&s.api, &s.gwen_token, v["media_id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        bytes == good,
        "the stored picture is the uploaded one ({} bytes)",
        bytes.len()
    );
    assert_eq!(stored_uploads(&server.dir.0).await.len(), 1);
}

/// A stored upload whose bytes are shorter than its row answers 404, not a
/// `Content-Length` the body never reaches (which the client saw as a dropped
/// connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_upload_is_404_not_a_dropped_connection() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let (st, v) = upload_bytes(&s.api, &s.gwen_token, png(300_000)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let name = stored_uploads(&server.dir.0).await.pop().unwrap();
    // Cut short behind the server's back: its first 1000 bytes only.
    let media = default_school_media(&server.dir.0).await;
    media.remove(vec![name.clone()]).await.unwrap();
    doorplate_store::media_bytes::write_all(media.as_ref(), &name, &png(1000), 0)
        .await
        .unwrap();
    let (st, body) = download_media(&s.api, &s.gwen_token, v["media_id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error_code(&body), "not_found");
}

/// one user may start so many uploads a minute (429 with Retry-After) and keep
/// so many bytes in uploads no message carries (413); sending one frees its bytes, and
/// other users are not affected. A refused upload leaves no file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_cannot_pile_up_unsent_uploads_or_upload_without_pause() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let config = doorplate_server::Config {
        uploads: doorplate_domain::uploads::UploadPolicy {
            per_minute: 4,
            pending_bytes: 100_000,
        },
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_with(dir, config).await;
    let s = School::new(&server).await;
    let api = &s.api;
    // Pictures up to 64 KiB, so the quota (100 kB) is more than one picture.
    let (st, v) = api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"max_image_bytes": 65_536})),
        )
        .await;
    assert!(st.is_success(), "{v}");

    let (st, first) = upload_bytes(api, &s.gwen_token, png(60_000)).await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    let (st, v) = upload_bytes(api, &s.gwen_token, png(60_000)).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "upload_quota"),
        "120 kB unsent is past the quota: {v}"
    );
    assert_eq!(
        settled_uploads(&server.dir.0, 1).await.len(),
        1,
        "the refused upload left no bytes"
    );

    // Sending the first frees its bytes.
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, m) = api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "pic", "kind": "image", "media_id": first["media_id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    let (st, v) = upload_bytes(api, &s.gwen_token, png(60_000)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = upload_bytes(api, &s.gwen_token, png(2_000)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    // That was the fourth upload this minute.
    let (st, v) = upload_bytes(api, &s.gwen_token, png(2_000)).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::TOO_MANY_REQUESTS, "upload_rate"),
        "{v}"
    );
    let retry: u64 = v["retry_after"].as_str().expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another guardian is not affected.
    let (st, v) = upload_bytes(api, &s.hal_token, png(2_000)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
}

/// uploads no message took are removed an hour after they were made (files
/// and rows); what a message carries stays. The sweep takes `now`, so the test runs it
/// an hour ahead instead of waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_no_message_took_within_an_hour_are_removed() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let config = doorplate_server::Config {
        database: test_database(&dir.0).await,
        ..doorplate_server::Config::new(dir.0.clone())
    };
    // The app the real router serves, held here so the test can run the sweep itself.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let clock = std::sync::Arc::new(doorplate_server::school::clock::SystemClock);
    let app = doorplate_server::open_app(&config, clock, stopped).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = doorplate_server::router(app.clone(), &config.http).unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let s = School::with_api(Api {
        base,
        http: reqwest::Client::new(),
    })
    .await;
    let api = &s.api;

    let (_, orphan) = upload_bytes(api, &s.gwen_token, png(5_000)).await;
    let (_, sent) = upload_bytes(api, &s.gwen_token, png(6_000)).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, m) = api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "pic", "kind": "image", "media_id": sent["media_id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    assert_eq!(stored_uploads(&dir.0).await.len(), 2);

    let now = doorplate_server::school::now_micros();
    assert_eq!(app.sweep_unattached(now).await, 0, "too young");
    let later = now + doorplate_server::uploads::UNATTACHED_TTL + 1_000_000;
    assert_eq!(app.sweep_unattached(later).await, 1);
    assert_eq!(stored_uploads(&dir.0).await.len(), 1, "the orphan's bytes are gone");
    let (st, _) = download_media(api, &s.gwen_token, orphan["media_id"].as_str().unwrap()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, bytes) = download_media(api, &s.gwen_token, sent["media_id"].as_str().unwrap()).await;
    assert_eq!((st, bytes.len()), (StatusCode::OK, 6_000));
}
