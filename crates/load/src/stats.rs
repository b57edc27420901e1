//! What the run measured: counters, latency histograms (overall and per second, for the
//! chart), errors by kind.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A latency series in microseconds, kept whole and per second of the run.
pub struct Series {
    all: Histogram<u64>,
    per_second: BTreeMap<u64, Histogram<u64>>,
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

impl Series {
    fn new() -> Self {
        Series {
            all: hist(),
            per_second: BTreeMap::new(),
        }
    }

    fn record(&mut self, second: u64, micros: u64) {
        let v = micros.clamp(1, 120_000_000);
        let _ = self.all.record(v);
        let _ = self.per_second.entry(second).or_insert_with(hist).record(v);
    }
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

fn pct(h: &Histogram<u64>) -> Percentiles {
    let ms = |v: u64| v as f64 / 1000.0;
    Percentiles {
        count: h.len(),
        p50_ms: ms(h.value_at_quantile(0.50)),
        p99_ms: ms(h.value_at_quantile(0.99)),
        p999_ms: ms(h.value_at_quantile(0.999)),
        max_ms: ms(h.max()),
    }
}

/// Shared by every task of the run. Std `Mutex`es: each holds a histogram insert.
pub struct Stats {
    pub start: Instant,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub hinted: AtomicU64,
    pub notified: AtomicU64,
    pub replies: AtomicU64,
    pub replies_delivered: AtomicU64,
    /// Acknowledged messages the server stored `sent` (no room to hint).
    pub not_routed: AtomicU64,
    /// Event sockets the server closed while the run still listened.
    pub sockets_closed: AtomicU64,
    /// Sockets opened again with `?after=<last seq>`.
    pub resumes: AtomicU64,
    /// Frames received on a resumed socket at or below the seq it had seen when it was
    /// closed plus the frames replayed: counted as they come, per resume.
    pub replayed: AtomicU64,
    /// Hints that reached a doorplate on a resumed socket.
    pub hints_after_resume: AtomicU64,
    /// `resync` frames: the gap was too old to replay.
    pub resyncs: AtomicU64,
    /// State reloads over REST after a `resync`.
    pub reloads: AtomicU64,
    /// Frames whose seq skipped numbers without a `resync` (lost unseen).
    pub seq_gaps: AtomicU64,
    /// Set when the run stops listening: a socket closing then is not an error.
    pub stopping: AtomicBool,
    series: Mutex<BTreeMap<&'static str, Series>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            start: Instant::now(),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            hinted: AtomicU64::new(0),
            notified: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            replies_delivered: AtomicU64::new(0),
            not_routed: AtomicU64::new(0),
            sockets_closed: AtomicU64::new(0),
            resumes: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            hints_after_resume: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            seq_gaps: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            series: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records a latency of `name` measured at `at`.
    pub fn latency(&self, name: &'static str, at: Instant, micros: u64) {
        let second = at.saturating_duration_since(self.start).as_secs();
        self.series
            .lock()
            .unwrap()
            .entry(name)
            .or_insert_with(Series::new)
            .record(second, micros);
    }

    pub fn error(&self, kind: impl Into<String>) {
        self.errors_add(kind, 1);
    }

    /// Counts `n` errors of one kind (`n` may be 0: the kind still shows, as 0).
    pub fn errors_add(&self, kind: impl Into<String>, n: u64) {
        *self.errors.lock().unwrap().entry(kind.into()).or_default() += n;
    }

    /// All errors so far.
    pub fn error_count(&self) -> u64 {
        self.errors.lock().unwrap().values().sum()
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().unwrap().clone()
    }

    pub fn percentiles(&self) -> BTreeMap<String, Percentiles> {
        self.series
            .lock()
            .unwrap()
            .iter()
            .map(|(k, s)| (k.to_string(), pct(&s.all)))
            .collect()
    }

    /// (second, p50 ms, p99 ms) of a series, for the chart.
    pub fn timeline(&self, name: &str) -> Vec<Point> {
        self.series
            .lock()
            .unwrap()
            .get(name)
            .map(|s| {
                s.per_second
                    .iter()
                    .map(|(sec, h)| {
                        (
                            *sec,
                            h.value_at_quantile(0.5) as f64 / 1000.0,
                            h.value_at_quantile(0.99) as f64 / 1000.0,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn count(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// One point of a timeline: (second, p50 ms, p99 ms).
pub type Point = (u64, f64, f64);

/// An SVG chart of p50 and p99 latency per second for the given series.
pub fn chart(stats: &Stats, names: &[&str], title: &str) -> String {
    let (w, h, pad) = (900.0, 420.0, 60.0);
    let lines: Vec<(&str, Vec<Point>)> = names.iter().map(|n| (*n, stats.timeline(n))).collect();
    let max_x = lines
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.0))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let max_y = lines
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.2))
        .fold(1.0f64, f64::max)
        * 1.1;
    let x = |s: f64| pad + s / max_x * (w - 2.0 * pad);
    let y = |ms: f64| h - pad - ms / max_y * (h - 2.0 * pad);
    let colours = ["#2563eb", "#16a34a", "#dc2626", "#9333ea"];
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="{pad}" y="24" font-size="16">{title}</text>
<line x1="{pad}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#999"/><line x1="{pad}" y1="{pad}" x2="{pad}" y2="{y0}" stroke="#999"/>
<text x="{xm}" y="{yl}" text-anchor="middle">seconds into the run</text>
<text x="14" y="{ym}" transform="rotate(-90 14 {ym})" text-anchor="middle">latency (ms)</text>
"##,
        y0 = h - pad,
        x1 = w - pad,
        xm = w / 2.0,
        yl = h - 15.0,
        ym = h / 2.0
    );
    for i in 0..=4 {
        let v = max_y * i as f64 / 4.0;
        svg += &format!(
            r##"<line x1="{pad}" y1="{yy:.1}" x2="{x2}" y2="{yy:.1}" stroke="#eee"/><text x="{tx}" y="{ty:.1}" text-anchor="end">{v:.1}</text>"##,
            yy = y(v),
            x2 = w - pad,
            tx = pad - 6.0,
            ty = y(v) + 4.0
        );
    }
    for (i, (name, pts)) in lines.iter().enumerate() {
        let c = colours[i % colours.len()];
        for (q, dash) in [(1usize, ""), (2usize, " stroke-dasharray=\"5 3\"")] {
            let path: Vec<String> = pts
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.0 as f64), y(if q == 1 { p.1 } else { p.2 })))
                .collect();
            svg += &format!(
                r##"<polyline fill="none" stroke="{c}" stroke-width="1.6"{dash} points="{}"/>"##,
                path.join(" ")
            );
        }
        svg += &format!(
            r##"<rect x="{}" y="{}" width="12" height="3" fill="{c}"/><text x="{}" y="{}">{name}: p50 solid, p99 dashed</text>"##,
            w - 330.0,
            40.0 + i as f64 * 18.0,
            w - 312.0,
            45.0 + i as f64 * 18.0
        );
    }
    svg + "</svg>\n"
}
