//! `doorplate-load`: a whole school driving a Doorplate server over real HTTP and
//! WebSocket — doorplates and guardians connected, guardians writing to present
//! students, students replying through doorplate sessions, a timetable rollover that
//! moves every student at once, a notice to every socket, and idle sockets to weigh
//! the server's memory per connection. It prints a summary and writes a JSON result
//! and an SVG chart of latency over time.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod setup;
mod stats;

use anyhow::{Context, Result, bail};
use clap::Parser;
use client::{Http, Socket, events, next_frame, rss_kib};
use serde_json::{Value, json};
use stats::Stats;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Drive a Doorplate server as a whole school and measure it.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// Start this server binary on a fresh data folder (and weigh its memory).
    #[arg(long, conflicts_with = "url")]
    spawn: Option<PathBuf>,
    /// Or drive the server already running at this URL…
    #[arg(long)]
    url: Option<String>,
    /// …whose process id this is (to weigh its memory).
    #[arg(long)]
    pid: Option<u32>,
    /// An admin account of that server.
    #[arg(long, default_value = "admin")]
    admin: String,
    #[arg(long, env = "DOORPLATE_LOAD_ADMIN_PASSWORD", default_value = "load-admin-pass")]
    admin_password: String,
    /// Doorplates (one room and one class each).
    #[arg(long, default_value_t = 50)]
    doorplates: usize,
    /// Students, spread evenly over the classes.
    #[arg(long, default_value_t = 2000)]
    students: usize,
    /// Guardians, each linked to every G-th student, each with a live socket.
    #[arg(long, default_value_t = 100)]
    guardians: usize,
    /// Messages per second from guardians to present students.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of messaging.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Students' replies per second, each through a doorplate session (card proof).
    #[arg(long, default_value_t = 2)]
    reply_rate: u64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Extra doorplate sockets that receive the notice fan-out.
    #[arg(long, default_value_t = 0)]
    fanout_sockets: usize,
    /// Idle sockets to open at the end to weigh the server's memory per connection.
    #[arg(long, default_value_t = 0)]
    idle_sockets: usize,
    /// Skip the timetable rollover.
    #[arg(long)]
    no_rollover: bool,
    #[arg(long, default_value = "load-result.json")]
    out: PathBuf,
    #[arg(long, default_value = "load-latency.svg")]
    chart: PathBuf,
}

/// (sent at, notified at): whichever of the answer and the event came first.
type Seen = (Option<Instant>, Option<Instant>);

/// Messages waiting for their hint (per student) and their `notified` status (by id).
#[derive(Default)]
struct Waiting {
    hints: Mutex<HashMap<String, VecDeque<Instant>>>,
    /// message id → when it was sent, or when `notified` came (before the answer did)
    status: Mutex<HashMap<String, Seen>>,
    replies: Mutex<HashMap<String, Instant>>,
}

/// Presence events the doorplate sockets saw, for the rollovers.
#[derive(Default)]
struct Moves {
    joined: AtomicU64,
    left: AtomicU64,
    last: Mutex<Option<Instant>>,
    signage: AtomicU64,
    last_signage: Mutex<Option<Instant>>,
}

fn progress(stats: &Stats, phase: &str) {
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    eprint!(
        "\r\x1b[2K[{:>6.1}s] {phase:<22} sent {} acked {} hinted {} notified {} replies {}/{} errors {}",
        stats.start.elapsed().as_secs_f64(),
        c(&stats.sent),
        c(&stats.acked),
        c(&stats.hinted),
        c(&stats.notified),
        c(&stats.replies_delivered),
        c(&stats.replies),
        stats.error_count()
    );
    let _ = std::io::stderr().flush();
}

/// A progress bar for the messaging phase: `[#######.......]  45%`.
fn bar(done: f64) -> String {
    let done = done.clamp(0.0, 1.0);
    let filled = (done * 14.0).round() as usize;
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(filled),
        ".".repeat(14 - filled),
        done * 100.0
    )
}

struct Server {
    base: String,
    pid: Option<u32>,
    child: Option<std::process::Child>,
    _dir: Option<PathBuf>,
}

fn spawn_server(bin: &PathBuf, password: &str) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("doorplate-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut admin = std::process::Command::new(bin)
        .args([
            "--data",
            dir.to_str().context("utf-8 path")?,
            "admin",
            "create",
            "--username",
            "admin",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    admin.stdin.take().context("stdin")?.write_all(password.as_bytes())?;
    if !admin.wait()?.success() {
        bail!("creating the admin failed");
    }
    let mut child = std::process::Command::new(bin)
        .args([
            "--data",
            dir.to_str().context("utf-8 path")?,
            "serve",
            "--listen",
            "127.0.0.1:0",
            // The whole school comes from this one address.
            "--max-connections-per-ip",
            "0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("doorplate listening on ")
        .context("the server's first line")?
        .to_string();
    Ok(Server {
        base,
        pid: Some(child.id()),
        child: Some(child),
        _dir: Some(dir),
    })
}

/// Local weekday and "HH:MM:SS" of an instant in the school's zone.
fn local(ts: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> (i8, String) {
    let z = ts.to_zoned_datetime(tz.clone());
    (
        z.weekday().to_monday_one_offset(),
        format!("{:02}:{:02}:{:02}", z.hour(), z.minute(), z.second()),
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let fds = client::raise_fd_limit();
    let mut server = match (&args.spawn, &args.url) {
        (Some(bin), _) => spawn_server(bin, &args.admin_password)?,
        (None, Some(url)) => Server {
            base: url.clone(),
            pid: args.pid,
            child: None,
            _dir: None,
        },
        (None, None) => bail!("give --spawn PATH_TO_DOORPLATE or --url URL"),
    };
    let result = run(&args, &server, fds).await;
    if let Some(mut c) = server.child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    if let Some(d) = &server._dir {
        let _ = std::fs::remove_dir_all(d);
    }
    result
}

async fn run(args: &Args, server: &Server, fds: u64) -> Result<()> {
    let http = Http::new(&server.base);
    let stats = Arc::new(Stats::new());
    let run_id = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
            % 0xfffff
    );
    eprintln!(
        "doorplate-load: {} doorplates, {} students, {} guardians, {} msg/s for {} s against {} (open files {fds})",
        args.doorplates, args.students, args.guardians, args.rate, args.duration, server.base
    );
    let rss_start = server.pid.and_then(rss_kib);

    // --- the school ---------------------------------------------------------------------
    let t = Instant::now();
    progress(&stats, "setting up the school");
    let admin = http.login(&args.admin, &args.admin_password).await?;
    let settings = http.get("/api/v1/settings", &admin).await?;
    let tz = jiff::tz::TimeZone::get(settings["timezone"].as_str().unwrap_or("UTC")).unwrap_or(jiff::tz::TimeZone::UTC);
    let school = Arc::new(
        setup::build(
            &http,
            admin.clone(),
            &run_id,
            args.doorplates,
            args.students,
            args.guardians,
        )
        .await?,
    );
    let setup_secs = t.elapsed().as_secs_f64();
    eprintln!("\nschool set up in {setup_secs:.1} s (run {run_id})");

    // --- sockets ------------------------------------------------------------------------
    let waiting = Arc::new(Waiting::default());
    let moves = Arc::new(Moves::default());
    let t = Instant::now();
    let mut sockets = Vec::new();
    for p in &school.plates {
        sockets.push((events(&server.base, &p.token).await?, true));
    }
    for g in &school.guardians {
        sockets.push((events(&server.base, &g.token).await?, false));
    }
    let connect_secs = t.elapsed().as_secs_f64();
    let socket_count = sockets.len();
    for (ws, plate) in sockets {
        tokio::spawn(read_events(ws, plate, stats.clone(), waiting.clone(), moves.clone()));
    }

    // --- placement and rollover through the timetable ------------------------------------
    let now = jiff::Timestamp::now();
    let t0 = jiff::Timestamp::from_second(now.as_second() + 4)?;
    let t1 = jiff::Timestamp::from_second(t0.as_second() + 3 + args.duration as i64 + 2)?;
    let t2 = jiff::Timestamp::from_second(t1.as_second() + 60)?;
    let n = school.room_names.len();
    let mut csv = String::from("room,weekday,start,end,kind,title,group,teacher_username,valid_from,valid_until\n");
    let (wd0, s0) = local(t0, &tz);
    let (_, e0) = local(t1, &tz);
    let (_, e1) = local(t2, &tz);
    if e1 < s0 {
        bail!("the run would cross midnight in the school's zone; start it a few minutes later");
    }
    for k in 0..n {
        use std::fmt::Write;
        writeln!(
            csv,
            "{},{wd0},{s0},{e0},lesson,Load A,{},,,",
            school.room_names[k], school.class_names[k]
        )?;
        if !args.no_rollover {
            writeln!(
                csv,
                "{},{wd0},{e0},{e1},lesson,Load B,{},,,",
                school.room_names[(k + 1) % n],
                school.class_names[k]
            )?;
        }
    }
    http.csv("timetable", &admin, csv).await?;
    let wait_until = |ts: jiff::Timestamp| {
        let d = ts.as_millisecond() - jiff::Timestamp::now().as_millisecond();
        tokio::time::sleep(Duration::from_millis(d.max(0) as u64))
    };
    wait_until(t0).await;
    let boundary = Instant::now();
    let placement = wait_moves(
        &moves,
        args.students as u64,
        0,
        boundary,
        &stats,
        "placing every student",
    )
    .await;
    eprintln!(
        "\nplacement: {} students present in {:.3} s after the slot began",
        moves.joined.load(Ordering::Relaxed),
        placement
    );

    // --- messages and replies --------------------------------------------------------------
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let msg_start = Instant::now();
    let reply_task = tokio::spawn(replies(
        http.clone(),
        school.clone(),
        args.reply_rate,
        args.duration,
        stats.clone(),
        waiting.clone(),
    ));
    let ticker = {
        let (stats, waiting, school, http, sem) = (
            stats.clone(),
            waiting.clone(),
            school.clone(),
            http.clone(),
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
                    let (stats, waiting, school, http) = (stats.clone(), waiting.clone(), school.clone(), http.clone());
                    let k = (i.wrapping_mul(2654435761) % school.students.len() as u64) as usize;
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
            &stats,
            &bar(msg_start.elapsed().as_secs_f64() / args.duration.max(1) as f64),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let scheduled = ticker.await?;
    let _ = sem.acquire_many(args.concurrency as u32).await?;
    let msg_secs = msg_start.elapsed().as_secs_f64();
    reply_task.await?;
    // Let the last hints and statuses arrive.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(3)
        && (Stats::count(&stats.hinted) < Stats::count(&stats.acked)
            || Stats::count(&stats.notified) < Stats::count(&stats.acked))
    {
        progress(&stats, "waiting for the last hints");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!();

    // --- rollover -------------------------------------------------------------------------------
    let mut rollover = None;
    if !args.no_rollover {
        let (j0, l0) = (moves.joined.load(Ordering::Relaxed), moves.left.load(Ordering::Relaxed));
        if jiff::Timestamp::now().as_millisecond() > t1.as_millisecond() + 100 {
            eprintln!("\nthe messaging overran the rollover's boundary: no rollover figure for this run");
            stats.error("rollover_overrun");
        }
        wait_until(t1).await;
        let b = Instant::now();
        let secs = wait_moves(
            &moves,
            j0 + args.students as u64,
            l0 + args.students as u64,
            b,
            &stats,
            "rollover",
        )
        .await;
        eprintln!(
            "\nrollover: {} students moved to their next room in {secs:.3} s",
            args.students
        );
        rollover = Some(secs);
    }

    // --- a notice to every doorplate socket ---------------------------------------------------------
    let mut extra = Vec::new();
    for i in 0..args.fanout_sockets {
        let p = &school.plates[i % school.plates.len()];
        match events(&server.base, &p.token).await {
            Ok(ws) => extra.push(ws),
            Err(_) => stats.error("fanout_connect"),
        }
    }
    let fanout_total = (school.plates.len() + extra.len()) as u64;
    for ws in extra {
        tokio::spawn(read_events(ws, true, stats.clone(), waiting.clone(), moves.clone()));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted = Instant::now();
    let notice = http
        .post(
            "/api/v1/notices",
            &admin,
            &json!({"kind": "announcement", "title": format!("Load test {run_id}"), "body": "simulated"}),
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

    // --- idle sockets and memory ----------------------------------------------------------------------
    let rss_before_idle = server.pid.and_then(rss_kib);
    let mut idle = Vec::new();
    let t = Instant::now();
    for i in 0..args.idle_sockets {
        let g = &school.guardians[i % school.guardians.len()];
        match events(&server.base, &g.token).await {
            Ok(ws) => idle.push(ws),
            Err(e) => {
                stats.error(format!("idle_connect: {e}"));
                break;
            }
        }
        if i % 500 == 0 {
            progress(&stats, &format!("idle sockets {i}"));
        }
    }
    let idle_connect_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after_idle = server.pid.and_then(rss_kib);
    let per_idle_kib = match (rss_before_idle, rss_after_idle) {
        (Some(a), Some(b)) if !idle.is_empty() => Some((b as f64 - a as f64) / idle.len() as f64),
        _ => None,
    };
    let idle_open = idle.len();
    drop(idle);
    eprintln!(
        "\nidle sockets: {idle_open} held; server memory {:?} → {:?} KiB, {:?} KiB each",
        rss_before_idle,
        rss_after_idle,
        per_idle_kib.map(|v| (v * 10.0).round() / 10.0)
    );

    // --- tidy up what this run made that would keep acting ------------------------------------------------
    // Rooms, people and classes stay (named L<run>…); the slots and the notice go.
    let slots = http.get("/api/v1/timetable", &admin).await.unwrap_or(Value::Null);
    let rooms = http.get("/api/v1/rooms", &admin).await.unwrap_or(Value::Null);
    let ours: Vec<String> = rooms
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("L{run_id} ")))
        })
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    for s in slots
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["room_id"].as_str().is_some_and(|r| ours.iter().any(|o| o == r)))
    {
        let _ = http
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/timetable/{}", s["id"].as_str().unwrap_or("")),
                Some(&admin),
                None,
            )
            .await;
    }
    if let Some(id) = notice["notice"]["id"].as_str() {
        let _ = http
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/notices/{id}"),
                Some(&admin),
                None,
            )
            .await;
    }

    // --- the report -------------------------------------------------------------------------------------------
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let acked = c(&stats.acked);
    let result = json!({
        "server": server.base,
        "scenario": {
            "doorplates": args.doorplates, "students": args.students, "guardians": args.guardians,
            "rate_per_second": args.rate, "duration_seconds": args.duration, "reply_rate": args.reply_rate,
            "concurrency": args.concurrency, "fanout_sockets": args.fanout_sockets, "idle_sockets": args.idle_sockets,
        },
        "setup_seconds": setup_secs,
        "sockets_connected": socket_count,
        "socket_connect_seconds": connect_secs,
        "messages": {
            "scheduled": scheduled, "sent": c(&stats.sent), "acknowledged": acked, "hinted": c(&stats.hinted),
            "notified": c(&stats.notified), "throughput_per_second": acked as f64 / msg_secs,
            "replies_sent": c(&stats.replies), "replies_delivered": c(&stats.replies_delivered),
        },
        "latency": stats.percentiles(),
        "errors": stats.errors(),
        "placement_seconds": placement,
        "rollover_seconds": rollover,
                "notice_fanout": {"sockets": fanout_total, "received": fanout_received, "last_ms": fanout},
        "idle_sockets": {"opened": idle_open, "connect_seconds": idle_connect_secs, "server_rss_kib_before": rss_before_idle,
                          "server_rss_kib_after": rss_after_idle, "kib_per_socket": per_idle_kib},
        "server_rss_kib_at_start": rss_start,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&result)? + "\n")?;
    std::fs::write(
        &args.chart,
        stats::chart(
            &stats,
            &["ack", "hint", "notified"],
            "Doorplate load: latency per second",
        ),
    )?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    eprintln!("wrote {} and {}", args.out.display(), args.chart.display());
    Ok(())
}

/// Waits until the doorplate sockets saw `joined` joins and `left` departures in all
/// (or 30 s passed); returns the seconds from `from` to the last of them.
async fn wait_moves(moves: &Moves, joined: u64, left: u64, from: Instant, stats: &Stats, phase: &str) -> f64 {
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

async fn send_one(http: &Http, school: &setup::School, k: usize, i: u64, stats: &Stats, waiting: &Waiting) {
    let s = &school.students[k];
    let token = &school.guardians[s.guardian].token;
    let body = json!({"client_id": format!("load-{}-{i}", school.run), "kind": "text", "text": format!("message {i}")});
    let sent = Instant::now();
    waiting
        .hints
        .lock()
        .unwrap()
        .entry(s.id.clone())
        .or_default()
        .push_back(sent);
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
        Err(kind) => stats.error(format!("send: {kind}")),
    }
}

async fn read_events(mut ws: Socket, plate: bool, stats: Arc<Stats>, waiting: Arc<Waiting>, moves: Arc<Moves>) {
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

/// Students reply through doorplate sessions: a card proof opens the session (the
/// kiosk's "my messages"), the conversations load, and the reply is sent.
async fn replies(
    http: Http,
    school: Arc<setup::School>,
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
        let plate = &school.plates[s.class % school.plates.len()];
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
