//! Failed credentials are throttled, and media types come from the bytes and only
//! participants download. R8 and bad input are in rules_r8_input.rs.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn failed_credentials_are_throttled_with_retry_after() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    for i in 0..5 {
        let (st, v) = s
            .api
            .post(
                "/api/v1/doorplate/checkin",
                &s.device,
                json!({"credential": {"card": format!("BAD{i}")}}),
            )
            .await;
        assert_eq!(
            (st, error_code(&v).as_str()),
            (StatusCode::UNAUTHORIZED, "unknown_card")
        );
    }
    let res = s
        .api
        .http
        .post(format!("{}/api/v1/doorplate/checkin", s.api.base))
        .bearer_auth(&s.device)
        .json(&json!({"credential": {"card": "BAD6"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&secs), "{secs}");
    // Even a good card waits while the doorplate is locked; another doorplate does not.
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
    let (_, dev2) = s.another_doorplate("Other").await;
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &dev2,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // Password guessing is throttled per account, across doorplates too.
    for _ in 0..5 {
        s.api
            .post(
                "/api/v1/doorplate/sessions",
                &dev2,
                json!({"credential": {"username": "bob", "password": "guess!"}}),
            )
            .await;
    }
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/sessions",
            &dev2,
            json!({"credential": {"username": "bob", "password": "guess!"}}),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";

#[tokio::test]
async fn media_types_come_from_the_bytes_and_only_participants_download() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let api = &s.api;
    let upload = |token: &str, mime: &str, body: Vec<u8>| {
        let req = api
            .http
            .post(format!("{}/api/v1/media", api.base))
            .bearer_auth(token)
            .header("content-type", mime)
            .body(body);
        async move {
            let res = req.send().await.unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        }
    };
    let (st, v) = upload(&s.gwen_token, "image/png", PNG.to_vec()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["mime"].as_str(), v["size"].as_u64()),
        (Some("image/png"), Some(PNG.len() as u64))
    );
    let media_id = v["media_id"].clone();
    // A script dressed as a picture, a video declared as a picture, and one too big.
    let (st, v) = upload(&s.gwen_token, "image/png", b"<script>alert('x')</script>".to_vec()).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::BAD_REQUEST, "unsupported_media")
    );
    let (st, v) = upload(&s.gwen_token, "image/jpeg", b"\0\0\0\x18ftypmp42\0\0\0\0isom".to_vec()).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::BAD_REQUEST, "media_type_mismatch")
    );
    api.call(
        "PATCH",
        "/api/v1/settings",
        Some(&s.admin),
        Some(json!({"max_image_bytes": 2048})),
    )
    .await;
    let mut big = PNG.to_vec();
    big.resize(10_000, 0);
    let (st, v) = upload(&s.gwen_token, "image/png", big).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );

    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, m) = api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "pic", "kind": "image", "media_id": media_id}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    assert_eq!(m["message"]["media"]["mime"], "image/png");
    // A picture cannot pass as a voice message.
    let (st, _) = api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "pic2", "kind": "voice", "media_id": media_id}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    let id = media_id.as_str().unwrap();
    let get = |token: &str, range: Option<&str>| {
        let mut req = api
            .http
            .get(format!("{}/api/v1/media/{id}", api.base))
            .bearer_auth(token);
        if let Some(r) = range {
            req = req.header("range", r);
        }
        async move {
            let res = req.send().await.unwrap();
            let st = res.status();
            let cr = res
                .headers()
                .get("content-range")
                .map(|v| v.to_str().unwrap().to_string());
            (st, cr, res.bytes().await.unwrap().to_vec())
        }
    };
    let ann = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let ann = ann["session_token"].as_str().unwrap();
    let (st, _, body) = get(ann, None).await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, PNG));
    let (st, cr, body) = get(&s.gwen_token, Some("bytes=1-3")).await;
    assert_eq!(
        (st, cr.as_deref(), body.as_slice()),
        (
            StatusCode::PARTIAL_CONTENT,
            Some(format!("bytes 1-3/{}", PNG.len()).as_str()),
            &PNG[1..4]
        )
    );
    let (st, _, _) = get(&s.gwen_token, Some("bytes=9999-")).await;
    assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE);
    let (st, _, _) = get(&s.hal_token, None).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "not a participant");
    let (st, _, _) = get(&s.device, None).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a device token never reads content");
}
