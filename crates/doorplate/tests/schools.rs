//! Many schools in one server: each under `/s/{slug}`, the default one at the root paths,
//! and nothing of one school — token, cookie, device, pairing code, card, badge, ticket,
//! media, event, throttle — valid in another, though they have the same people, the same
//! usernames and the same card numbers.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// The API of one school of the server, at `/s/{slug}`.
fn school_api(server: &TestServer, slug: &str) -> Api {
    Api {
        base: format!("{}/s/{slug}", server.base),
        http: reqwest::Client::new(),
    }
}

async fn two_schools() -> TestServer {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    add_school(&dir.0, "north").await;
    add_school(&dir.0, "south").await;
    TestServer::start_in(dir).await
}

#[tokio::test]
async fn two_schools_with_the_same_people_and_cards_cannot_see_or_touch_each_other() {
    let server = two_schools().await;
    let north = School::with_api(school_api(&server, "north")).await;
    let south = School::with_api(school_api(&server, "south")).await;

    // Every login token, the device token and a student's session work only at home.
    for (token, what) in [
        (&north.admin, "admin"),
        (&north.gwen_token, "guardian"),
        (&north.teacher_token, "teacher"),
    ] {
        let (s, v) = south.api.get("/api/v1/me", token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "north's {what} token at south: {v}");
        let (s, _) = north.api.get("/api/v1/me", token).await;
        assert_eq!(s, StatusCode::OK);
        // Nor at the root paths (the data folder's own school).
        let (s, _) = server.api().get("/api/v1/me", token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = south.api.get("/api/v1/doorplate/state", &north.device).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "north's doorplate is unknown at south");

    // The same card number opens each school's own Ann, at that school's door only.
    let card = json!({"credential": {"card": "04A1B2C3"}});
    let (s, v) = north
        .api
        .post("/api/v1/doorplate/checkin", &north.device, card.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, opened) = north
        .api
        .post("/api/v1/doorplate/sessions", &north.device, card.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{opened}");
    let session = opened["session_token"].as_str().expect("a session token").to_string();
    let (s, _) = south.api.get("/api/v1/me", &session).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a north session is nothing at south");
    // North's badge is no proof at south's door.
    let (s, v) = south
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &south.device,
            json!({"credential": {"qr": north.ann_qr}}),
        )
        .await;
    assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::NOT_FOUND, "{s} {v}");

    // A message in north reaches north's Ann and only her: south's Ann (same name, card,
    // username, even the same id) has nothing, and south's doorplate hears nothing.
    let mut south_door = Events::open(&south.api.base, &south.device, None).await;
    let mut north_door = Events::open(&north.api.base, &north.device, None).await;
    let conv = north.conversation(&north.gwen_token, &north.ann).await;
    let (s, v) = north.send_text(&north.gwen_token, &conv, "n-1", "north only").await;
    assert!(s.is_success(), "{v}");
    north_door.expect("notify.new_message").await;
    let heard = south_door.drain(300).await;
    assert!(
        heard.iter().all(|f| f["type"] != "notify.new_message"),
        "south's door heard north's message: {heard:?}"
    );
    let (_, south_convs) = south.api.get("/api/v1/conversations", &south.gwen_token).await;
    assert!(
        !south_convs.to_string().contains("north only"),
        "south's Gwen sees north's message: {south_convs}"
    );
    let (s, v) = south
        .api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &south.gwen_token)
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN || !v.to_string().contains("north only"),
        "{s} {v}"
    );

    // An event ticket is single-use and only its own school's.
    let ticket = north
        .api
        .ok("/api/v1/events/ticket", &north.gwen_token, json!({}))
        .await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let ws = format!(
        "{}/api/v1/events?ticket={ticket}",
        south.api.base.replacen("http", "ws", 1)
    );
    assert!(
        tokio_tungstenite::connect_async(ws).await.is_err(),
        "north's ticket opened a socket at south"
    );

    // A pairing code of north pairs nothing at south.
    let created = north
        .api
        .ok(
            "/api/v1/doorplates",
            &north.admin,
            json!({"room_id": north.room["id"], "name": "Back door"}),
        )
        .await;
    let code = created["pairing_code"].as_str().unwrap();
    let (s, _) = south
        .api
        .call(
            "POST",
            "/api/v1/devices/pair",
            None,
            Some(json!({"pairing_code": code})),
        )
        .await;
    assert!(s.is_client_error(), "north's pairing code at south: {s}");

    // An upload of north's is not found at south, by the same id.
    let id = upload_png(&north.api, &north.gwen_token).await;
    let (s, _) = north.api.get(&format!("/api/v1/media/{id}"), &north.gwen_token).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = south.api.get(&format!("/api/v1/media/{id}"), &south.gwen_token).await;
    assert!(s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN, "{s}");

    // Throttles are per school: locking north's `admin` leaves south's alone.
    for _ in 0..6 {
        let _ = north
            .api
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "admin", "password": "wrong"})),
            )
            .await;
    }
    let (s, _) = north
        .api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "north's admin is locked out");
    south.api.login("admin", ADMIN_PASSWORD).await;

    // The session cookie is scoped to its school's path.
    let res = north
        .api
        .http
        .post(format!("{}/api/v1/auth/login", north.api.base))
        .json(&json!({"username": "teach", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("Path=/s/north/"), "{cookie}");
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_string();
    let at_south = reqwest::Client::new()
        .get(format!("{}/api/v1/me", south.api.base))
        .header("cookie", format!("doorplate_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(at_south.status(), StatusCode::UNAUTHORIZED);
    south_door.close().await;
    north_door.close().await;
}

#[tokio::test]
async fn an_unknown_school_is_a_clear_404_and_a_school_address_opens_its_app() {
    let server = two_schools().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = http
        .get(format!("{}/s/nowhere/api/v1/me", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(error_code(&v), "not_found");
    for face in ["app", "kiosk", "admin"] {
        let res = http
            .get(format!("{}/s/nowhere/{face}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let page = res.text().await.unwrap();
        assert!(
            page.contains("No school at this address") && page.contains("此地址没有对应的学校"),
            "{page}"
        );
    }
    // A school's own address opens its family app; each face is served under it.
    let res = http.get(format!("{}/s/north/", server.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()["location"], "/s/north/app");
    for face in ["app", "kiosk", "admin"] {
        let res = http
            .get(format!("{}/s/north/{face}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{face}");
    }
    // Which school an address is, for a sign-in screen, without a token.
    let (s, info) = school_api(&server, "north")
        .call("GET", "/api/v1/school", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (info["slug"].as_str(), info["name"].as_str(), info["timezone"].as_str()),
        (Some("north"), Some("north school"), Some("Asia/Shanghai"))
    );
    let (_, info) = server.api().call("GET", "/api/v1/school", None, None).await;
    assert_eq!(info["slug"], "main");
    // The root paths are the data folder's own school, as before many schools.
    let root = server.api().login("admin", ADMIN_PASSWORD).await;
    let (s, _) = school_api(&server, "main").get("/api/v1/me", &root).await;
    assert_eq!(s, StatusCode::OK, "the root school is also at /s/main");
}

#[tokio::test]
async fn a_school_added_while_the_server_runs_is_served_within_seconds() {
    let server = two_schools().await;
    let east = school_api(&server, "east");
    let (s, _) = east
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "no east yet");
    add_school(&server.dir.0, "east").await;
    let mut served = false;
    for _ in 0..50 {
        let (s, _) = east
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
            )
            .await;
        if s == StatusCode::OK {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(served, "east was not hosted within 10 s");
}

#[tokio::test]
async fn the_default_school_serves_the_root_paths_and_an_unknown_default_stops_the_start() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    add_school(&dir.0, "north").await;
    let config = doorplate_server::Config {
        default_school: Some("nowhere".into()),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = doorplate_server::run(listener, config, async {})
        .await
        .expect_err("an unknown default school is refused");
    assert!(err.to_string().contains("nowhere"), "{err}");

    let config = doorplate_server::Config {
        default_school: Some("north".into()),
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_with(dir, config).await;
    let token = server.api().login("admin", ADMIN_PASSWORD).await;
    let (s, _) = school_api(&server, "north").get("/api/v1/me", &token).await;
    assert_eq!(s, StatusCode::OK, "a root-path login is north's");
    let (s, _) = school_api(&server, "main").get("/api/v1/me", &token).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}
