//! Issue 17, items 1 and 2. R2 counts rooms, not screens: a room's doorplates share one
//! presence, a third room ends the oldest, and a placement a scheduled window pushed out
//! comes back when the window ends. And the room a school hides from guardians reaches
//! them on no path: REST, live events, replays, the child card. The school runs on a
//! manual clock: the tests move time, they never sleep.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Whether `ann` is listed as present on the doorplate.
async fn present(s: &School, device: &str, who: &Value) -> bool {
    let state = s.api.get("/api/v1/doorplate/state", device).await.1;
    state["present"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["user_id"] == who["id"])
}

/// Room 405 with a front and a back doorplate: (room, [(doorplate, device token)]).
async fn room_with_two_doors(s: &School) -> (Value, Vec<(Value, String)>) {
    let room = s
        .api
        .ok(
            "/api/v1/rooms",
            &s.admin,
            json!({"name": "Room 405", "kind": "classroom"}),
        )
        .await["room"]
        .clone();
    let front = pair(&s.api, &s.admin, &room, "405 front").await;
    let back = pair(&s.api, &s.admin, &room, "405 back").await;
    (room, vec![front, back])
}

/// The next `presence.joined` or `presence.left` about `who`, skipping other frames.
async fn next_about(ev: &mut Events, kind: &str, who: &Value) -> Value {
    loop {
        let v = ev.expect(kind).await;
        if v["user_id"] == who["id"] {
            return v;
        }
    }
}

/// HH:MM:SS and the weekday of the server's clock `secs` from now (UTC, the default zone).
fn clock_at(server: &TestServer, secs: i64) -> (u8, String) {
    let z = jiff::Timestamp::from_second(server.now().as_second() + secs)
        .unwrap()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    (
        z.weekday().to_monday_one_offset() as u8,
        format!("{:02}:{:02}:{:02}", z.hour(), z.minute(), z.second()),
    )
}

/// A teacher places `who` at the doorplate now; returns the presence made.
async fn place(s: &School, doorplate: &Value, who: &Value) -> Value {
    let (st, v) = s
        .api
        .post(
            "/api/v1/presence",
            &s.teacher_token,
            json!({"doorplate_id": doorplate["id"], "user_ids": [who["id"]]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v[0].clone()
}

#[tokio::test]
async fn an_exam_in_a_room_with_two_doors_ends_only_the_oldest_room_and_the_placement_comes_back() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let (_, doors) = room_with_two_doors(&s).await;
    let (lab, lab_device) = s.another_doorplate("Science Lab").await;
    let mut front = Events::open(&server.base, &doors[0].1, None).await;
    let mut back = Events::open(&server.base, &doors[1].1, None).await;
    let mut r301 = Events::open(&server.base, &s.device, None).await;
    let mut lab_events = Events::open(&server.base, &lab_device, None).await;

    // The teacher places Ann in Room 301, and a second later in the Science Lab.
    let in_301 = place(&s, &s.doorplate, &s.ann).await;
    server.advance(1.0);
    place(&s, &lab, &s.ann).await;
    assert!(present(&s, &s.device, &s.ann).await && present(&s, &lab_device, &s.ann).await);

    // An exam for her class in 405, starting in two seconds, for three.
    let class = s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone();
    let (weekday, start) = clock_at(&server, 2);
    let (_, end) = clock_at(&server, 5);
    let (st, v) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": doors[0].0["room_id"], "weekday": weekday, "start": start, "end": end,
                   "kind": "exam", "title": "Exam", "group_id": class}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    server.advance(2.0);

    // She is in 405 on both of its doorplates…
    assert_eq!(
        next_about(&mut front, "presence.joined", &s.ann).await["source"],
        "timetable"
    );
    assert_eq!(
        next_about(&mut back, "presence.joined", &s.ann).await["source"],
        "timetable"
    );
    // …and only the oldest other room (301) ended; the Science Lab stays.
    let left = next_about(&mut r301, "presence.left", &s.ann).await;
    assert_eq!(left["reason"], "replaced");
    for (device, want) in [
        (&doors[0].1, true),
        (&doors[1].1, true),
        (&lab_device, true),
        (&s.device, false),
    ] {
        assert_eq!(present(&s, device, &s.ann).await, want, "{device}");
    }
    let lab_frames = lab_events.drain(200).await;
    assert!(
        !lab_frames
            .iter()
            .any(|f| f["type"] == "presence.left" && f["data"]["user_id"] == s.ann["id"]),
        "{lab_frames:?}"
    );

    // The exam ends: she leaves 405 (both doors) and the teacher's placement in 301
    // comes back as it was.
    server.advance(3.0);
    assert_eq!(
        next_about(&mut front, "presence.left", &s.ann).await["reason"],
        "period_ended"
    );
    assert_eq!(
        next_about(&mut back, "presence.left", &s.ann).await["reason"],
        "period_ended"
    );
    let back = next_about(&mut r301, "presence.joined", &s.ann).await;
    assert_eq!(back["source"], "teacher_now");
    // As it was: it keeps its start, so it is still the older of her two rooms.
    assert_eq!(back["since"], in_301["since"], "{back} {in_301}");
    for (device, want) in [
        (&doors[0].1, false),
        (&doors[1].1, false),
        (&lab_device, true),
        (&s.device, true),
    ] {
        assert_eq!(present(&s, device, &s.ann).await, want, "{device}");
    }
}

#[tokio::test]
async fn a_displaced_placement_dismissed_meanwhile_does_not_come_back() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let (_, doors) = room_with_two_doors(&s).await;
    let (lab, lab_device) = s.another_doorplate("Science Lab").await;
    place(&s, &s.doorplate, &s.ann).await;
    server.advance(1.0);
    place(&s, &lab, &s.ann).await;
    let class = s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone();
    let (weekday, start) = clock_at(&server, 2);
    let (_, end) = clock_at(&server, 5);
    let (st, _) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": doors[0].0["room_id"], "weekday": weekday, "start": start, "end": end,
                   "kind": "exam", "title": "Exam", "group_id": class}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let mut front = Events::open(&server.base, &doors[0].1, None).await;
    server.advance(2.0);
    next_about(&mut front, "presence.joined", &s.ann).await;
    assert!(!present(&s, &s.device, &s.ann).await);
    // During the exam the teacher dismisses her from 301: that placement is over.
    let (st, _) = s
        .api
        .call(
            "DELETE",
            "/api/v1/presence",
            Some(&s.teacher_token),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]]})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    server.advance(3.0);
    next_about(&mut front, "presence.left", &s.ann).await;
    let mut r301 = Events::open(&server.base, &s.device, None).await;
    let frames = r301.drain(300).await;
    assert!(
        !frames
            .iter()
            .any(|f| f["type"] == "presence.joined" && f["data"]["user_id"] == s.ann["id"]),
        "{frames:?}"
    );
    assert!(!present(&s, &s.device, &s.ann).await);
    assert!(present(&s, &lab_device, &s.ann).await);
}

#[tokio::test]
async fn a_tap_at_one_door_is_presence_at_both_and_checking_out_at_the_other_leaves_the_room() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let (_, doors) = room_with_two_doors(&s).await;
    let (lab, lab_device) = s.another_doorplate("Science Lab").await;
    let mut back = Events::open(&server.base, &doors[1].1, None).await;
    // Ann is in the Science Lab and then taps her card at 405's front door.
    place(&s, &lab, &s.ann).await;
    server.advance(1.0);
    let v = s
        .api
        .ok(
            "/api/v1/doorplate/checkin",
            &doors[0].1,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(v["presence"]["source"], "active");
    assert_eq!(
        next_about(&mut back, "presence.joined", &s.ann).await["source"],
        "active"
    );
    assert!(present(&s, &doors[0].1, &s.ann).await && present(&s, &doors[1].1, &s.ann).await);
    // Two doors of one room are one room: the Science Lab (the limit is two rooms) stays.
    assert!(present(&s, &lab_device, &s.ann).await);
    // A third room ends the oldest: the lab.
    server.advance(1.0);
    place(&s, &s.doorplate, &s.ann).await;
    assert!(!present(&s, &lab_device, &s.ann).await);
    assert!(present(&s, &doors[1].1, &s.ann).await && present(&s, &s.device, &s.ann).await);
    // Checking out at the back door leaves the room: neither door shows her.
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/checkout",
            &doors[1].1,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(!present(&s, &doors[0].1, &s.ann).await && !present(&s, &doors[1].1, &s.ann).await);
    assert!(present(&s, &s.device, &s.ann).await);
}

/// Fails if the room's name appears anywhere in `v`.
fn no_room(what: &str, v: &Value) {
    assert!(!v.to_string().contains("Room 301"), "{what} names the room: {v}");
}

#[tokio::test]
async fn a_room_hidden_from_guardians_reaches_them_on_no_path() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let (st, v) = s
        .api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"show_room_to_guardians": false})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;

    // A message while Ann is nowhere: it waits (sent).
    let (st, first) = s.send_text(&s.gwen_token, &conv, "g-1", "Lunch money?").await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(first["message"]["status"], "sent");
    let seq_before = {
        gwen.expect("message.new").await;
        gwen.last_seq
    };

    // The teacher places Ann in Room 301: the guardian's card moves, without the room;
    // the waiting message is shown there: its status says so, without the room.
    place(&s, &s.doorplate, &s.ann).await;
    let mut frames = Vec::new();
    let mut saw = (false, false);
    while !(saw.0 && saw.1) {
        let f = gwen.next_within(5000).await.unwrap().expect("a frame within 5 s");
        saw.0 |= f["type"] == "presence.changed";
        saw.1 |= f["type"] == "message.status" && f["data"]["status"] == "notified";
        frames.push(f);
    }

    // A message while she is there: notified at once.
    let (st, second) = s.send_text(&s.gwen_token, &conv, "g-2", "Bus at 5").await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(second["message"]["status"], "notified");
    no_room("the POST answer", &second);
    let mut live = (false, false);
    while !(live.0 && live.1) {
        let f = gwen.next_within(5000).await.unwrap().expect("a frame within 5 s");
        live.0 |= f["type"] == "message.new";
        live.1 |= f["type"] == "message.status" && f["data"]["message_id"] == second["message"]["id"];
        frames.push(f);
    }
    for f in &frames {
        no_room(&format!("the live {} frame", f["type"]), f);
    }

    // Replayed frames (a reconnect with `after`) are the same frames: no room either.
    gwen.close().await;
    let mut again = Events::open(&server.base, &s.gwen_token, Some(seq_before)).await;
    let replayed = again.drain(300).await;
    assert!(
        replayed
            .iter()
            .any(|f| f["type"] == "message.new" && f["data"]["message"]["id"] == second["message"]["id"]),
        "{replayed:?}"
    );
    for f in &replayed {
        no_room(&format!("the replayed {} frame", f["type"]), f);
    }

    // REST: the conversation list, the messages, the child card.
    let (_, list) = s.api.get("/api/v1/conversations", &s.gwen_token).await;
    no_room("the conversation list", &list);
    let (_, msgs) = s
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.gwen_token)
        .await;
    assert_eq!(msgs.as_array().unwrap().len(), 2);
    assert!(msgs.as_array().unwrap().iter().all(|m| m["status"] == "notified"));
    no_room("the message list", &msgs);
    let (_, children) = s.api.get("/api/v1/children", &s.gwen_token).await;
    no_room("the child card", &children);

    // The setting is about guardians: the class teacher still sees where it was shown.
    let tconv = s.conversation(&s.teacher_token, &s.ann).await;
    let (_, t) = s.send_text(&s.teacher_token, &tconv, "t-1", "See me after class").await;
    assert_eq!(t["message"]["notified_rooms"], json!(["Room 301"]), "{t}");

    // With the setting on, the guardian sees the room again (the same one rule).
    s.api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"show_room_to_guardians": true})),
        )
        .await;
    let (_, third) = s.send_text(&s.gwen_token, &conv, "g-3", "Love you").await;
    assert_eq!(third["message"]["notified_rooms"], json!(["Room 301"]), "{third}");
}

#[tokio::test]
async fn a_lesson_pushed_out_by_an_exam_comes_back_when_the_exam_ends_if_it_still_runs() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let (_, doors) = room_with_two_doors(&s).await;
    let (lab, lab_device) = s.another_doorplate("Science Lab").await;
    let class = s.api.get("/api/v1/groups", &s.admin).await.1[0]["id"].clone();
    let mut r301 = Events::open(&server.base, &s.device, None).await;
    let mut front = Events::open(&server.base, &doors[0].1, None).await;
    // The class has a lesson in 301 for ten seconds, from a second from now.
    let (weekday, start) = clock_at(&server, 1);
    let (_, end) = clock_at(&server, 11);
    let (st, v) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": s.room["id"], "weekday": weekday, "start": start, "end": end,
                   "kind": "lesson", "title": "Maths", "group_id": class}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    server.advance(1.0);
    next_about(&mut r301, "presence.joined", &s.ann).await;
    // A second later the teacher also places Ann in the lab (the lesson is her older room).
    server.advance(1.0);
    place(&s, &lab, &s.ann).await;
    // An exam for the class in 405 (two doors), from 08:00:04 for three seconds.
    let (_, exam_start) = clock_at(&server, 2);
    let (_, exam_end) = clock_at(&server, 5);
    let (st, v) = s
        .api
        .post(
            "/api/v1/timetable",
            &s.admin,
            json!({"room_id": doors[0].0["room_id"], "weekday": weekday, "start": exam_start, "end": exam_end,
                   "kind": "exam", "title": "Exam", "group_id": class}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    server.advance(2.0);
    next_about(&mut front, "presence.joined", &s.ann).await;
    // The lesson (oldest) gave way; the lab stays; she is not flapped back into 301.
    assert_eq!(
        next_about(&mut r301, "presence.left", &s.ann).await["reason"],
        "replaced"
    );
    server.advance(1.0);
    assert!(!present(&s, &s.device, &s.ann).await);
    assert!(present(&s, &lab_device, &s.ann).await);
    // The exam ends while the lesson still runs: she is back in 301 by the timetable.
    server.advance(2.0);
    next_about(&mut front, "presence.left", &s.ann).await;
    assert_eq!(
        next_about(&mut r301, "presence.joined", &s.ann).await["source"],
        "timetable"
    );
    assert!(present(&s, &lab_device, &s.ann).await);
}
