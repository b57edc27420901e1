//! Several servers: a request or event socket for a school another server hosts is
//! forwarded there, with the client's address carried in a signed hop.
//!
//! Two real servers in this process (`alpha` and `bravo`), each on its own data folder
//! (and, with `DOORPLATE_TEST_STORE=postgres`, its own schemas), given the same key
//! file. `bravo` hosts the school `south`; the test writes `alpha`'s placement itself —
//! what the lease keeper does in a district — so that `alpha` forwards `south` to
//! `bravo`. Everything a client does here goes through `alpha` unless it says otherwise.

mod common;

use common::*;
use doorplate_server::district::placement::{Peer, Place, Placement};
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

/// One server of the test district.
struct Node {
    base: String,
    placement: Arc<Placement>,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Node {
    /// Starts the server `name` on `dir` with the district's key file `key`.
    async fn start(dir: TempDir, key: &std::path::Path, name: &str, max_per_ip: usize) -> Node {
        let mut config = doorplate_server::Config::new(dir.0.clone());
        config.database = test_database(&dir.0).await;
        config.key_file = Some(key.to_path_buf());
        config.server = doorplate_server::ServerIdentity {
            name: name.into(),
            advertise: None,
        };
        config.http.max_connections_per_ip = max_per_ip;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (placed, placement) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            doorplate_server::run_with(
                listener,
                config,
                Arc::new(doorplate_server::school::clock::SystemClock),
                async move {
                    let _ = stopped.await;
                },
                move |control| {
                    let _ = placed.send(control.placement());
                },
            )
            .await
            .unwrap();
        });
        Node {
            base,
            placement: placement.await.unwrap(),
            _dir: dir,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn peer(&self, name: &str) -> Place {
        Place::Peer(Peer {
            name: name.into(),
            url: self.base.clone(),
        })
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

/// Adds a school with an admin `admin` to a folder's district (SQLite or PostgreSQL).
async fn add_school_to(dir: &std::path::Path, slug: &str) {
    let database = test_database(dir).await;
    let catalog = doorplate_server::district::catalog::Catalog::open(dir, database.as_ref())
        .await
        .unwrap();
    let entry = catalog
        .create(doorplate_server::district::SchoolInfo {
            slug: slug.into(),
            name: format!("{slug} school"),
            timezone: "Asia/Shanghai".into(),
        })
        .await
        .unwrap();
    let store = catalog.open_store(&entry).await.unwrap();
    create_admin_in(&*store).await;
}

/// `alpha` (its own school only) and `bravo` (which also hosts `south`), one key file;
/// `alpha` knows that `bravo` hosts `south`.
async fn two_servers(bravo_max_per_ip: usize) -> (Node, Node, TempDir) {
    let keys = TempDir::new();
    let key = keys.0.join("district.key");
    doorplate_server::crypto::Secrets::load_or_create_at(&key).unwrap();
    let (a, b) = (TempDir::new(), TempDir::new());
    create_admin(&a.0).await;
    create_admin(&b.0).await;
    add_school_to(&b.0, "south").await;
    let alpha = Node::start(a, &key, "alpha", 256).await;
    let bravo = Node::start(b, &key, "bravo", bravo_max_per_ip).await;
    alpha.placement.set("south", Some(bravo.peer("bravo")));
    (alpha, bravo, keys)
}

fn served_by(res: &reqwest::Response) -> String {
    res.headers()
        .get("doorplate-served-by")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// A client that connects from `ip` (any 127.x address is this machine).
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// The JSON API, an upload and ranged, conditional downloads, and an event socket — all
/// through a server that does not host the school, answered by the one that does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_school_hosted_elsewhere_is_served_whole_through_another_server() {
    let (alpha, bravo, _keys) = two_servers(256).await;
    let http = reqwest::Client::new();

    // Served-By on every answer: the server's own, a forwarded one, an unknown school.
    let res = http.get(format!("{}/healthz", alpha.base)).send().await.unwrap();
    assert_eq!((res.status(), served_by(&res)), (StatusCode::OK, "alpha".into()));
    let res = http
        .get(format!("{}/s/south/healthz", alpha.base))
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), served_by(&res)), (StatusCode::OK, "bravo".into()));
    let res = http.get(format!("{}/s/south/app", bravo.base)).send().await.unwrap();
    assert_eq!((res.status(), served_by(&res)), (StatusCode::OK, "bravo".into()));
    let res = http
        .get(format!("{}/s/nowhere/api/v1/me", alpha.base))
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), served_by(&res)), (StatusCode::NOT_FOUND, "alpha".into()));
    // The API's document says so on every answer, and what a 503 means.
    let doc: Value = http
        .get(format!("{}/api/v1/openapi.json", alpha.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, res) in op["responses"].as_object().unwrap() {
                assert!(
                    res["headers"]["Doorplate-Served-By"].is_object(),
                    "{method} {path} {status} names Doorplate-Served-By"
                );
            }
            let unavailable = &op["responses"]["503"];
            assert!(unavailable["headers"]["Retry-After"].is_object(), "{method} {path} 503");
        }
    }
    // The school's front door redirects as at its host, to the same address.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = no_redirect.get(format!("{}/s/south", alpha.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(res.headers()["location"], "/s/south/app");

    // A whole school set up through alpha: users, groups, a paired doorplate, logins.
    let s = School::with_api(api_at(&format!("{}/s/south", alpha.base))).await;
    // It lives at bravo: the same admin token works there, and not in alpha's own school.
    let (st, me) = api_at(&format!("{}/s/south", bravo.base))
        .get("/api/v1/me", &s.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{me}");
    let (st, _) = api_at(&alpha.base).get("/api/v1/me", &s.admin).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // An upload of 3 MB streams through, and comes back whole, in ranges, and as 304.
    let mut big = PNG.to_vec();
    big.extend((0..3 << 20).map(|i: u32| (i % 251) as u8));
    let res = http
        .post(format!("{}/s/south/api/v1/media", alpha.base))
        .bearer_auth(&s.gwen_token)
        .header("content-type", "image/png")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(served_by(&res), "bravo");
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["media_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{}/s/south/api/v1/media/{id}", alpha.base);
    let res = http.get(&url).bearer_auth(&s.gwen_token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let etag = res.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(res.bytes().await.unwrap().as_ref(), big.as_slice());
    let res = http
        .get(&url)
        .bearer_auth(&s.gwen_token)
        .header("range", "bytes=2000000-2000099")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        res.headers()["content-range"].to_str().unwrap(),
        format!("bytes 2000000-2000099/{}", big.len())
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), &big[2_000_000..2_000_100]);
    let res = http
        .get(&url)
        .bearer_auth(&s.gwen_token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

    // An event socket through alpha: frames from the host, a ping answered across the
    // splice, a resume with `after` that replays what was missed, and the host's own close
    // code when the token is revoked.
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let mut events = Events::open(&s.api.base, &s.gwen_token, None).await;
    let (st, v) = s.send_text(&s.teacher_token, &conv, "c1", "first").await;
    assert!(st.is_success(), "{v}");
    let frame = events.expect("message.new").await;
    assert_eq!(frame["message"]["text"], "first", "{frame}");
    let seen = events.last_seq;
    events.close().await;
    let (st, v) = s.send_text(&s.teacher_token, &conv, "c2", "while away").await;
    assert!(st.is_success(), "{v}");
    let mut events = Events::open(&s.api.base, &s.gwen_token, Some(seen)).await;
    let frame = events.expect("message.new").await;
    assert_eq!(frame["message"]["text"], "while away", "replayed after {seen}: {frame}");
    events.close().await;

    let url = format!("{}/s/south/api/v1/events", alpha.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {}", s.gwen_token).parse().unwrap());
    let (mut ws, res) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(res.headers()["doorplate-served-by"], "bravo");
    ws.send(Message::Ping(b"are you there".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Pong(p))) => return p.to_vec(),
                Some(Ok(_)) => continue,
                other => panic!("socket ended before the pong: {other:?}"),
            }
        }
    })
    .await
    .expect("a pong within 5 s");
    assert_eq!(pong, b"are you there");
    let (st, _) = s.api.post("/api/v1/auth/logout", &s.gwen_token, json!({})).await;
    assert!(st.is_success());
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f,
                Some(Ok(_)) => continue,
                other => panic!("socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close within 5 s");
    assert_eq!(u16::from(close.expect("a close frame").code), 4001);

    // The forwarding server stops: its spliced socket gets the restart close (1012),
    // as the host's own sockets would, so the client resumes quietly elsewhere.
    let mut events = Events::open(&s.api.base, &s.teacher_token, None).await;
    let stopping = tokio::spawn(alpha.stop());
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.next_within(5000).await {
                Ok(_) => continue,
                Err(e) => return e,
            }
        }
    })
    .await
    .expect("the socket closes within 5 s");
    assert!(ended.contains("1012") || ended.contains("Restart"), "{ended}");
    stopping.await.unwrap();
    bravo.stop().await;
}

/// The host counts throttles by the client the forwarding server saw, which a client
/// cannot forge: a hop header of its own is dropped, at either server. Connections that
/// carry forwarded requests are not capped per address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hop_carries_the_client_address_and_a_client_cannot_forge_it() {
    let (alpha, bravo, _keys) = two_servers(3).await;
    let pair = |client: &reqwest::Client, base: &str, forged: Option<&str>| {
        let mut req = client
            .post(format!("{base}/s/south/api/v1/devices/pair"))
            .json(&json!({"pairing_code": "000000"}));
        if let Some(f) = forged {
            req = req.header("doorplate-hop", f);
        }
        async move { req.send().await.unwrap().status() }
    };
    // Five wrong codes from 127.0.0.2 through alpha: the sixth is throttled at bravo…
    let two = client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(pair(&two, &alpha.base, None).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(pair(&two, &alpha.base, None).await, StatusCode::TOO_MANY_REQUESTS);
    // …and 127.0.0.3, through the same alpha, still has its own budget.
    let three = client_from("127.0.0.3");
    assert_eq!(pair(&three, &alpha.base, None).await, StatusCode::UNAUTHORIZED);

    // A client that names another address in a hop of its own is counted as itself:
    // through alpha, and straight at bravo.
    for (ip, base) in [("127.0.0.4", &alpha.base), ("127.0.0.5", &bravo.base)] {
        let c = client_from(ip);
        for i in 0..5 {
            let forged = format!("v1;client=198.51.100.{i};ts=0;school=south;mac=00");
            assert_eq!(pair(&c, base, Some(&forged)).await, StatusCode::UNAUTHORIZED);
        }
        let forged = "v1;client=198.51.100.99;ts=0;school=south;mac=00";
        assert_eq!(
            pair(&c, base, Some(forged)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{ip} counted as itself at {base}"
        );
    }

    // bravo lets one address hold 3 connections; six event sockets through alpha open
    // and stay (alpha's connections carry many clients).
    let s = School::with_api(api_at(&format!("{}/s/south", alpha.base))).await;
    let mut sockets = Vec::new();
    for _ in 0..6 {
        sockets.push(Events::open(&s.api.base, &s.teacher_token, None).await);
    }
    let conv = s.conversation(&s.gwen_token, &s.teacher).await;
    let (st, v) = s.send_text(&s.gwen_token, &conv, "c1", "to every socket").await;
    assert!(st.is_success(), "{v}");
    for e in &mut sockets {
        assert_eq!(e.expect("message.new").await["message"]["text"], "to every socket");
    }

    alpha.stop().await;
    bravo.stop().await;
}

/// A request is forwarded once at most; a school between hosts waits, then gets 503 with
/// `Retry-After`; a host that does not answer is a 503 too — never a wrong answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_second_hop_and_a_school_between_hosts_gets_503_with_retry_after() {
    let (alpha, bravo, keys) = two_servers(256).await;
    let http = reqwest::Client::new();

    // A hop signed with the district's key names the school at the root paths: bravo's
    // root serves `south` for it (its own default school otherwise).
    let south = api_at(&format!("{}/s/south", bravo.base));
    let admin = south.login("admin", ADMIN_PASSWORD).await;
    let master = doorplate_server::crypto::Secrets::load_or_create_at(&keys.0.join("district.key")).unwrap();
    let hop = doorplate_server::district::hop::HopKey::derive(&master);
    let signed = hop.sign(
        "192.0.2.1".parse().unwrap(),
        "south",
        &reqwest::Method::GET,
        "/api/v1/me",
        doorplate_server::school::now_micros(),
    );
    let me = |hop: Option<reqwest::header::HeaderValue>| {
        let mut req = http.get(format!("{}/api/v1/me", bravo.base)).bearer_auth(&admin);
        if let Some(h) = hop {
            req = req.header("doorplate-hop", h);
        }
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(me(Some(signed)).await, StatusCode::OK);
    assert_eq!(
        me(None).await,
        StatusCode::UNAUTHORIZED,
        "bravo's own school knows no such token"
    );

    // Two servers that each think the other hosts `west`: one hop, then 503.
    alpha.placement.set("west", Some(bravo.peer("bravo")));
    bravo.placement.set("west", Some(alpha.peer("alpha")));
    let res = http
        .get(format!("{}/s/west/api/v1/me", alpha.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        served_by(&res),
        "bravo",
        "answered by the second server, not forwarded back"
    );
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(error_code(&res.json().await.unwrap()), "school_moving");
    // A hop stamped a minute ago (clocks out of step) is still never forwarded again.
    let stale = hop.sign(
        "192.0.2.1".parse().unwrap(),
        "west",
        &reqwest::Method::GET,
        "/s/west/api/v1/me",
        doorplate_server::school::now_micros() - 60_000_000,
    );
    let res = http
        .get(format!("{}/s/west/api/v1/me", bravo.base))
        .header("doorplate-hop", stale)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (res.status(), served_by(&res)),
        (StatusCode::SERVICE_UNAVAILABLE, "bravo".into())
    );

    // Between hosts: the request waits about 3 s, then 503 — JSON for the API, a page in
    // both languages for a person.
    alpha.placement.set("south", Some(Place::Moving));
    let started = Instant::now();
    let res = http
        .get(format!("{}/s/south/api/v1/me", alpha.base))
        .send()
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(served_by(&res), "alpha");
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(error_code(&res.json().await.unwrap()), "school_moving");
    let res = http.get(format!("{}/s/south/kiosk", alpha.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "2");
    let page = res.text().await.unwrap();
    assert!(
        page.contains("moving to another server") && page.contains("学校正在迁移"),
        "{page}"
    );

    // Hosted again while the request waits: it is served.
    let placement = alpha.placement.clone();
    let back = bravo.peer("bravo");
    let waiter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        placement.set("south", Some(back));
    });
    let res = http
        .get(format!("{}/s/south/healthz", alpha.base))
        .send()
        .await
        .unwrap();
    assert_eq!((res.status(), served_by(&res)), (StatusCode::OK, "bravo".into()));
    waiter.await.unwrap();

    // A host that refuses connections: 503 `host_unreachable` at once.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    alpha.placement.set(
        "south",
        Some(Place::Peer(Peer {
            name: "charlie".into(),
            url: dead,
        })),
    );
    let res = http
        .get(format!("{}/s/south/api/v1/me", alpha.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(error_code(&res.json().await.unwrap()), "host_unreachable");

    // A host that takes the connection and never answers (paused): once the placement
    // no longer names it, the waiting request gets 503 within seconds.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = silent.accept().await {
            held.push(tcp);
        }
    });
    alpha.placement.set(
        "south",
        Some(Place::Peer(Peer {
            name: "paused".into(),
            url: silent_url,
        })),
    );
    let placement = alpha.placement.clone();
    let mover = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        placement.set("south", Some(Place::Moving));
    });
    let started = Instant::now();
    let res = http
        .get(format!("{}/s/south/api/v1/me", alpha.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&res.json().await.unwrap()), "host_unreachable");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
    mover.await.unwrap();
    holder.abort();

    alpha.stop().await;
    bravo.stop().await;
}
