//! The whole method of PRODUCT.md, walked over real HTTP and WebSocket: pair, check in
//! with each credential, a guardian writes, the doorplate gets a hint without content,
//! the student's session shows only their own messages, a reply reaches the guardian
//! live with its status, checkout purges and revokes.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_whole_method_from_pairing_to_purge() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let api = &s.api;
    let ann_id = s.ann["id"].as_str().unwrap();

    let mut plate = Events::open(&server.base, &s.device, None).await;
    let mut gwen_events = Events::open(&server.base, &s.gwen_token, None).await;

    // Check in with each credential: card, QR badge, password.
    let v = api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04 a1 b2 c3"}}),
        )
        .await;
    assert_eq!(v["user"]["id"], s.ann["id"]);
    assert_eq!(v["presence"]["source"], "active");
    let joined = plate.expect("presence.joined").await;
    assert_eq!(joined["user_id"], s.ann["id"]);
    assert_eq!(joined["display_name"], "Ann 安");
    api.ok(
        "/api/v1/doorplate/checkin",
        &s.device,
        json!({"credential": {"qr": s.ann_qr}}),
    )
    .await;
    let v = api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"username": "bob", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(v["user"]["id"], s.bob["id"]);
    let state = api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["room"]["name"], "Room 301");
    let present: Vec<_> = state["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].clone())
        .collect();
    assert_eq!(present.len(), 2, "{state}");

    // A guardian writes: durable, acknowledged, then a hint with a count and a name only.
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, sent) = s
        .send_text(&s.gwen_token, &conv, "c-1", "Dinner at six, love you")
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sent}");
    let hint = plate.expect("notify.new_message").await;
    assert_eq!(
        hint,
        json!({"user_id": ann_id, "display_name": "Ann 安", "unread": 1, "urgent": false})
    );
    let status = gwen_events.expect("message.status").await;
    assert_eq!(status["status"], "notified");
    assert_eq!(status["room"], "Room 301");
    let state = api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(state["present"][0]["user_id"], ann_id, "students with mail come first");
    assert_eq!(state["present"][0]["unread"], 1);
    assert!(
        !state.to_string().contains("Dinner"),
        "the doorplate never sees content"
    );

    // The device token alone reads nothing.
    let (st, v) = api.get("/api/v1/conversations", &s.device).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&v), "device_token");
    let (st, _) = api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.device)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Hal writes to Bob too; Ann's session must never show it.
    let bob_conv = s.conversation(&s.hal_token, &s.bob).await;
    s.send_text(&s.hal_token, &bob_conv, "h-1", "Bob, bring your coat")
        .await;

    // Ann proves herself and opens her session: her messages only.
    let sess = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let ann_token = sess["session_token"].as_str().unwrap().to_string();
    assert_eq!(sess["user"]["id"], s.ann["id"]);
    let convs = api.get("/api/v1/conversations", &ann_token).await.1;
    assert_eq!(convs.as_array().unwrap().len(), 1, "{convs}");
    assert_eq!(convs[0]["peer"]["id"], s.gwen["id"]);
    assert_eq!(convs[0]["unread"], 1);
    let msgs = api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &ann_token)
        .await
        .1;
    assert_eq!(msgs[0]["text"], "Dinner at six, love you");
    let (st, _) = api
        .get(&format!("/api/v1/conversations/{bob_conv}/messages"), &ann_token)
        .await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another student's conversation does not exist for Ann"
    );

    // She reads and replies; Gwen sees "read" and the reply live.
    let msg_id = msgs[0]["id"].clone();
    let (st, _) = api
        .post(
            &format!("/api/v1/conversations/{conv}/read"),
            &ann_token,
            json!({"up_to": msg_id}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let status = gwen_events.expect("message.status").await;
    assert_eq!(status, json!({"message_id": msg_id, "status": "read"}));
    let (st, reply) = s.send_text(&ann_token, &conv, "a-1", "OK mum!").await;
    assert_eq!(st, StatusCode::CREATED, "{reply}");
    let live = gwen_events.expect("message.new").await;
    assert_eq!(live["message"]["text"], "OK mum!");
    assert_eq!(live["message"]["sender_id"], s.ann["id"]);
    let gm = api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.gwen_token)
        .await
        .1;
    assert_eq!(gm[0]["status"], "read");
    assert_eq!(gm[0]["notified_rooms"], json!(["Room 301"]));

    // Checkout purges: the doorplate drops her, her session is revoked at once, and no
    // later hint about her reaches it.
    let (st, _) = api
        .post(
            "/api/v1/doorplate/checkout",
            &s.device,
            json!({"credential": {"qr": s.ann_qr}}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let events = plate.drain(300).await;
    let kinds: Vec<_> = events.iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert!(
        kinds.contains(&"presence.left".to_string()) && kinds.contains(&"session.ended".to_string()),
        "{kinds:?}"
    );
    let (st, v) = api.get("/api/v1/conversations", &ann_token).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    s.send_text(&s.gwen_token, &conv, "c-2", "Are you home?").await;
    let later = plate.drain(400).await;
    assert!(
        later.iter().all(|e| e["data"]["user_id"] != ann_id),
        "no hint after leaving: {later:?}"
    );
    let state = api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert!(
        !state.to_string().contains(ann_id)
            || state["present"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["user_id"] != ann_id)
    );
    // A second checkout says she is not here.
    let (st, v) = api
        .post(
            "/api/v1/doorplate/checkout",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::CONFLICT, "not_present"));

    // The message that waited is hinted at the next doorplate she reaches.
    let (_, dev2) = s.another_doorplate("Lab").await;
    let mut plate2 = Events::open(&server.base, &dev2, None).await;
    api.ok(
        "/api/v1/doorplate/checkin",
        &dev2,
        json!({"credential": {"card": "04A1B2C3"}}),
    )
    .await;
    let hint = plate2.expect("notify.new_message").await;
    assert_eq!(hint["unread"], 1);
    let status = gwen_events.expect("message.status").await;
    assert_eq!(
        (status["status"].as_str(), status["room"].as_str()),
        (Some("notified"), Some("Lab"))
    );
}

#[tokio::test]
async fn a_third_presence_ends_the_oldest() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let (d2, dev2) = s.another_doorplate("Room 2").await;
    let (d3, dev3) = s.another_doorplate("Room 3").await;
    let mut first = Events::open(&server.base, &s.device, None).await;
    for dev in [&s.device, &dev2, &dev3] {
        s.api
            .ok(
                "/api/v1/doorplate/checkin",
                dev,
                json!({"credential": {"card": "04A1B2C3"}}),
            )
            .await;
    }
    let left = first.expect("presence.left").await;
    assert_eq!(left["user_id"], s.ann["id"]);
    assert_eq!(left["reason"], "replaced");
    let ann = s.ann["id"].as_str().unwrap();
    let (_, rows) = s
        .api
        .get(&format!("/api/v1/presence?user_id={ann}"), &s.teacher_token)
        .await;
    let mut at: Vec<_> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["doorplate_id"].clone())
        .collect();
    at.sort_by_key(|v| v.as_str().unwrap().parse::<i64>().unwrap());
    assert_eq!(at, vec![d2["id"].clone(), d3["id"].clone()]);

    // With the limit at one, the next arrival moves her.
    s.api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"max_doorplates_per_student": 1})),
        )
        .await;
    s.api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let (_, rows) = s
        .api
        .get(&format!("/api/v1/presence?user_id={ann}"), &s.teacher_token)
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["doorplate_id"], s.doorplate["id"]);
}

#[tokio::test]
async fn a_retried_send_does_not_duplicate() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st1, m1) = s.send_text(&s.gwen_token, &conv, "same-key", "once").await;
    let (st2, m2) = s.send_text(&s.gwen_token, &conv, "same-key", "once").await;
    assert_eq!((st1, st2), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(m1["message"]["id"], m2["message"]["id"]);
    let list = s
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.gwen_token)
        .await
        .1;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_reconnect_replays_what_was_missed() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let mut ev = Events::open(&server.base, &s.gwen_token, None).await;
    s.send_text(&s.teacher_token, &conv, "t-1", "first").await;
    let first = ev.expect("message.new").await;
    assert_eq!(first["message"]["text"], "first");
    let seen = ev.last_seq;
    ev.close().await;

    s.send_text(&s.teacher_token, &conv, "t-2", "second").await;
    s.send_text(&s.teacher_token, &conv, "t-3", "third").await;
    let mut again = Events::open(&server.base, &s.gwen_token, Some(seen)).await;
    let replay = again.drain(300).await;
    let texts: Vec<_> = replay
        .iter()
        .filter(|e| e["type"] == "message.new")
        .map(|e| e["data"]["message"]["text"].clone())
        .collect();
    assert_eq!(texts, vec![json!("second"), json!("third")]);
    let seqs: Vec<u64> = replay.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > seen, "{seqs:?}");

    // After a restart the old `after` is unknown: the client is told to resync.
    let dir = server.stop().await;
    let server = TestServer::start_in(dir).await;
    let mut after_restart = Events::open(&server.base, &s.gwen_token, Some(seen)).await;
    let first = after_restart.next_within(2000).await.unwrap().expect("a frame");
    assert_eq!(first["type"], "resync");
    assert!(first["seq"].as_u64().unwrap() > seen);
}

#[tokio::test]
async fn staff_place_and_dismiss_and_sessions_idle_out() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let api = &s.api;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let rows = api
        .ok(
            "/api/v1/presence",
            &s.teacher_token,
            json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"], s.bob["id"]]}),
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert!(rows.as_array().unwrap().iter().all(|r| r["source"] == "teacher_now"));
    plate.expect("presence.joined").await;
    let (st, _) = api
        .call(
            "DELETE",
            "/api/v1/presence",
            Some(&s.teacher_token),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.bob["id"]]})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let left = plate.expect("presence.left").await;
    assert_eq!(
        (left["user_id"].clone(), left["reason"].as_str()),
        (s.bob["id"].clone(), Some("dismissed"))
    );
    // Guardians and students cannot place anyone.
    let (st, _) = api
        .post(
            "/api/v1/presence",
            &s.gwen_token,
            json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]]}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // A teacher's proof at the doorplate opens teacher mode, which may place students.
    let t = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "T-1"}}),
        )
        .await;
    let tt = t["session_token"].as_str().unwrap();
    let groups = api.get("/api/v1/groups", tt).await.1;
    assert_eq!(groups[0]["members"].as_array().unwrap().len(), 2);
    api.ok(
        "/api/v1/presence",
        tt,
        json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.bob["id"]]}),
    )
    .await;

    // Idle timeout: the session ends by itself and the doorplate is told.
    api.call(
        "PATCH",
        "/api/v1/settings",
        Some(&s.admin),
        Some(json!({"session_idle_seconds": 5})),
    )
    .await;
    let sess = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"username": "ann", "password": PASSWORD}}),
        )
        .await;
    assert_eq!(sess["idle_seconds"], 5);
    let token = sess["session_token"].as_str().unwrap();
    assert_eq!(api.get("/api/v1/conversations", token).await.0, StatusCode::OK);
    server.advance(6.5);
    assert_eq!(
        api.get("/api/v1/conversations", token).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The teacher's session ended when Ann proved herself (R5), hers by idling.
    let replaced = plate.expect("session.ended").await;
    assert_eq!(
        (replaced["user_id"].clone(), replaced["reason"].as_str()),
        (s.teacher["id"].clone(), Some("replaced"))
    );
    let ended = plate.expect("session.ended").await;
    assert_eq!(
        (ended["user_id"].clone(), ended["reason"].as_str()),
        (s.ann["id"].clone(), Some("idle"))
    );
    // "Done" ends a session at once, and the student stays present.
    let sess = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let token = sess["session_token"].as_str().unwrap();
    let (st, _) = api
        .call("DELETE", "/api/v1/doorplate/sessions/current", Some(&s.device), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/api/v1/conversations", token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let ann = s.ann["id"].as_str().unwrap();
    assert_eq!(
        api.get(&format!("/api/v1/presence?user_id={ann}"), &s.teacher_token)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn staff_and_guardians_see_presence_change_live() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let mut admin = Events::open(&server.base, &s.admin, None).await;
    let mut teacher = Events::open(&server.base, &s.teacher_token, None).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    s.api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    for ev in [&mut admin, &mut teacher] {
        let d = ev.expect("presence.changed").await;
        assert_eq!(
            (d["user_id"].clone(), d["doorplate_id"].clone(), d["present"].as_bool()),
            (s.ann["id"].clone(), s.doorplate["id"].clone(), Some(true))
        );
    }
    let d = gwen.expect("presence.changed").await;
    assert_eq!(
        (d["room"].as_str(), d.get("doorplate_id")),
        (Some("Room 301"), None),
        "guardians see the room, not the device"
    );
    let kids = s.api.get("/api/v1/children", &s.gwen_token).await.1;
    assert_eq!(
        (kids[0]["where"]["state"].as_str(), kids[0]["where"]["room"].as_str()),
        (Some("present"), Some("Room 301"))
    );
    // With rooms hidden by policy, the child is only "at school".
    s.api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"show_room_to_guardians": false})),
        )
        .await;
    let kids = s.api.get("/api/v1/children", &s.gwen_token).await.1;
    assert_eq!(
        (kids[0]["where"]["state"].as_str(), kids[0]["where"]["room"].as_str()),
        (Some("at_school"), None)
    );
}

#[tokio::test]
async fn the_doorplate_lists_students_with_mail_in_the_order_it_arrived() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    for card in ["04A1B2C3", "04B0B0B0"] {
        s.api
            .ok(
                "/api/v1/doorplate/checkin",
                &s.device,
                json!({"credential": {"card": card}}),
            )
            .await;
    }
    let order = |state: &serde_json::Value| -> Vec<serde_json::Value> {
        state["present"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["user_id"].clone())
            .collect()
    };
    // Nobody has mail: the order they came in (Ann, then Bob).
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(order(&state), vec![s.ann["id"].clone(), s.bob["id"].clone()]);
    // Bob's mail comes first, then Ann's (urgent): Bob, then Ann.
    let bob_conv = s.conversation(&s.hal_token, &s.bob).await;
    s.send_text(&s.hal_token, &bob_conv, "b1", "first").await;
    let ann_conv = s.conversation(&s.gwen_token, &s.ann).await;
    s.api
        .ok(
            &format!("/api/v1/conversations/{ann_conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "a1", "kind": "text", "text": "call me", "urgent": true}),
        )
        .await;
    let state = s.api.get("/api/v1/doorplate/state", &s.device).await.1;
    assert_eq!(order(&state), vec![s.bob["id"].clone(), s.ann["id"].clone()], "{state}");
    assert_eq!(
        (
            state["present"][0]["urgent"].as_bool(),
            state["present"][1]["urgent"].as_bool()
        ),
        (Some(false), Some(true))
    );
}

#[tokio::test]
async fn a_placement_with_an_end_ends_by_itself() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let until = server
        .now()
        .checked_add(jiff::SignedDuration::from_secs(2))
        .unwrap()
        .to_string();
    s.api
        .ok(
            "/api/v1/presence",
            &s.teacher_token,
            json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]], "until": until}),
        )
        .await;
    plate.expect("presence.joined").await;
    server.advance(2.5);
    let left = plate.expect("presence.left").await;
    assert_eq!(
        (left["user_id"].clone(), left["reason"].as_str()),
        (s.ann["id"].clone(), Some("expired"))
    );
}
