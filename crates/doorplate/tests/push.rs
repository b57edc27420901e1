//! Issue 16: Web Push, end to end against a push service of our own on loopback. The
//! service (a small axum server in this file) plays the browser vendor's part: it
//! checks each request's VAPID token (an ES256 JWT for its origin, signed by the key the
//! school publishes) and decrypts the body with the subscription's private key
//! (RFC 8291, written here independently of the server's code), and answers what a
//! test scripts (201, 429, 503, 410). The tests assert what arrives — and what must not:
//! a message's text while previews are off, a push for a message already read, a push
//! inside quiet hours. The school runs on a manual clock, so retries, the collapse gap
//! and lateness are moved through, not waited for.

mod common;

use aes_gcm::aead::{Aead, KeyInit};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxStatus};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use p256::ecdsa::signature::Verifier;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the push service received, as it decrypted it.
#[derive(Debug)]
struct Received {
    /// Which subscription (the endpoint's last segment).
    device: String,
    headers: HeaderMap,
    /// The encrypted body as it travelled.
    raw: Vec<u8>,
    /// The decrypted notification.
    note: Value,
    /// The status the service answered.
    answered: u16,
}

/// A browser's side of a subscription: its key pair and auth secret.
struct Browser {
    secret: p256::SecretKey,
    auth: [u8; 16],
}

impl Browser {
    fn new() -> Browser {
        let seed = |n: u64| -> [u8; 32] {
            let mut out = [0u8; 32];
            for (i, chunk) in out.chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&(rand_u64() ^ n.rotate_left(i as u32 * 7)).to_le_bytes());
            }
            out
        };
        let secret = p256::SecretKey::from_slice(&seed(1)).unwrap();
        let mut auth = [0u8; 16];
        auth.copy_from_slice(&seed(2)[..16]);
        Browser { secret, auth }
    }

    fn p256dh(&self) -> String {
        B64.encode(self.secret.public_key().to_sec1_bytes())
    }

    /// RFC 8291 §3.4 and RFC 8188, the receiving side: salt, record size and the
    /// sender's key from the header, the keys from ECDH and the auth secret, one record.
    fn decrypt(&self, body: &[u8]) -> Vec<u8> {
        use hkdf::Hkdf;
        use sha2::Sha256;
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().unwrap());
        assert!(rs >= 18, "record size {rs}");
        let idlen = body[20] as usize;
        assert_eq!(idlen, 65, "the key id is the sender's public key");
        let as_public = p256::PublicKey::from_sec1_bytes(&body[21..21 + idlen]).unwrap();
        let ciphertext = &body[21 + idlen..];
        assert!(ciphertext.len() <= rs as usize, "one record");
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), as_public.as_affine());
        let mut info = b"WebPush: info\0".to_vec();
        info.extend_from_slice(&self.secret.public_key().to_sec1_bytes());
        info.extend_from_slice(&body[21..21 + idlen]);
        let mut ikm = [0u8; 32];
        Hkdf::<Sha256>::new(Some(&self.auth), shared.raw_secret_bytes())
            .expand(&info, &mut ikm)
            .unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
        prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).unwrap();
        prk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
        let mut plain = aes_gcm::Aes128Gcm::new_from_slice(&cek)
            .unwrap()
            .decrypt(&aes_gcm::Nonce::from(nonce), ciphertext)
            .expect("the payload decrypts with the subscription's key");
        // Padding, then the last-record delimiter.
        while plain.last() == Some(&0) {
            plain.pop();
        }
        assert_eq!(plain.pop(), Some(2), "the last record's delimiter");
        plain
    }
}

/// The push service's state: the browsers it serves, the answers scripted per device,
/// what it received, and the VAPID key the school publishes.
struct Service {
    browsers: HashMap<String, Browser>,
    script: HashMap<String, VecDeque<(u16, Option<u64>)>>,
    /// Answer this for a device once the script is used up (default 201).
    steady: HashMap<String, u16>,
    received: Vec<Received>,
    vapid_key: String,
    origin: String,
    /// The school's clock, to judge the token's expiry.
    now_secs: Arc<dyn Fn() -> i64 + Send + Sync>,
}

type Shared = Arc<Mutex<Service>>;

async fn receive(
    State(svc): State<(Shared, Arc<tokio::sync::Notify>)>,
    Path(device): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (AxStatus, HeaderMap) {
    let (svc, arrived) = svc;
    let mut s = svc.lock().unwrap();
    check_vapid(&s, &headers);
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert!(headers["ttl"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    let browser = s.browsers.get(&device).expect("a device the test made");
    let note: Value = serde_json::from_slice(&browser.decrypt(&body)).unwrap();
    let (answered, retry_after) = s
        .script
        .get_mut(&device)
        .and_then(VecDeque::pop_front)
        .unwrap_or((s.steady.get(&device).copied().unwrap_or(201), None));
    s.received.push(Received {
        device,
        headers,
        raw: body.to_vec(),
        note,
        answered,
    });
    arrived.notify_one();
    let mut out = HeaderMap::new();
    if let Some(r) = retry_after {
        out.insert("retry-after", r.to_string().parse().unwrap());
    }
    (AxStatus::from_u16(answered).unwrap(), out)
}

/// RFC 8292: `vapid t=<JWT>, k=<key>`; the key is the school's, the JWT is ES256 over
/// this service's origin, unexpired, at most a day ahead, with a contact.
fn check_vapid(s: &Service, headers: &HeaderMap) {
    let auth = headers["authorization"].to_str().unwrap();
    let (t, k) = auth
        .strip_prefix("vapid t=")
        .and_then(|r| r.split_once(", k="))
        .unwrap_or_else(|| panic!("not a VAPID authorization: {auth}"));
    assert_eq!(k, s.vapid_key, "signed with the key the school publishes");
    let parts: Vec<&str> = t.split('.').collect();
    assert_eq!(parts.len(), 3);
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&B64.decode(k).unwrap()).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the VAPID signature verifies");
    let header: Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    let claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["aud"], s.origin.as_str());
    let exp = claims["exp"].as_i64().unwrap();
    let now = (s.now_secs)();
    assert!(exp > now && exp <= now + 24 * 3600, "exp {exp} now {now}");
    let sub = claims["sub"].as_str().unwrap();
    assert!(sub.starts_with("mailto:") || sub.starts_with("https://"), "{sub}");
}

/// The local push service and the server, on one manual clock.
struct Setup {
    server: TestServer,
    s: School,
    svc: Shared,
    arrived: Arc<tokio::sync::Notify>,
    base: String,
}

/// Monday 2026-11-30 10:00 in Shanghai (02:00 UTC).
const MONDAY_10: &str = "2026-11-30T02:00:00Z";

impl Setup {
    async fn start() -> Setup {
        Self::start_at(MONDAY_10).await
    }

    async fn start_at(at: &str) -> Setup {
        let dir = TempDir::new();
        create_admin(&dir.0).await;
        let mut config = doorplate_server::Config::new(dir.0.clone());
        config.push.allow_loopback = true;
        config.push.contact = Some("mailto:it@school.example".into());
        let server = TestServer::start_configured_at(dir, config, at.parse().unwrap()).await;
        let s = School::new(&server).await;
        let (st, v) = s
            .api
            .call(
                "PATCH",
                "/api/v1/settings",
                Some(&s.admin),
                Some(json!({"timezone": "Asia/Shanghai"})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let (st, key) = s.api.get("/api/v1/push/key", &s.gwen_token).await;
        assert_eq!(st, StatusCode::OK, "{key}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock = server.clock.clone().unwrap();
        let svc = Arc::new(Mutex::new(Service {
            browsers: HashMap::new(),
            script: HashMap::new(),
            steady: HashMap::new(),
            received: Vec::new(),
            vapid_key: key["public_key"].as_str().unwrap().to_string(),
            origin: base.clone(),
            now_secs: Arc::new(move || doorplate_server::school::clock::Clock::now(clock.as_ref()) / 1_000_000),
        }));
        let arrived = Arc::new(tokio::sync::Notify::new());
        let app = axum::Router::new()
            .route("/push/{device}", axum::routing::post(receive))
            .with_state((svc.clone(), arrived.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Setup {
            server,
            s,
            svc,
            arrived,
            base,
        }
    }

    /// Subscribes a new browser for the holder of `token`; returns the device's name
    /// and the subscription as stored.
    async fn subscribe(&self, token: &str, device: &str) -> Value {
        let browser = Browser::new();
        let body = json!({
            "endpoint": format!("{}/push/{device}", self.base),
            "expirationTime": null,
            "keys": {"p256dh": browser.p256dh(), "auth": B64.encode(browser.auth)},
            "device_name": format!("{device} phone"),
        });
        self.svc.lock().unwrap().browsers.insert(device.into(), browser);
        let (st, v) = self.s.api.post("/api/v1/push/subscriptions", token, body).await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        v["subscription"].clone()
    }

    fn script(&self, device: &str, answers: &[(u16, Option<u64>)]) {
        self.svc
            .lock()
            .unwrap()
            .script
            .insert(device.into(), answers.iter().copied().collect());
    }

    fn count(&self) -> usize {
        self.svc.lock().unwrap().received.len()
    }

    /// Waits (up to 5 s) until the service has received `n` requests in all.
    async fn until_received(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let notified = self.arrived.notified();
            if self.count() >= n {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{n} pushes expected, {} arrived", self.count());
            }
        }
    }

    /// Asserts that nothing more arrives within a moment (the sender runs at once when
    /// something is due: half a second is many of its rounds).
    async fn nothing_more(&self, n: usize) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(self.count(), n, "no further push");
    }

    fn note(&self, i: usize) -> Value {
        self.svc.lock().unwrap().received[i].note.clone()
    }

    async fn settings(&self, body: Value) {
        let (st, v) = self
            .s
            .api
            .call("PATCH", "/api/v1/settings", Some(&self.s.admin), Some(body))
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
}

#[tokio::test]
async fn a_message_arrives_encrypted_and_signed_and_says_who_and_what_kind_but_not_the_text() {
    let t = Setup::start().await;
    let s = &t.s;
    let sub = t.subscribe(&s.teacher_token, "teach").await;
    assert_eq!(sub["device_name"], "teach phone");
    assert_eq!(sub["last_used_at"], Value::Null);
    let conv = s.conversation(&s.gwen_token, &s.teacher).await;
    let (st, _) = s.send_text(&s.gwen_token, &conv, "m1", "the secret words").await;
    assert_eq!(st, StatusCode::CREATED);
    t.until_received(1).await;
    let note = t.note(0);
    assert_eq!(note["type"], "message");
    assert_eq!(note["from"], "Gwen (Ann's mum)");
    assert_eq!(note["kind"], "text");
    assert_eq!(note["text"], Value::Null, "no preview unless the school allows it");
    assert!(!note.to_string().contains("secret"), "{note}");
    assert_eq!(note["tag"], format!("c:{conv}"));
    assert_eq!(note["url"], format!("#/c/{conv}"));
    {
        let svc = t.svc.lock().unwrap();
        let r = &svc.received[0];
        assert_eq!(r.device, "teach");
        assert!(!String::from_utf8_lossy(&r.raw).contains("secret"));
        assert_eq!(r.headers["topic"], format!("c-{conv}"));
        assert_eq!(r.headers["urgency"], "normal");
        assert_eq!(r.answered, 201);
    }
    // The device list shows its last use (recorded once the push service answered).
    let mut list = Value::Null;
    for _ in 0..50 {
        list = s.api.get("/api/v1/push/subscriptions", &s.teacher_token).await.1;
        if !list["subscriptions"][0]["last_used_at"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(list["subscriptions"][0]["last_used_at"], "2026-11-30T02:00:00Z");
    assert_eq!(list["subscriptions"][0]["service"], "127.0.0.1");

    // Previews on: the text comes along (after the conversation's gap).
    t.settings(json!({"push_previews": true})).await;
    t.server.advance(31.0);
    s.send_text(&s.gwen_token, &conv, "m2", "see you at five").await;
    t.until_received(2).await;
    assert_eq!(t.note(1)["text"], "see you at five");
    // A student's phone gets nothing (students read at the doors); a message to Ann
    // pushes nothing anywhere.
    let to_ann = s.conversation(&s.gwen_token, &s.ann).await;
    s.send_text(&s.gwen_token, &to_ann, "m3", "hi Ann").await;
    t.nothing_more(2).await;
}

#[tokio::test]
async fn a_burst_in_one_conversation_collapses_into_one_push_with_the_newest() {
    let t = Setup::start().await;
    let s = &t.s;
    t.settings(json!({"push_previews": true})).await;
    t.subscribe(&s.teacher_token, "teach").await;
    let conv = s.conversation(&s.gwen_token, &s.teacher).await;
    s.send_text(&s.gwen_token, &conv, "b1", "one").await;
    t.until_received(1).await;
    // Within the gap after a push, the next ones wait and replace each other.
    for (i, text) in ["two", "three", "four"].iter().enumerate() {
        s.send_text(&s.gwen_token, &conv, &format!("b{}", i + 2), text).await;
    }
    t.nothing_more(1).await;
    t.server.advance(30.0);
    t.until_received(2).await;
    assert_eq!(t.note(1)["text"], "four");
    assert_eq!(
        t.note(1)["tag"],
        t.note(0)["tag"],
        "the same tag: the phone replaces it"
    );
    t.nothing_more(2).await;
    // Another conversation is not held by this one's gap.
    let from_hal = s.conversation(&s.hal_token, &s.teacher).await;
    s.send_text(&s.hal_token, &from_hal, "h1", "hello").await;
    t.until_received(3).await;
    assert_eq!(t.note(2)["from"], "Hal (Bob's dad)");
}

#[tokio::test]
async fn busy_and_failing_push_services_are_retried_with_backoff_and_410_forgets_the_device() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.gwen_token, "gwen").await;
    t.script("gwen", &[(429, Some(60)), (503, None)]);
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    s.send_text(&s.teacher_token, &conv, "r1", "homework").await;
    t.until_received(1).await;
    // 429 with Retry-After: 60 s.
    t.server.advance(59.0);
    t.nothing_more(1).await;
    t.server.advance(1.0);
    t.until_received(2).await;
    // 503, the second failure: 20 s.
    t.server.advance(19.0);
    t.nothing_more(2).await;
    t.server.advance(1.0);
    t.until_received(3).await;
    {
        let svc = t.svc.lock().unwrap();
        let answered: Vec<u16> = svc.received.iter().map(|r| r.answered).collect();
        assert_eq!(answered, vec![429, 503, 201]);
        assert!(svc.received.iter().all(|r| r.note["kind"] == "text"));
    }
    // The push service forgets the browser: 410, and the server forgets it too.
    t.svc.lock().unwrap().steady.insert("gwen".into(), 410);
    t.server.advance(31.0);
    s.send_text(&s.teacher_token, &conv, "r2", "again").await;
    t.until_received(4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, list) = s.api.get("/api/v1/push/subscriptions", &s.gwen_token).await;
    assert_eq!(list["subscriptions"], json!([]));
    t.server.advance(31.0);
    s.send_text(&s.teacher_token, &conv, "r3", "and again").await;
    t.nothing_more(4).await;
}

#[tokio::test]
async fn a_push_that_is_hours_late_is_dropped() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.gwen_token, "gwen").await;
    t.svc.lock().unwrap().steady.insert("gwen".into(), 503);
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    s.send_text(&s.teacher_token, &conv, "l1", "late").await;
    t.until_received(1).await;
    // The service keeps failing; two hours on, the push is given up.
    let mut n = 1;
    for _ in 0..9 {
        t.server.advance(15.0 * 60.0);
        tokio::time::sleep(Duration::from_millis(150)).await;
        n = t.count();
    }
    assert!(n >= 5, "retried while it was worth it ({n})");
    t.svc.lock().unwrap().steady.insert("gwen".into(), 201);
    t.server.advance(3600.0);
    t.nothing_more(n).await;
}

#[tokio::test]
async fn a_message_read_in_the_open_app_is_not_pushed() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.teacher_token, "teach").await;
    // The teacher's app is open (its event socket is connected).
    let mut ev = Events::open(&t.server.base, &s.teacher_token, None).await;
    let conv = s.conversation(&s.gwen_token, &s.teacher).await;
    let (_, sent) = s.send_text(&s.gwen_token, &conv, "o1", "are you there?").await;
    ev.expect("message.new").await;
    // Read in the app at once: nothing goes to the phone.
    let (st, _) = s
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/read"),
            &s.teacher_token,
            json!({"up_to": sent["message"]["id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    t.server.advance(5.0);
    t.nothing_more(0).await;
    // Left unread, it is pushed a moment later.
    s.send_text(&s.gwen_token, &conv, "o2", "hello?").await;
    t.nothing_more(0).await;
    t.server.advance(5.0);
    t.until_received(1).await;
    assert_eq!(t.note(0)["from"], "Gwen (Ann's mum)");
    ev.close().await;
}

#[tokio::test]
async fn quiet_hours_hold_a_teachers_push_and_an_urgent_alert_goes_at_once() {
    // Monday 18:30 in Shanghai: inside quiet hours that run 18:00–07:00.
    let t = Setup::start_at("2026-11-30T10:30:00Z").await;
    let s = &t.s;
    teacher_quiet_every_evening(s).await;
    t.subscribe(&s.teacher_token, "teach").await;
    let conv = s.conversation(&s.gwen_token, &s.teacher).await;
    s.send_text(&s.gwen_token, &conv, "q1", "tomorrow's trip").await;
    t.nothing_more(0).await;

    // An urgent message from a guardian to her child alerts the class teacher now.
    let to_ann = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, v) = s
        .api
        .post(
            &format!("/api/v1/conversations/{to_ann}/messages"),
            &s.gwen_token,
            json!({"client_id": "u1", "kind": "text", "text": "pick-up changed", "urgent": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    t.until_received(1).await;
    let alert = t.note(0);
    assert_eq!(alert["type"], "alert");
    assert_eq!(alert["student"], "Ann 安");
    assert_eq!(alert["from"], "Gwen (Ann's mum)");
    assert!(!alert.to_string().contains("pick-up"));
    assert_eq!(t.svc.lock().unwrap().received[0].headers["urgency"], "high");

    // 07:00 next morning: the held message is pushed.
    t.server.advance(12.0 * 3600.0 + 29.0 * 60.0);
    t.nothing_more(1).await;
    t.server.advance(60.0);
    t.until_received(2).await;
    assert_eq!(t.note(1)["type"], "message");
    assert_eq!(t.note(1)["tag"], format!("c:{conv}"));
}

#[tokio::test]
async fn a_guardian_who_chose_arrival_notices_gets_one_on_the_phone() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.gwen_token, "gwen").await;
    t.subscribe(&s.hal_token, "hal").await;
    let (st, v) = s
        .api
        .call(
            "PUT",
            &format!("/api/v1/children/{}/arrival-notices", s.ann["id"].as_str().unwrap()),
            Some(&s.gwen_token),
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = s
        .api
        .post(
            "/api/v1/doorplate/checkin",
            &s.device,
            json!({"credential": {"card": "04A1B2C3"}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    t.until_received(1).await;
    let note = t.note(0);
    assert_eq!(note["type"], "arrival");
    assert_eq!(note["child"], "Ann 安");
    assert_eq!(note["room"], "Room 301");
    assert_eq!(note["time"], "10:00");
    assert_eq!(t.svc.lock().unwrap().received[0].device, "gwen");
    t.nothing_more(1).await;
}

#[tokio::test]
async fn bad_subscriptions_are_refused_and_stored_nowhere_and_logout_removes_the_device() {
    let t = Setup::start().await;
    let s = &t.s;
    let b = Browser::new();
    let good_keys = json!({"p256dh": b.p256dh(), "auth": B64.encode(b.auth)});
    let post = |body: Value| {
        let api = s.api.clone();
        let token = s.gwen_token.clone();
        async move { api.post("/api/v1/push/subscriptions", &token, body).await }
    };
    let cases = [
        (
            json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x"}),
            "bad_request",
        ),
        (
            json!({"endpoint": "https://evil.example/push", "keys": good_keys}),
            "endpoint_not_allowed",
        ),
        (
            json!({"endpoint": "http://fcm.googleapis.com/fcm/send/x", "keys": good_keys}),
            "endpoint_not_allowed",
        ),
        (
            json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "AAAA", "auth": B64.encode(b.auth)}}),
            "bad_subscription",
        ),
        (
            json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": b.p256dh(), "auth": "AAAA"}}),
            "bad_subscription",
        ),
        (
            json!({"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": {"p256dh": "!!", "auth": "??"}}),
            "bad_subscription",
        ),
        (json!({"endpoint": "not a url", "keys": good_keys}), "bad_subscription"),
    ];
    for (body, code) in cases {
        let (st, v) = post(body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        if code != "bad_request" {
            assert_eq!(error_code(&v), code, "{body}");
        }
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (_, v) = post(json!({"endpoint": "https://evil.example/push", "keys": good_keys})).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("push service"), "{v}");
    let (_, list) = s.api.get("/api/v1/push/subscriptions", &s.gwen_token).await;
    assert_eq!(list["subscriptions"], json!([]), "nothing stored");

    // A real push service's endpoint is taken.
    let (st, v) = post(json!({"endpoint": "https://updates.push.services.mozilla.com/wpush/v2/gAAA", "keys": good_keys, "device_name": "Firefox"})).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["subscription"]["service"], "updates.push.services.mozilla.com");

    // Students and doorplates have no phones to notify.
    let (st, _) = s.api.get("/api/v1/push/key", &s.device).await;
    assert_eq!(st, StatusCode::FORBIDDEN);

    // Only the owner removes a subscription; another person's is unknown to them.
    let id = v["subscription"]["id"].as_str().unwrap().to_string();
    let (st, _) = s
        .api
        .call(
            "DELETE",
            &format!("/api/v1/push/subscriptions/{id}"),
            Some(&s.hal_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .api
        .call(
            "DELETE",
            &format!("/api/v1/push/subscriptions/{id}"),
            Some(&s.gwen_token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    // Two phones; one logs out: its subscription goes, the other's stays.
    let second_login = s.api.login("gwen", PASSWORD).await;
    t.subscribe(&s.gwen_token, "gwen-a").await;
    t.subscribe(&second_login, "gwen-b").await;
    let (st, _) = s
        .api
        .call("POST", "/api/v1/auth/logout", Some(&second_login), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, list) = s.api.get("/api/v1/push/subscriptions", &s.gwen_token).await;
    let names: Vec<&str> = list["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["device_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["gwen-a phone"]);
}

/// The loopback allowance is a field of the library's configuration that only a test
/// build has: the `doorplate` binary, started as an operator starts it (whatever its
/// environment says), refuses a push endpoint on loopback.
#[tokio::test]
async fn the_binary_never_accepts_a_loopback_push_endpoint() {
    let dir = TempDir::new();
    let env = store_env(&dir.0).await;
    let bin = env!("CARGO_BIN_EXE_doorplate");
    create_admin_with_cli(bin, &dir.0, &env);
    let mut env = env;
    env.push(("DOORPLATE_PUSH_ALLOW_LOOPBACK", "1".into()));
    env.push(("DOORPLATE_PUSH_LOOPBACK", "true".into()));
    let (mut child, base) = spawn_binary_server(bin, &dir.0, &env);
    let api = api_at(&base);
    let token = api.login("admin", ADMIN_PASSWORD).await;
    let b = Browser::new();
    for endpoint in ["http://127.0.0.1:9/push/x", "https://127.0.0.1/push/x"] {
        let (st, v) = api
            .post(
                "/api/v1/push/subscriptions",
                &token,
                json!({"endpoint": endpoint, "keys": {"p256dh": b.p256dh(), "auth": B64.encode(b.auth)}}),
            )
            .await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{endpoint}: {v}");
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_childs_call_rings_on_the_guardians_phone_and_lapses_within_a_minute() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.gwen_token, "gwen").await;
    let session = s.card_session("04A1B2C3").await;
    let (st, v) = s
        .api
        .post(
            "/api/v1/calls",
            &session,
            json!({"peer_id": s.gwen["id"], "video": false}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    t.until_received(1).await;
    let note = t.note(0);
    assert_eq!(note["type"], "call");
    assert_eq!(note["from"], "Ann 安");
    assert_eq!(note["video"], false);
    assert_eq!(t.svc.lock().unwrap().received[0].headers["ttl"], "60");
}

#[tokio::test]
async fn a_notice_for_a_class_reaches_its_families_phones_only() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.gwen_token, "gwen").await;
    t.subscribe(&s.teacher_token, "teach").await;
    let (_, groups) = s.api.get("/api/v1/groups", &s.admin).await;
    let class = groups
        .as_array()
        .map(|g| g[0]["id"].clone())
        .unwrap_or_else(|| groups["groups"][0]["id"].clone());
    let other = s
        .api
        .ok("/api/v1/groups", &s.admin, json!({"name": "Class 2", "member_ids": []}))
        .await;
    // A notice for another class reaches nobody here.
    s.api
        .ok(
            "/api/v1/notices",
            &s.admin,
            json!({"kind": "notice", "title": "Class 2 picnic", "group_ids": [other["group"]["id"]]}),
        )
        .await;
    s.api
        .ok(
            "/api/v1/notices",
            &s.admin,
            json!({"kind": "notice", "title": "Sports day on Friday", "group_ids": [class]}),
        )
        .await;
    t.until_received(1).await;
    let note = t.note(0);
    assert_eq!(note["type"], "notice");
    assert_eq!(note["title"], "Sports day on Friday");
    // Gwen's (Ann is in Class 1); not the teacher's, not Hal's (no phone subscribed).
    assert_eq!(t.svc.lock().unwrap().received[0].device, "gwen");
    t.nothing_more(1).await;
}

/// The teacher's quiet hours: 18:00–07:00 every day.
async fn teacher_quiet_every_evening(s: &School) {
    let wd = json!({"from": "18:00", "to": "07:00"});
    let (st, v) = s
        .put_quiet_hours(
            &s.teacher_token,
            json!({"quiet_hours": {"days": [wd, wd, wd, wd, wd, wd, wd]}}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

/// `PATCH /api/v1/push/settings` as the holder of `token`.
async fn push_settings(s: &School, token: &str, body: Value) -> (StatusCode, Value) {
    s.api
        .call("PATCH", "/api/v1/push/settings", Some(token), Some(body))
        .await
}

/// Reads a conversation up to a message, as the holder of `token`.
async fn read_up_to(s: &School, token: &str, conv: &str, message: &Value) {
    let (st, v) = s
        .api
        .post(
            &format!("/api/v1/conversations/{conv}/read"),
            token,
            json!({"up_to": message["message"]["id"]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

#[tokio::test]
async fn a_read_receipt_reaches_only_those_who_asked_and_says_who_read_never_what() {
    let t = Setup::start().await;
    let s = &t.s;
    t.subscribe(&s.gwen_token, "gwen").await;
    t.subscribe(&s.hal_token, "hal").await;
    // Previews on: a read receipt carries no text all the same.
    t.settings(json!({"push_previews": true})).await;
    let (st, v) = s.api.get("/api/v1/push/settings", &s.gwen_token).await;
    assert_eq!(
        (st, v),
        (StatusCode::OK, json!({"read_receipts": false})),
        "off until chosen"
    );
    let (st, v) = push_settings(s, &s.gwen_token, json!({"read_receipts": true})).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"read_receipts": true})));
    let (_, v) = s.api.get("/api/v1/push/settings", &s.gwen_token).await;
    assert_eq!(v, json!({"read_receipts": true}), "kept");

    // Gwen writes to her child; Ann reads it at the doorplate: Gwen's phone is told who.
    let to_ann = s.conversation(&s.gwen_token, &s.ann).await;
    let (_, sent) = s.send_text(&s.gwen_token, &to_ann, "g1", "the secret words").await;
    let session = s.card_session("04A1B2C3").await;
    read_up_to(s, &session, &to_ann, &sent).await;
    t.until_received(1).await;
    let note = t.note(0);
    assert_eq!(note["type"], "read");
    assert_eq!(note["reader"], "Ann 安", "the title: who read it");
    assert_eq!(note["count"], 1);
    assert_eq!(
        note["tag"],
        format!("c:{to_ann}"),
        "the conversation's tag, as its messages'"
    );
    assert_eq!(note["url"], format!("#/c/{to_ann}"));
    assert_eq!(note["text"], Value::Null);
    assert!(!note.to_string().contains("secret"), "{note}");
    {
        let svc = t.svc.lock().unwrap();
        let r = &svc.received[0];
        assert_eq!(r.device, "gwen");
        assert!(!String::from_utf8_lossy(&r.raw).contains("secret"));
        assert_eq!(r.headers["topic"], format!("c-{to_ann}"));
        assert_eq!(r.headers["urgency"], "normal");
    }

    // Hal did not ask: his message read by the teacher tells his phone nothing.
    let hal_teacher = s.conversation(&s.hal_token, &s.teacher).await;
    let (_, m) = s.send_text(&s.hal_token, &hal_teacher, "h1", "hello").await;
    read_up_to(s, &s.teacher_token, &hal_teacher, &m).await;
    t.nothing_more(1).await;

    // Two of Gwen's messages read at once: one push that says so.
    let gwen_teacher = s.conversation(&s.gwen_token, &s.teacher).await;
    s.send_text(&s.gwen_token, &gwen_teacher, "g2", "first").await;
    let (_, m) = s.send_text(&s.gwen_token, &gwen_teacher, "g3", "second").await;
    read_up_to(s, &s.teacher_token, &gwen_teacher, &m).await;
    t.until_received(2).await;
    let note = t.note(1);
    assert_eq!(
        (note["type"].as_str(), note["reader"].as_str()),
        (Some("read"), Some("Ms Teach"))
    );
    assert_eq!(note["count"], 2);
    assert_eq!(note["tag"], format!("c:{gwen_teacher}"));
    assert!(!note.to_string().contains("first") && !note.to_string().contains("second"));
    t.nothing_more(2).await;

    // Turned off: nothing, even past the conversation's gap.
    t.server.advance(31.0);
    let (st, v) = push_settings(s, &s.gwen_token, json!({"read_receipts": false})).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"read_receipts": false})));
    let (_, m) = s.send_text(&s.gwen_token, &gwen_teacher, "g4", "third").await;
    read_up_to(s, &s.teacher_token, &gwen_teacher, &m).await;
    t.server.advance(31.0);
    t.nothing_more(2).await;

    // On again, with Gwen's app open: the `read` reaches it live, and not her phone.
    push_settings(s, &s.gwen_token, json!({"read_receipts": true})).await;
    let mut ev = Events::open(&t.server.base, &s.gwen_token, None).await;
    let (_, m) = s.send_text(&s.gwen_token, &gwen_teacher, "g5", "fourth").await;
    ev.expect("message.new").await;
    read_up_to(s, &s.teacher_token, &gwen_teacher, &m).await;
    let status = ev.expect("message.status").await;
    assert_eq!(status["status"], "read");
    t.server.advance(31.0);
    t.nothing_more(2).await;
    ev.close().await;
}

#[tokio::test]
async fn a_read_receipt_waits_out_the_writers_quiet_hours() {
    // Monday 18:30 in Shanghai: inside the teacher's quiet hours, 18:00–07:00.
    let t = Setup::start_at("2026-11-30T10:30:00Z").await;
    let s = &t.s;
    teacher_quiet_every_evening(s).await;
    t.subscribe(&s.teacher_token, "teach").await;
    let (st, _) = push_settings(s, &s.teacher_token, json!({"read_receipts": true})).await;
    assert_eq!(st, StatusCode::OK);
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let (_, m) = s.send_text(&s.teacher_token, &conv, "q1", "the trip is on").await;
    read_up_to(s, &s.gwen_token, &conv, &m).await;
    t.nothing_more(0).await;
    // 07:00 next morning it goes.
    t.server.advance(12.0 * 3600.0 + 29.0 * 60.0);
    t.nothing_more(0).await;
    t.server.advance(60.0);
    t.until_received(1).await;
    let note = t.note(0);
    assert_eq!(note["type"], "read");
    assert_eq!(note["reader"], "Gwen (Ann's mum)");
    assert_eq!(note["tag"], format!("c:{conv}"));
}

#[tokio::test]
async fn push_settings_refuse_what_is_not_a_boolean_and_nothing_changes() {
    let t = Setup::start().await;
    let s = &t.s;
    let (st, _) = push_settings(s, &s.gwen_token, json!({"read_receipts": true})).await;
    assert_eq!(st, StatusCode::OK);
    for (body, code) in [
        (json!({"read_receipts": "yes"}), "bad_push_setting"),
        (json!({"read_receipts": "false"}), "bad_push_setting"),
        (json!({"read_receipts": 0}), "bad_push_setting"),
        (json!({"read_receipts": null}), "bad_push_setting"),
        (json!({"read_receipts": [false]}), "bad_push_setting"),
        (json!({"read_receipts": false, "sound": true}), "bad_push_setting"),
        (json!([false]), "bad_json"),
        (json!("false"), "bad_json"),
    ] {
        let (st, v) = push_settings(s, &s.gwen_token, body.clone()).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(error_code(&v), code, "{body}: {v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let (_, v) = push_settings(s, &s.gwen_token, json!({"read_receipts": "yes"})).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("true or false"), "{v}");
    let (_, v) = s.api.get("/api/v1/push/settings", &s.gwen_token).await;
    assert_eq!(v, json!({"read_receipts": true}), "nothing changed");
    // Left out is left as it is.
    let (st, v) = push_settings(s, &s.gwen_token, json!({})).await;
    assert_eq!((st, v), (StatusCode::OK, json!({"read_receipts": true})));
    // Each person's own: Hal's are untouched, and a doorplate has none.
    let (_, v) = s.api.get("/api/v1/push/settings", &s.hal_token).await;
    assert_eq!(v, json!({"read_receipts": false}));
    let (st, _) = push_settings(s, &s.device, json!({"read_receipts": true})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // The OpenAPI document describes both operations.
    let (_, doc) = s.api.get("/api/v1/openapi.json", &s.admin).await;
    let ops = &doc["paths"]["/api/v1/push/settings"];
    assert!(ops["get"].is_object() && ops["patch"].is_object(), "{ops}");
    let schema = &doc["components"]["schemas"]["PushSettingsPatch"]["properties"]["read_receipts"];
    assert_eq!(schema["type"], "boolean", "{schema}");
}
