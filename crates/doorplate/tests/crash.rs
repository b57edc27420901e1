//! Nothing acknowledged is lost: several clients send while the server process is
//! killed with SIGKILL; after a restart on the same data every acknowledged message is
//! there, exactly once.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_doorplate");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_survives_sigkill_exactly_once() {
    let dir = TempDir::new();
    // On PostgreSQL too (DOORPLATE_TEST_STORE=postgres): SIGKILL loses nothing acknowledged.
    let env = store_env(&dir.0).await;
    create_admin_with_cli(BIN, &dir.0, &env);

    let (mut child, url) = spawn_binary_server(BIN, &dir.0, &env);
    let api = Api {
        base: url,
        http: reqwest::Client::new(),
    };
    let s = School::with_api(api.clone()).await;
    let pairs = [
        (s.gwen_token.clone(), s.conversation(&s.gwen_token, &s.ann).await),
        (s.hal_token.clone(), s.conversation(&s.hal_token, &s.bob).await),
        (s.teacher_token.clone(), s.conversation(&s.teacher_token, &s.gwen).await),
        (s.teacher_token.clone(), s.conversation(&s.teacher_token, &s.hal).await),
    ];
    // client_id → the message id the server acknowledged.
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let mut tasks = Vec::new();
    for (n, (token, conv)) in pairs.iter().cloned().enumerate() {
        for lane in 0..4 {
            let (api, acked) = (api.clone(), acked.clone());
            let (token, conv) = (token.clone(), conv.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let cid = format!("c{n}-{lane}-{i}");
                    let res = api
                        .http
                        .post(format!("{}/api/v1/conversations/{conv}/messages", api.base))
                        .bearer_auth(&token)
                        .json(&json!({"client_id": cid, "kind": "text", "text": format!("message {cid}")}))
                        .timeout(Duration::from_secs(2))
                        .send()
                        .await;
                    match res {
                        Ok(r) if r.status().is_success() => {
                            let v: Value = r.json().await.unwrap();
                            acked
                                .lock()
                                .unwrap()
                                .insert(cid, v["message"]["id"].as_str().unwrap().to_string());
                        }
                        _ => break,
                    }
                }
            }));
        }
    }
    // Let the traffic run, then kill the process mid-stream.
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL on Unix: no shutdown code runs
    child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let (mut child, url) = spawn_binary_server(BIN, &dir.0, &env);
    let api = Api {
        base: url,
        http: reqwest::Client::new(),
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut ids: HashMap<String, String> = HashMap::new();
    for (token, conv) in &pairs {
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
    for (cid, id) in &acked {
        assert_eq!(
            seen.get(cid),
            Some(&1),
            "acknowledged {cid} must be stored exactly once"
        );
        assert_eq!(ids.get(cid), Some(id), "{cid} kept its id");
    }
    assert!(seen.values().all(|n| *n == 1), "no message is stored twice");
    eprintln!(
        "acknowledged {} messages before SIGKILL; {} stored after restart",
        acked.len(),
        seen.len()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}
