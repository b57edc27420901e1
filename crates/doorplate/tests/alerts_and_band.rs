//! Issue 17 items 3 and 4: an urgent message from a guardian is kept for each class
//! teacher of the child until that teacher acknowledges it, whether or not they were
//! looking; the doorplate's state says the school's time, which the kiosk times the
//! band's boundaries by.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn urgent(s: &School, conv: &str, client_id: &str, text: &str) -> Value {
    s.api
        .ok(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": client_id, "kind": "text", "text": text, "urgent": true}),
        )
        .await["message"]
        .clone()
}

async fn open_alerts(s: &School, token: &str) -> Vec<Value> {
    let (status, v) = s.api.get("/api/v1/alerts", token).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["alerts"].as_array().unwrap().clone()
}

#[tokio::test]
async fn an_urgent_alert_waits_for_its_teacher_until_acknowledged() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    s.api
        .ok(
            "/api/v1/users",
            &s.admin,
            json!({"role": "teacher", "display_name": "Mr Other", "username": "other", "password": PASSWORD}),
        )
        .await;
    let other_token = s.api.login("other", PASSWORD).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;

    // The class teacher has no socket open: nobody sees a banner.
    s.send_text(&s.gwen_token, &conv, "plain", "see you at five").await;
    let msg = urgent(&s, &conv, "u1", "please call me").await;

    // Later (a reload, another device) the alert is still there for the class teacher.
    let alerts = open_alerts(&s, &s.teacher_token).await;
    assert_eq!(alerts.len(), 1, "only the urgent message alerts: {alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["message_id"], msg["id"]);
    assert_eq!(alert["student_id"], s.ann["id"]);
    assert_eq!(alert["student_name"], "Ann 安");
    assert_eq!(alert["from_id"], s.gwen["id"]);
    assert_eq!(alert["from_name"], "Gwen (Ann's mum)");
    assert!(alert["acknowledged_at"].is_null());
    assert!(
        alert.get("text").is_none(),
        "the teacher is told, not shown the child's message"
    );
    let alert_id = alert["id"].as_str().unwrap().to_string();

    // Nobody else has it, and nobody else can acknowledge it.
    assert!(open_alerts(&s, &other_token).await.is_empty());
    assert!(open_alerts(&s, &s.gwen_token).await.is_empty());
    for token in [&other_token, &s.gwen_token, &s.admin] {
        let (status, body) = s
            .api
            .post(&format!("/api/v1/alerts/{alert_id}/ack"), token, json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(error_code(&body), "not_found");
    }
    let (status, _) = s
        .api
        .post("/api/v1/alerts/999999/ack", &s.teacher_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(open_alerts(&s, &s.teacher_token).await.len(), 1, "still waiting");

    // With a socket open, the live banner still comes, naming the stored alert.
    let mut live = Events::open(&server.base, &s.teacher_token, None).await;
    let second = urgent(&s, &conv, "u2", "it cannot wait").await;
    let data = live.expect("message.urgent").await;
    assert_eq!(data["message_id"], second["id"]);
    assert_eq!(data["from_id"], s.gwen["id"]);
    let second_id = data["alert_id"]
        .as_str()
        .expect("the live alert names its stored alert")
        .to_string();
    let ids: Vec<Value> = open_alerts(&s, &s.teacher_token)
        .await
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(second_id), json!(alert_id)], "newest first");

    // Acknowledging removes it, everywhere the teacher looks.
    let (status, body) = s
        .api
        .post(&format!("/api/v1/alerts/{alert_id}/ack"), &s.teacher_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["alert"]["acknowledged_at"].is_string());
    assert_eq!(live.expect("alert.acknowledged").await["alert_id"], json!(alert_id));
    let left = open_alerts(&s, &s.teacher_token).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], json!(second_id));
    // Again is harmless.
    let (status, _) = s
        .api
        .post(&format!("/api/v1/alerts/{alert_id}/ack"), &s.teacher_token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    live.close().await;
}

#[tokio::test]
async fn the_alert_endpoints_are_in_the_openapi_document() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let (status, doc) = s.api.get("/api/v1/openapi.json", &s.admin).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/alerts"]["get"].is_object(), "{}", doc["paths"]);
    assert!(doc["paths"]["/api/v1/alerts/{id}/ack"]["post"].is_object());
}

#[tokio::test]
async fn the_doorplate_state_says_the_schools_time_and_turns_next_at_the_boundary() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let at = |secs: i64| {
        monday_morning()
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .unwrap()
            .to_string()
    };
    let arrange = |kind: &str, title: &str, from: i64, to: i64| {
        json!({"room_id": s.room["id"], "kind": kind, "title": title, "starts_at": at(from), "ends_at": at(to),
               "user_ids": [s.ann["id"]]})
    };
    s.api
        .ok(
            "/api/v1/arrangements",
            &s.admin,
            arrange("exam", "Maths exam", -600, 60),
        )
        .await;
    s.api
        .ok("/api/v1/arrangements", &s.admin, arrange("lesson", "Biology", 60, 2460))
        .await;
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["now"], json!(at(0)), "the school's clock, not the caller's");
    assert_eq!(state["current"]["title"], "Maths exam");
    assert_eq!(state["next"]["title"], "Biology");

    server.advance(61.0);
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["now"], json!(at(61)));
    assert_eq!(state["current"]["title"], "Biology");
    assert!(state["next"].is_null(), "the ended exam is not next: {}", state["next"]);
}
