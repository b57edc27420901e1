//! Live calls (API.md "Calls") on the school's clock, moved by hand: who may call whom,
//! the state machine (double accept, accept after end), signalling (a stranger, malformed
//! SDP), one call per student, the server's limits (45 s ring, maximum length) and the
//! ends a departure brings.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const OFFER: &str = "v=0\r\no=- 46117314 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=rtpmap:111 opus/48000/2\r\n";

/// A personal session for Ann at the school's doorplate (her card): the token.
async fn ann_session(s: &School) -> String {
    let v = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    v["session_token"].as_str().unwrap().to_string()
}

async fn check_in_ann(s: &School) {
    s.api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
}

/// Gwen calls Ann (video): the call.
async fn gwen_calls_ann(s: &School) -> Value {
    let (st, v) = s
        .api
        .post(
            "/api/v1/calls",
            &s.gwen_token,
            json!({"peer_id": s.ann["id"], "video": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["call"].clone()
}

fn id(call: &Value) -> String {
    call["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn who_may_call_whom_and_one_call_per_student() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let calls = "/api/v1/calls";
    // Ann is nowhere yet: her mother's call cannot ring.
    let (st, v) = s.api.post(calls, &s.gwen_token, json!({"peer_id": s.ann["id"]})).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::FORBIDDEN, "call_not_present")
    );
    check_in_ann(&s).await;
    // R8: Bob's father, a teacher, may not call Ann.
    let (st, v) = s.api.post(calls, &s.hal_token, json!({"peer_id": s.ann["id"]})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "not_allowed"));
    let (st, _) = s
        .api
        .post(calls, &s.teacher_token, json!({"peer_id": s.ann["id"]}))
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // In her session Ann may call her mother, not Bob's father nor Bob.
    let ann = ann_session(&s).await;
    let (st, v) = s.api.post(calls, &ann, json!({"peer_id": s.hal["id"]})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "not_allowed"));
    let (st, _) = s.api.post(calls, &ann, json!({"peer_id": s.bob["id"]})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // A guardian does not call a guardian.
    let (st, _) = s.api.post(calls, &s.gwen_token, json!({"peer_id": s.hal["id"]})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The check the family app's call button asks says the same.
    let path = format!("/api/v1/calls/check?peer_id={}", s.ann["id"].as_str().unwrap());
    assert_eq!(s.api.get(&path, &s.gwen_token).await.1["ok"], true);
    let path_hal = format!("/api/v1/calls/check?peer_id={}", s.ann["id"].as_str().unwrap());
    let v = s.api.get(&path_hal, &s.hal_token).await.1;
    assert_eq!(
        (v["ok"].clone(), v["code"].clone()),
        (json!(false), json!("not_allowed"))
    );

    // Ann calls her mother from the doorplate; a second call for Ann is 409, whoever
    // places it, and so is a call from the same doorplate.
    let (st, v) = s
        .api
        .post(calls, &ann, json!({"peer_id": s.gwen["id"], "video": false}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["call"]["state"], "ringing");
    assert_eq!(v["call"]["caller"]["id"], s.ann["id"]);
    assert_eq!(v["call"]["callee"]["id"], s.gwen["id"]);
    let (st, v) = s.api.post(calls, &s.gwen_token, json!({"peer_id": s.ann["id"]})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::CONFLICT, "already_in_call"));
    let gran = s
        .api
        .ok(
            "/api/v1/users",
            &s.admin,
            json!({"role": "guardian", "display_name": "Gran", "username": "gran", "password": PASSWORD}),
        )
        .await["user"]
        .clone();
    s.api
        .ok(
            "/api/v1/guardianships",
            &s.admin,
            json!({"guardian_id": gran["id"], "student_id": s.ann["id"]}),
        )
        .await;
    let gran_token = s.api.login("gran", PASSWORD).await;
    let (st, v) = s.api.post(calls, &gran_token, json!({"peer_id": s.ann["id"]})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::CONFLICT, "peer_in_call"));
    // Bob, at the same doorplate, cannot be rung there while it is in a call.
    s.api
        .ok(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04B0B0B0"}}),
        )
        .await;
    let (st, v) = s.api.post(calls, &s.hal_token, json!({"peer_id": s.bob["id"]})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
}

#[tokio::test]
async fn a_guardian_s_call_rings_with_the_name_only_and_is_answered_once() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    check_in_ann(&s).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let mut teacher = Events::open(&server.base, &s.teacher_token, None).await;
    let call = gwen_calls_ann(&s).await;
    let cid = id(&call);
    // The shared screen: the child's name, nothing of the caller.
    let ring = plate.expect("call.ringing").await;
    assert_eq!(ring["display_name"], s.ann["display_name"]);
    assert_eq!(ring["user_id"], s.ann["id"]);
    assert!(!ring.to_string().contains("Gwen"), "{ring}");
    assert_eq!(gwen.expect("call.ringing").await["call"]["id"], json!(cid));

    // Only the callee answers, and only at the doorplate after her proof.
    let accept = format!("/api/v1/calls/{cid}/accept");
    let (st, _) = s.api.post(&accept, &s.gwen_token, json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let ann = ann_session(&s).await;
    let mut ann_events = Events::open(&server.base, &ann, None).await;
    let (st, v) = s.api.post(&accept, &ann, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["call"]["state"], "active");
    assert_eq!(v["call"]["doorplate_id"], s.doorplate["id"]);
    assert_eq!(plate.expect("call.ring_ended").await["call_id"], json!(cid));
    assert_eq!(gwen.expect("call.accepted").await["call"]["state"], "active");
    let started = teacher.expect("call.started").await;
    assert_eq!(started["call"]["id"], json!(cid));
    // Double accept: 409.
    let (st, v) = s.api.post(&accept, &ann, json!({})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::CONFLICT, "call_answered"));

    // Signalling: a stranger gets 403, malformed SDP 400 and goes nowhere, a real offer
    // reaches the other side.
    let signal = format!("/api/v1/calls/{cid}/signal");
    let offer = json!({"sdp": {"type": "offer", "sdp": OFFER}});
    let (st, _) = s.api.post(&signal, &s.hal_token, offer.clone()).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    for bad in [
        json!({"sdp": {"type": "offer", "sdp": "hello"}}),
        json!({"sdp": {"type": "offer", "sdp": format!("{OFFER}x=evil\r\n")}}),
        json!({"candidate": {"candidate": "candidate:<img src=x>", "sdpMid": "0", "sdpMLineIndex": 0}}),
        json!({}),
    ] {
        let (st, v) = s.api.post(&signal, &s.gwen_token, bad.clone()).await;
        assert_eq!(
            (st, error_code(&v).as_str()),
            (StatusCode::BAD_REQUEST, "bad_signal"),
            "{bad}"
        );
    }
    assert!(
        ann_events.drain(200).await.iter().all(|e| e["type"] != "call.signal"),
        "nothing malformed was relayed"
    );
    let (st, _) = s.api.post(&signal, &s.gwen_token, offer).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let got = ann_events.expect("call.signal").await;
    assert_eq!(got["sdp"]["sdp"], OFFER);
    assert_eq!(got["from"], s.gwen["id"]);
    let cand = json!({"candidate": {"candidate": "candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0}});
    assert_eq!(s.api.post(&signal, &ann, cand).await.0, StatusCode::NO_CONTENT);
    let got = gwen.drain(500).await;
    assert!(
        got.iter()
            .any(|e| e["type"] == "call.signal" && e["data"]["candidate"]["sdpMid"] == "0"),
        "{got:?}"
    );
    // The console lists it for the class teacher.
    let list = s.api.get("/api/v1/calls", &s.teacher_token).await.1;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // Gwen hangs up after 30 s; an accept after the end is 409; the audit has it.
    server.advance(30.0);
    let (st, v) = s
        .api
        .post(&format!("/api/v1/calls/{cid}/end"), &s.gwen_token, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["call"]["end_reason"], "ended_by_caller");
    assert_eq!(ann_events.expect("call.ended").await["call"]["duration_seconds"], 30);
    assert_eq!(teacher.expect("call.ended").await["call"]["id"], json!(cid));
    let (st, v) = s.api.post(&accept, &ann, json!({})).await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::CONFLICT, "call_ended"));
    let audit = s.api.get("/api/v1/audit?action=call.ended", &s.admin).await.1;
    assert_eq!(audit[0]["detail"]["duration_seconds"], 30, "{audit}");
    assert_eq!(audit[0]["actor_id"], s.gwen["id"]);
    assert_eq!(audit[0]["detail"]["reason"], "ended_by_caller");
    // An answered call leaves no trace message.
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let msgs = s
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.gwen_token)
        .await
        .1;
    assert_eq!(msgs.as_array().unwrap().len(), 0, "{msgs}");
}

#[tokio::test]
async fn the_server_ends_a_call_at_the_maximum_length_and_holds_the_session_meanwhile() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    let mut policy = s.api.get("/api/v1/settings", &s.admin).await.1["calls"].clone();
    policy["max_minutes"] = json!(2);
    let (st, v) = s
        .api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"calls": policy})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let ann = ann_session(&s).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let (st, v) = s
        .api
        .post("/api/v1/calls", &ann, json!({"peer_id": s.gwen["id"]}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let cid = id(&v["call"]);
    server.advance(10.0);
    let (st, v) = s
        .api
        .post(&format!("/api/v1/calls/{cid}/accept"), &s.gwen_token, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // 90 s in: past the session's idle time (60 s), but the call holds the session.
    server.advance(90.0);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (st, v) = s.api.get(&format!("/api/v1/calls/{cid}"), &ann).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["call"]["state"], "active");
    // At two minutes the server ends it.
    server.advance(31.0);
    let ended = gwen.expect("call.ended").await;
    assert_eq!(ended["call"]["end_reason"], "max_length");
    assert_eq!(ended["call"]["duration_seconds"], 120);
}

#[tokio::test]
async fn a_missed_call_leaves_its_trace_on_both_sides() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    check_in_ann(&s).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let call = gwen_calls_ann(&s).await;
    server.advance(44.0);
    assert!(plate.drain(200).await.iter().all(|e| e["type"] != "call.ring_ended"));
    server.advance(2.0);
    let ended = gwen.expect("call.ended").await;
    assert_eq!(ended["call"]["end_reason"], "missed");
    assert_eq!(plate.expect("call.ring_ended").await["call_id"], call["id"]);
    // The trace: in Gwen's conversation, and Ann is hinted at the doorplate.
    let hint = plate.expect("notify.new_message").await;
    assert_eq!(hint["user_id"], s.ann["id"]);
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let msgs = s
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &s.gwen_token)
        .await
        .1;
    assert_eq!(msgs[0]["kind"], "call", "{msgs}");
    assert_eq!(msgs[0]["text"], "missed:video");
    assert_eq!(msgs[0]["sender_id"], s.gwen["id"]);
    let ann = ann_session(&s).await;
    let convs = s.api.get("/api/v1/conversations", &ann).await.1;
    assert_eq!(convs[0]["last"]["kind"], "call", "{convs}");
    assert_eq!(convs[0]["unread"], 1);
    // Clients cannot write a call trace themselves.
    let (st, _) = s
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            &s.gwen_token,
            json!({"client_id": "x", "kind": "call", "text": "missed:video"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Declined: Ann (in her session) says no to her mother's voice call.
    let (st, v) = s
        .api
        .post(
            "/api/v1/calls",
            &s.gwen_token,
            json!({"peer_id": s.ann["id"], "video": false}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = s
        .api
        .post(&format!("/api/v1/calls/{}/decline", id(&v["call"])), &ann, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["call"]["end_reason"], "declined");
    let msgs = s
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &ann)
        .await
        .1;
    assert_eq!(
        msgs.as_array().unwrap().last().unwrap()["text"],
        "declined:voice",
        "{msgs}"
    );
}

#[tokio::test]
async fn a_checkout_or_a_dismissal_ends_the_call_at_once() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    check_in_ann(&s).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let call = gwen_calls_ann(&s).await;
    let ann = ann_session(&s).await;
    let (st, _) = s
        .api
        .post(&format!("/api/v1/calls/{}/accept", id(&call)), &ann, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s
        .api
        .post(
            "/api/v1/doorplate/checkout",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let ended = gwen.expect("call.ended").await;
    assert_eq!(ended["call"]["end_reason"], "left");
    let (st, _) = s
        .api
        .post(&format!("/api/v1/calls/{}/end", id(&call)), &s.gwen_token, json!({}))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);

    // A teacher's dismissal ends a ringing call there too, and "Done" ends an answered one.
    check_in_ann(&s).await;
    let call = gwen_calls_ann(&s).await;
    let (st, _) = s
        .api
        .call(
            "DELETE",
            "/api/v1/presence",
            Some(&s.teacher_token),
            Some(json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]]})),
        )
        .await;
    assert!(st.is_success(), "{st}");
    let ended = gwen.expect("call.ended").await;
    assert_eq!(ended["call"]["id"], call["id"]);
    assert_eq!(ended["call"]["end_reason"], "dismissed");

    check_in_ann(&s).await;
    let call = gwen_calls_ann(&s).await;
    let ann = ann_session(&s).await;
    s.api
        .ok(&format!("/api/v1/calls/{}/accept", id(&call)), &ann, json!({}))
        .await;
    let (st, _) = s
        .api
        .call("DELETE", "/api/v1/doorplate/sessions/current", Some(&s.device), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(gwen.expect("call.ended").await["call"]["end_reason"], "session_closed");
}

#[tokio::test]
async fn the_policy_refuses_with_its_reason_and_ice_credentials_are_short_lived() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    check_in_ann(&s).await;
    let mut policy = s.api.get("/api/v1/settings", &s.admin).await.1["calls"].clone();
    policy["video"] = json!(false);
    policy["hours"][0] = json!({"from": "12:00", "to": "13:00"});
    let (st, v) = s
        .api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"calls": policy})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Monday 08:00: outside today's hours.
    let (st, v) = s
        .api
        .post("/api/v1/calls", &s.gwen_token, json!({"peer_id": s.ann["id"]}))
        .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::FORBIDDEN, "call_outside_hours")
    );
    server.advance(4.0 * 3600.0);
    check_in_ann(&s).await;
    let (st, v) = s
        .api
        .post(
            "/api/v1/calls",
            &s.gwen_token,
            json!({"peer_id": s.ann["id"], "video": true}),
        )
        .await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "call_video_off"));
    // A bad policy is refused whole.
    policy["max_minutes"] = json!(0);
    let (st, _) = s
        .api
        .call(
            "PATCH",
            "/api/v1/settings",
            Some(&s.admin),
            Some(json!({"calls": policy})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // No relay configured: no ICE servers, and a device token gets none.
    let v = s.api.get("/api/v1/calls/ice", &s.gwen_token).await.1;
    assert_eq!(v["ice_servers"], json!([]));
    assert_eq!(s.api.get("/api/v1/calls/ice", &s.device).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn ice_servers_carry_turn_rest_credentials() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let mut config = doorplate_server::Config::new(dir.0.clone());
    config.ice = doorplate_server::school::IceConfig {
        turn_urls: vec!["turn:127.0.0.1:3478".into()],
        turn_secret: Some(b"s3cret".to_vec()),
        relay_only: true,
    };
    let server = TestServer::start_configured(dir, config).await;
    let s = School::new(&server).await;
    let v = s.api.get("/api/v1/calls/ice", &s.gwen_token).await.1;
    assert_eq!(v["ice_transport_policy"], "relay");
    let ice = &v["ice_servers"][0];
    assert_eq!(ice["urls"], json!(["turn:127.0.0.1:3478"]));
    let user = ice["username"].as_str().unwrap();
    let (expiry, who) = user.split_once(':').unwrap();
    assert_eq!(who, s.gwen["id"].as_str().unwrap());
    let left = expiry.parse::<i64>().unwrap() - jiff::Timestamp::now().as_second();
    // The longest call (10 min), its ring and five minutes' grace.
    assert!((900..=960).contains(&left), "{left}");
    assert!(!ice["credential"].as_str().unwrap().is_empty());
}

#[tokio::test]
async fn staff_see_and_end_only_the_calls_of_their_classes() {
    let server = TestServer::start_at(monday_morning()).await;
    let s = School::new(&server).await;
    // Mr Other teaches a class of his own, without Ann.
    let other = s
        .api
        .ok(
            "/api/v1/users",
            &s.admin,
            json!({"role": "teacher", "display_name": "Mr Other", "username": "other", "password": PASSWORD}),
        )
        .await["user"]
        .clone();
    s.api
        .ok(
            "/api/v1/groups",
            &s.admin,
            json!({"name": "Class 2", "member_ids": [], "teacher_id": other["id"]}),
        )
        .await;
    let other_token = s.api.login("other", PASSWORD).await;
    let list = |token: String| {
        let api = s.api.clone();
        async move {
            let (st, v) = api.get("/api/v1/calls", &token).await;
            assert_eq!(st, StatusCode::OK, "{v}");
            v.as_array().unwrap().clone()
        }
    };

    check_in_ann(&s).await;
    let call = gwen_calls_ann(&s).await;
    let cid = id(&call);
    // A ring is not a call yet: the console lists answered calls only.
    assert!(list(s.teacher_token.clone()).await.is_empty());
    let ann = ann_session(&s).await;
    let mut ann_events = Events::open(&server.base, &ann, None).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let mut teacher = Events::open(&server.base, &s.teacher_token, None).await;
    s.api.ok(&format!("/api/v1/calls/{cid}/accept"), &ann, json!({})).await;
    server.advance(75.0);

    // The class teacher and the admin see who, where, voice or video and since when.
    let mine = list(s.teacher_token.clone()).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let c = &mine[0];
    assert_eq!(c["id"], json!(cid));
    assert_eq!(c["state"], "active");
    assert_eq!(c["caller"]["display_name"], s.gwen["display_name"]);
    assert_eq!(c["callee"]["display_name"], s.ann["display_name"]);
    assert_eq!(c["video"], true);
    assert_eq!(c["doorplate_id"], s.doorplate["id"]);
    assert_eq!(c["room"], s.room["name"]);
    assert!(c["answered_at"].is_string(), "{c}");
    assert_eq!(list(s.admin.clone()).await.len(), 1);
    // Another class's teacher sees nothing of it and cannot end it; nor can a guardian
    // who is not a party, and a guardian does not list calls at all.
    assert!(list(other_token.clone()).await.is_empty());
    let end = format!("/api/v1/calls/{cid}/end");
    let (st, v) = s.api.post(&end, &other_token, json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let (st, _) = s.api.post(&end, &s.hal_token, json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(s.api.get("/api/v1/calls", &s.hal_token).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.api.get("/api/v1/calls", &ann).await.0, StatusCode::FORBIDDEN);
    let still = s.api.get(&format!("/api/v1/calls/{cid}"), &s.gwen_token).await.1;
    assert_eq!(still["call"]["state"], "active", "{still}");

    // The class teacher ends it: both sides and the teacher's stream hear of it.
    let (st, v) = s.api.post(&end, &s.teacher_token, json!({})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["call"]["end_reason"], "ended_by_staff");
    assert_eq!(v["call"]["ended_by"], s.teacher["id"]);
    for stream in [&mut ann_events, &mut gwen] {
        let ended = stream.expect("call.ended").await;
        assert_eq!(ended["call"]["end_reason"], "ended_by_staff");
        assert_eq!(ended["call"]["duration_seconds"], 75);
    }
    assert_eq!(teacher.expect("call.ended").await["call"]["id"], json!(cid));
    assert!(list(s.teacher_token.clone()).await.is_empty());
    assert!(list(s.admin.clone()).await.is_empty());
    // Ending it again: it is over (to staff, a call that is not going on is unknown).
    let (st, _) = s.api.post(&end, &s.teacher_token, json!({})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let audit = s.api.get("/api/v1/audit?action=call.ended", &s.admin).await.1;
    assert_eq!(audit[0]["actor_id"], s.teacher["id"], "{audit}");
    assert_eq!(audit[0]["detail"]["reason"], "ended_by_staff");
    assert_eq!(audit[0]["detail"]["duration_seconds"], 75);
}
