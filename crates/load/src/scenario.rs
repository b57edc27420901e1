//! One run from start to end, phase by phase in the order of docs/BENCHMARK.md: the
//! school and its sockets, placement, messages and replies, rollover, the notice
//! fan-out and idle sockets; then the tidy-up and the report.

use crate::client::{Http, rss_kib};
use crate::context::Run;
use crate::events::{self, Moves, Waiting};
use crate::options::Args;
use crate::progress::progress;
use crate::report::{self, Figures};
use crate::server::Server;
use crate::stats::Stats;
use crate::{fanout, idle, messaging, schedule, setup, tidy};
use anyhow::Result;
use std::sync::Arc;
use std::time::Instant;

/// Plays the whole scenario against `server`; `fds` is the simulator's limit of open
/// files (it holds one end of every socket).
pub async fn play(args: &Args, server: &Server, fds: u64) -> Result<()> {
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

    // The school, set up through the API as staff would.
    let t = Instant::now();
    progress(&stats, "setting up the school");
    let admin = http.login(&args.admin, &args.admin_password).await?;
    let settings = http.get("/api/v1/settings", &admin).await?;
    let zone = settings["timezone"].as_str().unwrap_or("UTC");
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
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
    let servers = server.bases.iter().map(|b| http.at(b)).collect();
    let run = Run {
        args: args.clone(),
        base: server.base.clone(),
        servers,
        server_pids: server.pids.clone(),
        http,
        admin,
        run_id,
        school,
        stats,
        waiting: Arc::new(Waiting::default()),
        moves: Arc::new(Moves::default()),
    };

    let (sockets_connected, socket_connect_secs) = listen(&run).await?;
    let boundaries = schedule::post_slots(&run, &tz).await?;
    let placement_secs = schedule::placement(&run, &boundaries).await;
    let sent = messaging::send_and_reply(&run).await?;
    let rollover_secs = schedule::rollover(&run, &boundaries).await;
    let (notice, fanout) = fanout::notice(&run).await?;
    let idle = idle::weigh(&run, server.pid).await;
    tidy::remove_slots_and_notice(&run, &notice).await;
    // From here a socket closing is the run ending, not the server dropping it.
    run.stats.stopping.store(true, std::sync::atomic::Ordering::Relaxed);
    report::write(
        &run,
        &Figures {
            setup_secs,
            sockets_connected,
            socket_connect_secs,
            placement_secs,
            sent,
            rollover_secs,
            fanout,
            idle,
            rss_start,
        },
    )
}

/// Opens a socket for every doorplate and every guardian and reads each on a task of
/// its own; returns how many opened and the seconds that took.
pub async fn listen(run: &Run) -> Result<(usize, f64)> {
    let t = Instant::now();
    let mut sockets = Vec::new();
    for (i, p) in run.school.plates.iter().enumerate() {
        let http = run.server_for(i);
        sockets.push((crate::client::events(&http.base, &p.token).await?, http, &p.token, true));
    }
    for (i, g) in run.school.guardians.iter().enumerate() {
        let http = run.server_for(i);
        sockets.push((
            crate::client::events(&http.base, &g.token).await?,
            http,
            &g.token,
            false,
        ));
    }
    let connect_secs = t.elapsed().as_secs_f64();
    let socket_count = sockets.len();
    for (ws, http, token, plate) in sockets {
        let who = events::Listener {
            http: http.clone(),
            token: token.clone(),
            plate,
        };
        tokio::spawn(events::read_events(
            ws,
            who,
            run.stats.clone(),
            run.waiting.clone(),
            run.moves.clone(),
        ));
    }
    Ok((socket_count, connect_secs))
}
