//! The run's result: one JSON document, printed on stdout and written to `--out`, and
//! the SVG chart of ack, hint and notified latency per second, written to `--chart`.

use crate::context::Run;
use crate::fanout::Fanout;
use crate::idle::Idle;
use crate::messaging::Sent;
use crate::stats;
use anyhow::Result;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

/// The figures the phases took, beside the counters and latencies in `Run::stats`.
pub struct Figures {
    pub setup_secs: f64,
    pub sockets_connected: usize,
    pub socket_connect_secs: f64,
    pub placement_secs: f64,
    pub sent: Sent,
    pub rollover_secs: Option<f64>,
    pub fanout: Fanout,
    pub idle: Idle,
    /// The server's resident memory in KiB when the run began, if known.
    pub rss_start: Option<u64>,
}

/// Writes the result and the chart, and prints the result.
pub fn write(run: &Run, f: &Figures) -> Result<()> {
    let (args, stats) = (&run.args, &run.stats);
    let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let acked = c(&stats.acked);
    // Every acknowledged message is either hinted or listed here; the kinds show in
    // the errors even at 0, so a clean run says so.
    let missing = run.waiting.hints.lock().unwrap().missing();
    let missing_statuses = run
        .waiting
        .status
        .lock()
        .unwrap()
        .values()
        .filter(|(sent, notified)| sent.is_some() && notified.is_none())
        .count() as u64;
    stats.errors_add("hint_missing", missing.len() as u64);
    stats.errors_add("status_missing", missing_statuses);
    stats.errors_add("socket_closed", 0);
    stats.errors_add("resync", 0);
    let per_1000 = |cpu: Option<f64>| cpu.filter(|_| acked > 0).map(|s| s * 1000.0 / acked as f64);
    let cpu = json!({
        "server_seconds": f.sent.server_cpu_secs, "client_seconds": f.sent.client_cpu_secs,
        "server_seconds_per_1000_messages": per_1000(f.sent.server_cpu_secs),
        "client_seconds_per_1000_messages": per_1000(f.sent.client_cpu_secs),
        "server_cpus": args.server_cpus, "client_cpus": args.client_cpus,
        "server_write_syscalls": f.sent.server_write_syscalls,
        "server_write_syscalls_per_message": f.sent.server_write_syscalls
            .filter(|_| acked > 0).map(|n| n as f64 / acked as f64),
    });
    let sockets = json!({
        "closed_by_server": c(&stats.sockets_closed), "resumed": c(&stats.resumes),
        "frames_after_resume": c(&stats.replayed), "hints_after_resume": c(&stats.hints_after_resume),
        "resyncs": c(&stats.resyncs), "state_reloads": c(&stats.reloads), "seq_gaps": c(&stats.seq_gaps),
    });
    let result = json!({
        "server": run.base,
        "servers": run.servers.iter().map(|s| s.base.as_str()).collect::<Vec<_>>(),
        "scenario": {
            "doorplates": args.doorplates, "students": args.students, "guardians": args.guardians,
            "rate_per_second": args.rate, "duration_seconds": args.duration, "reply_rate": args.reply_rate,
            "concurrency": args.concurrency, "fanout_sockets": args.fanout_sockets, "idle_sockets": args.idle_sockets,
        },
        "setup_seconds": f.setup_secs,
        "sockets_connected": f.sockets_connected,
        "socket_connect_seconds": f.socket_connect_secs,
        "messages": {
            "scheduled": f.sent.scheduled, "sent": c(&stats.sent), "acknowledged": acked, "hinted": c(&stats.hinted),
            "notified": c(&stats.notified), "throughput_per_second": acked as f64 / f.sent.secs,
            "replies_sent": c(&stats.replies), "replies_delivered": c(&stats.replies_delivered),
            "not_routed": c(&stats.not_routed), "missing_hints": missing.len(), "missing_statuses": missing_statuses,
            // The first of them, by the number in their `client_id` (`load-<run>-<n>`).
            "missing_hint_messages": missing.iter().take(100).collect::<Vec<_>>(),
        },
        "messaging_cpu": cpu,
        "event_sockets": sockets,
        "latency": stats.percentiles(),
        "errors": stats.errors(),
        "placement_seconds": f.placement_secs,
        "rollover_seconds": f.rollover_secs,
        "notice_fanout": {"sockets": f.fanout.sockets, "received": f.fanout.received, "last_ms": f.fanout.last_ms},
        "idle_sockets": {"opened": f.idle.opened, "connect_seconds": f.idle.connect_secs,
                         "server_rss_kib_before": f.idle.rss_before, "server_rss_kib_after": f.idle.rss_after,
                         "kib_per_socket": f.idle.kib_per_socket},
        "server_rss_kib_at_start": f.rss_start,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&result)? + "\n")?;
    std::fs::write(
        &args.chart,
        stats::chart(
            stats,
            &["ack", "hint", "notified"],
            "Doorplate load: latency per second",
        ),
    )?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    summary(&result);
    eprintln!("wrote {} and {}", args.out.display(), args.chart.display());
    Ok(())
}

/// The figures that say whether the run was honest, on stderr after the JSON.
fn summary(r: &serde_json::Value) {
    let m = &r["messages"];
    let (cpu, sock) = (&r["messaging_cpu"], &r["event_sockets"]);
    let f = |v: &serde_json::Value| v.as_f64().map_or("n/a".to_string(), |x| format!("{x:.3}"));
    eprintln!(
        "summary: acknowledged {} (stored unrouted {}) hinted {} notified {}; missing hints {} statuses {}",
        m["acknowledged"], m["not_routed"], m["hinted"], m["notified"], m["missing_hints"], m["missing_statuses"]
    );
    eprintln!(
        "summary: sockets closed by the server {} resumed {} (frames after resume {}, hints {}) resyncs {} reloads {} seq gaps {}",
        sock["closed_by_server"],
        sock["resumed"],
        sock["frames_after_resume"],
        sock["hints_after_resume"],
        sock["resyncs"],
        sock["state_reloads"],
        sock["seq_gaps"]
    );
    eprintln!(
        "summary: messaging CPU s: server {} ({} per 1,000 messages, cpus {}), simulator {} ({} per 1,000, cpus {})",
        f(&cpu["server_seconds"]),
        f(&cpu["server_seconds_per_1000_messages"]),
        cpu["server_cpus"],
        f(&cpu["client_seconds"]),
        f(&cpu["client_seconds_per_1000_messages"]),
        cpu["client_cpus"]
    );
    eprintln!(
        "summary: server write syscalls {} ({} per message)",
        cpu["server_write_syscalls"],
        f(&cpu["server_write_syscalls_per_message"])
    );
    let errors: Vec<String> = r["errors"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    eprintln!("summary: errors: {}", errors.join(", "));
}
