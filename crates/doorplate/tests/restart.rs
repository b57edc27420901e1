//! A graceful restart under load: guardians and teachers send (each message with its
//! client id) and every doorplate and sender watches on an event socket, while the
//! server process gets SIGTERM. It exits 0 within 10 s; no request that got an answer
//! failed; only requests sent after the signal found no server, and retried after the
//! restart with the same client id they are stored once; every acknowledged message is
//! there exactly once; every socket was closed with 1012, the closes spread out, and
//! each resumes with `after` (getting `resync`: the streams are new).

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

const BIN: &str = env!("CARGO_BIN_EXE_doorplate");

/// How one event socket ended.
#[derive(Debug, Default)]
struct Ended {
    last_seq: Option<u64>,
    close_code: Option<u16>,
    closed_at: Option<Instant>,
}

/// Opens an event socket and reads it until it ends.
async fn watch(base: &str, token: &str, after: Option<u64>) -> tokio::task::JoinHandle<Ended> {
    let ws = open(base, token, after).await;
    tokio::spawn(async move {
        let mut ws = ws;
        let mut ended = Ended::default();
        while let Some(msg) = ws.next().await {
            match msg {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    ended.last_seq = v["seq"].as_u64();
                }
                Ok(Message::Ping(p)) => {
                    let _ = ws.send(Message::Pong(p)).await;
                }
                Ok(Message::Close(f)) => {
                    ended.close_code = f.map(|f| u16::from(f.code));
                    ended.closed_at = Some(Instant::now());
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        ended
    })
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(base: &str, token: &str, after: Option<u64>) -> Socket {
    let mut url = format!("{}/api/v1/events", base.replacen("http", "ws", 1));
    if let Some(a) = after {
        url.push_str(&format!("?after={a}"));
    }
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req)
        .await
        .expect("event socket opens")
        .0
}

/// What became of each send.
#[derive(Default)]
struct Sends {
    /// client id → the message id the server acknowledged.
    acked: HashMap<String, String>,
    /// Sends that got no answer, with when they failed: (client id, token, conversation).
    unanswered: Vec<(String, String, String, Instant)>,
    /// Answers that were not a success: (client id, status).
    refused: Vec<(String, u16)>,
}

async fn send(api: &Api, token: &str, conv: &str, cid: &str) -> Result<reqwest::Response, reqwest::Error> {
    api.http
        .post(format!("{}/api/v1/conversations/{conv}/messages", api.base))
        .bearer_auth(token)
        .json(&json!({"client_id": cid, "kind": "text", "text": format!("message {cid}")}))
        .timeout(Duration::from_secs(5))
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_and_every_client_resumes() {
    let dir = TempDir::new();
    create_admin_with_cli(BIN, &dir.0, &[]);

    let (mut child, url) = spawn_binary_server(BIN, &dir.0, &[]);
    let api = Api {
        base: url.clone(),
        http: reqwest::Client::new(),
    };
    let s = School::with_api(api.clone()).await;
    let pairs = [
        (s.gwen_token.clone(), s.conversation(&s.gwen_token, &s.ann).await),
        (s.hal_token.clone(), s.conversation(&s.hal_token, &s.bob).await),
        (s.teacher_token.clone(), s.conversation(&s.teacher_token, &s.gwen).await),
        (s.teacher_token.clone(), s.conversation(&s.teacher_token, &s.hal).await),
    ];
    // A socket per doorplate (eight of them) and per sender and recipient.
    let mut tokens = vec![s.device.clone()];
    for n in 0..7 {
        tokens.push(s.another_doorplate(&format!("Door {n}")).await.1);
    }
    tokens.extend([s.gwen_token.clone(), s.hal_token.clone(), s.teacher_token.clone()]);
    let mut sockets = Vec::new();
    for t in &tokens {
        sockets.push(watch(&url, t, None).await);
    }

    let sends: Arc<Mutex<Sends>> = Arc::default();
    let mut lanes = Vec::new();
    for (n, (token, conv)) in pairs.iter().cloned().enumerate() {
        for lane in 0..3 {
            let (api, sends) = (api.clone(), sends.clone());
            let (token, conv) = (token.clone(), conv.clone());
            lanes.push(tokio::spawn(async move {
                for i in 0.. {
                    let cid = format!("r{n}-{lane}-{i}");
                    match send(&api, &token, &conv, &cid).await {
                        Ok(r) if r.status().is_success() => {
                            let v: Value = r.json().await.unwrap();
                            let id = v["message"]["id"].as_str().unwrap().to_string();
                            sends.lock().unwrap().acked.insert(cid, id);
                        }
                        Ok(r) => {
                            sends.lock().unwrap().refused.push((cid, r.status().as_u16()));
                            break;
                        }
                        Err(_) => {
                            let when = Instant::now();
                            sends.lock().unwrap().unanswered.push((cid, token, conv, when));
                            break;
                        }
                    }
                }
            }));
        }
    }
    while sends.lock().unwrap().acked.len() < 200 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // SIGTERM mid-load.
    let signalled = Instant::now();
    // SAFETY: kill only sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status:?}");
    for l in lanes {
        l.await.unwrap();
    }
    let mut ended = Vec::new();
    for s in sockets {
        ended.push(s.await.unwrap());
    }
    let sends = std::mem::take(&mut *sends.lock().unwrap());
    assert!(
        sends.refused.is_empty(),
        "answers that were not a success: {:?}",
        sends.refused
    );
    // The only requests that failed were sent once the server had stopped accepting.
    for (cid, _, _, when) in &sends.unanswered {
        assert!(*when >= signalled, "{cid} failed before the signal");
    }

    // Every socket heard 1012, not all in the same instant.
    for e in &ended {
        assert_eq!(e.close_code, Some(1012), "{e:?}");
    }
    let times: Vec<Instant> = ended.iter().map(|e| e.closed_at.unwrap()).collect();
    let first = *times.iter().min().unwrap();
    let last = *times.iter().max().unwrap();
    let spread = last - first;
    assert!(spread > Duration::from_millis(10), "all closes within {spread:?}");
    eprintln!(
        "exit 0 after {took:?}; {} acknowledged, {} to retry; {} sockets closed with 1012 over {spread:?}",
        sends.acked.len(),
        sends.unanswered.len(),
        ended.len()
    );

    // The restart: the unanswered sends are retried with the same client ids.
    let (mut child, url) = spawn_binary_server(BIN, &dir.0, &[]);
    let api = Api {
        base: url.clone(),
        http: reqwest::Client::new(),
    };
    let mut retried: HashMap<String, String> = HashMap::new();
    for (cid, token, conv, _) in &sends.unanswered {
        let r = send(&api, token, conv, cid)
            .await
            .expect("the restarted server answers");
        assert!(r.status().is_success(), "retrying {cid}: {}", r.status());
        let v: Value = r.json().await.unwrap();
        retried.insert(cid.clone(), v["message"]["id"].as_str().unwrap().to_string());
    }

    // Every socket resumes from where it was; its stream is new, so it gets `resync`.
    for (t, e) in tokens.iter().zip(&ended) {
        let mut ws = open(&url, t, e.last_seq.or(Some(1))).await;
        let first = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => return serde_json::from_str::<Value>(&t).unwrap(),
                    Some(Ok(_)) => continue,
                    other => panic!("the resumed socket ended: {other:?}"),
                }
            }
        })
        .await
        .expect("a frame on the resumed socket");
        assert_eq!(first["type"], "resync", "{first}");
        let _ = ws.close(None).await;
    }

    // Every acknowledged message is stored exactly once, with the id it was given.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut convs: Vec<(String, String)> = pairs.to_vec();
    convs.dedup_by(|a, b| a.1 == b.1);
    for (token, conv) in &convs {
        let mut after = String::from("0");
        loop {
            let (st, page) = api
                .get(
                    &format!("/api/v1/conversations/{conv}/messages?after={after}&limit=200"),
                    token,
                )
                .await;
            assert!(st.is_success(), "{page}");
            let page = page.as_array().unwrap().clone();
            if page.is_empty() {
                break;
            }
            for m in &page {
                let cid = m["client_id"].as_str().unwrap().to_string();
                *seen.entry(cid.clone()).or_default() += 1;
                ids.insert(cid, m["id"].as_str().unwrap().to_string());
            }
            after = page.last().unwrap()["id"].as_str().unwrap().to_string();
        }
    }
    for (cid, id) in sends.acked.iter().chain(&retried) {
        assert_eq!(seen.get(cid), Some(&1), "{cid} must be stored exactly once");
        assert_eq!(ids.get(cid), Some(id), "{cid} kept its id");
    }
    assert!(seen.values().all(|n| *n == 1), "no message is stored twice");
    assert_eq!(
        seen.len(),
        sends.acked.len() + retried.len(),
        "nothing stored that nobody sent"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
