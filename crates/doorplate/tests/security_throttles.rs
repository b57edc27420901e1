//! Attacks on the credential throttles (issue 10, items 1, 2, 9, 11, 17, 18): each test
//! does what the attacker did and asserts what they now get.

mod common;

use common::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};

/// A client whose requests come from another loopback address (127.0.0.0/8 all reach
/// the server), so a test can be several client addresses at once.
fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

async fn post_from(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let v = res.json().await.unwrap_or(Value::Null);
    (status, v)
}

fn count(results: &[(StatusCode, Value)], status: StatusCode) -> usize {
    results.iter().filter(|(s, _)| *s == status).count()
}

#[tokio::test]
async fn a_parallel_burst_of_passwords_gets_no_more_than_five_evaluated() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let url = format!("{}/api/v1/auth/login", s.api.base);
    // 400 wrong passwords for one account at once, each from its own address so only
    // the account's budget stands in the way; the right password is sent last.
    let burst = (0..400u32).map(|i| {
        let http = client_from(10 + (i % 200) as u8);
        let url = url.clone();
        async move {
            post_from(
                &http,
                url,
                None,
                json!({"username": "teach", "password": format!("guess{i}")}),
            )
            .await
        }
    });
    let results = join_all(burst).await;
    let evaluated = count(&results, StatusCode::UNAUTHORIZED);
    assert!(evaluated <= 5, "{evaluated} wrong passwords were evaluated");
    assert_eq!(evaluated + count(&results, StatusCode::TOO_MANY_REQUESTS), 400);
    let (st, v) = post_from(
        &client_from(250),
        url,
        None,
        json!({"username": "teach", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "the right password got through: {v}");
    assert!(v["token"].is_null());
}

#[tokio::test]
async fn a_parallel_burst_at_a_doorplate_opens_no_session() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let url = format!("{}/api/v1/doorplate/sessions", s.api.base);
    let http = reqwest::Client::new();
    let burst = (0..200).map(|i| {
        let (http, url, device) = (http.clone(), url.clone(), s.device.clone());
        async move {
            post_from(
                &http,
                url,
                Some(&device),
                json!({"credential": {"username": "bob", "password": format!("guess{i}")}}),
            )
            .await
        }
    });
    let results = join_all(burst).await;
    let evaluated = count(&results, StatusCode::UNAUTHORIZED);
    assert!(evaluated <= 5, "{evaluated} wrong passwords were evaluated");
    assert_eq!(evaluated + count(&results, StatusCode::TOO_MANY_REQUESTS), 200);
    let (st, v) = post_from(
        &http,
        url,
        Some(&s.device),
        json!({"credential": {"username": "bob", "password": PASSWORD}}),
    )
    .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "a session opened: {v}");
}

#[tokio::test]
async fn a_valid_card_does_not_buy_more_wrong_cards_and_the_school_is_told() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let mut wrong_evaluated = 0;
    let mut throttled = false;
    // Four wrong cards, one valid card (the attacker's own), four wrong … (five wrong in
    // a row lock the doorplate at once).
    for round in 0..20 {
        for i in 0..4 {
            let (st, _) = s
                .api
                .post(
                    "/api/v1/doorplate/checkin",
                    &s.device,
                    json!({"credential": {"card": format!("BAD{round}x{i}")}}),
                )
                .await;
            match st {
                StatusCode::UNAUTHORIZED => wrong_evaluated += 1,
                StatusCode::TOO_MANY_REQUESTS => throttled = true,
                other => panic!("unexpected {other}"),
            }
        }
        s.api
            .post(
                "/api/v1/doorplate/checkin",
                &s.device,
                json!({"credential": {"card": "04A1B2C3"}}),
            )
            .await;
    }
    assert!(throttled);
    assert!(
        wrong_evaluated <= 20,
        "{wrong_evaluated} wrong cards evaluated in a minute"
    );
    // The school hears of it: an audit entry and a flag on the console's doorplate list.
    let (_, audit) = s.api.get("/api/v1/audit?action=doorplate.probed", &s.admin).await;
    assert_eq!(audit[0]["subject_id"], s.doorplate["id"], "{audit}");
    let (_, list) = s.api.get("/api/v1/doorplates", &s.admin).await;
    let plate = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == s.doorplate["id"])
        .unwrap();
    assert!(plate["probed_at"].is_string(), "{plate}");
    let (_, other) = s.another_doorplate("Quiet room").await;
    let _ = other;
    let (_, list) = s.api.get("/api/v1/doorplates", &s.admin).await;
    let flagged = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["probed_at"].is_string())
        .count();
    assert_eq!(flagged, 1, "only the probed doorplate is flagged");
}

#[tokio::test]
async fn a_students_login_answers_the_same_whatever_the_password() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let mut answers = Vec::new();
    for password in [PASSWORD, "wrong-password"] {
        let (st, v) = s
            .api
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "ann", "password": password})),
            )
            .await;
        answers.push((st, v));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        (answers[0].0, error_code(&answers[0].1).as_str()),
        (StatusCode::FORBIDDEN, "students_use_doorplates")
    );
    // … and it is throttled like any login.
    for _ in 0..3 {
        s.api
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": "ann", "password": "x"})),
            )
            .await;
    }
    let (st, _) = s
        .api
        .call(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": "ann", "password": PASSWORD})),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn spraying_one_password_over_many_usernames_is_throttled_per_client() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let http = client_from(77);
    let url = format!("{}/api/v1/auth/login", s.api.base);
    let mut statuses = Vec::new();
    for i in 0..25 {
        let username = if i == 3 {
            "teach".to_string()
        } else {
            format!("user{i}")
        };
        let (st, _) = post_from(
            &http,
            url.clone(),
            None,
            json!({"username": username, "password": "Spring2026!"}),
        )
        .await;
        statuses.push(st);
    }
    assert!(
        statuses[..20].iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[20..].iter().all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Another address still signs in.
    let (st, _) = post_from(
        &client_from(78),
        url,
        None,
        json!({"username": "teach", "password": PASSWORD}),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn unknown_usernames_cost_no_password_hashing() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let url = format!("{}/api/v1/auth/login", s.api.base);
    // Warm up: the first unknown username measures what a verification costs.
    post_from(
        &client_from(90),
        url.clone(),
        None,
        json!({"username": "nobody", "password": "x"}),
    )
    .await;
    let before = doorplate_server::crypto::argon2_runs();
    // 40 addresses × 10 made-up usernames, all at once.
    let flood = (0..400u32).map(|i| {
        let http = client_from(100 + (i % 40) as u8);
        let url = url.clone();
        async move {
            post_from(
                &http,
                url,
                None,
                json!({"username": format!("ghost{i}"), "password": "x"}),
            )
            .await
        }
    });
    let real = async {
        let (st, _) = post_from(
            &client_from(200),
            url.clone(),
            None,
            json!({"username": "teach", "password": PASSWORD}),
        )
        .await;
        st
    };
    let (results, real) = tokio::join!(join_all(flood), real);
    assert_eq!(real, StatusCode::OK);
    assert_eq!(count(&results, StatusCode::UNAUTHORIZED), 400);
    let runs = doorplate_server::crypto::argon2_runs() - before;
    assert_eq!(runs, 1, "only the real login hashed a password");
}

#[tokio::test]
async fn one_address_guessing_pairing_codes_does_not_shut_out_a_correct_fresh_code() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let http = client_from(50);
    let url = format!("{}/api/v1/devices/pair", s.api.base);
    let mut statuses = Vec::new();
    for i in 0..8 {
        let (st, _) = post_from(&http, url.clone(), None, json!({"pairing_code": format!("0000000{i}")})).await;
        statuses.push(st);
    }
    assert_eq!(count_status(&statuses, StatusCode::UNAUTHORIZED), 5, "{statuses:?}");
    assert_eq!(
        count_status(&statuses, StatusCode::TOO_MANY_REQUESTS),
        3,
        "{statuses:?}"
    );
    // A kiosk behind the same address pairs with a correct fresh code at once.
    let created = s
        .api
        .ok(
            "/api/v1/doorplates",
            &s.admin,
            json!({"room_id": s.room["id"], "name": "Back door"}),
        )
        .await;
    let (st, v) = post_from(
        &http,
        url.clone(),
        None,
        json!({"pairing_code": created["pairing_code"]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert!(v["device_token"].is_string());
    // Its wrong guesses still get nothing but 429.
    let (st, _) = post_from(&http, url, None, json!({"pairing_code": "12345678"})).await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS);
}

fn count_status(list: &[StatusCode], status: StatusCode) -> usize {
    list.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    // 127.0.0.1 is the proxy; clients reach us only through it.
    let server = TestServer::start_http(doorplate_server::HttpConfig {
        trusted_proxies: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        ..Default::default()
    })
    .await;
    let s = School::new(&server).await;
    let url = format!("{}/api/v1/auth/login", s.api.base);
    let via_proxy = |forwarded: &'static str, username: String| {
        let (http, url) = (client_from(1), url.clone());
        async move {
            let res = http
                .post(url)
                .header("x-forwarded-for", forwarded)
                .json(&json!({"username": username, "password": "Spring2026!"}))
                .send()
                .await
                .unwrap();
            res.status()
        }
    };
    // One forwarded client sprays until its budget is spent …
    for i in 0..20 {
        assert_eq!(
            via_proxy("203.0.113.7", format!("u{i}")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        via_proxy("203.0.113.7", "u20".into()).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // … another client behind the same proxy still signs in.
    let (http, url2) = (client_from(1), url.clone());
    let res = http
        .post(url2)
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"username": "teach", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A client that is not the proxy cannot pick its address with the header.
    let forger = client_from(66);
    for i in 0..20 {
        forger
            .post(url.clone())
            .header("x-forwarded-for", format!("192.0.2.{i}"))
            .json(&json!({"username": format!("f{i}"), "password": "x"}))
            .send()
            .await
            .unwrap();
    }
    let res = forger
        .post(url)
        .header("x-forwarded-for", "192.0.2.200")
        .json(&json!({"username": "f20", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "its own address's budget is spent"
    );
}
