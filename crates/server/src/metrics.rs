//! Prometheus metrics: what `serve --metrics-listen ADDR` shows at `/metrics`, every name
//! prefixed `doorplate_`.
//!
//! Memory stays constant when nobody scrapes: every series is a counter, a gauge or a
//! histogram with fixed buckets (a few atomics each), never a summary or a list of
//! samples, and the label values come from closed sets — a route is axum's template
//! (`/api/v1/conversations/{id}/messages`, never a path with ids in it), a method is one
//! of the usual seven or `other`, a status is its class (`2xx`), a school is a hosted
//! slug. No label ever carries a message, a name, a username or a token.
//!
//! Counters and the socket gauges are kept as things happen (an atomic add on the hot
//! path); the gauges of state that lives elsewhere (presences, personal sessions,
//! schools hosted) are read when a scrape comes, through a reader the server gives.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorplate_domain::presence::PresenceSource;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Request latency buckets, seconds: 0.5 ms to 10 s.
const LATENCY: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Commit latency buckets, seconds: a disk sync costs about 1 ms here.
const COMMIT: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024,
];
/// Batch size buckets, writes per commit: 1 to the writer's most (2048).
const BATCH: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
];

type Buckets = fn() -> Histogram;

fn latency() -> Histogram {
    Histogram::new(LATENCY)
}
fn commit() -> Histogram {
    Histogram::new(COMMIT)
}
fn batch() -> Histogram {
    Histogram::new(BATCH)
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SchoolLabel {
    school: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    school: String,
    method: &'static str,
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    school: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    school: String,
    source: &'static str,
}

/// Every series of the process, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    // No school label on the latency histogram: its buckets times the routes times the
    // schools would grow with the district; the request counter says which school.
    durations: Family<RouteLabels, Histogram, Buckets>,
    messages: Family<SchoolLabel, Counter>,
    hints: Family<SchoolLabel, Counter>,
    sockets: Family<KindLabels, Gauge>,
    presences: Family<SourceLabels, Gauge>,
    sessions: Family<SchoolLabel, Gauge>,
    throttled: Family<KindLabels, Counter>,
    commits: Family<SchoolLabel, Histogram, Buckets>,
    batches: Family<SchoolLabel, Histogram, Buckets>,
    queue: Family<SchoolLabel, Gauge>,
    schools: Gauge,
    /// The request label sets each school has counted under, so that its series can be
    /// removed when it is no longer hosted (`Family` cannot be searched by one label).
    routes_seen: Mutex<HashMap<String, RoutesSeen>>,
    /// One scrape at a time: a scrape clears and refills the gauges it reads.
    scraping: Mutex<()>,
}

/// A school's request label sets (added the first time each is counted, read when the
/// school goes). A `RwLock`: every request reads it, only a new route writes.
type RoutesSeen = Arc<RwLock<HashSet<RequestLabels>>>;

/// The kinds of event socket (`live_sockets`), and of throttle budget.
const SOCKET_KINDS: [&str; 3] = ["device", "user", "session"];
const THROTTLE_KINDS: [&str; 6] = ["account", "doorplate", "probe", "client", "pairing", "pairing_locked"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::with_prefix("doorplate"),
            requests: Family::default(),
            durations: Family::new_with_constructor(latency),
            messages: Family::default(),
            hints: Family::default(),
            sockets: Family::default(),
            presences: Family::default(),
            sessions: Family::default(),
            throttled: Family::default(),
            commits: Family::new_with_constructor(commit),
            batches: Family::new_with_constructor(batch),
            queue: Family::default(),
            schools: Gauge::default(),
            routes_seen: Mutex::new(HashMap::new()),
            scraping: Mutex::new(()),
        };
        let mut r = m.registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by school, method, route template and status class",
            m.requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (to its response head), by method and route template",
            m.durations.clone(),
        );
        r.register(
            "messages_stored",
            "Messages stored (new, not repeated client ids)",
            m.messages.clone(),
        );
        r.register(
            "hints_sent",
            "Doorplate hints sent (notify.new_message: a count and a name, never content)",
            m.hints.clone(),
        );
        r.register(
            "live_sockets",
            "Open event sockets, by kind: device (a doorplate), user (a login), session (a personal session at a doorplate)",
            m.sockets.clone(),
        );
        r.register(
            "presences",
            "Presences in the live table (a student at a doorplate), by source",
            m.presences.clone(),
        );
        r.register(
            "personal_sessions",
            "Personal sessions open on doorplates",
            m.sessions.clone(),
        );
        r.register(
            "throttled_attempts",
            "Credential attempts refused by a throttle, by the budget that ran out",
            m.throttled.clone(),
        );
        r.register(
            "store_commit_seconds",
            "Time from a write batch's BEGIN to its COMMIT (the writes' work and the disk sync)",
            m.commits.clone(),
        );
        r.register(
            "store_batch_size",
            "Writes committed together in one transaction",
            m.batches.clone(),
        );
        r.register(
            "store_writer_queue",
            "Writes waiting for the database writer",
            m.queue.clone(),
        );
        r.register("schools_hosted", "Schools this process hosts", m.schools.clone());
        Metrics { registry: r, ..m }
    }

    /// The handles one school counts with.
    pub fn school(&self, slug: &str) -> SchoolMetrics {
        let school = SchoolLabel { school: slug.into() };
        let kind = |kind| KindLabels {
            school: slug.into(),
            kind,
        };
        let socket = |k| self.sockets.get_or_create(&kind(k)).clone();
        let throttle = |k| self.throttled.get_or_create(&kind(k)).clone();
        let seen = self
            .routes_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(slug.to_string())
            .or_default()
            .clone();
        SchoolMetrics {
            slug: slug.into(),
            requests: Some(RequestSeries {
                counts: self.requests.clone(),
                durations: self.durations.clone(),
                seen,
            }),
            messages_stored: self.messages.get_or_create(&school).clone(),
            hints_sent: self.hints.get_or_create(&school).clone(),
            sockets: SocketGauges {
                device: socket("device"),
                user: socket("user"),
                session: socket("session"),
            },
            throttled: ThrottleCounters {
                account: throttle("account"),
                doorplate: throttle("doorplate"),
                probe: throttle("probe"),
                client: throttle("client"),
                pairing: throttle("pairing"),
                pairing_locked: throttle("pairing_locked"),
            },
            writer: Arc::new(WriterMetrics {
                commit: self.commits.get_or_create(&school).clone(),
                batch: self.batches.get_or_create(&school).clone(),
                queue: self.queue.get_or_create(&school).clone(),
            }),
        }
    }

    /// Removes every series labelled with the school `slug` (it is no longer hosted), so
    /// a scrape stops showing it. The request latency histogram has no school label and
    /// stays. Call it once the school has stopped: a request still counted afterwards
    /// would make its series again.
    pub fn forget(&self, slug: &str) {
        let school = SchoolLabel { school: slug.into() };
        self.messages.remove(&school);
        self.hints.remove(&school);
        self.sessions.remove(&school);
        self.commits.remove(&school);
        self.batches.remove(&school);
        self.queue.remove(&school);
        for kind in SOCKET_KINDS {
            self.sockets.remove(&KindLabels {
                school: slug.into(),
                kind,
            });
        }
        for kind in THROTTLE_KINDS {
            self.throttled.remove(&KindLabels {
                school: slug.into(),
                kind,
            });
        }
        for source in SOURCES {
            self.presences.remove(&SourceLabels {
                school: slug.into(),
                source: source.as_str(),
            });
        }
        let seen = self.routes_seen.lock().unwrap_or_else(|e| e.into_inner()).remove(slug);
        if let Some(seen) = seen {
            for labels in seen.read().unwrap_or_else(|e| e.into_inner()).iter() {
                self.requests.remove(labels);
            }
        }
    }

    /// The Prometheus text (OpenMetrics) of every series, with the gauges read now
    /// (`hosted`: one reading per school this process hosts).
    pub fn scrape(&self, hosted: &[SchoolGauges]) -> String {
        let _one = self.scraping.lock().unwrap_or_else(|e| e.into_inner());
        self.schools.set(hosted.len() as i64);
        // Cleared and refilled: a school no longer hosted leaves no stale series.
        self.presences.clear();
        self.sessions.clear();
        for h in hosted {
            let slug = &h.slug;
            let by_source = h.presences;
            for source in SOURCES {
                let labels = SourceLabels {
                    school: slug.clone(),
                    source: source.as_str(),
                };
                self.presences
                    .get_or_create(&labels)
                    .set(by_source[source_index(source)]);
            }
            self.sessions
                .get_or_create(&SchoolLabel { school: slug.clone() })
                .set(h.sessions);
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// What a scrape reads of one hosted school at that moment.
pub struct SchoolGauges {
    pub slug: String,
    /// Presences by source, in the order of `SOURCES`.
    presences: [i64; 4],
    pub sessions: i64,
}

impl SchoolGauges {
    /// Counts a school's presences by source and its open personal sessions.
    pub fn read(slug: &str, presences: impl Iterator<Item = PresenceSource>, sessions: usize) -> SchoolGauges {
        let mut by_source = [0i64; 4];
        for source in presences {
            by_source[source_index(source)] += 1;
        }
        SchoolGauges {
            slug: slug.to_string(),
            presences: by_source,
            sessions: sessions as i64,
        }
    }
}

/// Reads every hosted school's gauges (given by whoever knows the schools).
pub type ReadGauges = Arc<dyn Fn() -> Vec<SchoolGauges> + Send + Sync>;

const SOURCES: [PresenceSource; 4] = [
    PresenceSource::Active,
    PresenceSource::Timetable,
    PresenceSource::TeacherNow,
    PresenceSource::TeacherAdvance,
];

fn source_index(s: PresenceSource) -> usize {
    match s {
        PresenceSource::Active => 0,
        PresenceSource::Timetable => 1,
        PresenceSource::TeacherNow => 2,
        PresenceSource::TeacherAdvance => 3,
    }
}

/// One school's handles: cloned counters and gauges (each an `Arc` of an atomic) bound
/// to its label, so counting costs an atomic add. The default counts into series that
/// no registry shows (a school opened outside `serve`, by a command or a unit test).
#[derive(Clone, Default)]
pub struct SchoolMetrics {
    slug: String,
    requests: Option<RequestSeries>,
    pub messages_stored: Counter,
    pub hints_sent: Counter,
    pub sockets: SocketGauges,
    pub throttled: ThrottleCounters,
    pub writer: Arc<WriterMetrics>,
}

/// The request counter and latency families (shared by every school).
#[derive(Clone)]
struct RequestSeries {
    counts: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, Buckets>,
    /// The label sets this school counted under (see [`Metrics::forget`]).
    seen: RoutesSeen,
}

/// Open event sockets by kind.
#[derive(Clone, Default)]
pub struct SocketGauges {
    pub device: Gauge,
    pub user: Gauge,
    pub session: Gauge,
}

/// Refused attempts, by the budget that refused them (`throttles::Key`).
#[derive(Clone, Debug, Default)]
pub struct ThrottleCounters {
    pub account: Counter,
    pub doorplate: Counter,
    pub probe: Counter,
    pub client: Counter,
    pub pairing: Counter,
    pub pairing_locked: Counter,
}

/// An open socket, counted while it lives.
pub struct SocketCount(Gauge);

impl SocketCount {
    pub fn open(gauge: &Gauge) -> SocketCount {
        gauge.inc();
        SocketCount(gauge.clone())
    }
}

impl Drop for SocketCount {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The database writer's numbers (the store's hook, `WriterObserver`).
pub struct WriterMetrics {
    commit: Histogram,
    batch: Histogram,
    queue: Gauge,
}

impl Default for WriterMetrics {
    fn default() -> Self {
        WriterMetrics {
            commit: commit(),
            batch: batch(),
            queue: Gauge::default(),
        }
    }
}

impl doorplate_store::WriterObserver for WriterMetrics {
    fn queued(&self, delta: i64) {
        self.queue.inc_by(delta);
    }
    fn committed(&self, jobs: usize, took: Duration) {
        self.commit.observe(took.as_secs_f64());
        self.batch.observe(jobs as f64);
    }
}

/// A closed set of methods: anything else is `other`, so a client inventing methods
/// cannot add series.
fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Middleware on a school's router (inside the routing, so axum's `MatchedPath` is
/// there): counts each request by route template and status class and times it.
pub async fn track(State(m): State<SchoolMetrics>, req: Request, next: Next) -> Response {
    let Some(series) = &m.requests else {
        return next.run(req).await;
    };
    let method = method_label(req.method());
    // A path no route matched is `unmatched`: its text is the client's, not ours.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let took = started.elapsed().as_secs_f64();
    let labels = RequestLabels {
        school: m.slug.clone(),
        method,
        route: route.clone(),
        status: status_class(res.status().as_u16()),
    };
    // The usual case takes read locks only; a label set seen for the first time is
    // also noted for `Metrics::forget`.
    let counted = series.counts.get(&labels).map(|c| c.inc()).is_some();
    if !counted {
        series.counts.get_or_create(&labels).inc();
        series.seen.write().unwrap_or_else(|e| e.into_inner()).insert(labels);
    }
    series
        .durations
        .get_or_create(&RouteLabels { method, route })
        .observe(took);
    res
}

/// Serves the metrics on `listener` (bound by the caller, who can report the address)
/// until `stop` turns `true`.
pub fn start(
    listener: &std::net::TcpListener,
    metrics: Arc<Metrics>,
    gauges: ReadGauges,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = listener.try_clone()?;
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(tokio::spawn(serve(listener, metrics, gauges, stop)))
}

/// Serves `GET /metrics` on its own listener until `stop` turns `true`.
async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    gauges: ReadGauges,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (metrics, gauges) = (metrics.clone(), gauges.clone());
            async move {
                let text = metrics.scrape(&gauges());
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    text,
                )
                    .into_response()
            }
        }),
    );
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(stopped).await {
        tracing::error!(error = %e, "the metrics listener failed");
    }
}
