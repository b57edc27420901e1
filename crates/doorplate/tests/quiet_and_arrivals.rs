//! Issue 17, items 12 and 13. A teacher's quiet hours: a message inside them is listed
//! but alerts nobody (its live frame says `quiet`, its status stays `sent`), the sender
//! is told until when, and an urgent message from a guardian alerts anyway. Arrival
//! notices: a guardian who chose them for a child is told "checked in at Room 301 at
//! 16:00" (or "at school" where rooms are hidden); nobody is, by default or with the
//! school's switch off. The school runs on a manual clock in Asia/Shanghai (UTC+8).

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn patch_settings(s: &School, body: Value) {
    let (st, v) = s
        .api
        .call("PATCH", "/api/v1/settings", Some(&s.admin), Some(body))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

/// Mon–Fri 18:00–07:00, weekends all day.
fn evenings_and_weekends() -> Value {
    let wd = json!({"from": "18:00", "to": "07:00"});
    let all = json!({"from": "00:00", "to": "00:00"});
    json!({"quiet_hours": {"days": [wd, wd, wd, wd, wd, all, all]}})
}

/// The teacher as Gwen's conversation list shows them.
async fn teacher_as_listed(s: &School) -> Value {
    let (st, v) = s.api.get("/api/v1/conversations", &s.gwen_token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer"]["id"] == s.teacher["id"])
        .expect("the conversation with the teacher")["peer"]
        .clone()
}

/// The next `message.new` on the socket, as the whole data object.
async fn next_message(ev: &mut Events) -> Value {
    ev.expect("message.new").await
}

#[tokio::test]
async fn a_message_in_a_teachers_quiet_hours_waits_silently_and_the_sender_sees_until_when() {
    // Monday 17:30 in Shanghai.
    let server = TestServer::start_at("2026-11-30T09:30:00Z".parse().unwrap()).await;
    let s = School::new(&server).await;
    patch_settings(&s, json!({"timezone": "Asia/Shanghai"})).await;
    let (st, v) = s.put_quiet_hours(&s.teacher_token, evenings_and_weekends()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["quiet_hours"]["days"][5], json!({"from": "00:00", "to": "00:00"}));
    assert_eq!(v["now"], Value::Null, "17:30 on a Monday is not quiet");
    let mut teacher = Events::open(&server.base, &s.teacher_token, None).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let conv = s.conversation(&s.gwen_token, &s.teacher).await;

    // Before 18:00: an ordinary message, notified at once (the teacher's app is open).
    let (st, v) = s.send_text(&s.gwen_token, &conv, "q-1", "Before six").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["message"]["status"], "notified");
    assert!(v.get("recipient_quiet").is_none(), "{v}");
    let frame = next_message(&mut teacher).await;
    assert!(frame.get("quiet").is_none(), "{frame}");
    assert!(teacher_as_listed(&s).await.get("quiet").is_none());

    // 18:30: quiet until 07:00 tomorrow (Tuesday).
    server.advance(3600.0);
    let peer = teacher_as_listed(&s).await;
    assert_eq!(peer["quiet"]["until_time"], "07:00", "{peer}");
    assert_eq!(peer["quiet"]["days_ahead"], 1);
    assert_eq!(peer["quiet"]["until_weekday"], 2);
    assert_eq!(peer["quiet"]["until"], "2026-11-30T23:00:00Z");
    let (st, v) = s.send_text(&s.gwen_token, &conv, "q-2", "After six").await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["message"]["status"], "sent", "listed, nobody alerted");
    assert_eq!(v["recipient_quiet"]["until_time"], "07:00");
    let frame = next_message(&mut teacher).await;
    assert_eq!(frame["message"]["text"], "After six");
    assert_eq!(frame["quiet"], true, "the teacher's app makes no sound: {frame}");
    // Gwen's own copy says until when it waits (her first frame is her first message).
    assert_eq!(next_message(&mut gwen).await["message"]["text"], "Before six");
    let mine = next_message(&mut gwen).await;
    assert_eq!(mine["recipient_quiet"]["until_time"], "07:00", "{mine}");
    // The teacher's app still lists it.
    let (_, list) = s
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.teacher_token)
        .await;
    let texts: Vec<&str> = list["messages"]
        .as_array()
        .unwrap_or_else(|| list.as_array().unwrap())
        .iter()
        .filter_map(|m| m["text"].as_str())
        .collect();
    assert!(texts.contains(&"After six"), "{list}");

    // An urgent message from a guardian alerts anyway.
    let (st, v) = s
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "q-3", "kind": "text", "text": "Ann is ill", "urgent": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["message"]["status"], "notified");
    assert!(v.get("recipient_quiet").is_none());
    let frame = next_message(&mut teacher).await;
    assert_eq!(frame["message"]["urgent"], true);
    assert!(frame.get("quiet").is_none(), "{frame}");

    // 07:00 on Tuesday the quiet is over.
    server.advance(12.5 * 3600.0);
    assert!(teacher_as_listed(&s).await.get("quiet").is_none());
    let (_, v) = s.send_text(&s.gwen_token, &conv, "q-4", "Morning").await;
    assert_eq!(v["message"]["status"], "notified");

    // Friday 20:00 runs into the weekend: until Monday 07:00.
    server.advance((3.0 * 24.0 + 13.0) * 3600.0);
    let peer = teacher_as_listed(&s).await;
    assert_eq!(
        (
            &peer["quiet"]["until_time"],
            &peer["quiet"]["until_weekday"],
            &peer["quiet"]["days_ahead"]
        ),
        (&json!("07:00"), &json!(1), &json!(3)),
        "{peer}"
    );
}

#[tokio::test]
async fn quiet_hours_are_staffs_checked_and_an_admin_may_set_them() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let put = |token: &str, path: &str, body: Value| {
        let api = s.api.clone();
        let (token, path) = (token.to_string(), path.to_string());
        async move { api.call("PUT", &path, Some(&token), Some(body)).await }
    };
    let (st, v) = put(&s.gwen_token, "/api/v1/me/quiet-hours", evenings_and_weekends()).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "not_staff"));
    let bad = json!({"quiet_hours": {"days": [{"from": "18:00", "to": "31:00"}, null, null, null, null, null, null]}});
    let (st, v) = put(&s.teacher_token, "/api/v1/me/quiet-hours", bad).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::BAD_REQUEST, "bad_quiet_hours")
    );
    let six = json!({"quiet_hours": {"days": [null, null, null]}});
    let (st, _) = put(&s.teacher_token, "/api/v1/me/quiet-hours", six).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "seven days");

    // The admin sets the teacher's from the console; the teacher sees them.
    let path = format!("/api/v1/users/{}/quiet-hours", s.teacher["id"].as_str().unwrap());
    let (st, _) = put(&s.teacher_token, &path, evenings_and_weekends()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "only an admin sets another's");
    let (st, v) = put(&s.admin, &path, evenings_and_weekends()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, mine) = s.api.get("/api/v1/me/quiet-hours", &s.teacher_token).await;
    assert_eq!(mine["quiet_hours"], evenings_and_weekends()["quiet_hours"]);
    let (_, seen) = s.api.get(&path, &s.admin).await;
    assert_eq!(seen["quiet_hours"], mine["quiet_hours"]);
    let gwen_path = format!("/api/v1/users/{}/quiet-hours", s.gwen["id"].as_str().unwrap());
    let (st, _) = s.api.get(&gwen_path, &s.admin).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "a guardian has none");
    // Clearing them.
    let (st, v) = put(&s.teacher_token, "/api/v1/me/quiet-hours", json!({"quiet_hours": null})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["quiet_hours"], Value::Null);
}

async fn checkin(s: &School) {
    let (st, v) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["presence"]["source"], "active");
}

async fn checkout(s: &School) {
    let (st, v) = s
        .api
        .post(
            "/api/v1/doorplate/checkout",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

/// Waits for Ann's `presence.changed` (published before any arrival notice), then
/// returns the `child.arrived` frames that follow within a moment.
async fn arrivals_after_presence(ev: &mut Events) -> Vec<Value> {
    ev.expect("presence.changed").await;
    ev.drain(300)
        .await
        .into_iter()
        .filter(|v| v["type"] == "child.arrived")
        .map(|v| v["data"].clone())
        .collect()
}

async fn set_notices(s: &School, token: &str, child: &Value, on: bool) -> (StatusCode, Value) {
    s.api
        .call(
            "PUT",
            &format!("/api/v1/children/{}/arrival-notices", child["id"].as_str().unwrap()),
            Some(token),
            Some(json!({"on": on})),
        )
        .await
}

async fn ann_card(s: &School) -> Value {
    let (st, v) = s.api.get("/api/v1/children", &s.gwen_token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v[0].clone()
}

#[tokio::test]
async fn arrival_notices_are_off_until_a_guardian_chooses_them_and_name_the_room() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    patch_settings(&s, json!({"timezone": "Asia/Shanghai"})).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;

    // Off by default: a check-in moves the card, and no notice comes.
    let card = ann_card(&s).await;
    assert_eq!(
        (
            card["arrival_notices"].clone(),
            card["arrival_notices_available"].clone()
        ),
        (json!(false), json!(true))
    );
    checkin(&s).await;
    assert!(arrivals_after_presence(&mut gwen).await.is_empty());
    checkout(&s).await;

    // Only a child's own guardian may choose; only a guardian.
    let (st, _) = set_notices(&s, &s.hal_token, &s.ann, true).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = set_notices(&s, &s.teacher_token, &s.ann, true).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = set_notices(&s, &s.gwen_token, &s.ann, true).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"on": true})));
    assert_eq!(ann_card(&s).await["arrival_notices"], true);

    // On: "checked in at Room 301 at 16:00" (08:00 UTC in Shanghai).
    server.advance(60.0);
    checkin(&s).await;
    let got = arrivals_after_presence(&mut gwen).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["student_id"], s.ann["id"]);
    assert_eq!(got[0]["student_name"], "Ann 安");
    assert_eq!(got[0]["room"], "Room 301");
    assert_eq!(got[0]["time"], "16:01");
    assert_eq!(got[0]["at"], "2026-11-30T08:01:00Z");
    // Tapping again in the same room is no new arrival.
    checkin(&s).await;
    assert!(gwen.drain(300).await.iter().all(|v| v["type"] != "child.arrived"));
    checkout(&s).await;

    // A teacher placing her is not a check-in.
    let (st, v) = s
        .api
        .post(
            "/api/v1/presence",
            &s.teacher_token,
            json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(arrivals_after_presence(&mut gwen).await.is_empty());
    checkout(&s).await;

    // Hal, whose child is Bob, hears nothing of Ann.
    let mut hal = Events::open(&server.base, &s.hal_token, None).await;
    checkin(&s).await;
    assert_eq!(arrivals_after_presence(&mut gwen).await.len(), 1);
    assert!(hal.drain(300).await.iter().all(|v| v["type"] != "child.arrived"));
    checkout(&s).await;

    // Turned off again: none.
    let (st, _) = set_notices(&s, &s.gwen_token, &s.ann, false).await;
    assert_eq!(st, StatusCode::OK);
    checkin(&s).await;
    assert!(arrivals_after_presence(&mut gwen).await.is_empty());
}

#[tokio::test]
async fn an_arrival_notice_says_at_school_where_rooms_are_hidden_and_none_with_the_school_switch_off() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let (st, _) = set_notices(&s, &s.gwen_token, &s.ann, true).await;
    assert_eq!(st, StatusCode::OK);
    patch_settings(&s, json!({"show_room_to_guardians": false})).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;

    // Rooms hidden: the notice has the time and no room, anywhere in the frame.
    checkin(&s).await;
    let got = arrivals_after_presence(&mut gwen).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["time"], "08:00");
    assert!(got[0].get("room").is_none(), "{}", got[0]);
    assert!(!got[0].to_string().contains("Room 301"));
    checkout(&s).await;

    // The school turns the feature off: nobody is told, the card shows no switch, and
    // turning it on is refused; the guardian's choice is kept for when it returns.
    patch_settings(&s, json!({"arrival_notices": false})).await;
    let card = ann_card(&s).await;
    assert_eq!(
        (
            card["arrival_notices"].clone(),
            card["arrival_notices_available"].clone()
        ),
        (json!(false), json!(false))
    );
    checkin(&s).await;
    assert!(arrivals_after_presence(&mut gwen).await.is_empty());
    checkout(&s).await;
    let (st, v) = set_notices(&s, &s.gwen_token, &s.ann, true).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::CONFLICT, "arrival_notices_off")
    );
    patch_settings(&s, json!({"arrival_notices": true})).await;
    assert_eq!(ann_card(&s).await["arrival_notices"], true);
    checkin(&s).await;
    assert_eq!(arrivals_after_presence(&mut gwen).await.len(), 1);
}
