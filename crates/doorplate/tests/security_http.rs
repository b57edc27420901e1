//! The HTTP edge under attack (issue 10, items 5, 6, 8, 12, 14): forged requests from a
//! page on another port of the same host, slow and greedy clients, the faces' security
//! headers, and the error shapes and OpenAPI description of what goes wrong.

mod common;

use common::*;
use doorplate_server::HttpConfig;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A CSV that would make an admin, as the review's forged form posted it.
const EVIL_CSV: &str = "role,display_name,username,password,card_uid\nadmin,Mallory,mallory,pwned-pass,\n";

/// Logs in as the admin and returns the `doorplate_session` cookie the server set.
async fn admin_cookie(api: &Api) -> (String, String) {
    let res = api
        .http
        .post(format!("{}/api/v1/auth/login", api.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    let pair = set.split(';').next().unwrap().to_string();
    let token = res.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    (pair, token)
}

/// A raw request with these headers; returns the status and the JSON body (or text).
async fn send(api: &Api, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (StatusCode, Value) {
    let mut h = HeaderMap::new();
    for (k, v) in headers {
        h.insert(
            reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let res = api
        .http
        .request(method.parse().unwrap(), format!("{}{path}", api.base))
        .headers(h)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn user_exists(api: &Api, admin: &str, username: &str) -> bool {
    let (_, v) = api.get(&format!("/api/v1/users?q={username}"), admin).await;
    v.as_array().unwrap().iter().any(|u| u["username"] == username)
}

#[tokio::test]
async fn a_forged_import_from_another_port_of_the_same_host_is_refused() {
    let server = TestServer::start().await;
    let api = server.api();
    let (cookie, admin) = admin_cookie(&api).await;
    let ours = server.base.clone();
    let path = "/api/v1/import/users?dry_run=false";

    // The review's page on another port: an auto-submitted text/plain form.
    let (st, v) = send(
        &api,
        "POST",
        path,
        &[
            ("cookie", &cookie),
            ("origin", "http://127.0.0.1:1"),
            ("sec-fetch-site", "same-site"),
            ("content-type", "text/plain"),
        ],
        EVIL_CSV,
    )
    .await;
    assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "cross_origin"));
    // A browser that sends only Sec-Fetch-Site, and a sandboxed page (`Origin: null`).
    for extra in [("sec-fetch-site", "same-site"), ("origin", "null")] {
        let (st, v) = send(
            &api,
            "POST",
            path,
            &[("cookie", &cookie), extra, ("content-type", "text/csv")],
            EVIL_CSV,
        )
        .await;
        assert_eq!((st, error_code(&v).as_str()), (StatusCode::FORBIDDEN, "cross_origin"));
    }
    // Our own origin, but a type a plain form can send: still refused.
    let (st, v) = send(
        &api,
        "POST",
        path,
        &[("cookie", &cookie), ("origin", &ours), ("content-type", "text/plain")],
        EVIL_CSV,
    )
    .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    assert!(!user_exists(&api, &admin, "mallory").await, "no admin was made");

    // Our own page with the cookie works, and a bearer client is not touched by any of it.
    let (st, v) = send(
        &api,
        "POST",
        path,
        &[("cookie", &cookie), ("origin", &ours), ("content-type", "text/csv")],
        EVIL_CSV,
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = send(
        &api,
        "POST",
        "/api/v1/users",
        &[
            ("authorization", &format!("Bearer {admin}")),
            ("content-type", "application/json"),
        ],
        r#"{"role": "teacher", "display_name": "T", "username": "t2", "password": "pass1234"}"#,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // Reads with the cookie need no origin (a foreign page cannot read the answer).
    let (st, _) = send(&api, "GET", "/api/v1/me", &[("cookie", &cookie)], "").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn the_faces_log_in_without_a_cookie() {
    let server = TestServer::start().await;
    let api = server.api();
    let res = api
        .http
        .post(format!("{}/api/v1/auth/login", api.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "cookie": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("set-cookie").is_none());
    // Other clients still get the cookie the contract promises, without `Secure` on plain HTTP.
    let res = api
        .http
        .post(format!("{}/api/v1/auth/login", api.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let set = res.headers()["set-cookie"].to_str().unwrap();
    assert!(set.starts_with("doorplate_session=dpu_"), "{set}");
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && !set.contains("Secure"),
        "{set}"
    );
    // (The browser tests check that the app and the console end up with no cookie.)
}

#[tokio::test]
async fn a_cookie_event_socket_from_a_foreign_origin_is_refused() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let (cookie, _) = admin_cookie(&s.api).await;
    let open = |origin: Option<String>| {
        let mut req = format!("{}/api/v1/events", server.base.replacen("http", "ws", 1))
            .into_client_request()
            .unwrap();
        req.headers_mut().insert("cookie", cookie.parse().unwrap());
        if let Some(o) = origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        tokio_tungstenite::connect_async(req)
    };
    match open(Some("http://127.0.0.1:1".into())).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            let body: Value = serde_json::from_slice(res.body().as_deref().unwrap()).unwrap();
            assert_eq!(error_code(&body), "cross_origin");
        }
        other => panic!("the foreign socket opened: {:?}", other.map(|_| ())),
    }
    // From our own page the cookie socket opens, and so it does for a program (no
    // browser page: browsers always send `Origin` on a WebSocket handshake).
    let (ws, _) = open(Some(server.base.clone()))
        .await
        .expect("our own page opens the socket");
    drop(ws);
    let (ws, _) = open(None).await.expect("a program with the cookie opens the socket");
    drop(ws);
}

/// Reads until the server closes the connection (or `limit` passes); returns what came.
async fn read_to_close(tcp: &mut TcpStream, limit: Duration) -> Result<String, &'static str> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Err(_) => return Err("still open"),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(String::from_utf8_lossy(&got).into_owned()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn short_timeouts() -> HttpConfig {
    HttpConfig {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_half_sent_request_head_is_closed_after_the_timeout() {
    let server = TestServer::start_http(short_timeouts()).await;
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr()).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut silent = TcpStream::connect(server.addr()).await.unwrap();
    let got = read_to_close(&mut slow, Duration::from_secs(5)).await.expect("closed");
    assert!(!got.contains("200 OK"), "{got}");
    read_to_close(&mut silent, Duration::from_secs(5))
        .await
        .expect("a silent connection is closed too");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    // A whole request on a fresh connection is served as ever.
    let (st, _) = send(&server.api(), "GET", "/healthz", &[], "").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn an_upload_that_stalls_mid_body_is_ended() {
    let server = TestServer::start_http(short_timeouts()).await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "POST /api/v1/import/users?dry_run=false HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n\
         Content-Type: text/csv\r\nContent-Length: 100000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(EVIL_CSV.as_bytes()).await.unwrap();
    let got = read_to_close(&mut tcp, Duration::from_secs(5)).await.expect("ended");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("\"code\":\"timeout\""), "{got}");
    assert!(!user_exists(&api, &admin, "mallory").await);
}

/// A connection from `ip` (any 127.x address reaches the loopback listener).
async fn connect_from(ip: &str, addr: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

async fn healthz_on(tcp: &mut TcpStream) -> String {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_connections() {
    let server = TestServer::start_http(HttpConfig {
        max_connections_per_ip: 3,
        ..Default::default()
    })
    .await;
    let addr = server.addr();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.1", &addr).await);
    }
    let mut fourth = connect_from("127.0.0.1", &addr).await;
    let got = read_to_close(&mut fourth, Duration::from_secs(5))
        .await
        .expect("refused");
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(&format!("content-length: {}", body.len())), "{got}");
    let name = doorplate_server::host_name();
    assert!(head.contains(&format!("doorplate-served-by: {name}\r\n")), "{got}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(error_code(&body), "too_many_connections");
    // Another address is served, and so are the three held connections.
    let mut other = connect_from("127.0.0.2", &addr).await;
    assert!(healthz_on(&mut other).await.starts_with("HTTP/1.1 200"));
    for tcp in held.iter_mut() {
        assert!(healthz_on(tcp).await.starts_with("HTTP/1.1 200"));
    }
    // A closed connection gives its place back.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from("127.0.0.1", &addr).await;
        let mut buf = [0u8; 16];
        again
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = again.read(&mut buf).await.unwrap_or(0);
        if buf[..n].starts_with(b"HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the slot never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_faces_forbid_framing_and_foreign_code() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for face in ["/kiosk", "/app", "/admin", "/app/app.js"] {
        let res = http.get(format!("{}{face}", server.base)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{face}");
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        for part in [
            "frame-ancestors 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "object-src 'none'",
            "media-src 'self' blob:",
        ] {
            assert!(csp.contains(part), "{face}: {part} in {csp}");
        }
        assert!(csp.contains(&format!("ws://{}", server.addr())), "{csp}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
    }
}

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";

#[tokio::test]
async fn notice_images_are_not_sniffed() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let res = api
        .http
        .post(format!("{}/api/v1/media", api.base))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let media = res.json::<Value>().await.unwrap()["media_id"].clone();
    let notice = api
        .ok(
            "/api/v1/notices",
            &admin,
            json!({"kind": "notice", "title": "Fair", "image_media_id": media}),
        )
        .await;
    let url = notice["notice"]["image_url"].as_str().unwrap();
    let res = api
        .http
        .get(format!("{}{url}", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure_and_the_public_origin_is_ours() {
    let server = TestServer::start_http(HttpConfig {
        public_url: Some("https://Doorplate.example.org/".into()),
        ..Default::default()
    })
    .await;
    let api = server.api();
    let res = api
        .http
        .post(format!("{}/api/v1/auth/login", api.base))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    let set = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set.ends_with("; Secure") && set.contains("HttpOnly"), "{set}");
    let cookie = set.split(';').next().unwrap().to_string();
    let (st, v) = send(
        &api,
        "POST",
        "/api/v1/rooms",
        &[
            ("cookie", &cookie),
            ("origin", "https://doorplate.example.org"),
            ("content-type", "application/json"),
        ],
        r#"{"name": "Room 1", "kind": "classroom"}"#,
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let res = api
        .http
        .post(format!("{}/api/v1/auth/logout", api.base))
        .header("cookie", &cookie)
        .header("origin", "https://doorplate.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.headers()["set-cookie"].to_str().unwrap().ends_with("; Secure"));
}

#[tokio::test]
async fn error_answers_have_the_right_status_and_the_error_json() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let bearer = format!("Bearer {admin}");
    // Over the JSON limit: 413, not 400.
    let big = json!({"role": "teacher", "display_name": "x".repeat(3 << 20), "username": "big"}).to_string();
    let (st, v) = send(
        &api,
        "POST",
        "/api/v1/users",
        &[("authorization", &bearer), ("content-type", "application/json")],
        &big,
    )
    .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    // A raw body over the limit (the CSV import) too.
    let (st, v) = send(
        &api,
        "POST",
        "/api/v1/import/users",
        &[("authorization", &bearer), ("content-type", "text/csv")],
        &"x".repeat(3 << 20),
    )
    .await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    );
    // A method the route does not have: 405 with the error JSON and `Allow`.
    let res = api
        .http
        .delete(format!("{}/api/v1/auth/login", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(res.headers()["allow"].to_str().unwrap().contains("POST"));
    let v: Value = res.json().await.unwrap();
    assert_eq!(error_code(&v), "method_not_allowed");
}

#[tokio::test]
async fn openapi_lists_auth_errors_and_says_what_ids_are() {
    let server = TestServer::start().await;
    let api = server.api();
    let doc: Value = api
        .http
        .get(format!("{}/api/v1/openapi.json", api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let error_ref = json!({"$ref": "#/components/schemas/Error"});
    let users = &doc["paths"]["/api/v1/users"]["get"]["responses"];
    for status in ["401", "403"] {
        assert_eq!(
            users[status]["content"]["application/json"]["schema"], error_ref,
            "{status} on GET /users"
        );
    }
    let login = &doc["paths"]["/api/v1/auth/login"]["post"];
    assert_eq!(login["security"], json!([{}]), "login needs no token");
    assert!(login["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert!(doc["components"]["schemas"]["Error"]["properties"]["error"].is_object());
    let id = &doc["components"]["schemas"]["UserView"]["properties"]["id"];
    assert!(id["description"].as_str().unwrap().contains("opaque id"), "{id}");
    // Every operation that needs a token says what happens without one.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"] == json!([{}]) {
                continue;
            }
            assert!(op["responses"]["401"].is_object(), "{method} {path} lists 401");
        }
    }
}
