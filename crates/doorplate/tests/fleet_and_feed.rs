//! Issue 17, items 14 and 15. The doorplates as a fleet: rename, move, unpair and delete
//! with their effects on presences, sessions, tokens and sockets; "reload" and "identify"
//! as live events; the kiosk build a screen reports; and the flag on a screen that
//! should be online but has been offline for ten minutes (on the manual clock). And the
//! family app's notices feed: a guardian's children's classes and the whole school.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// The console's fleet entry of this doorplate.
async fn fleet_entry(s: &School, id: &Value) -> Option<Value> {
    let (st, list) = s.api.get("/api/v1/doorplates", &s.admin).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list.as_array().unwrap().iter().find(|d| d["id"] == *id).cloned()
}

/// Who is present on a doorplate, by the staff's presence list.
async fn present_ids(s: &School, doorplate: &Value) -> Vec<Value> {
    let path = format!("/api/v1/presence?doorplate_id={}", doorplate["id"].as_str().unwrap());
    let (st, v) = s.api.get(&path, &s.teacher_token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v.as_array().unwrap().iter().map(|p| p["user_id"].clone()).collect()
}

/// Ann checks in with her card and opens her personal session at the doorplate.
async fn ann_session(s: &School, device: &str) -> String {
    let v = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    v["session_token"].as_str().unwrap().to_string()
}

/// Waits (up to 5 s) until the socket is closed by the server; panics if it stays open.
async fn expect_closed(ev: &mut Events) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if ev.next_within(200).await.is_err() {
            return;
        }
    }
    panic!("the socket stayed open");
}

#[tokio::test]
async fn an_admin_renames_and_moves_a_doorplate_and_the_schedule_follows_the_move() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let id = s.doorplate["id"].clone();
    let path = format!("/api/v1/doorplates/{}", id.as_str().unwrap());

    // Rename: the list and the screen's own state say the new name.
    let (st, v) = s
        .api
        .call(
            "PATCH",
            &path,
            Some(&s.admin),
            Some(json!({"name": "  Front door 301 "})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["doorplate"]["name"], "Front door 301");
    assert_eq!(fleet_entry(&s, &id).await.unwrap()["name"], "Front door 301");
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["doorplate"]["name"], "Front door 301");

    // Only an admin, and only a real room.
    let (st, v) = s
        .api
        .call("PATCH", &path, Some(&s.teacher_token), Some(json!({"name": "x"})))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s
        .api
        .call("PATCH", &path, Some(&s.admin), Some(json!({"room_id": "999999"})))
        .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_room")
    );
    let (st, v) = s
        .api
        .call("PATCH", &path, Some(&s.admin), Some(json!({"name": "  "})))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");

    // Ann is placed at the door in 301; the screen moves to the Lab: her presence there
    // ends (it was about Room 301), the screen is told, and it now shows the Lab.
    let lab = s
        .api
        .ok("/api/v1/rooms", &s.admin, json!({"name": "Science Lab", "kind": "lab"}))
        .await["room"]
        .clone();
    s.api
        .ok(
            "/api/v1/presence",
            &s.teacher_token,
            json!({"doorplate_id": id, "user_ids": [s.ann["id"]]}),
        )
        .await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let (st, v) = s
        .api
        .call("PATCH", &path, Some(&s.admin), Some(json!({"room_id": lab["id"]})))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["doorplate"]["room_id"], lab["id"]);
    let left = plate.expect("presence.left").await;
    assert_eq!(
        (&left["user_id"], left["reason"].as_str()),
        (&s.ann["id"], Some("doorplate_removed"))
    );
    plate.expect("signage.updated").await;
    assert!(present_ids(&s, &s.doorplate).await.is_empty());
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["room"]["name"], "Science Lab");

    // The schedule knows the move: a lesson for Class 1 in the Lab puts Ann on this
    // screen, and one in Room 301 (which has no doorplate now) on none.
    let class = s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone();
    let (st, v) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": lab["id"], "weekday": 1, "start": "08:00:05", "end": "09:00:00",
                   "kind": "lesson", "title": "Chemistry", "group_id": class}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    server.advance(6.0);
    let joined = plate.expect("presence.joined").await;
    assert_eq!(
        (&joined["user_id"], joined["source"].as_str()),
        (&s.ann["id"], Some("timetable"))
    );
    let audit = s.api.get("/api/v1/audit?action=doorplate.moved", &s.admin).await.1;
    assert!(audit.to_string().contains("doorplate.moved"), "{audit}");
}

#[tokio::test]
async fn unpairing_stops_the_device_token_closes_its_socket_and_ends_its_session() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let id = s.doorplate["id"].as_str().unwrap().to_string();
    let session = ann_session(&s, &s.device).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    assert_eq!(s.api.get("/api/v1/doorplate/state", &s.device).await.0, StatusCode::OK);

    let (st, v) = s
        .api
        .post(&format!("/api/v1/doorplates/{id}/unpair"), &s.teacher_token, json!({}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = s
        .api
        .post(&format!("/api/v1/doorplates/{id}/unpair"), &s.admin, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["doorplate"]["paired"].as_bool(), v["doorplate"]["online"].as_bool()),
        (Some(false), Some(false))
    );

    expect_closed(&mut plate).await;
    let (st, v) = s.api.get("/api/v1/doorplate/state", &s.device).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (st, _) = s.api.get("/api/v1/me", &session).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "the session at the unpaired screen ended");
    // The room did not change: Ann is still present there, and a new code pairs it again.
    assert_eq!(present_ids(&s, &s.doorplate).await, vec![s.ann["id"].clone()]);
    let code = s
        .api
        .ok(&format!("/api/v1/doorplates/{id}/pairing"), &s.admin, json!({}))
        .await["pairing_code"]
        .clone();
    let (st, v) = s
        .api
        .call(
            "POST",
            "/api/v1/devices/pair",
            None,
            Some(json!({"pairing_code": code})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["doorplate"]["id"].as_str(), Some(id.as_str()));
}

#[tokio::test]
async fn deleting_a_doorplate_ends_its_presences_and_sessions_and_a_second_door_keeps_the_room() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    // Room 301 gets a back door as well; Ann opens her session at the front.
    let (back, back_device) = pair(&s.api, &s.admin, &s.room, "301 back").await;
    let session = ann_session(&s, &s.device).await;
    assert_eq!(present_ids(&s, &back).await, vec![s.ann["id"].clone()]);
    let mut front = Events::open(&server.base, &s.device, None).await;
    let mut teacher = Events::open(&server.base, &s.teacher_token, None).await;

    let path = format!("/api/v1/doorplates/{}", s.doorplate["id"].as_str().unwrap());
    let (st, v) = s.api.call("DELETE", &path, Some(&s.admin), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");

    // The front screen is gone: its socket closed, its token refused, her session over.
    expect_closed(&mut front).await;
    assert_eq!(
        s.api.get("/api/v1/doorplate/state", &s.device).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(s.api.get("/api/v1/me", &session).await.0, StatusCode::UNAUTHORIZED);
    assert!(fleet_entry(&s, &s.doorplate["id"]).await.is_none());
    let changed = teacher.expect("presence.changed").await;
    assert_eq!(
        (
            &changed["user_id"],
            &changed["doorplate_id"],
            changed["present"].as_bool()
        ),
        (&s.ann["id"], &s.doorplate["id"], Some(false))
    );
    // Room 301 still has its back door, and Ann is still in the room through it.
    assert_eq!(present_ids(&s, &back).await, vec![s.ann["id"].clone()]);
    let state = s.api.get("/api/v1/doorplate/state", &back_device).await.1;
    assert_eq!(state["present"][0]["user_id"], s.ann["id"]);
    assert_eq!(
        s.api.call("DELETE", &path, Some(&s.admin), None).await.0,
        StatusCode::NOT_FOUND
    );

    // Deleting the last door of the room ends her presence, and the engine's map of
    // rooms to doorplates follows: a lesson in 301 now puts her nowhere.
    let path = format!("/api/v1/doorplates/{}", back["id"].as_str().unwrap());
    assert_eq!(
        s.api.call("DELETE", &path, Some(&s.admin), None).await.0,
        StatusCode::NO_CONTENT
    );
    let all = s.api.get("/api/v1/presence", &s.teacher_token).await.1;
    assert_eq!(all, json!([]));
    let class = s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone();
    let (st, v) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": s.room["id"], "weekday": 1, "start": "08:00:02", "end": "09:00:00",
                   "kind": "lesson", "title": "Maths", "group_id": class}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    server.advance(3.0);
    assert_eq!(s.api.get("/api/v1/presence", &s.teacher_token).await.1, json!([]));
}

#[tokio::test]
async fn reload_and_identify_reach_the_doorplate_as_live_events() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let path = format!("/api/v1/doorplates/{}/command", s.doorplate["id"].as_str().unwrap());
    // Nobody would hear it: 409.
    let (st, v) = s.api.post(&path, &s.admin, json!({"command": "identify"})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::CONFLICT, "offline"));

    let mut plate = Events::open(&server.base, &s.device, None).await;
    for command in ["identify", "reload"] {
        let (st, v) = s.api.post(&path, &s.admin, json!({"command": command})).await;
        assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
        let data = plate.expect("doorplate.command").await;
        assert_eq!(data, json!({"command": command, "name": "Door 301"}));
    }
    let (st, v) = s.api.post(&path, &s.admin, json!({"command": "format"})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::BAD_REQUEST, "bad_command"));
    let (st, _) = s.api.post(&path, &s.teacher_token, json!({"command": "reload"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = s.api.post(&path, &s.device, json!({"command": "reload"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_kiosk_reports_its_build_and_a_doorplate_offline_for_ten_minutes_is_flagged() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let id = s.doorplate["id"].clone();
    // A doorplate created but never paired is not expected online: never flagged.
    let created = s
        .api
        .ok(
            "/api/v1/doorplates",
            &s.admin,
            json!({"room_id": s.room["id"], "name": "Spare"}),
        )
        .await;
    let spare = created["doorplate"]["id"].clone();

    // The state names the build the server serves; the kiosk reports the one it runs.
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    let build = state["kiosk_build"].as_str().unwrap().to_string();
    assert_eq!(build.len(), 12, "{build}");
    let (st, v) = s
        .api
        .post("/api/v1/doorplate/version", &s.device, json!({"version": build}))
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, v) = s
        .api
        .post("/api/v1/doorplate/version", &s.device, json!({"version": ""}))
        .await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::BAD_REQUEST, "bad_version"));
    let (st, _) = s
        .api
        .post("/api/v1/doorplate/version", &s.admin, json!({"version": "x"}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    let plate = Events::open(&server.base, &s.device, None).await;
    let e = fleet_entry(&s, &id).await.unwrap();
    assert_eq!(
        (
            e["online"].as_bool(),
            e["offline_alert"].as_bool(),
            e["version"].as_str()
        ),
        (Some(true), Some(false), Some(build.as_str()))
    );
    // Online for an hour is no reason for an alert.
    server.advance(3600.0);
    assert_eq!(fleet_entry(&s, &id).await.unwrap()["offline_alert"], false);

    // It goes offline; the alert waits ten minutes on the school's clock.
    plate.close().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while fleet_entry(&s, &id).await.unwrap()["online"] == true {
        assert!(tokio::time::Instant::now() < deadline, "still online");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e = fleet_entry(&s, &id).await.unwrap();
    assert_eq!(e["last_seen"].as_str(), Some(jiff_rfc3339(&server).as_str()), "{e}");
    server.advance(9.0 * 60.0 + 59.0);
    assert_eq!(fleet_entry(&s, &id).await.unwrap()["offline_alert"], false);
    server.advance(1.0);
    let e = fleet_entry(&s, &id).await.unwrap();
    assert_eq!(
        (e["online"].as_bool(), e["offline_alert"].as_bool()),
        (Some(false), Some(true))
    );
    assert_eq!(fleet_entry(&s, &spare).await.unwrap()["offline_alert"], false);

    // Back online: the flag goes.
    let _again = Events::open(&server.base, &s.device, None).await;
    assert_eq!(fleet_entry(&s, &id).await.unwrap()["offline_alert"], false);
}

/// The server's clock as the API writes times (RFC 3339, UTC, to the second or finer).
fn jiff_rfc3339(server: &TestServer) -> String {
    let now = server.now();
    let v = json!(doorplate_server::time::rfc3339(now.as_microsecond()));
    v.as_str().unwrap().to_string()
}

/// An admin's notice; returns its id.
async fn notice(s: &School, body: Value) -> Value {
    let (st, v) = s.api.post("/api/v1/notices", &s.admin, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["notice"]["id"].clone()
}

fn titles(feed: &Value) -> Vec<&str> {
    feed.as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn guardians_see_their_childrens_classes_and_school_wide_notices_newest_first() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let groups = s.api.get("/api/v1/groups", &s.admin).await.1;
    let class1 = groups[0]["id"].clone();
    // Class 2 has Bob (Hal's son) but not Ann (Gwen's daughter).
    let class2 = s
        .api
        .ok(
            "/api/v1/groups",
            &s.admin,
            json!({"name": "Class 2", "member_ids": [s.bob["id"]]}),
        )
        .await["group"]["id"]
        .clone();

    let step = |body: Value| {
        server.advance(1.0);
        notice(&s, body)
    };
    step(json!({"title": "School closed on Friday", "kind": "announcement"})).await;
    step(json!({"title": "Lab rules", "room_ids": [s.room["id"]]})).await;
    step(json!({"title": "Class 2 trip", "group_ids": [class2]})).await;
    step(json!({"title": "Star pupils", "kind": "honour"})).await;
    step(json!({"title": "Next term", "starts_on": "2027-02-01"})).await;
    step(json!({"title": "Class 1 sports day", "group_ids": [class1], "body": "Bring trainers"})).await;

    let (st, gwen) = s.api.get("/api/v1/notices/feed", &s.gwen_token).await;
    assert_eq!(st, StatusCode::OK, "{gwen}");
    assert_eq!(titles(&gwen), ["Class 1 sports day", "School closed on Friday"]);
    assert_eq!(gwen[0]["classes"], json!(["Class 1"]));
    assert_eq!(gwen[0]["body"], "Bring trainers");
    assert_eq!(gwen[1]["classes"], json!([]));
    let hal = s.api.get("/api/v1/notices/feed", &s.hal_token).await.1;
    assert_eq!(
        titles(&hal),
        ["Class 1 sports day", "Class 2 trip", "School closed on Friday"]
    );
    let staff = s.api.get("/api/v1/notices/feed", &s.teacher_token).await.1;
    assert_eq!(titles(&staff), titles(&hal));

    // A student at a door is not a reader of the family feed.
    let session = ann_session(&s, &s.device).await;
    let (st, v) = s.api.get("/api/v1/notices/feed", &session).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "not_for_you"));

    // The doorplates show the school-wide and their room's notices, not a class's.
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    let mut shown = titles(&state["notices"]);
    shown.sort();
    assert_eq!(shown, ["Lab rules", "School closed on Friday", "Star pupils"]);

    // A class that does not exist is refused; an edit can address a class later.
    let (st, v) = s
        .api
        .post(
            "/api/v1/notices",
            &s.admin,
            json!({"title": "x", "group_ids": ["999999"]}),
        )
        .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_group")
    );
    let lab_rules = s.api.get("/api/v1/notices", &s.admin).await.1;
    let lab_rules = lab_rules
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["title"] == "Lab rules")
        .unwrap()["id"]
        .clone();
    let (st, v) = s
        .api
        .call(
            "PATCH",
            &format!("/api/v1/notices/{}", lab_rules.as_str().unwrap()),
            Some(&s.admin),
            Some(json!({"group_ids": [class1]})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["notice"]["group_ids"], json!([class1]));
    let gwen = s.api.get("/api/v1/notices/feed", &s.gwen_token).await.1;
    assert_eq!(
        titles(&gwen),
        ["Class 1 sports day", "Lab rules", "School closed on Friday"]
    );
}
