//! Many messages to one student at once, while the student comes and goes: messages to
//! one recipient share commits (their routing lock is not held while the disk syncs),
//! and still R6 holds — the doorplate never hears of her between her leaving and her next
//! arrival, every acknowledged message is stored once, and her unread count only grows.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hints_about_one_student_follow_her_comings_and_goings_under_a_burst_of_messages() {
    let server = TestServer::start().await;
    let s = Arc::new(School::new(&server).await);
    let ann_id = s.ann["id"].as_str().unwrap().to_string();
    let conv = s.conversation(&s.gwen_token, &s.ann).await;

    // The doorplate's socket, read all along so it never falls behind.
    let mut plate = Events::open(&server.base, &s.device, None).await;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let mut frames = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                next = plate.next_within(50) => match next {
                    Ok(Some(v)) => frames.push(v),
                    Ok(None) => {}
                    Err(e) => panic!("the doorplate's socket closed: {e}"),
                },
            }
        }
        frames.extend(plate.drain(500).await);
        frames
    });

    // 300 messages from her mother, 32 in flight.
    const MESSAGES: usize = 300;
    let slots = Arc::new(Semaphore::new(32));
    let mut sends = Vec::new();
    for i in 0..MESSAGES {
        let permit = slots.clone().acquire_owned().await.unwrap();
        let (school, conv) = (s.clone(), conv.clone());
        sends.push(tokio::spawn(async move {
            let (st, v) = school
                .send_text(&school.gwen_token, &conv, &format!("burst-{i}"), "Dinner at six")
                .await;
            drop(permit);
            assert!(st.is_success(), "send {i}: {st} {v}");
        }));
        // Meanwhile she checks in and out with her card, again and again.
        if i % 20 == 10 {
            let path = if (i / 20) % 2 == 0 {
                "/api/v1/doorplate/checkin"
            } else {
                "/api/v1/doorplate/checkout"
            };
            let (st, v) = s
                .api
                .post(path, &s.device, json!({"credential": {"card": "04A1B2C3"}}))
                .await;
            assert!(st.is_success(), "{path}: {st} {v}");
        }
    }
    for t in sends {
        t.await.unwrap();
    }
    stop_tx.send(()).unwrap();
    let frames: Vec<Value> = reader.await.unwrap();

    // Her presence as the doorplate saw it, and every hint about her in between.
    let mut present = false;
    let mut hints = 0;
    let mut last_unread = 0;
    let mut stays = 0;
    for f in &frames {
        let data = &f["data"];
        if data["user_id"] != ann_id.as_str() {
            continue;
        }
        match f["type"].as_str().unwrap() {
            "presence.joined" => {
                present = true;
                stays += 1;
            }
            "presence.left" => present = false,
            "notify.new_message" => {
                assert!(present, "a hint about her after she left: {f}");
                let unread = data["unread"].as_u64().unwrap();
                assert!(
                    unread >= last_unread,
                    "her unread count went back: {last_unread} → {unread}"
                );
                last_unread = unread;
                hints += 1;
            }
            _ => {}
        }
    }
    assert!(stays >= 5, "she came {stays} times");
    assert!(hints > 0, "no hint reached the doorplate while she was there");

    // Every acknowledged message is stored, once.
    let stored = all_messages(&s.api, &s.gwen_token, &conv).await;
    let mut ids: Vec<&str> = stored.iter().map(|m| m["client_id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((stored.len(), ids.len()), (MESSAGES, MESSAGES));
    let (st, _) = s.api.get("/api/v1/doorplate/state", &s.device).await;
    assert_eq!(st, StatusCode::OK);
}
