//! What the console relies on for issue 17 (items 10 and 11): a slot that overlaps another
//! says which one (title, room, weekday, times), even when that slot is in another room's
//! timetable; one student's new badge comes with its QR image to print; and who may place
//! and dismiss students through the API the console's presence board uses.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn slot(s: &School, body: Value) -> Value {
    let (st, v) = s.api.post("/api/v1/timetable", &s.admin, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["slot"].clone()
}

#[tokio::test]
async fn an_overlapping_slot_names_the_slot_it_conflicts_with() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let class = s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone();
    let lab = s
        .api
        .ok("/api/v1/rooms", &s.admin, json!({"name": "Science Lab", "kind": "lab"}))
        .await["room"]
        .clone();

    let maths = slot(
        &s,
        json!({"room_id": s.room["id"], "weekday": 1, "start": "08:00", "end": "08:45",
               "kind": "lesson", "title": "Maths", "group_id": class}),
    )
    .await;
    assert_eq!(maths["conflicts_with"], json!([]), "nothing to overlap yet");

    // The same class in another room at overlapping times: saved, and the answer names
    // the slot it overlaps with its room's name, day and times.
    let physics = slot(
        &s,
        json!({"room_id": lab["id"], "weekday": 1, "start": "08:30", "end": "09:15",
               "kind": "lesson", "title": "Physics", "group_id": class}),
    )
    .await;
    assert_eq!(physics["conflicts"], json!([maths["id"]]));
    let named = &physics["conflicts_with"][0];
    assert_eq!(named["id"], maths["id"]);
    assert_eq!(named["title"], "Maths");
    assert_eq!(named["kind"], "lesson");
    assert_eq!(named["room_id"], s.room["id"]);
    assert_eq!(named["room_name"], s.room["name"]);
    assert_eq!(named["weekday"], 1);
    assert_eq!(named["start"], "08:00");
    assert_eq!(named["end"], "08:45");
    assert_eq!(named["group_id"], class);

    // The lab's own timetable names Maths, which it does not list itself.
    let (st, lab_slots) = s
        .api
        .get(
            &format!("/api/v1/timetable?room_id={}", lab["id"].as_str().unwrap()),
            &s.admin,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(lab_slots.as_array().unwrap().len(), 1);
    assert_eq!(lab_slots[0]["conflicts_with"][0]["title"], "Maths");
    assert_eq!(lab_slots[0]["conflicts_with"][0]["room_name"], s.room["name"]);

    // Moving Physics clear of Maths clears the conflict on both.
    let (st, moved) = s
        .api
        .call(
            "PATCH",
            &format!("/api/v1/timetable/{}", physics["id"].as_str().unwrap()),
            Some(&s.admin),
            Some(json!({"start": "09:00", "end": "09:45"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{moved}");
    assert_eq!(moved["slot"]["conflicts_with"], json!([]));
    let all = s.api.get("/api/v1/timetable", &s.admin).await.1;
    assert!(all.as_array().unwrap().iter().all(|x| x["conflicts_with"] == json!([])));
}

/// One student's new badge comes with its QR image, so the console prints it alone (a
/// lost badge does not mean reprinting, and voiding, the whole class's); the old badge
/// stops working and the new one opens a session at a doorplate.
#[tokio::test]
async fn one_students_new_badge_is_printable_and_replaces_the_old_one() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let path = format!("/api/v1/users/{}/badge", s.ann["id"].as_str().unwrap());
    let (st, v) = s.api.post(&path, &s.admin, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let svg = v["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg"), "an inline SVG: {svg:.60}");
    let token = v["qr_token"].as_str().unwrap();
    assert!(token.starts_with("dpq_"));

    // The old badge (School::new issued ann_qr) is refused at the door, the new one opens.
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"qr": s.ann_qr}}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the old badge is void");
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"qr": token}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "the new badge checks in");
    // A teacher may not issue one.
    let (st, v) = s.api.post(&path, &s.teacher_token, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
}

/// The decision behind the console's placement (issue 17, item 11): PRODUCT.md lets
/// "teacher / staff" place and dismiss students, and duty or dormitory staff teach no
/// class, so the API lets any teacher place a student of another class (the console
/// offers a teacher only their own classes); a guardian or a student may not.
#[tokio::test]
async fn any_teacher_may_place_and_dismiss_a_student_of_another_class_but_no_guardian() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let other = s
        .api
        .ok(
            "/api/v1/users",
            &s.admin,
            json!({"role": "student", "display_name": "Olivia", "username": "olivia", "password": PASSWORD}),
        )
        .await["user"]
        .clone();
    let body = json!({"doorplate_id": s.doorplate["id"], "user_ids": [other["id"]]});
    let (st, v) = s.api.post("/api/v1/presence", &s.teacher_token, body.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v[0]["source"], "teacher_now");
    let (st, v) = s.api.post("/api/v1/presence", &s.gwen_token, body.clone()).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s
        .api
        .call("DELETE", "/api/v1/presence", Some(&s.teacher_token), Some(body))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (_, left) = s
        .api
        .get(
            &format!("/api/v1/presence?user_id={}", other["id"].as_str().unwrap()),
            &s.admin,
        )
        .await;
    assert_eq!(left, json!([]));
}
