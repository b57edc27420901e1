//! Time-based behaviour on the school's clock, moved by hand: end of day (R6) and idle
//! sessions, each without waiting for real time to pass.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn end_of_day_clears_who_people_placed_and_ends_their_sessions() {
    // 22:29 on the school's clock; the school's end of day is 22:30 (the default).
    let evening: jiff::Timestamp = "2026-11-30T22:29:00Z".parse().unwrap();
    let server = TestServer::start_at(evening).await;
    let s = School::new(&server).await;
    assert_eq!(s.api.get("/api/v1/settings", &s.admin).await.1["end_of_day"], "22:30");
    let mut plate = Events::open(&server.base, &s.device, None).await;
    // Ann checks in herself and opens her session; a teacher places Bob.
    let sess = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let token = sess["session_token"].as_str().unwrap().to_string();
    s.api
        .ok(
            "/api/v1/presence",
            &s.teacher_token,
            json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.bob["id"]]}),
        )
        .await;
    plate.expect("presence.joined").await;
    plate.expect("presence.joined").await;
    // A minute before: nothing happens.
    server.advance(30.0);
    let quiet = plate.drain(300).await;
    assert!(quiet.iter().all(|e| e["type"] != "presence.left"), "{quiet:?}");
    // 22:30:30: both leave with the reason end_of_day, and Ann's session is over.
    server.advance(60.0);
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let left = plate.expect("presence.left").await;
        reasons.push((
            left["user_id"].as_str().unwrap().to_string(),
            left["reason"].to_string(),
        ));
    }
    reasons.sort();
    let mut want = vec![
        (s.ann["id"].as_str().unwrap().to_string(), "\"end_of_day\"".to_string()),
        (s.bob["id"].as_str().unwrap().to_string(), "\"end_of_day\"".to_string()),
    ];
    want.sort();
    assert_eq!(reasons, want);
    assert_eq!(
        s.api.get("/api/v1/conversations", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["present"], json!([]));
    // Once a day: a student who checks in after it stays.
    s.api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    server.advance(120.0);
    let later = plate.drain(300).await;
    assert!(later.iter().all(|e| e["type"] != "presence.left"), "{later:?}");
}

#[tokio::test]
async fn a_session_idles_out_on_the_schools_clock() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let sess = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let idle = sess["idle_seconds"].as_f64().unwrap();
    let token = sess["session_token"].as_str().unwrap();
    server.advance(idle - 1.0);
    assert_eq!(s.api.get("/api/v1/conversations", token).await.0, StatusCode::OK);
    server.advance(idle + 1.0);
    let ended = plate.expect("session.ended").await;
    assert_eq!(
        (ended["user_id"].clone(), ended["reason"].as_str()),
        (s.ann["id"].clone(), Some("idle"))
    );
    assert_eq!(
        s.api.get("/api/v1/conversations", token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // She is still present (R4: the session ends, not the presence).
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["present"][0]["user_id"], s.ann["id"]);
}
