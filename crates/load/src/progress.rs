//! The progress line on stderr, rewritten in place: elapsed time, the phase, and the
//! counters so far.

use crate::stats::Stats;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rewrites the progress line for `phase`.
pub fn progress(stats: &Stats, phase: &str) {
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
pub fn bar(done: f64) -> String {
    let done = done.clamp(0.0, 1.0);
    let filled = (done * 14.0).round() as usize;
    format!(
        "[{}{}] {:>3.0}%",
        "#".repeat(filled),
        ".".repeat(14 - filled),
        done * 100.0
    )
}
