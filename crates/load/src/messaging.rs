//! The messaging phase: guardians write to present students at a fixed rate (open loop,
//! at most `--concurrency` requests in flight) while students reply through doorplate
//! sessions; then the last hints and statuses are given a moment to arrive.

use crate::client::Http;
use crate::context::Run;
use crate::cpu::{cpu_seconds, write_syscalls};
use crate::events::Waiting;
use crate::progress::{bar, progress};
use crate::setup::School;
use crate::stats::Stats;
use anyhow::Result;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What the messaging phase sent.
pub struct Sent {
    /// Messages the rate called for.
    pub scheduled: u64,
    /// Seconds from the first send until the last answer.
    pub secs: f64,
    /// CPU seconds the server used over those seconds, if its process is known.
    pub server_cpu_secs: Option<f64>,
    /// CPU seconds the simulator used over them.
    pub client_cpu_secs: Option<f64>,
    /// Write-type system calls the servers made over those seconds (socket writes,
    /// the database's writes and syncs), if their processes are known.
    pub server_write_syscalls: Option<u64>,
}

/// The sum of `read` over the server processes; none when none is known or one of them
/// cannot be read.
fn over_servers<T: std::iter::Sum>(pids: &[u32], read: impl Fn(u32) -> Option<T>) -> Option<T> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| read(*p)).sum()
}

/// Sends `--rate` messages a second for `--duration` seconds, with replies at
/// `--reply-rate`, and waits (up to 3 s) for their hints and statuses.
pub async fn send_and_reply(run: &Run) -> Result<Sent> {
    let args = &run.args;
    let stats = &run.stats;
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let msg_start = Instant::now();
    // CPU is read over the messaging phase only: the setup's argon2 hashing and the
    // other phases stay out of the per-message figure.
    // The servers' figures are summed over every known server process, none if none is
    // known (never the simulator's own CPU, which `cpu_seconds(None)` reads).
    let pids = &run.server_pids;
    let servers_cpu = || over_servers(pids, |p| cpu_seconds(Some(p)));
    let servers_writes = || over_servers(pids, write_syscalls);
    let cpu_start = (servers_cpu(), cpu_seconds(None), servers_writes());
    let reply_task = tokio::spawn(replies(
        run.servers.clone(),
        run.school.clone(),
        args.reply_rate,
        args.duration,
        stats.clone(),
        run.waiting.clone(),
    ));
    let ticker = {
        let (stats, waiting, school, http, sem) = (
            stats.clone(),
            run.waiting.clone(),
            run.school.clone(),
            run.servers.clone(),
            sem.clone(),
        );
        let (rate, duration) = (args.rate, args.duration);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut due = 0u64;
            let mut i = 0u64;
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(duration) {
                tick.tick().await;
                due = (t.elapsed().as_secs_f64() * rate as f64) as u64;
                while i < due {
                    let permit = sem.clone().acquire_owned().await.expect("semaphore");
                    let k = (i.wrapping_mul(2654435761) % school.students.len() as u64) as usize;
                    // Through the server this student's guardian talks to.
                    let http = crate::context::server_for(&http, school.students[k].guardian).clone();
                    let (stats, waiting, school) = (stats.clone(), waiting.clone(), school.clone());
                    tokio::spawn(async move {
                        send_one(&http, &school, k, i, &stats, &waiting).await;
                        drop(permit);
                    });
                    i += 1;
                }
            }
            due
        })
    };
    while !ticker.is_finished() {
        progress(
            stats,
            &bar(msg_start.elapsed().as_secs_f64() / args.duration.max(1) as f64),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let scheduled = ticker.await?;
    let _ = sem.acquire_many(args.concurrency as u32).await?;
    let msg_secs = msg_start.elapsed().as_secs_f64();
    let used = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    let server_cpu_secs = used(cpu_start.0, servers_cpu());
    let client_cpu_secs = used(cpu_start.1, cpu_seconds(None));
    let server_write_syscalls = servers_writes().zip(cpu_start.2).map(|(b, a)| b - a);
    reply_task.await?;
    // Let the last hints and statuses arrive.
    let settle = Instant::now();
    let owed = || Stats::count(&stats.acked) - Stats::count(&stats.not_routed);
    while settle.elapsed() < Duration::from_secs(3)
        && (Stats::count(&stats.hinted) < owed() || Stats::count(&stats.notified) < owed())
    {
        progress(stats, "waiting for the last hints");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!();
    Ok(Sent {
        scheduled,
        secs: msg_secs,
        server_cpu_secs,
        client_cpu_secs,
        server_write_syscalls,
    })
}

/// A guardian's message to student `k`: *ack* is the answer; the hint and the
/// `notified` status are matched by the event readers.
async fn send_one(http: &Http, school: &School, k: usize, i: u64, stats: &Stats, waiting: &Waiting) {
    let s = &school.students[k];
    let token = &school.guardians[s.guardian].token;
    let body = json!({"client_id": format!("load-{}-{i}", school.run), "kind": "text", "text": format!("message {i}")});
    let sent = Instant::now();
    waiting.hints.lock().unwrap().sent(&s.id, i, sent);
    stats.sent.fetch_add(1, Ordering::Relaxed);
    match http
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{}/messages", s.conversation),
            Some(token),
            Some(&body),
        )
        .await
    {
        Ok(v) => {
            let now = Instant::now();
            stats.acked.fetch_add(1, Ordering::Relaxed);
            stats.latency("ack", now, now.duration_since(sent).as_micros() as u64);
            // Stored `sent`: the student was in no room (a slot ended), so the server
            // owes neither a hint nor a `notified` status.
            if v["message"]["status"] == "sent" {
                stats.not_routed.fetch_add(1, Ordering::Relaxed);
                waiting.hints.lock().unwrap().owes_nothing(&s.id, i);
                return;
            }
            waiting.hints.lock().unwrap().acked(&s.id, i);
            if let Some(id) = v["message"]["id"].as_str() {
                let mut st = waiting.status.lock().unwrap();
                match st.remove(id) {
                    Some((None, Some(notified))) => {
                        stats.notified.fetch_add(1, Ordering::Relaxed);
                        stats.latency(
                            "notified",
                            now,
                            notified.saturating_duration_since(sent).as_micros() as u64,
                        );
                    }
                    _ => {
                        st.insert(id.to_string(), (Some(sent), None));
                    }
                }
            }
        }
        Err(kind) => {
            waiting.hints.lock().unwrap().owes_nothing(&s.id, i);
            stats.error(format!("send: {kind}"));
        }
    }
}

/// Students reply through doorplate sessions: a card proof opens the session (the
/// kiosk's "my messages"), the conversations load, and the reply is sent.
async fn replies(
    servers: Vec<Http>,
    school: Arc<School>,
    rate: u64,
    duration: u64,
    stats: Arc<Stats>,
    waiting: Arc<Waiting>,
) {
    if rate == 0 {
        return;
    }
    let t = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut i = 0usize;
    while t.elapsed() < Duration::from_secs(duration) {
        tick.tick().await;
        i += 1;
        let k = (i * 7919) % school.students.len();
        let s = &school.students[k];
        let at = s.class % school.plates.len();
        let plate = &school.plates[at];
        // Through the server this doorplate talks to.
        let http = crate::context::server_for(&servers, at);
        let started = Instant::now();
        stats.replies.fetch_add(1, Ordering::Relaxed);
        let sess = match http
            .post(
                "/api/v1/doorplate/sessions",
                &plate.token,
                &json!({"credential": {"card": s.card}}),
            )
            .await
        {
            Ok(v) => v,
            Err(_) => {
                stats.error("reply: session");
                continue;
            }
        };
        let token = sess["session_token"].as_str().unwrap_or("").to_string();
        if http.get("/api/v1/conversations", &token).await.is_err() {
            stats.error("reply: conversations");
            continue;
        }
        let shown = Instant::now();
        stats.latency(
            "card_to_messages",
            shown,
            shown.duration_since(started).as_micros() as u64,
        );
        let text = format!("reply {} {i}", school.run);
        waiting.replies.lock().unwrap().insert(text.clone(), Instant::now());
        let body = json!({"client_id": format!("reply-{}-{i}", school.run), "kind": "text", "text": text});
        if http
            .post(
                &format!("/api/v1/conversations/{}/messages", s.conversation),
                &token,
                &body,
            )
            .await
            .is_err()
        {
            stats.error("reply: send");
        }
        let _ = http
            .call(
                reqwest::Method::DELETE,
                "/api/v1/doorplate/sessions/current",
                Some(&plate.token),
                None,
            )
            .await;
    }
}
