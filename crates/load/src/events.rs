//! What the event sockets see: hints, statuses and replies matched to the messages
//! waiting for them (their latencies), and the presence and signage events that time
//! the placement, the rollover and the notice fan-out. A socket the server closes (it
//! closes a lagging one) is opened again with `?after=<last seq>`, as the kiosk does;
//! a `resync` answer reloads the state over REST. Both count as errors.

use crate::client::{Http, Socket, next_frame};
use crate::ledger::Ledger;
use crate::progress::progress;
use crate::stats::Stats;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (sent at, notified at): whichever of the answer and the event came first.
type Seen = (Option<Instant>, Option<Instant>);

/// Messages waiting for their hint (per student) and their `notified` status (by id).
#[derive(Default)]
pub struct Waiting {
    pub hints: Mutex<Ledger>,
    /// message id → when it was sent, or when `notified` came (before the answer did)
    pub status: Mutex<HashMap<String, Seen>>,
    pub replies: Mutex<HashMap<String, Instant>>,
}

/// Presence events the doorplate sockets saw, for the rollovers.
#[derive(Default)]
pub struct Moves {
    pub joined: AtomicU64,
    pub left: AtomicU64,
    pub last: Mutex<Option<Instant>>,
    pub signage: AtomicU64,
    pub last_signage: Mutex<Option<Instant>>,
}

/// Whose socket it is, to open it again and to reload its state.
#[derive(Clone)]
pub struct Listener {
    pub http: Http,
    pub token: String,
    /// A doorplate's socket (else a guardian's).
    pub plate: bool,
}

/// Reads a doorplate's or a guardian's socket, recording what it sees; when the server
/// closes it while the run still listens, opens it again with `after`.
pub async fn read_events(mut ws: Socket, who: Listener, stats: Arc<Stats>, waiting: Arc<Waiting>, moves: Arc<Moves>) {
    let mut last: Option<u64> = None;
    let mut resumed = false;
    loop {
        while let Some(f) = next_frame(&mut ws).await {
            let seq = f["seq"].as_u64();
            if f["type"] == "resync" {
                // The frames since `last` are gone: reload what the face would show.
                stats.resyncs.fetch_add(1, Ordering::Relaxed);
                stats.error("resync");
                reload(&who, &stats).await;
                last = seq.or(last);
                continue;
            }
            if let (Some(s), Some(prev)) = (seq, last)
                && s > prev + 1
            {
                stats.seq_gaps.fetch_add(s - prev - 1, Ordering::Relaxed);
                stats.errors_add("seq_gap", s - prev - 1);
            }
            last = seq.max(last);
            if resumed {
                stats.replayed.fetch_add(1, Ordering::Relaxed);
            }
            record(&f, who.plate, resumed, &stats, &waiting, &moves);
        }
        if stats.stopping.load(Ordering::Relaxed) {
            return;
        }
        stats.sockets_closed.fetch_add(1, Ordering::Relaxed);
        stats.error("socket_closed");
        match reopen(&who, last, &stats).await {
            Some(w) => {
                ws = w;
                resumed = true;
                stats.resumes.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                stats.error("resume_failed");
                return;
            }
        }
    }
}

/// Opens the socket again with `after`, trying for up to 5 s (the server may be
/// busy); `None` if it never opened or the run stopped listening meanwhile.
async fn reopen(who: &Listener, after: Option<u64>, stats: &Stats) -> Option<Socket> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(5) && !stats.stopping.load(Ordering::Relaxed) {
        if let Ok(ws) = crate::client::events_after(&who.http.base, &who.token, after).await {
            return Some(ws);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// After a `resync`: a doorplate reloads its state, a guardian its conversations.
async fn reload(who: &Listener, stats: &Stats) {
    let path = if who.plate {
        "/api/v1/doorplate/state"
    } else {
        "/api/v1/conversations"
    };
    match who.http.get(path, &who.token).await {
        Ok(_) => {
            stats.reloads.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => stats.error("reload_failed"),
    }
}

/// Matches one frame to what waits for it.
fn record(f: &serde_json::Value, plate: bool, resumed: bool, stats: &Stats, waiting: &Waiting, moves: &Moves) {
    let now = Instant::now();
    let data = &f["data"];
    match f["type"].as_str().unwrap_or("") {
        "notify.new_message" if plate => {
            let uid = data["user_id"].as_str().unwrap_or("");
            let sent = waiting.hints.lock().unwrap().hinted(uid);
            if let Some(sent) = sent {
                stats.hinted.fetch_add(1, Ordering::Relaxed);
                if resumed {
                    stats.hints_after_resume.fetch_add(1, Ordering::Relaxed);
                }
                stats.latency("hint", now, now.duration_since(sent).as_micros() as u64);
            }
        }
        "presence.joined" if plate => {
            moves.joined.fetch_add(1, Ordering::Relaxed);
            *moves.last.lock().unwrap() = Some(now);
        }
        "presence.left" if plate => {
            moves.left.fetch_add(1, Ordering::Relaxed);
            *moves.last.lock().unwrap() = Some(now);
        }
        "signage.updated" if plate => {
            moves.signage.fetch_add(1, Ordering::Relaxed);
            *moves.last_signage.lock().unwrap() = Some(now);
        }
        "message.status" if !plate && data["status"] == "notified" => {
            let id = data["message_id"].as_str().unwrap_or("").to_string();
            let mut st = waiting.status.lock().unwrap();
            match st.remove(&id) {
                Some((Some(sent), _)) => {
                    stats.notified.fetch_add(1, Ordering::Relaxed);
                    stats.latency("notified", now, now.duration_since(sent).as_micros() as u64);
                }
                _ => {
                    st.insert(id, (None, Some(now)));
                }
            }
        }
        "message.new" if !plate => {
            let text = data["message"]["text"].as_str().unwrap_or("");
            let sent = waiting.replies.lock().unwrap().remove(text);
            if let Some(sent) = sent {
                stats.replies_delivered.fetch_add(1, Ordering::Relaxed);
                stats.latency("reply", now, now.duration_since(sent).as_micros() as u64);
            }
        }
        _ => {}
    }
}

/// Waits until the doorplate sockets saw `joined` joins and `left` departures in all
/// (or 30 s passed); returns the seconds from `from` to the last of them.
pub async fn wait_moves(moves: &Moves, joined: u64, left: u64, from: Instant, stats: &Stats, phase: &str) -> f64 {
    while from.elapsed() < Duration::from_secs(30) {
        if moves.joined.load(Ordering::Relaxed) >= joined && moves.left.load(Ordering::Relaxed) >= left {
            break;
        }
        progress(stats, phase);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    moves
        .last
        .lock()
        .unwrap()
        .map_or(f64::NAN, |t| t.saturating_duration_since(from).as_secs_f64())
}
