//! What the event sockets see: hints, statuses and replies matched to the messages
//! waiting for them (their latencies), and the presence and signage events that time
//! the placement, the rollover and the notice fan-out.

use crate::client::{Socket, next_frame};
use crate::progress::progress;
use crate::stats::Stats;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (sent at, notified at): whichever of the answer and the event came first.
type Seen = (Option<Instant>, Option<Instant>);

/// Messages waiting for their hint (per student) and their `notified` status (by id).
#[derive(Default)]
pub struct Waiting {
    pub hints: Mutex<HashMap<String, VecDeque<Instant>>>,
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

/// Reads a doorplate's (`plate`) or a guardian's socket until it closes, recording
/// what it sees.
pub async fn read_events(mut ws: Socket, plate: bool, stats: Arc<Stats>, waiting: Arc<Waiting>, moves: Arc<Moves>) {
    while let Some(f) = next_frame(&mut ws).await {
        let now = Instant::now();
        let data = &f["data"];
        match f["type"].as_str().unwrap_or("") {
            "notify.new_message" if plate => {
                let uid = data["user_id"].as_str().unwrap_or("").to_string();
                let sent = waiting.hints.lock().unwrap().get_mut(&uid).and_then(|q| q.pop_front());
                if let Some(sent) = sent {
                    stats.hinted.fetch_add(1, Ordering::Relaxed);
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
