//! Issue 10, items 3, 7, 13 and 15, each attack replayed against the real server:
//! an event socket dies with its token; the CSV import applies the API's rules and no
//! card or doorplate proof yields an admin's powers; the CSV export neutralises
//! formulas; the last active admin stays.

mod common;

use common::*;
use doorplate_domain::Role;
use doorplate_server::api::import::parse_csv;
use doorplate_store::NewUser;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// How soon a revoked token's socket must close.
const CLOSE_WITHIN: Duration = Duration::from_secs(1);

/// Waits (up to [`CLOSE_WITHIN`]) for the socket to close. Returns how it closed and the
/// frames that came first; panics if it is still open.
async fn closes(ev: &mut Events) -> (String, Vec<Value>) {
    let deadline = Instant::now() + CLOSE_WITHIN;
    let mut frames = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
        match ev.next_within(left.max(1)).await {
            Ok(Some(v)) => frames.push(v),
            Ok(None) => panic!("the socket is still open after {CLOSE_WITHIN:?}; it got {frames:?}"),
            Err(closed) => return (closed, frames),
        }
    }
}

/// Asserts the socket closed as revoked (4001) in time and delivered no message.
async fn assert_revoked(ev: &mut Events, what: &str) {
    let (closed, frames) = closes(ev).await;
    assert!(closed.contains("4001"), "{what}: closed as {closed}");
    assert!(
        !frames.iter().any(|f| f["type"] == "message.new"),
        "{what}: a message arrived after the revocation: {frames:?}"
    );
}

async fn patch(api: &Api, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    api.call("PATCH", path, Some(token), Some(body)).await
}

async fn export(api: &Api, admin: &str, kind: &str) -> String {
    let res = api
        .http
        .get(format!("{}/api/v1/export/{kind}", api.base))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

fn id(user: &Value) -> &str {
    user["id"].as_str().unwrap()
}

/// The teacher writes to gwen; her socket gets it (so the socket works before the attack).
async fn gwen_receives(s: &School, conv: &str, ev: &mut Events, text: &str) {
    let (st, v) = s.send_text(&s.teacher_token, conv, text, text).await;
    assert!(st.is_success(), "{st} {v}");
    assert_eq!(ev.expect("message.new").await["message"]["text"], text);
}

// ---- item 3: a socket dies with its token -------------------------------------------

#[tokio::test]
async fn logout_closes_the_socket_of_that_token_and_no_message_follows() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    let other_login = s.api.login("gwen", PASSWORD).await;
    let mut gwen_elsewhere = Events::open(&server.base, &other_login, None).await;
    gwen_receives(&s, &conv, &mut gwen, "before logout").await;
    gwen_elsewhere.expect("message.new").await;

    let (st, _) = s
        .api
        .call("POST", "/api/v1/auth/logout", Some(&s.gwen_token), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.send_text(&s.teacher_token, &conv, "c2", "after logout: secret").await;
    assert!(st.is_success());
    assert_revoked(&mut gwen, "logout").await;
    assert_eq!(s.api.get("/api/v1/me", &s.gwen_token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        s.api.get("/api/v1/events", &s.gwen_token).await.0,
        StatusCode::UNAUTHORIZED,
        "and no new socket opens with it"
    );
    // Logging out one device leaves her other login and its socket alone.
    let m = gwen_elsewhere.expect("message.new").await;
    assert_eq!(m["message"]["text"], "after logout: secret");
    assert_eq!(s.api.get("/api/v1/me", &other_login).await.0, StatusCode::OK);
}

#[tokio::test]
async fn disabling_a_user_closes_their_sockets() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    gwen_receives(&s, &conv, &mut gwen, "before").await;

    let (st, v) = patch(
        &s.api,
        &format!("/api/v1/users/{}", id(&s.gwen)),
        &s.admin,
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Whether R8 still lets the teacher write to a disabled account or not, nothing of it
    // may reach her socket.
    let _ = s
        .send_text(&s.teacher_token, &conv, "c2", "after disable: secret")
        .await;
    assert_revoked(&mut gwen, "disable").await;
    assert_eq!(s.api.get("/api/v1/me", &s.gwen_token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_reset_closes_every_socket_of_every_token_of_the_user() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let hal_conv = s.conversation(&s.teacher_token, &s.hal).await;
    let second = s.api.login("gwen", PASSWORD).await;
    let mut first_socket = Events::open(&server.base, &s.gwen_token, None).await;
    let mut second_socket = Events::open(&server.base, &second, None).await;
    let mut hal = Events::open(&server.base, &s.hal_token, None).await;
    gwen_receives(&s, &conv, &mut first_socket, "before").await;
    second_socket.expect("message.new").await;

    let (st, v) = patch(
        &s.api,
        &format!("/api/v1/users/{}", id(&s.gwen)),
        &s.admin,
        json!({"password": "a-brand-new-password"}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _) = s.send_text(&s.teacher_token, &conv, "c2", "after reset: secret").await;
    assert!(st.is_success());
    assert_revoked(&mut first_socket, "reset, first token").await;
    assert_revoked(&mut second_socket, "reset, second token").await;
    for t in [&s.gwen_token, &second] {
        assert_eq!(s.api.get("/api/v1/me", t).await.0, StatusCode::UNAUTHORIZED);
    }
    s.api.login("gwen", "a-brand-new-password").await;
    // Someone else's socket is untouched.
    let (st, _) = s.send_text(&s.teacher_token, &hal_conv, "h1", "for hal").await;
    assert!(st.is_success());
    assert_eq!(hal.expect("message.new").await["message"]["text"], "for hal");
}

#[tokio::test]
async fn a_password_set_by_an_import_or_a_deletion_also_closes_the_sockets() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let mut gwen = Events::open(&server.base, &s.gwen_token, None).await;
    gwen_receives(&s, &conv, &mut gwen, "before").await;
    let csv = "role,display_name,username,password\nguardian,Gwen (Ann's mum),gwen,imported-pw-1\n";
    let (_, v) = import_csv(&s.api, &s.admin, "users", csv, false).await;
    assert_eq!(
        (v["updated"].as_u64(), v["errors"].clone()),
        (Some(1), json!([])),
        "{v}"
    );
    assert_revoked(&mut gwen, "import").await;
    assert_eq!(s.api.get("/api/v1/me", &s.gwen_token).await.0, StatusCode::UNAUTHORIZED);

    let mut hal = Events::open(&server.base, &s.hal_token, None).await;
    let (st, _) = s
        .api
        .call("DELETE", &format!("/api/v1/users/{}", id(&s.hal)), Some(&s.admin), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_revoked(&mut hal, "delete").await;
}

#[tokio::test]
async fn disabling_a_student_ends_their_doorplate_session_and_its_socket() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let session = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    let token = session["session_token"].as_str().unwrap();
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let mut ann = Events::open(&server.base, token, None).await;
    let (st, _) = patch(
        &s.api,
        &format!("/api/v1/users/{}", id(&s.ann)),
        &s.admin,
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_revoked(&mut ann, "disabled student's session").await;
    let ended = plate.expect("session.ended").await;
    assert_eq!(ended["user_id"], s.ann["id"]);
    assert_eq!(s.api.get("/api/v1/me", token).await.0, StatusCode::UNAUTHORIZED);
}

// ---- item 7: the import applies the API's rules; no admin powers through a door -----

#[tokio::test]
async fn the_import_refuses_what_the_api_refuses() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let long = "L".repeat(5000);
    // (what, role, display name, username, password, card, the API's code)
    let cases = [
        ("an admin with a card", "admin", "Eve", "eve", "", "AD-1", "bad_card"),
        (
            "a guardian with a card",
            "guardian",
            "Gus",
            "gus",
            "",
            "GU-1",
            "bad_card",
        ),
        (
            "a 5,000-character name",
            "student",
            long.as_str(),
            "longname",
            "",
            "",
            "too_long",
        ),
        (
            "a username with a space",
            "student",
            "Two Words",
            "two words",
            "",
            "",
            "bad_username",
        ),
        (
            "a username with U+202E",
            "student",
            "Rtl",
            "adm\u{202E}nimda",
            "",
            "",
            "bad_username",
        ),
        (
            "a name with U+202E",
            "student",
            "Ann\u{202E}exe.gnp",
            "rlo",
            "",
            "",
            "bad_display_name",
        ),
        (
            "a short password",
            "teacher",
            "Tim",
            "tim",
            "12345",
            "",
            "weak_password",
        ),
        (
            "a card that is not a UID",
            "student",
            "Sam",
            "sam",
            "",
            "<script>",
            "bad_card",
        ),
    ];
    let before = s.api.get("/api/v1/users", &s.admin).await.1;
    for (what, role, name, username, password, card, code) in cases {
        let mut body = json!({"role": role, "display_name": name, "username": username});
        if !password.is_empty() {
            body["password"] = json!(password);
        }
        if !card.is_empty() {
            body["card_uid"] = json!(card);
        }
        let (st, v) = s.api.post("/api/v1/users", &s.admin, body).await;
        assert_eq!(
            (st, error_code(&v)),
            (StatusCode::BAD_REQUEST, code.to_string()),
            "API, {what}"
        );

        let csv = format!("role,display_name,username,password,card_uid\n{role},{name},{username},{password},{card}\n");
        let (st, v) = import_csv(&s.api, &s.admin, "users", &csv, false).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(v["created"], 0, "import, {what}: {v}");
        assert_eq!(v["errors"][0]["line"], 2, "import, {what}: {v}");
    }
    assert_eq!(
        s.api.get("/api/v1/users", &s.admin).await.1,
        before,
        "nothing was created"
    );
    // Rooms and groups get the API's name rule too.
    for (kind, csv) in [
        ("rooms", format!("name,kind\n{long},lab\n")),
        ("groups", format!("name,teacher_username,member_usernames\n{long},,\n")),
    ] {
        let (_, v) = import_csv(&s.api, &s.admin, kind, &csv, false).await;
        assert_eq!(v["errors"][0]["line"], 2, "{kind}: {v}");
        assert!(
            v["errors"][0]["message"].as_str().unwrap().contains("at most 100"),
            "{v}"
        );
    }
    // The imported admin's card would have opened a session: it is unknown.
    let (st, v) = s
        .api
        .post(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"card": "AD-1"}}),
        )
        .await;
    assert_eq!((st, error_code(&v)), (StatusCode::UNAUTHORIZED, "unknown_card".into()));
    // What the API accepts, the import accepts.
    let csv = "role,display_name,username,password,card_uid\nteacher,Ms 王 O'Neil,wang.o-neil,secret12,04-AA-BB\n";
    let (_, v) = import_csv(&s.api, &s.admin, "users", csv, false).await;
    assert_eq!(
        (v["created"].as_u64(), v["errors"].clone()),
        (Some(1), json!([])),
        "{v}"
    );
}

#[tokio::test]
async fn no_card_badge_or_doorplate_proof_yields_admin_powers() {
    // An admin with a card and a badge, as the unchecked import used to make them.
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    {
        let secrets = default_school_secrets(&dir.0).await;
        let store = default_school_store(&dir.0).await;
        let admin = store
            .create_user(NewUser {
                role: Some(Role::Admin),
                display_name: "Imported admin".into(),
                username: Some("imported".into()),
                password_hash: Some(doorplate_server::crypto::hash_password(PASSWORD)),
                card_hash: Some(secrets.hash("card", "AD1")),
                now: doorplate_server::school::now_micros(),
            })
            .await
            .unwrap();
        store
            .set_badge(admin.id, secrets.hash("qr", "dpq_legacy"))
            .await
            .unwrap();
    }
    let server = TestServer::start_in(dir).await;
    let s = School::new(&server).await;
    for credential in [json!({"card": "AD1"}), json!({"qr": "dpq_legacy"})] {
        let (st, v) = s
            .api
            .post(
                "/api/v1/doorplate/sessions",
                &s.device,
                json!({"credential": credential}),
            )
            .await;
        assert_eq!(
            (st, error_code(&v)),
            (StatusCode::FORBIDDEN, "card_not_allowed".into()),
            "{credential}"
        );
    }
    // The admin's password at a door opens teacher mode, and teacher mode only.
    let v = s
        .api
        .ok(
            "/api/v1/doorplate/sessions",
            &s.device,
            json!({"credential": {"username": "imported", "password": PASSWORD}}),
        )
        .await;
    let session = v["session_token"].as_str().unwrap();
    let (st, v) = s
        .api
        .post(
            "/api/v1/users",
            session,
            json!({"role": "admin", "display_name": "Mallory", "username": "mallory", "password": PASSWORD}),
        )
        .await;
    assert_eq!((st, error_code(&v)), (StatusCode::FORBIDDEN, "teacher_mode".into()));
    let (st, _) = patch(&s.api, "/api/v1/settings", session, json!({"retention_days": 1})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, _) = import_csv(
        &s.api,
        session,
        "users",
        "role,display_name,username\nadmin,M,m2\n",
        false,
    )
    .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // What teacher mode does still works: find students, place them here.
    let (st, found) = s.api.get("/api/v1/users?role=student&q=Ann", session).await;
    assert_eq!((st, found[0]["id"].clone()), (StatusCode::OK, s.ann["id"].clone()));
    let (st, v) = s
        .api
        .post(
            "/api/v1/presence",
            session,
            json!({"doorplate_id": s.doorplate["id"], "user_ids": [s.ann["id"]]}),
        )
        .await;
    assert!(st.is_success(), "{st} {v}");
    // The same admin with a login token keeps their powers.
    let login = s.api.login("imported", PASSWORD).await;
    let (st, _) = patch(&s.api, "/api/v1/settings", &login, json!({"retention_days": 30})).await;
    assert_eq!(st, StatusCode::OK);
}

// ---- item 13: the CSV export neutralises formulas -------------------------------------

#[tokio::test]
async fn the_export_neutralises_formula_cells_and_still_imports_as_it_was() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let names = [
        ("=HYPERLINK(\"http://evil.example\",\"pay\")", "f1"),
        ("+SUM(1,2)", "f2"),
        ("-2+3", "f3"),
        ("@cmd", "@f4"),
        ("Plain", "-f5"),
    ];
    for (name, username) in names {
        api.ok(
            "/api/v1/users",
            &admin,
            json!({"role": "guardian", "display_name": name, "username": username}),
        )
        .await;
    }
    api.ok("/api/v1/rooms", &admin, json!({"name": "=1+1", "kind": "lab"}))
        .await;
    for kind in ["users", "rooms"] {
        let csv = export(&api, &admin, kind).await;
        for (line, record) in parse_csv(&csv).unwrap() {
            for cell in record {
                assert!(
                    !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                    "{kind} line {line}: {cell:?} would run as a formula\n{csv}"
                );
            }
        }
    }
    let users = export(&api, &admin, "users").await;
    assert!(
        users.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"pay\"\")\""),
        "{users}"
    );
    assert!(users.contains("guardian,\"'+SUM(1,2)\",f2,,"), "{users}");
    assert!(users.contains("guardian,Plain,'-f5,,"), "{users}");
    assert!(export(&api, &admin, "rooms").await.contains("'=1+1,lab"));

    // Importing the export changes nothing: the ' comes off again.
    let before = api.get("/api/v1/users", &admin).await.1;
    let (_, v) = import_csv(&api, &admin, "users", &users, false).await;
    assert_eq!(v["errors"], json!([]), "{v}");
    assert_eq!(api.get("/api/v1/users", &admin).await.1, before);
}

// ---- item 15: the last active admin stays ---------------------------------------------

#[tokio::test]
async fn the_last_active_admin_cannot_disable_or_delete_themselves() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let me = api.get("/api/v1/me", &admin).await.1["user"].clone();
    let path = format!("/api/v1/users/{}", id(&me));

    let (st, v) = patch(
        &api,
        &path,
        &admin,
        json!({"disabled": true, "display_name": "Renamed"}),
    )
    .await;
    assert_eq!((st, error_code(&v)), (StatusCode::CONFLICT, "last_admin".into()));
    let (st, v) = api.call("DELETE", &path, Some(&admin), None).await;
    assert_eq!((st, error_code(&v)), (StatusCode::CONFLICT, "last_admin".into()));
    // Nothing changed: the same admin, still active, still signed in.
    assert_eq!(api.get("/api/v1/me", &admin).await.1["user"], me);
    api.login("admin", ADMIN_PASSWORD).await;

    // Two admins disabling each other at the same moment leave one of them.
    let second = api
        .ok(
            "/api/v1/users",
            &admin,
            json!({"role": "admin", "display_name": "Second", "username": "second", "password": PASSWORD}),
        )
        .await["user"]
        .clone();
    let second_token = api.login("second", PASSWORD).await;
    let second_path = format!("/api/v1/users/{}", id(&second));
    let (a, b) = tokio::join!(
        patch(&api, &second_path, &admin, json!({"disabled": true})),
        patch(&api, &path, &second_token, json!({"disabled": true})),
    );
    let statuses = [a.0, b.0];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "exactly one wins: {a:?} {b:?}"
    );
    let survivor = if a.0 == StatusCode::OK { &admin } else { &second_token };
    let admins = api.get("/api/v1/users?role=admin", survivor).await.1;
    let active: Vec<_> = admins
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["disabled"] == false)
        .collect();
    assert_eq!(active.len(), 1, "{admins}");
    let survivor_path = format!("/api/v1/users/{}", active[0]["id"].as_str().unwrap());
    let (st, v) = patch(&api, &survivor_path, survivor, json!({"disabled": true})).await;
    assert_eq!((st, error_code(&v)), (StatusCode::CONFLICT, "last_admin".into()));
}
