//! One reading of ids: a malformed id in a path is 404 like an unknown one, in a query
//! filter it is 400 `bad_id` — never a silent filter that matches nothing.

mod common;

use common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn malformed_ids_answer_the_same_way_everywhere() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    for path in [
        "/api/v1/timetable?room_id=abc",
        "/api/v1/timetable?group_id=1x",
        "/api/v1/arrangements?room_id=room-1",
        "/api/v1/presence?doorplate_id=abc",
        "/api/v1/audit?actor_id=me",
    ] {
        let (st, v) = s.api.get(path, &s.admin).await;
        assert_eq!(
            (st, error_code(&v).as_str()),
            (StatusCode::BAD_REQUEST, "bad_id"),
            "{path}"
        );
    }
    // An empty filter is no filter.
    let (st, _) = s.api.get("/api/v1/timetable?room_id=", &s.admin).await;
    assert_eq!(st, StatusCode::OK);
    // In a path, text that is no id names nothing.
    for path in ["/api/v1/users/abc", "/api/v1/users/99999999"] {
        let (st, v) = s.api.get(path, &s.admin).await;
        assert_eq!(
            (st, error_code(&v).as_str()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
}

/// A refusal carries what a face needs to word it in the reader's language: the code,
/// the field and the limit (issue 17, item 6); the English message stays for programs.
#[tokio::test]
async fn a_refused_field_names_itself_and_its_limit() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let long = "名".repeat(101);
    let (st, v) = s
        .api
        .post(
            "/api/v1/users",
            &s.admin,
            serde_json::json!({"role": "teacher", "display_name": long}),
        )
        .await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::BAD_REQUEST, "too_long"));
    assert_eq!(
        v["error"]["params"],
        serde_json::json!({"field": "display_name", "max": 100})
    );
    let (st, v) = s
        .api
        .post(
            "/api/v1/rooms",
            &s.admin,
            serde_json::json!({"name": "  ", "kind": "classroom"}),
        )
        .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::BAD_REQUEST, "missing_field")
    );
    assert_eq!(v["error"]["params"]["field"], "name");
    let (st, v) = s
        .api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(serde_json::json!({"session_idle_seconds": 1})),
        )
        .await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::BAD_REQUEST, "bad_setting"));
    assert_eq!(v["error"]["params"]["field"], "session_idle_seconds");
}
