//! The notice fan-out: `--fanout-sockets` more sockets on the doorplates, then one
//! notice to every doorplate socket, timed until the last of them has it.

use crate::client::events;
use crate::context::Run;
use crate::events::{Listener, read_events};
use anyhow::Result;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What the notice reached.
pub struct Fanout {
    /// Doorplate sockets open when it was posted.
    pub sockets: u64,
    /// Sockets that got `signage.updated` within 10 s.
    pub received: u64,
    /// Milliseconds from the post until the last socket had it (if all did).
    pub last_ms: Option<f64>,
}

/// Opens the extra sockets and posts the notice; returns it (to remove it at the end)
/// and what it reached.
pub async fn notice(run: &Run) -> Result<(Value, Fanout)> {
    let (school, stats, moves) = (&run.school, &run.stats, &run.moves);
    let mut extra = Vec::new();
    for i in 0..run.args.fanout_sockets {
        let at = i % school.plates.len();
        let p = &school.plates[at];
        let http = run.server_for(at);
        match events(&http.base, &p.token).await {
            Ok(ws) => extra.push((ws, http.clone(), p.token.clone())),
            Err(_) => stats.error("fanout_connect"),
        }
    }
    let fanout_total = (school.plates.len() + extra.len()) as u64;
    for (ws, http, token) in extra {
        let who = Listener {
            http,
            token,
            plate: true,
        };
        tokio::spawn(read_events(ws, who, stats.clone(), run.waiting.clone(), moves.clone()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted = Instant::now();
    let notice = run
        .http
        .post(
            "/api/v1/notices",
            &run.admin,
            &json!({"kind": "announcement", "title": format!("Load test {}", run.run_id), "body": "simulated"}),
        )
        .await?;
    let mut fanout = None;
    while posted.elapsed() < Duration::from_secs(10) {
        if moves.signage.load(Ordering::Relaxed) >= fanout_total {
            fanout = moves
                .last_signage
                .lock()
                .unwrap()
                .map(|t| t.duration_since(posted).as_secs_f64() * 1000.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let fanout_received = moves.signage.load(Ordering::Relaxed);
    eprintln!("notice fan-out: {fanout_received} of {fanout_total} sockets, last after {fanout:?} ms");
    Ok((
        notice,
        Fanout {
            sockets: fanout_total,
            received: fanout_received,
            last_ms: fanout,
        },
    ))
}
