//! The lease keeper: which schools this server hosts, when several servers share one
//! PostgreSQL database.
//!
//! At start the server claims its name ([`Keeper::start`]: a second live server with the
//! same `--name` is refused). Then, every [`RENEW`], one pass:
//! 1. say this server is alive, and renew the leases it holds (for [`LEASE`]); a school
//!    whose lease is no longer ours at the epoch we were granted is dropped at once;
//! 2. read every server and lease; take free or expired leases (`epoch + 1`) up to this
//!    server's fair share, `ceil(schools / live servers)`, and host those schools (a
//!    school free for longer than a lease is taken whatever the share: no school stays
//!    dark because the servers disagree for a moment on who is alive);
//! 3. give up the schools above the share gracefully — stop the school (its writes in
//!    flight finish), then free its lease — so a server that just joined takes them;
//! 4. write the [`Placement`](super::placement::Placement): the live holder of every
//!    school hosted elsewhere, `Moving` for a school no live server holds.
//!
//! A write refused by the fence (see `doorplate_store::postgres::Fence`) drops its school
//! at once, without waiting for the next pass. When the database cannot be reached the
//! leases cannot be renewed: once they may have run out, every school is dropped
//! (nothing stale is served) and `/readyz` says why; the next pass that reaches the
//! database takes the schools back. On SIGTERM [`Keeper::hand_over`] frees every lease
//! at once and marks the server stopped, so the others take the schools within one pass
//! instead of a lease's expiry.

use super::catalog::{Catalog, Entry};
use super::placement::{Peer, Place};
use super::{District, Hosted};
use crate::StartError;
use doorplate_store::StoreError;
use doorplate_store::postgres::leases::{DistrictView, Leases};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a lease lasts unless renewed.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often the keeper renews its leases and looks at the district.
pub const RENEW: Duration = Duration::from_secs(3);
/// A school given up (or dropped) may take this long to close its sockets and finish
/// its background pass.
const HANDOVER_DRAIN: Duration = Duration::from_secs(2);
/// Schools are dropped this long before their leases may have run out, when renewals
/// fail.
const MARGIN: Duration = Duration::from_secs(2);

/// [`LEASE`] in microseconds, as the lease tables count.
pub fn lease_micros() -> i64 {
    LEASE.as_micros() as i64
}

/// What a server that takes a school was granted: the lease epoch its writes are fenced
/// by, what to call when the fence refuses them, and the guard its requests pass.
#[derive(Clone)]
pub struct Granted {
    pub epoch: i64,
    pub on_fenced: Arc<dyn Fn() + Send + Sync>,
    pub guard: Arc<LeaseGuard>,
}

/// Whether this server's leases still hold by its own clock: moved on after every
/// renewal, read by every request of a school hosted here. The fence keeps a stale host
/// from writing; this keeps it from answering from memory — a process that was paused
/// wakes with its clock moved past its leases and answers 503 `school_moving` until
/// its keeper has renewed them (or dropped the schools it lost).
pub struct LeaseGuard {
    base: Instant,
    /// Milliseconds after `base` until which the leases hold.
    valid_until: std::sync::atomic::AtomicU64,
}

impl Default for LeaseGuard {
    fn default() -> Self {
        LeaseGuard {
            base: Instant::now(),
            valid_until: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl LeaseGuard {
    /// A renewal sent at `sent` succeeded: the leases hold until a lease after it (less a
    /// margin).
    fn renewed(&self, sent: Instant) {
        let until = (sent + LEASE - MARGIN).saturating_duration_since(self.base);
        self.valid_until
            .store(until.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the leases hold now.
    pub fn holds(&self) -> bool {
        (self.base.elapsed().as_millis() as u64) < self.valid_until.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A layer of every hosted school's router on a district: requests pass while the
/// leases hold (see [`LeaseGuard`]).
pub async fn guard_requests(
    axum::extract::State(guard): axum::extract::State<Arc<LeaseGuard>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if guard.holds() {
        next.run(req).await
    } else {
        crate::error::ApiError::SchoolMoving(
            "this server's lease on the school is being renewed or moved; try again in a moment".into(),
        )
        .into_response()
    }
}

/// Opens and starts a school this server was granted (`host()` in lib.rs).
pub type Opener = Arc<dyn Fn(Entry, Granted) -> BoxFuture<'static, Result<Arc<Hosted>, StartError>> + Send + Sync>;

/// What the keeper last learned of the database, for `/readyz`.
#[derive(Default)]
pub struct Health {
    problem: RwLock<Option<String>>,
}

impl Health {
    /// Why the district's database is not usable now, if it is not.
    pub fn problem(&self) -> Option<String> {
        self.problem.read().expect("health poisoned").clone()
    }

    fn set(&self, problem: Option<String>) {
        *self.problem.write().expect("health poisoned") = problem;
    }
}

/// This server's leases and the schools it hosts.
pub struct Keeper {
    district: Arc<District>,
    catalog: Catalog,
    leases: Leases,
    open: Opener,
    /// A school no longer hosted here leaves no series in the scrape.
    metrics: Arc<crate::metrics::Metrics>,
    /// This server's `--name` and the URL the others reach it at.
    name: String,
    url: String,
    /// New at every start: a lease is this process's, not just this name's.
    instance: String,
    /// The schools hosted here, with the epoch each was granted at.
    held: HashMap<String, i64>,
    /// When the last renewal that succeeded was sent: the leases hold until [`LEASE`]
    /// after it.
    renewed: Option<Instant>,
    fenced_tx: mpsc::UnboundedSender<(String, i64)>,
    fenced_rx: mpsc::UnboundedReceiver<(String, i64)>,
    health: Arc<Health>,
    guard: Arc<LeaseGuard>,
    /// Just after the next lease held elsewhere runs out, if that is before the next
    /// pass: a pass then takes it at once rather than up to [`RENEW`] later.
    wake_at: Option<tokio::time::Instant>,
}

impl Keeper {
    /// Claims this server's name. A name last used by a server that stopped, or that has
    /// been silent for longer than a lease, is taken over; one whose server still renews
    /// it (seen again while we wait, at most a lease) is refused.
    pub async fn start(
        district: Arc<District>,
        catalog: Catalog,
        name: &str,
        url: &str,
        open: Opener,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Result<Keeper, StartError> {
        let Catalog::Postgres { district: pg, .. } = &catalog else {
            unreachable!("leases are kept on PostgreSQL only");
        };
        let mut leases = pg.leases();
        let instance = crate::crypto::new_token("");
        let waited = Instant::now();
        let mut first_seen: Option<i64> = None;
        loop {
            match leases.register(name, url, &instance, lease_micros()).await? {
                None => break,
                Some(other) => {
                    let seen_again = first_seen.is_some_and(|s| s != other.last_seen);
                    if seen_again || waited.elapsed() > LEASE + RENEW {
                        return Err(StartError::NameTaken(name.to_string(), other.url));
                    }
                    if first_seen.is_none() {
                        tracing::warn!(name, other = %other.url, "a server with this name was seen lately; waiting to see whether it is still alive");
                        first_seen = Some(other.last_seen);
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        tracing::info!(name, url, "joined the district");
        let (fenced_tx, fenced_rx) = mpsc::unbounded_channel();
        Ok(Keeper {
            district,
            catalog,
            leases,
            open,
            metrics,
            name: name.to_string(),
            url: url.to_string(),
            instance,
            held: HashMap::new(),
            renewed: None,
            fenced_tx,
            fenced_rx,
            health: Arc::new(Health::default()),
            guard: Arc::new(LeaseGuard::default()),
            wake_at: None,
        })
    }

    /// What `/readyz` reads.
    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Passes every [`RENEW`] until `stop` turns true; returns the keeper for
    /// [`Keeper::hand_over`].
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) -> Keeper {
        let mut tick = tokio::time::interval(RENEW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await; // The first pass ran at start.
        enum Next {
            Pass,
            Fenced(String, i64),
            Stop,
        }
        loop {
            // Decided first, awaited after: the stop flag's guard is not held across a pass.
            let wake = self.wake_at.take();
            let expiry = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let next = tokio::select! {
                _ = tick.tick() => Next::Pass,
                _ = expiry => Next::Pass,
                Some((slug, epoch)) = self.fenced_rx.recv() => Next::Fenced(slug, epoch),
                _ = stop.wait_for(|s| *s) => Next::Stop,
            };
            match next {
                Next::Pass => self.pass().await,
                Next::Fenced(slug, epoch) => {
                    self.wake_at = wake;
                    if self.held.get(&slug) == Some(&epoch) {
                        self.drop_school(&slug, "another server took it over (a write was refused)");
                    }
                }
                Next::Stop => return self,
            }
        }
    }

    /// One pass (see the module's header); a failure is logged and kept for `/readyz`.
    pub async fn pass(&mut self) {
        let sent = Instant::now();
        match self.try_pass(sent).await {
            Ok(()) => self.health.set(None),
            Err(e) => {
                let problem = match &e {
                    StoreError::Unavailable(why) => format!(
                        "database: cannot be reached ({why}); writes are refused and no school is taken until it answers"
                    ),
                    other => format!("database: the district's leases could not be kept ({other})"),
                };
                tracing::error!(error = %e, "lease pass failed");
                self.health.set(Some(problem));
                let lapsing = self.renewed.is_none_or(|r| r.elapsed() + MARGIN >= LEASE);
                if lapsing && !self.held.is_empty() {
                    let slugs: Vec<String> = self.held.keys().cloned().collect();
                    for slug in slugs {
                        self.drop_school(&slug, "its lease could not be renewed in time");
                    }
                }
            }
        }
    }

    async fn try_pass(&mut self, sent: Instant) -> Result<(), StoreError> {
        let ttl = lease_micros();
        if !self.leases.heartbeat(&self.name, &self.url, &self.instance).await? {
            // Silent too long, and another process claimed the name: nothing held is ours.
            let slugs: Vec<String> = self.held.keys().cloned().collect();
            for slug in slugs {
                self.drop_school(&slug, "this server's name was claimed by another process");
            }
            if let Some(other) = self.leases.register(&self.name, &self.url, &self.instance, ttl).await? {
                return Err(StoreError::Internal(format!(
                    "another server named {:?} is running at {}",
                    self.name, other.url
                )));
            }
        }
        let renewed: HashMap<String, i64> = self
            .leases
            .renew(&self.name, &self.instance, ttl)
            .await?
            .into_iter()
            .collect();
        self.renewed = Some(sent);
        let lost: Vec<String> = self
            .held
            .iter()
            .filter(|(slug, epoch)| renewed.get(*slug) != Some(epoch))
            .map(|(slug, _)| slug.clone())
            .collect();
        for slug in lost {
            self.drop_school(&slug, "its lease was taken over");
        }
        // Only now, with the lost schools gone, may requests pass again.
        self.guard.renewed(sent);
        let unhosted: Vec<String> = renewed
            .keys()
            .filter(|s| !self.held.contains_key(*s))
            .cloned()
            .collect();
        for slug in unhosted {
            // Held but not hosted (a load that failed): let another server try.
            self.leases.release(&slug, &self.name, &self.instance).await?;
        }

        let view = self.leases.view().await?;
        let gone: Vec<String> = self
            .held
            .keys()
            .filter(|s| !view.leases.iter().any(|l| &l.slug == *s))
            .cloned()
            .collect();
        for slug in gone {
            self.drop_school(&slug, "it is no longer a school of the district");
            self.leases.release(&slug, &self.name, &self.instance).await?;
        }
        let live = view.servers.iter().filter(|s| view.is_live(s, ttl)).count().max(1);
        let share = view.leases.len().div_ceil(live);

        let free = |v: &DistrictView, held: &HashMap<String, i64>| -> Vec<(String, bool)> {
            v.leases
                .iter()
                .filter(|l| !held.contains_key(&l.slug) && (l.host.is_none() || l.expires_at < v.now))
                .map(|l| (l.slug.clone(), l.expires_at < v.now - ttl))
                .collect()
        };
        let mut candidates = free(&view, &self.held);
        // Servers prefer different schools, so they seldom race for the same one.
        candidates.sort_by_key(|(slug, _)| spread_key(slug, &self.name));
        for (slug, abandoned) in candidates {
            if self.held.len() < share || abandoned {
                self.take_and_host(&slug).await?;
            }
        }

        if self.held.len() > share {
            let mut mine: Vec<String> = self.held.keys().cloned().collect();
            mine.sort_by_key(|slug| std::cmp::Reverse(spread_key(slug, &self.name)));
            let give: Vec<String> = mine.into_iter().take(self.held.len() - share).collect();
            self.give_up(&give).await?;
        }

        self.write_placement(&view);
        // Wake when the first lease held elsewhere runs out, should its holder be gone.
        let next = view
            .leases
            .iter()
            .filter(|l| l.host.is_some() && !self.held.contains_key(&l.slug) && l.expires_at > view.now)
            .map(|l| l.expires_at - view.now)
            .min();
        self.wake_at = next
            .map(|micros| Duration::from_micros(micros as u64) + Duration::from_millis(50))
            .filter(|d| *d < RENEW)
            .map(|d| tokio::time::Instant::now() + d);
        Ok(())
    }

    /// Takes a free or expired lease and hosts the school; a school that cannot be
    /// loaded is freed again for another server.
    async fn take_and_host(&mut self, slug: &str) -> Result<(), StoreError> {
        let Some(epoch) = self
            .leases
            .take(slug, &self.name, &self.instance, lease_micros())
            .await?
        else {
            return Ok(());
        };
        let entry = match self.catalog.get(Some(slug)).await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(school = slug, error = %e, "reading a school to host failed");
                self.leases.release(slug, &self.name, &self.instance).await?;
                return Ok(());
            }
        };
        let tx = self.fenced_tx.clone();
        let fenced_slug = slug.to_string();
        let granted = Granted {
            epoch,
            on_fenced: Arc::new(move || {
                let _ = tx.send((fenced_slug.clone(), epoch));
            }),
            guard: self.guard.clone(),
        };
        let started = Instant::now();
        match (self.open)(entry, granted).await {
            Ok(hosted) => {
                self.district.insert(hosted);
                self.district.placement().set(slug, None);
                self.held.insert(slug.to_string(), epoch);
                tracing::info!(
                    school = slug,
                    epoch,
                    millis = started.elapsed().as_millis() as u64,
                    "took the school's lease and hosts it"
                );
            }
            Err(e) => {
                tracing::error!(school = slug, error = %e, "hosting a school failed; its lease is freed");
                self.leases.release(slug, &self.name, &self.instance).await?;
            }
        }
        Ok(())
    }

    /// Stops hosting a school at once: requests for it find it moving, its sockets close.
    fn drop_school(&mut self, slug: &str, why: &str) {
        self.held.remove(slug);
        self.district.placement().set(slug, Some(Place::Moving));
        if let Some(hosted) = self.district.remove(slug) {
            tracing::warn!(school = slug, why, "no longer hosting the school");
            tokio::spawn(async move { hosted.stop(HANDOVER_DRAIN).await });
        }
        self.metrics.forget(slug);
    }

    /// Hands schools over gracefully: each stops (its writes in flight finish), then its
    /// lease is freed with `epoch + 1` (nothing left behind can write after).
    async fn give_up(&mut self, slugs: &[String]) -> Result<(), StoreError> {
        let mut stopping = Vec::new();
        for slug in slugs {
            self.held.remove(slug);
            self.district.placement().set(slug, Some(Place::Moving));
            if let Some(hosted) = self.district.remove(slug) {
                stopping.push(hosted);
            }
        }
        futures_util::future::join_all(stopping.iter().map(|h| h.stop(HANDOVER_DRAIN))).await;
        for slug in slugs {
            self.metrics.forget(slug);
            self.leases.release(slug, &self.name, &self.instance).await?;
            tracing::info!(school = %slug, "handed the school over");
        }
        Ok(())
    }

    /// Where every school of the district not hosted here is, as `view` says (a slug
    /// the district does not list is left as it was).
    fn write_placement(&self, view: &DistrictView) {
        let ttl = lease_micros();
        let placement = self.district.placement();
        for l in &view.leases {
            if self.held.contains_key(&l.slug) {
                placement.set(&l.slug, None);
                continue;
            }
            let place = match view.live_holder(l, ttl) {
                Some(s) if s.name != self.name => Place::Peer(Peer {
                    name: s.name.clone(),
                    url: s.url.trim_end_matches('/').to_string(),
                }),
                _ => Place::Moving,
            };
            placement.set(&l.slug, Some(place));
        }
    }

    /// After the server stopped serving and its schools stopped (every acknowledged
    /// write committed): frees every lease and marks the server stopped, so the other
    /// servers take the schools at their next pass.
    pub async fn hand_over(mut self) {
        let slugs: Vec<String> = self.held.drain().map(|(s, _)| s).collect();
        for slug in &slugs {
            if let Err(e) = self.leases.release(slug, &self.name, &self.instance).await {
                tracing::error!(school = %slug, error = %e, "freeing the lease failed; it runs out by itself");
            }
        }
        match self.leases.stopped(&self.name, &self.instance).await {
            Ok(()) => tracing::info!(schools = slugs.len(), "handed every school over"),
            Err(e) => tracing::error!(error = %e, "could not mark this server stopped"),
        }
    }
}

/// An order of the schools that differs from server to server (FNV-1a of both names).
fn spread_key(slug: &str, server: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in slug.bytes().chain([0]).chain(server.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

/// `GET /readyz` of a server of a district: not while it shuts down, nor while its
/// database cannot be reached, nor while a school it hosts cannot write. A server that
/// hosts no school (more servers than schools) is ready: it forwards.
pub async fn readyz(
    district: Arc<District>,
    health: Arc<Health>,
    draining: tokio::sync::watch::Receiver<bool>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut problems: Vec<String> = Vec::new();
    if *draining.borrow() {
        problems.push("draining: the server is shutting down".into());
    }
    if let Some(p) = health.problem() {
        problems.push(p);
    }
    let hosted = district.all();
    let checks = hosted.iter().map(|h| crate::ready::store_problem(&h.app));
    for (h, p) in hosted.iter().zip(futures_util::future::join_all(checks).await) {
        if let Some(p) = p {
            problems.push(format!("school {}: {p}", h.info.slug));
        }
    }
    let slugs = district.slugs();
    let answer = if problems.is_empty() {
        (
            axum::http::StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ready", "schools": slugs})),
        )
            .into_response()
    } else {
        tracing::warn!(?problems, "not ready");
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "not_ready", "problems": problems, "schools": slugs})),
        )
            .into_response()
    };
    district.forwarder().stamp(answer)
}
