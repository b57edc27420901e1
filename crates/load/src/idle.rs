//! Idle sockets: `--idle-sockets` more event sockets held open, and the server's
//! resident memory before and after, per socket.

use crate::client::{events, rss_kib};
use crate::context::Run;
use crate::progress::progress;
use std::time::{Duration, Instant};

/// What the idle sockets weighed.
pub struct Idle {
    pub opened: usize,
    pub connect_secs: f64,
    /// The server's resident memory in KiB before the sockets opened, if known.
    pub rss_before: Option<u64>,
    /// …and 3 s after the last one opened.
    pub rss_after: Option<u64>,
    pub kib_per_socket: Option<f64>,
}

/// Opens the idle sockets (as guardians, round robin), weighs the server `pid`, and
/// closes them again.
pub async fn weigh(run: &Run, pid: Option<u32>) -> Idle {
    let (school, stats) = (&run.school, &run.stats);
    let rss_before_idle = pid.and_then(rss_kib);
    let mut idle = Vec::new();
    let t = Instant::now();
    for i in 0..run.args.idle_sockets {
        let at = i % school.guardians.len();
        let g = &school.guardians[at];
        match events(&run.server_for(at).base, &g.token).await {
            Ok(ws) => idle.push(ws),
            Err(e) => {
                stats.error(format!("idle_connect: {e}"));
                break;
            }
        }
        if i % 500 == 0 {
            progress(stats, &format!("idle sockets {i}"));
        }
    }
    let idle_connect_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_after_idle = pid.and_then(rss_kib);
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
    Idle {
        opened: idle_open,
        connect_secs: idle_connect_secs,
        rss_before: rss_before_idle,
        rss_after: rss_after_idle,
        kib_per_socket: per_idle_kib,
    }
}
