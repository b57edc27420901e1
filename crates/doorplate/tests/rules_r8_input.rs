//! R8 on every message endpoint, and bad input that changes nothing. Throttling and
//! media, the rest of the rules tests, are in rules_throttles_media.rs.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn every_forbidden_pair_of_r8_answers_403() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let api = &s.api;
    let other_teacher = api
        .ok(
            "/api/v1/users",
            &s.admin,
            json!({"role": "teacher", "display_name": "Mr Other", "username": "other", "password": PASSWORD}),
        )
        .await["user"]
        .clone();
    let ann_session = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let ann = ann_session["session_token"].as_str().unwrap().to_string();

    let forbidden: Vec<(&str, &str, &Value)> = vec![
        ("student → student", &ann, &s.bob),
        ("student → someone else's guardian", &ann, &s.hal),
        ("guardian → unlinked student", &s.gwen_token, &s.bob),
        ("guardian → guardian", &s.gwen_token, &s.hal),
        ("staff → staff", &s.teacher_token, &other_teacher),
        ("self", &s.gwen_token, &s.gwen),
    ];
    for (what, token, peer) in forbidden {
        let (st, v) = api
            .post("/api/v1/conversations", token, json!({"peer_id": peer["id"]}))
            .await;
        assert_eq!(st, StatusCode::FORBIDDEN, "{what}: {v}");
        assert_eq!(error_code(&v), "not_allowed", "{what}");
    }
    // The device's own account may not open conversations either.
    let (st, _) = api
        .post("/api/v1/conversations", &s.device, json!({"peer_id": s.ann["id"]}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Allowed pairs work, and a link that ends stops the conversation at the next send.
    for (token, peer) in [
        (&s.gwen_token, &s.ann),
        (&s.teacher_token, &s.hal),
        (&s.teacher_token, &s.bob),
        (&ann, &s.teacher),
    ] {
        let (st, v) = api
            .post("/api/v1/conversations", token, json!({"peer_id": peer["id"]}))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, _) = api
        .call(
            "DELETE",
            "/api/v1/guardianships",
            Some(&s.admin),
            Some(json!({"guardian_id": s.gwen["id"], "student_id": s.ann["id"]})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, v) = s.send_text(&s.gwen_token, &conv, "after-unlink", "hello?").await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "not_allowed"));
    let (st, _) = s.send_text(&ann, &conv, "after-unlink-2", "hello?").await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Students cannot sign in outside a doorplate.
    let (st, v) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "ann", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::FORBIDDEN, "students_use_doorplates")
    );
}

/// A snapshot of what bad requests must leave alone.
async fn snapshot(s: &School) -> Value {
    let users = s.api.get("/api/v1/users", &s.admin).await.1;
    let rooms = s.api.get("/api/v1/rooms", &s.admin).await.1;
    let groups = s.api.get("/api/v1/groups", &s.admin).await.1;
    let plates = s.api.get("/api/v1/doorplates", &s.admin).await.1;
    let presence = s.api.get("/api/v1/presence", &s.admin).await.1;
    let convs = s.api.get("/api/v1/conversations", &s.gwen_token).await.1;
    let settings = s.api.get("/api/v1/settings", &s.admin).await.1;
    json!([users, rooms, groups, plates, presence, convs, settings])
}

#[tokio::test]
async fn bad_input_answers_4xx_with_the_error_json_and_changes_nothing() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let api = &s.api;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let before = snapshot(&s).await;
    let msgs = format!("/api/v1/conversations/{conv}/messages");
    let a = s.admin.as_str();
    let g = s.gwen_token.as_str();
    let d = s.device.as_str();
    // (method, path, bearer, body, expected status)
    type Case<'a> = (&'a str, String, Option<&'a str>, Option<Value>, u16);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/users".into(),
            Some(a),
            Some(json!({"role": "wizard", "display_name": "X"})),
            400,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(a),
            Some(json!({"role": "student"})),
            400,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(a),
            Some(json!({"role": "student", "display_name": "  "})),
            400,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(a),
            Some(json!({"role": "student", "display_name": "Y", "username": "ann", "password": "longenough"})),
            409,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(a),
            Some(json!({"role": "student", "display_name": "Y", "card_uid": "04a1b2c3"})),
            409,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(a),
            Some(json!({"role": "student", "display_name": "Y", "username": "y", "password": "123"})),
            400,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(g),
            Some(json!({"role": "student", "display_name": "Y"})),
            403,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            None,
            Some(json!({"role": "student", "display_name": "Y"})),
            401,
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some("dpu_forged"),
            Some(json!({"role": "student", "display_name": "Y"})),
            401,
        ),
        (
            "PATCH",
            "/api/v1/users/999999".into(),
            Some(a),
            Some(json!({"display_name": "Z"})),
            404,
        ),
        (
            "PATCH",
            "/api/v1/users/abc".into(),
            Some(a),
            Some(json!({"display_name": "Z"})),
            404,
        ),
        (
            "POST",
            "/api/v1/rooms".into(),
            Some(a),
            Some(json!({"name": "R", "kind": "castle"})),
            400,
        ),
        (
            "POST",
            "/api/v1/groups".into(),
            Some(a),
            Some(json!({"name": "G", "member_ids": ["999999"]})),
            422,
        ),
        (
            "POST",
            "/api/v1/groups".into(),
            Some(a),
            Some(json!({"name": "G", "member_ids": [s.gwen["id"]]})),
            422,
        ),
        (
            "POST",
            "/api/v1/groups".into(),
            Some(a),
            Some(json!({"name": "Class 1", "member_ids": []})),
            409,
        ),
        (
            "POST",
            "/api/v1/doorplates".into(),
            Some(a),
            Some(json!({"room_id": "424242", "name": "D"})),
            422,
        ),
        (
            "POST",
            "/api/v1/devices/pair".into(),
            None,
            Some(json!({"pairing_code": "00000000"})),
            401,
        ),
        (
            "POST",
            "/api/v1/guardianships".into(),
            Some(a),
            Some(json!({"guardian_id": s.ann["id"], "student_id": s.bob["id"]})),
            422,
        ),
        (
            "POST",
            "/api/v1/doorplate/checkin".into(),
            Some(d),
            Some(json!({"credential": {}})),
            400,
        ),
        (
            "POST",
            "/api/v1/doorplate/checkin".into(),
            Some(d),
            Some(json!({"credential": {"card": "1", "qr": "2"}})),
            400,
        ),
        (
            "POST",
            "/api/v1/doorplate/checkin".into(),
            Some(d),
            Some(json!({"credential": {"username": "gwen", "password": PASSWORD}})),
            422,
        ),
        (
            "POST",
            "/api/v1/doorplate/checkin".into(),
            Some(g),
            Some(json!({"credential": {"card": "04A1B2C3"}})),
            403,
        ),
        (
            "POST",
            "/api/v1/presence".into(),
            Some(a),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"], s.gwen["id"]]})),
            422,
        ),
        (
            "POST",
            "/api/v1/presence".into(),
            Some(a),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": []})),
            400,
        ),
        (
            "POST",
            "/api/v1/presence".into(),
            Some(a),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]], "until": "tomorrow"})),
            400,
        ),
        (
            "POST",
            "/api/v1/presence".into(),
            Some(a),
            Some(
                json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]], "until": "2001-01-01T00:00:00Z"}),
            ),
            422,
        ),
        (
            "POST",
            msgs.clone(),
            Some(g),
            Some(json!({"client_id": "x", "kind": "poem", "text": "hi"})),
            400,
        ),
        (
            "POST",
            msgs.clone(),
            Some(g),
            Some(json!({"client_id": "x", "kind": "text"})),
            400,
        ),
        (
            "POST",
            msgs.clone(),
            Some(g),
            Some(json!({"client_id": "", "kind": "text", "text": "hi"})),
            400,
        ),
        (
            "POST",
            msgs.clone(),
            Some(g),
            Some(json!({"client_id": "x", "kind": "text", "text": "a".repeat(5000)})),
            400,
        ),
        (
            "POST",
            msgs.clone(),
            Some(g),
            Some(json!({"client_id": "x", "kind": "image"})),
            400,
        ),
        (
            "POST",
            msgs.clone(),
            Some(g),
            Some(json!({"client_id": "x", "kind": "image", "media_id": "777"})),
            422,
        ),
        (
            "POST",
            msgs.clone(),
            Some(&s.hal_token),
            Some(json!({"client_id": "x", "kind": "text", "text": "hi"})),
            404,
        ),
        (
            "POST",
            "/api/v1/conversations/999999/messages".into(),
            Some(g),
            Some(json!({"client_id": "x", "kind": "text", "text": "hi"})),
            404,
        ),
        ("GET", format!("{msgs}?limit=0"), Some(g), None, 400),
        ("GET", format!("{msgs}?before=yesterday"), Some(g), None, 400),
        (
            "POST",
            "/api/v1/conversations".into(),
            Some(g),
            Some(json!({"peer_id": "nobody"})),
            400,
        ),
        (
            "POST",
            "/api/v1/conversations".into(),
            Some(g),
            Some(json!({"peer_id": "999999"})),
            404,
        ),
        (
            "PATCH",
            "/api/v1/settings".into(),
            Some(a),
            Some(json!({"max_doorplates_per_student": 0})),
            400,
        ),
        (
            "PATCH",
            "/api/v1/settings".into(),
            Some(a),
            Some(json!({"timezone": "Mars/Olympus", "language": "en"})),
            400,
        ),
        (
            "PATCH",
            "/api/v1/settings".into(),
            Some(a),
            Some(json!({"session_idle_seconds": 30, "colour": "red"})),
            400,
        ),
        (
            "PATCH",
            "/api/v1/settings".into(),
            Some(a),
            Some(json!({"session_idle_seconds": 30, "retention_days": "many"})),
            400,
        ),
        (
            "PATCH",
            "/api/v1/settings".into(),
            Some(g),
            Some(json!({"session_idle_seconds": 30})),
            403,
        ),
        ("GET", "/api/v1/media/12345".into(), Some(g), None, 404),
        ("GET", "/api/v1/events".into(), None, None, 401),
    ];
    for (method, path, token, body, want) in cases {
        let (st, v) = api.call(method, &path, token, body.clone()).await;
        assert_eq!(st.as_u16(), want, "{method} {path} {body:?} → {v}");
        error_code(&v);
    }
    // Malformed JSON and a wrong content type are 4xx too.
    let res = api
        .http
        .post(format!("{}/api/v1/rooms", api.base))
        .bearer_auth(a)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    error_code(&res.json().await.unwrap());
    let res = api
        .http
        .post(format!("{}/api/v1/rooms", api.base))
        .bearer_auth(a)
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(snapshot(&s).await, before, "bad requests changed something");
}
