//! The timetable engine through the API: slots and arrangements move a class in and out
//! of a room on time, exams hold hints, notices reach doorplates, imports are all or
//! nothing. The school runs on a manual clock: the tests move time, they never sleep.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Now plus `secs` on the server's clock, as a UTC weekday (1–7) and "HH:MM:SS" (the
/// school's zone is UTC by default), and as RFC 3339.
fn at(server: &TestServer, secs: u64) -> (u8, String, String) {
    let t = epoch_secs(server) + secs;
    let ts = jiff::Timestamp::from_second(t as i64).unwrap();
    let z = ts.to_zoned_datetime(jiff::tz::TimeZone::UTC);
    (
        z.weekday().to_monday_one_offset() as u8,
        format!("{:02}:{:02}:{:02}", z.hour(), z.minute(), z.second()),
        ts.to_string(),
    )
}

fn epoch_secs(server: &TestServer) -> u64 {
    server.now().as_second() as u64
}

/// Seconds since `boundary` (a whole epoch second) on the server's clock, as a float.
fn since(server: &TestServer, boundary: u64) -> f64 {
    server.now().as_microsecond() as f64 / 1e6 - boundary as f64
}

async fn class_id(s: &School) -> Value {
    s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone()
}

/// Waits for `presence.joined` of both students and returns when it came.
async fn both(plate: &mut Events, kind: &str, s: &School) -> Vec<Value> {
    let mut got = vec![plate.expect(kind).await, plate.expect(kind).await];
    got.sort_by_key(|v| v["user_id"].as_str().unwrap().to_string());
    let mut want = vec![s.ann["id"].clone(), s.bob["id"].clone()];
    want.sort_by_key(|v| v.as_str().unwrap().to_string());
    assert_eq!(got.iter().map(|v| v["user_id"].clone()).collect::<Vec<_>>(), want);
    got
}

#[tokio::test]
async fn a_slot_two_seconds_ahead_makes_the_class_present_on_time_and_purges_it_at_the_end() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    // Start on a whole second a few seconds ahead.
    let base = epoch_secs(&server);
    let (start_at, end_at) = (base + 3, base + 5);
    let (weekday, start, _) = at(&server, start_at - base);
    let (_, end, _) = at(&server, end_at - base);
    let (st, v) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": s.room["id"], "weekday": weekday, "start": start, "end": end, "kind": "lesson",
                   "title": "Maths 数学", "group_id": class_id(&s).await, "teacher_id": s.teacher["id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["slot"]["start"], start);
    // The doorplate is told its schedule changed, and shows the next period.
    plate.expect("schedule.changed").await;
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["next"]["title"], "Maths 数学", "{state}");
    assert_eq!(state["next"]["teacher"], "Ms Teach");

    server.advance(since(&server, start_at).abs());
    let joined = both(&mut plate, "presence.joined", &s).await;
    let late = since(&server, start_at);
    assert!(joined.iter().all(|j| j["source"] == "timetable"));
    assert!((0.0..1.0).contains(&late), "joined {late:.3} s after the slot began");
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["current"]["title"], "Maths 数学");
    assert_eq!(state["present"].as_array().unwrap().len(), 2);
    server.advance(2.0);
    let left = both(&mut plate, "presence.left", &s).await;
    let late = since(&server, end_at);
    assert!(left.iter().all(|l| l["reason"] == "period_ended"), "{left:?}");
    assert!((0.0..1.0).contains(&late), "left {late:.3} s after the slot ended");
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["present"], json!([]));
}

#[tokio::test]
async fn an_arrangement_does_the_same_and_a_dismissed_student_stays_dismissed() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let (_, _, starts) = at(&server, 2);
    let (_, _, ends) = at(&server, 5);
    let (st, v) = s
        .api
        .post(
            "/api/v1/arrangements",
            &s.teacher_token,
            json!({"room_id": s.room["id"], "kind": "meeting", "title": "Choir", "starts_at": starts, "ends_at": ends,
                   "group_ids": [class_id(&s).await]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    server.advance(2.0);
    let joined = both(&mut plate, "presence.joined", &s).await;
    assert!(joined.iter().all(|j| j["source"] == "teacher_advance"));
    // The teacher dismisses Bob: the engine does not bring him back during the window.
    let (st, _) = s
        .api
        .call(
            "DELETE",
            "/api/v1/presence",
            Some(&s.teacher_token),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.bob["id"]]})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let left = plate.expect("presence.left").await;
    assert_eq!(left["user_id"], s.bob["id"]);
    server.advance(1.5);
    let later = plate.drain(300).await;
    assert!(
        later
            .iter()
            .all(|e| !(e["type"] == "presence.joined" && e["data"]["user_id"] == s.bob["id"])),
        "{later:?}"
    );
    server.advance(1.5);
    let left = plate.expect("presence.left").await;
    assert_eq!(
        (left["user_id"].clone(), left["reason"].as_str()),
        (s.ann["id"].clone(), Some("period_ended"))
    );
}

#[tokio::test]
async fn an_exam_holds_hints_until_it_ends() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    s.api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let (_, _, starts) = at(&server, 0);
    let (_, _, ends) = at(&server, 3);
    s.api
        .ok(
            "/api/v1/arrangements",
            &s.teacher_token,
            json!({"room_id": s.room["id"], "kind": "exam", "title": "Final", "starts_at": starts, "ends_at": ends,
                   "user_ids": [s.bob["id"]]}),
        )
        .await;
    plate.expect("presence.joined").await; // Ann's check-in
    plate.expect("presence.joined").await; // Bob, for the exam
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(
        (state["exam"].as_bool(), state["current"]["kind"].as_str()),
        (Some(true), Some("exam"))
    );
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    s.send_text(&s.gwen_token, &conv, "during-exam", "Good luck!").await;
    let quiet = plate.drain(800).await;
    assert!(
        quiet.iter().all(|e| e["type"] != "notify.new_message"),
        "no hint during the exam: {quiet:?}"
    );
    server.advance(3.0);
    let hint = plate.expect("notify.new_message").await;
    assert_eq!(
        (hint["user_id"].clone(), hint["unread"].as_u64()),
        (s.ann["id"].clone(), Some(1))
    );
    let status = gwen.expect("message.status").await;
    assert_eq!(status["status"], "notified", "shown only now, after the exam");
}

#[tokio::test]
async fn a_notice_reaches_its_doorplates_at_once() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let (_, dev2) = s.another_doorplate("Gym").await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let mut other = Events::open(&server.base, &dev2, None).await;
    let (st, v) = s
        .api
        .post("/api/v1/notices", &s.admin, json!({"kind": "honour", "title": "Science fair winners 科学节", "body": "Class 1", "room_ids": [s.room["id"]]}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    plate.expect("signage.updated").await;
    assert!(
        other.drain(300).await.iter().all(|e| e["type"] != "signage.updated"),
        "only its rooms are told"
    );
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["notices"][0]["title"], "Science fair winners 科学节");
    assert_eq!(
        s.api.get("/api/v1/doorplate/state", &dev2).await.1["notices"],
        json!([])
    );
    let (st, _) = s
        .api
        .post("/api/v1/notices", &s.admin, json!({"title": "x", "kind": "graffiti"}))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_import_with_one_bad_line_changes_nothing_and_names_the_line() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let users_before = api.get("/api/v1/users", &admin).await.1;
    let bad = "role,display_name,username,password,card_uid\n\
               student,Lily 莉莉,lily,secret12,CARD-1\n\
               student,\"Tom, the second\",tom,secret12,\n\
               pupil,Nobody,nobody,,\n";
    for dry_run in [true, false] {
        let (st, v) = import_csv(&api, &admin, "users", bad, dry_run).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(
            v["errors"],
            json!([{"line": 4, "message": "role is admin, teacher, student or guardian"}]),
            "{v}"
        );
        assert_eq!(api.get("/api/v1/users", &admin).await.1, users_before);
    }
    // A reference error found only while applying also names its line and writes nothing.
    let groups = "name,teacher_username,member_usernames\nClass 9,,lily tom\n";
    let (_, v) = import_csv(&api, &admin, "groups", groups, false).await;
    assert_eq!(v["errors"][0]["line"], 2, "{v}");
    assert!(v["errors"][0]["message"].as_str().unwrap().contains("lily"));

    let good = bad.lines().take(3).collect::<Vec<_>>().join("\n");
    let (_, v) = import_csv(&api, &admin, "users", &good, true).await;
    assert_eq!(
        (v["created"].as_u64(), v["errors"].as_array().unwrap().len()),
        (Some(2), 0),
        "{v}"
    );
    assert_eq!(
        api.get("/api/v1/users", &admin).await.1,
        users_before,
        "a dry run writes nothing"
    );
    let (_, v) = import_csv(&api, &admin, "users", &good, false).await;
    assert_eq!(v["created"], 2);
    let (_, v) = import_csv(&api, &admin, "groups", groups, false).await;
    assert_eq!((v["created"].as_u64(), v["errors"].clone()), (Some(1), json!([])));
    let (_, v) = import_csv(&api, &admin, "rooms", "name,kind\nRoom 9,classroom\n", false).await;
    assert_eq!(v["created"], 1);
    let tt = "room,weekday,start,end,kind,title,group,teacher_username,valid_from,valid_until\nRoom 9,1,08:00,08:45,lesson,Art,Class 9,,2026-09-01,2027-01-31\n";
    let (_, v) = import_csv(&api, &admin, "timetable", tt, false).await;
    assert_eq!(v["created"], 1, "{v}");
    // The card works at a doorplate: imported cards are hashed like the rest.
    let room = api.get("/api/v1/rooms", &admin).await.1[0].clone();
    let (_, device) = pair(&api, &admin, &room, "D9").await;
    let v = api
        .ok(
            "/api/v1/doorplate/checkin",
            &device,
            json!({"credential": {"card": "card-1"}}),
        )
        .await;
    assert_eq!(v["user"]["username"], "lily");
    // Export gives the same columns back.
    let csv = api
        .http
        .get(format!("{}/api/v1/export/timetable", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(csv, tt);
}
