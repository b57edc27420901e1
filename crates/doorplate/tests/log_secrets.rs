//! Logs never carry secrets: the real binary at `RUST_LOG=debug` with JSON logs goes
//! through a full walk — logins, a failed login, a card check-in with a planted card
//! number, a badge (QR) check-in, a message with planted text, a pairing code, an event
//! ticket, a doorplate session — and its whole stderr is searched for every planted
//! secret: message text, card number, passwords, tokens, QR token, pairing code, ticket.

mod common;

use common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_doorplate");

#[tokio::test]
async fn a_full_walk_at_debug_level_logs_no_secret() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let mut child = Command::new(BIN)
        .args([
            "--data",
            dir.0.to_str().unwrap(),
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .envs(store_env(&dir.0).await)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("doorplate listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let api = Api {
        base: base.clone(),
        http: reqwest::Client::new(),
    };

    // The school: logins with known passwords, cards, a badge, a pairing code.
    let s = School::with_api(api.clone()).await;
    let mut secrets: Vec<(&str, String)> = vec![
        ("admin password", ADMIN_PASSWORD.into()),
        ("password", PASSWORD.into()),
        ("admin token", s.admin.clone()),
        ("teacher token", s.teacher_token.clone()),
        ("guardian token", s.gwen_token.clone()),
        ("device token", s.device.clone()),
        ("QR token", s.ann_qr.clone()),
        ("card number", "04A1B2C3".into()),
    ];

    // A student with a planted card number checks in with it (typed as a reader would).
    let planted_card = "9F3C7A11E5D2";
    api.ok(
        "/api/v1/users",
        &s.admin,
        json!({"role": "student", "display_name": "Cora", "username": "cora",
               "password": "Cora-Pass-5512", "card_uid": planted_card}),
    )
    .await;
    secrets.push(("planted card", planted_card.into()));
    secrets.push(("planted card, spaced", "9f 3c 7a 11 e5 d2".into()));
    secrets.push(("student password", "Cora-Pass-5512".into()));
    api.ok(
        "/api/v1/doorplate/checkin",
        &s.device,
        json!({"credential": {"card": "9f 3c 7a 11 e5 d2"}}),
    )
    .await;
    // A card nobody has: refused, and still not logged.
    let (st, _) = api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "5EC12E7C4RD0"}}),
        )
        .await;
    assert!(st.is_client_error(), "{st}");
    secrets.push(("unknown card", "5EC12E7C4RD0".into()));
    // The badge.
    api.ok(
        "/api/v1/doorplate/checkin",
        &s.device,
        json!({"credential": {"qr": s.ann_qr}}),
    )
    .await;

    // A message with planted text, and a doorplate session that reads it.
    let planted_text = "the spare key is under the blue flowerpot 8817";
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, v) = s.send_text(&s.gwen_token, &conv, "c-secret", planted_text).await;
    assert!(st.is_success(), "{st} {v}");
    secrets.push(("message text", planted_text.into()));
    secrets.push(("message text (a part)", "blue flowerpot".into()));
    let sess = api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let session = sess["session_token"].as_str().unwrap().to_string();
    let (st, msgs) = api
        .get(&format!("/api/v1/conversations/{conv}/messages"), &session)
        .await;
    assert!(
        st.is_success() && msgs.to_string().contains(planted_text),
        "{st} {msgs}"
    );
    secrets.push(("session token", session));

    // A second doorplate: its pairing code.
    let created = api
        .ok(
            "/api/v1/doorplates",
            &s.admin,
            json!({"room_id": s.room["id"], "name": "Back door"}),
        )
        .await;
    let code = created["pairing_code"].as_str().unwrap().to_string();
    let (st, paired) = api
        .call(
            "POST",
            "/api/v1/devices/pair",
            None,
            Some(json!({"pairing_code": code})),
        )
        .await;
    assert!(st.is_success(), "{st} {paired}");
    secrets.push(("pairing code", code));
    secrets.push((
        "second device token",
        paired["device_token"].as_str().unwrap().to_string(),
    ));

    // An event ticket, used to open a socket.
    let ticket = api.ok("/api/v1/events/ticket", &s.gwen_token, json!({})).await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let ws = format!("{}/api/v1/events?ticket={ticket}", base.replacen("http", "ws", 1));
    let (socket, _) = tokio_tungstenite::connect_async(ws)
        .await
        .expect("the ticket opens a socket");
    drop(socket);
    secrets.push(("event ticket", ticket));

    // A failed login with a known wrong password.
    let wrong = "Wrong-Horse-Battery-4242";
    let (st, _) = api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "gwen", "password": wrong})),
        )
        .await;
    assert_eq!(st, reqwest::StatusCode::UNAUTHORIZED);
    secrets.push(("wrong password", wrong.into()));

    // Stop the server and read everything it logged.
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();
    let log = String::from_utf8(log.lock().unwrap().clone()).unwrap();
    if std::env::var_os("DOORPLATE_TEST_SHOW_LOG").is_some() {
        eprintln!("{log}");
    }

    // It is a real debug log in JSON, one object a line.
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 20, "too little logged to prove anything:\n{log}");
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
    assert!(
        log.contains("\"level\":\"DEBUG\""),
        "RUST_LOG=debug logged no debug line"
    );

    let leaks: Vec<String> = secrets
        .iter()
        .filter_map(|(what, secret)| {
            let hit = lines
                .iter()
                .find(|l| l.to_lowercase().contains(&secret.to_lowercase()))?;
            Some(format!("{what} ({secret:?}) in: {hit}"))
        })
        .collect();
    assert!(leaks.is_empty(), "secrets in the log:\n{}", leaks.join("\n"));
}
