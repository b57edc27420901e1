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
    let result = json!({
        "server": run.base,
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
        },
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
    eprintln!("wrote {} and {}", args.out.display(), args.chart.display());
    Ok(())
}
