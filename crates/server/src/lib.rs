//! The Doorplate server: the HTTP/WebSocket API, the live hub, and the three web faces.
//!
//! [`run`] takes a bound listener and a shutdown future, so the tests start exactly what
//! production starts.

pub mod api;
pub mod auth;
pub mod backup;
pub mod client;
pub mod crypto;
pub mod district;
pub mod error;
pub mod hub;
pub mod layers;
pub mod metrics;
pub mod origin;
pub mod push;
pub mod ready;
pub mod revocation;
pub mod school;
pub mod serve;
pub mod sessions;
pub mod sharded;
pub mod storage;
pub mod throttles;
pub mod time;
pub mod uploads;
pub mod views;
pub mod web;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use district::catalog::{self, Catalog};
use district::{District, Hosted};
use ready::readyz;
use school::clock;
use school::{AppState, HostedSchool};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the server keeps its data, and how it meets its clients.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data folder: `doorplate.db` (SQLite), `media/`, and `secret.key`.
    pub data_dir: PathBuf,
    /// Below this many free bytes in the data folder, uploads are refused (507) and
    /// `/readyz` answers 503: the database needs room to keep working.
    pub min_free_bytes: u64,
    /// Per-user upload rate and quota of uploads no message carries yet.
    pub uploads: doorplate_domain::uploads::UploadPolicy,
    /// Timeouts, connection limits and the public URL.
    pub http: HttpConfig,
    /// The school the root paths serve; `None`: the data folder's own (root) school.
    pub default_school: Option<String>,
    /// The schools in PostgreSQL instead of the data folder (which then keeps media).
    pub database: Option<catalog::Database>,
    /// The deployment's key; `None`: `secret.key` in the data folder.
    pub key_file: Option<PathBuf>,
    /// The TURN relay calls use (none: browsers connect directly).
    pub ice: school::IceConfig,
    /// A listener, already bound, for Prometheus metrics at `/metrics` (off: `None`).
    pub metrics_listener: Option<Arc<std::net::TcpListener>>,
    /// Daily backups of the whole data folder (`backup::schedule`); `None`: off.
    pub backups: Option<backup::schedule::Schedule>,
    /// This server's name in the district (`--name`; default: the host's name), and the
    /// URL the other servers reach it at (`--advertise`).
    pub server: ServerIdentity,
    /// Web Push: the operator's contact for push services and extra allowed hosts.
    pub push: push::PushConfig,
}

/// Who this server is among the servers of a district.
#[derive(Clone, Debug)]
pub struct ServerIdentity {
    /// Unique in the district; every answer carries it in `Doorplate-Served-By`.
    pub name: String,
    /// The base URL other servers forward requests to (`http://10.0.0.2:8080`);
    /// `None`: `http://` and the address the server listens on.
    pub advertise: Option<String>,
}

impl Default for ServerIdentity {
    fn default() -> Self {
        ServerIdentity {
            name: host_name(),
            advertise: None,
        }
    }
}

/// The machine's host name, or `doorplate` if it has none that is text.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many
    // bytes and we read up to the first NUL only.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "doorplate".to_string(),
    }
}

/// The default free-space floor: 64 MiB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 << 20;

impl Config {
    /// The defaults for a data folder.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            data_dir,
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
            uploads: Default::default(),
            http: HttpConfig::default(),
            default_school: None,
            database: None,
            key_file: None,
            ice: school::IceConfig::default(),
            metrics_listener: None,
            backups: None,
            server: ServerIdentity::default(),
            push: push::PushConfig::default(),
        }
    }
}

/// The HTTP edge: limits that keep slow or greedy clients from holding the server, and
/// the address people reach it at.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// The URL people open, e.g. `https://doorplate.example.org` behind a TLS proxy: its
    /// origin is ours (for the cookie's origin check), and `https` makes cookies `Secure`.
    pub public_url: Option<String>,
    /// A request head must arrive within this; an idle keep-alive connection is closed
    /// after it.
    pub header_timeout: Duration,
    /// A request body that sends nothing for this long is ended (408).
    pub body_timeout: Duration,
    /// Open connections one client address may hold (event sockets included); 0 turns
    /// the limit off. Connections from a trusted proxy are not capped.
    pub max_connections_per_ip: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`client.rs`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            public_url: None,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(30),
            max_connections_per_ip: 256,
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data folder {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("database: {0}")]
    Store(#[from] doorplate_store::StoreError),
    #[error("public URL: {0}")]
    PublicUrl(String),
    #[error("schools: {0}")]
    Catalog(#[from] district::catalog::CatalogError),
    #[error("the default school {0:?} is not one of this data folder's schools")]
    NoDefault(String),
    #[error("metrics listener: {0}")]
    Metrics(std::io::Error),
    #[error("another server named {0:?} is running on this database (at {1}); give each server its own --name")]
    NameTaken(String, String),
}

/// Makes the data folder private (messages, media and the key are the server user's
/// alone) and loads the deployment's key, creating it on first start.
pub fn open_data_dir(config: &Config) -> Result<crypto::Secrets, StartError> {
    let dir = &config.data_dir;
    let key = config.key_file.clone().unwrap_or_else(|| dir.join("secret.key"));
    let private = || {
        storage::private_dir(dir)?;
        storage::private_file(&key)
    };
    private().map_err(|e| StartError::DataDir(dir.to_path_buf(), e))?;
    crypto::Secrets::load_or_create_at(&key).map_err(|e| StartError::DataDir(key.clone(), e))
}

/// Opens the data folder's root school (the one a one-school install has) on the given
/// clock, with nothing running yet.
pub async fn open_app(
    config: &Config,
    clock: Arc<dyn clock::Clock>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<AppState, StartError> {
    let master = open_data_dir(config)?;
    let catalog = Catalog::open(&config.data_dir, config.database.as_ref()).await?;
    let root = catalog.get(config.default_school.as_deref()).await?;
    let hosting = Hosting {
        metrics: metrics::SchoolMetrics::default(),
        lease: None,
    };
    open_school(config, &catalog, &root, &master, clock, shutdown, hosting).await
}

/// How this process hosts a school: the counters its requests and writer feed, and on a
/// district of several servers the lease it holds (its writes are fenced by it).
struct Hosting {
    metrics: metrics::SchoolMetrics,
    lease: Option<district::hosts::Granted>,
}

/// Opens one school: its store, media folder and key.
async fn open_school(
    config: &Config,
    catalog: &Catalog,
    entry: &catalog::Entry,
    master: &crypto::Secrets,
    clock: Arc<dyn clock::Clock>,
    shutdown: tokio::sync::watch::Receiver<bool>,
    hosting: Hosting,
) -> Result<AppState, StartError> {
    let Hosting { metrics, lease } = hosting;
    let dir = catalog.dir_of(entry);
    let media = dir.join("media");
    let private = || {
        storage::private_dir(&dir)?;
        storage::private_dir(&media)
    };
    private().map_err(|e| StartError::DataDir(dir.clone(), e))?;
    storage::tidy_media_dir(&media);
    let opened = match lease {
        Some(lease) => {
            catalog
                .open_school_fenced(entry, lease.epoch, lease.on_fenced, metrics.writer.clone())
                .await?
        }
        None => catalog.open_school(entry, Some(metrics.writer.clone())).await?,
    };
    // Uploads a crash cut short: nothing names them (no upload of this school is in
    // flight while it is being hosted).
    match opened.media.tidy(doorplate_domain::Micros::MAX).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(school = %entry.info.slug, removed = n, "removed uploads a crash interrupted"),
        Err(e) => tracing::warn!(school = %entry.info.slug, error = %e, "tidying interrupted uploads failed"),
    }
    let secrets = catalog
        .secrets_of(entry, master)
        .map_err(|e| StartError::DataDir(dir.join(district::catalog::KEY_FILE), e))?;
    let mut app = HostedSchool::new(clock, opened.store, secrets, media, opened.media, shutdown, metrics).await?;
    app.min_free_bytes = config.min_free_bytes;
    app.uploads = uploads::Uploads::new(config.uploads);
    app.school = entry.info.clone();
    app.ice = config.ice.clone();
    app.push
        .configure(config.push.clone(), config.http.public_url.as_deref());
    Ok(Arc::new(app))
}

/// Opens a school and starts it: its router, engine and sweeper.
async fn host(
    config: &Config,
    catalog: &Catalog,
    entry: &catalog::Entry,
    master: &crypto::Secrets,
    clock: Arc<dyn clock::Clock>,
    metrics: &metrics::Metrics,
    lease: Option<district::hosts::Granted>,
) -> Result<Arc<Hosted>, StartError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let counted = metrics.school(&entry.info.slug);
    let guard = lease.as_ref().map(|l| l.guard.clone());
    let hosting = Hosting {
        metrics: counted,
        lease,
    };
    let app = open_school(config, catalog, entry, master, clock, stopped, hosting).await?;
    let backups = api::backups::BackupDir(config.backups.as_ref().map(|b| b.dir.clone()));
    let district_tables = api::district::DistrictTables(catalog.pg_district().cloned());
    let mut router = router(app.clone(), &config.http)?
        .layer(axum::Extension(backups))
        .layer(axum::Extension(district_tables));
    if let Some(guard) = guard {
        router = router.layer(middleware::from_fn_with_state(guard, district::hosts::guard_requests));
    }
    app.reload_admins().await;
    let mut info = entry.info.clone();
    // The school's settings hold its zone; the catalog's copy may be older.
    info.timezone = app.settings().timezone.clone();
    let hosted = Arc::new(Hosted::new(info, app.clone(), router, stop));
    hosted.track(tokio::spawn(sweep(app.clone())));
    hosted.track(tokio::spawn(push::sender::run(app.clone())));
    hosted.track(tokio::spawn(school::engine::run(
        app.engine.clone(),
        app.shutdown.clone(),
    )));
    tracing::info!(school = %entry.info.slug, "school hosted");
    Ok(hosted)
}

/// Serves until `shutdown` completes, then closes every socket and returns.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_on_clock(listener, config, Arc::new(clock::SystemClock), shutdown).await
}

/// [`run`] on a given clock: tests pass a `ManualClock` and move time by hand.
pub async fn run_on_clock(
    listener: tokio::net::TcpListener,
    config: Config,
    clock: Arc<dyn clock::Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    run_with(listener, config, clock, shutdown, |_| {}).await
}

/// What the process around the server may ask of it once every school is open: whether
/// every school's writer still commits (the systemd watchdog feeds on it).
#[derive(Clone)]
pub struct Control {
    district: Arc<District>,
}

impl Control {
    /// Writes a heartbeat through every hosted school's writer; `Err` names the first
    /// school whose store cannot write, and why (a database that cannot be reached is
    /// not counted: a restart would not bring it back, and the server recovers by
    /// itself when it returns).
    pub async fn writers_alive(&self) -> Result<(), String> {
        for hosted in self.district.all() {
            if let Some(problem) = ready::store_problem_for_restart(&hosted.app).await {
                return Err(format!("school {}: {problem}", hosted.info.slug));
            }
        }
        Ok(())
    }

    /// Where the schools other servers host are (the lease keeper fills it; tests set it).
    pub fn placement(&self) -> Arc<district::placement::Placement> {
        self.district.placement().clone()
    }

    /// Replaces the per-user upload limits of every hosted school (and of schools
    /// hosted from now on: they copy the default school's).
    pub fn set_upload_policy(&self, policy: doorplate_domain::uploads::UploadPolicy) {
        for hosted in self.district.all() {
            hosted.app.uploads.set_policy(policy);
        }
    }
}

/// [`run_on_clock`], calling `started` once every school is open and the server is about
/// to accept connections (the moment to tell systemd it is ready).
pub async fn run_with(
    listener: tokio::net::TcpListener,
    config: Config,
    clock: Arc<dyn clock::Clock>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    started: impl FnOnce(Control) + Send,
) -> Result<(), StartError> {
    let master = open_data_dir(&config)?;
    let catalog = Catalog::open(&config.data_dir, config.database.as_ref()).await?;
    let entries = catalog.list().await?;
    let default = match &config.default_school {
        Some(slug) => slug.clone(),
        None => entries[0].info.slug.clone(),
    };
    if !entries.iter().any(|e| e.info.slug == default) {
        return Err(StartError::NoDefault(default));
    }
    let forwarder = district::forward::Forwarder::new(&config.server.name, &master);
    let district = Arc::new(District::new(default, forwarder));
    let metrics = Arc::new(metrics::Metrics::new());
    let keeper = match &catalog {
        // Several servers may share the database: this one hosts the schools it holds
        // the lease of (district/hosts.rs), and takes its share before it serves.
        Catalog::Postgres { .. } => {
            let url = match &config.server.advertise {
                Some(u) => u.trim_end_matches('/').to_string(),
                None => format!(
                    "http://{}",
                    listener
                        .local_addr()
                        .map_err(|e| StartError::DataDir(config.data_dir.clone(), e))?
                ),
            };
            let opener: district::hosts::Opener = {
                let (config, catalog, master, clock, metrics, district) = (
                    config.clone(),
                    catalog.clone(),
                    master.clone(),
                    clock.clone(),
                    metrics.clone(),
                    district.clone(),
                );
                Arc::new(move |entry, granted| {
                    let (mut config, catalog, master, clock, metrics) = (
                        config.clone(),
                        catalog.clone(),
                        master.clone(),
                        clock.clone(),
                        metrics.clone(),
                    );
                    // The upload limits in force now (a reload may have changed them).
                    if let Some(any) = district.all().first() {
                        config.uploads = any.app.uploads.policy();
                    }
                    Box::pin(
                        async move { host(&config, &catalog, &entry, &master, clock, &metrics, Some(granted)).await },
                    )
                })
            };
            let mut keeper = district::hosts::Keeper::start(
                district.clone(),
                catalog.clone(),
                &config.server.name,
                &url,
                opener,
                metrics.clone(),
            )
            .await?;
            keeper.pass().await;
            Some(keeper)
        }
        Catalog::Folder(_) => {
            for entry in &entries {
                let hosted = host(&config, &catalog, entry, &master, clock.clone(), &metrics, None).await?;
                district.insert(hosted);
            }
            None
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scraper = match &config.metrics_listener {
        Some(l) => {
            let hosted = district.clone();
            let gauges: metrics::ReadGauges = Arc::new(move || {
                hosted
                    .all()
                    .iter()
                    .map(|h| {
                        let sources = h.app.presence.all().into_iter().map(|p| p.source);
                        metrics::SchoolGauges::read(&h.info.slug, sources, h.app.sessions.count())
                    })
                    .collect()
            });
            Some(metrics::start(l, metrics.clone(), gauges, stop_rx.clone()).map_err(StartError::Metrics)?)
        }
        None => None,
    };
    // On PostgreSQL the lease keeper hosts schools made while the server runs; on a data
    // folder the folder is watched.
    let backup_catalog = catalog.clone();
    let health = keeper.as_ref().map(|k| k.health());
    let (watcher, keeper) = match keeper {
        Some(k) => (None, Some(tokio::spawn(k.run(stop_rx.clone())))),
        None => {
            let watch = watch_catalog(
                district.clone(),
                catalog,
                master,
                config.clone(),
                clock.clone(),
                metrics,
                stop_rx.clone(),
            );
            (Some(tokio::spawn(watch)), None)
        }
    };
    if let Some(schedule) = config.backups.clone() {
        let zone_of = district.clone();
        let zone = move || backup_zone(&zone_of);
        let key_file = config
            .key_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("secret.key"));
        let task = backup::schedule::run(backup_catalog, key_file, schedule, clock.clone(), zone, stop_rx.clone());
        tokio::spawn(task);
    }
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, data = %config.data_dir.display(), schools = ?district.slugs(), "doorplate serving");
    let limits = serve::ConnLimits {
        header_timeout: config.http.header_timeout,
        per_address: config.http.max_connections_per_ip,
        trusted_proxies: config.http.trusted_proxies.clone().into(),
        hop: Some(district.forwarder().hop_key().clone()),
        served_by: config.server.name.clone(),
    };
    let front = {
        let dispatch = district.clone();
        let front = axum::Router::new().fallback(move |req: Request| {
            let district = dispatch.clone();
            async move { district.dispatch(req).await }
        });
        match health {
            // A server of a district is ready or not by itself, whichever schools it
            // hosts: `/readyz` and `/healthz` are its own, never another server's.
            Some(health) => {
                let (district, healthz) = (district.clone(), district.clone());
                let draining = stop_rx.clone();
                front
                    .route(
                        "/readyz",
                        get(move || district::hosts::readyz(district.clone(), health.clone(), draining.clone())),
                    )
                    .route(
                        "/healthz",
                        get(move || {
                            let district = healthz.clone();
                            async move { district.forwarder().stamp("ok".into_response()) }
                        }),
                    )
            }
            None => front,
        }
    };
    started(Control {
        district: district.clone(),
    });
    let signal = district.clone();
    serve::serve(listener, front, limits, async move {
        shutdown.await;
        tracing::info!("shutting down: closing live sockets");
        let _ = stop_tx.send(true);
        for hosted in signal.all() {
            hosted.signal_stop();
        }
        signal.forwarder().close();
    })
    .await;
    // The forwarded event sockets close at their moments of the spread.
    district.forwarder().closed(Duration::from_secs(3)).await;
    if let Some(watcher) = watcher {
        let _ = watcher.await;
    }
    let keeper = match keeper {
        Some(k) => k.await.ok(),
        None => None,
    };
    if let Some(scraper) = scraper {
        let _ = scraper.await;
    }
    // Each school's engine and sweeper finish the pass they are in (a rollover half
    // applied would be redone at the next start, but there is no need to cut it short).
    let stopping: Vec<_> = district.all();
    futures_util::future::join_all(stopping.iter().map(|h| h.stop(DRAIN))).await;
    // Every acknowledged write is committed: the other servers may take the schools now.
    if let Some(keeper) = keeper {
        keeper.hand_over().await;
    }
    Ok(())
}

/// Every few seconds: hosts the schools added to the data folder since, and drops those
/// removed (their sockets close; requests for them get the unknown-school answer).
async fn watch_catalog(
    district: Arc<District>,
    catalog: Catalog,
    master: crypto::Secrets,
    config: Config,
    clock: Arc<dyn clock::Clock>,
    metrics: Arc<metrics::Metrics>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CATALOG_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let entries = match catalog.list().await {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "reading the schools failed");
                continue;
            }
        };
        for entry in &entries {
            if district.get(&entry.info.slug).is_some() {
                continue;
            }
            // The upload limits in force now (a reload may have changed them).
            let mut config = config.clone();
            if let Some(default) = district.get(district.default_slug()) {
                config.uploads = default.app.uploads.policy();
            }
            match host(&config, &catalog, entry, &master, clock.clone(), &metrics, None).await {
                Ok(hosted) => district.insert(hosted),
                Err(e) => tracing::error!(school = %entry.info.slug, error = %e, "hosting a new school failed"),
            }
        }
        for slug in district.slugs() {
            if slug != district.default_slug()
                && !entries.iter().any(|e| e.info.slug == slug)
                && let Some(hosted) = district.remove(&slug)
            {
                tracing::info!(school = %slug, "school removed: no longer hosted");
                hosted.stop(DRAIN).await;
                // Its series go too: a scrape shows the schools hosted, nothing stale.
                metrics.forget(&slug);
            }
        }
    }
}

/// Daily backups keep the default school's wall clock.
fn backup_zone(district: &District) -> jiff::tz::TimeZone {
    district
        .get(district.default_slug())
        .and_then(|h| jiff::tz::TimeZone::get(&h.app.settings().timezone).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC)
}

/// How often a running server looks for schools added to or removed from its data
/// folder.
const CATALOG_POLL: Duration = Duration::from_secs(2);

/// How long shutdown waits for the engine and the sweeper to finish their pass.
const DRAIN: Duration = Duration::from_secs(10);

/// The whole HTTP surface, with the layers that guard it.
pub fn router(app: AppState, http: &HttpConfig) -> Result<axum::Router, StartError> {
    let public = http
        .public_url
        .as_deref()
        .map(origin::origin_of)
        .transpose()
        .map_err(StartError::PublicUrl)?;
    let edge = Arc::new(layers::Edge {
        body_timeout: http.body_timeout,
        secure: public.as_deref().is_some_and(|o| o.starts_with("https://")),
    });
    let origins = Arc::new(origin::Origins { public });
    let counted = app.metrics.clone();
    let (api, doc) = api::router();
    let doc = Arc::new(doc);
    let router = api
        .route(
            "/api/v1/openapi.json",
            get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .fallback(|| async { error::ApiError::NotFound("no such endpoint".into()) })
        .merge(web::router())
        // Outermost last: the log sees every answer, the origin check runs before any
        // body is read, and the body timeout wraps the body the handlers read.
        .layer(middleware::from_fn_with_state(edge.clone(), layers::body_timeout))
        .layer(middleware::from_fn(layers::api_error_shape))
        .layer(middleware::from_fn_with_state(origins, origin::guard))
        .layer(middleware::from_fn_with_state(edge, layers::common_headers))
        // Outside the error shaping, which reads bodies and must see them plain.
        .layer(layers::compression())
        .layer(middleware::from_fn(log_request))
        .layer(middleware::from_fn_with_state(counted, metrics::track))
        .with_state(app);
    Ok(router)
}

/// One structured log line per request (debug level; errors are logged where they occur).
async fn log_request(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    tracing::debug!(%method, %path, status = res.status().as_u16(), micros = started.elapsed().as_micros() as u64, "request");
    res
}

/// Once a second: end idle personal sessions and presences whose window is over, and
/// forget old throttle entries. Once a minute: remove uploads no message took within an
/// hour. Once an hour (and at start): apply message retention.
async fn sweep(app: AppState) {
    let mut stop = app.shutdown.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seconds: u64 = 0;
    loop {
        // Armed before the work, so a move of the clock during it is not missed.
        let moved = clock::moved(app.clock.as_ref());
        tokio::pin!(moved);
        if seconds.is_multiple_of(3600) {
            apply_retention(&app).await;
        }
        let now = app.now();
        if seconds.is_multiple_of(60) {
            app.sweep_unattached(now).await;
        }
        seconds += 1;
        // Calls first: one still going on holds its session, which must not time out.
        app.calls.sweep().await;
        for ended in app.sessions.expire(now) {
            app.audit(
                Some(ended.user_id),
                "session.expired",
                Some(ended.user_id),
                serde_json::json!({"doorplate_id": ended.doorplate_id}),
            )
            .await;
            app.session_ended(ended, "idle");
        }
        app.arrivals.expire_presences().await;
        app.throttles.prune(now);
        if seconds.is_multiple_of(10) {
            // Replay covers a reconnect within minutes; older gaps get `resync`.
            app.hub.prune(Duration::from_secs(300));
        }
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut moved => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
pub mod demo;

/// Audit entries are kept this many days, or as long as the school keeps messages if
/// that is longer, so every stored message's trail (sent, read, sessions) is still
/// there. With message retention off (0 days), the audit is kept too.
const AUDIT_MIN_DAYS: u32 = 180;

/// Where retention cuts at `now`: (messages, audit), or `None` when the school keeps
/// messages forever (retention 0), and so the audit too.
fn retention_cutoffs(
    now: doorplate_domain::Micros,
    retention_days: u32,
) -> Option<(doorplate_domain::Micros, doorplate_domain::Micros)> {
    const DAY: i64 = 86_400_000_000;
    if retention_days == 0 {
        return None;
    }
    let audit_days = retention_days.max(AUDIT_MIN_DAYS);
    Some((now - i64::from(retention_days) * DAY, now - i64::from(audit_days) * DAY))
}

/// Deletes messages older than the school's retention (and uploads nothing refers to),
/// and audit entries older than `max(AUDIT_MIN_DAYS, retention)`.
async fn apply_retention(app: &AppState) {
    let days = app.settings().retention_days;
    let Some((cutoff, audit_cutoff)) = retention_cutoffs(app.now(), days) else {
        return;
    };
    match app.store.purge_before(cutoff).await {
        Ok(files) => {
            let removed = files.len();
            if let Err(e) = app.media_bytes.remove(files).await {
                tracing::warn!(error = %e, "removing the bytes of expired uploads failed");
            }
            if let Ok(counts) = app.store.unread_counts().await {
                app.unread.reset(counts);
            }
            tracing::info!(retention_days = days, media_removed = removed, "retention applied");
        }
        Err(e) => tracing::error!(error = %e, "retention failed"),
    }
    // Bytes of uploads cut short since the start (a lost connection whose clean-up
    // failed): older than any upload may take.
    if let Err(e) = app.media_bytes.tidy(app.now() - uploads::UNATTACHED_TTL).await {
        tracing::warn!(error = %e, "tidying interrupted uploads failed");
    }
    match app.store.purge_audit_before(audit_cutoff).await {
        Ok(n) => tracing::info!(removed = n, "audit retention applied"),
        Err(e) => tracing::error!(error = %e, "audit retention failed"),
    }
}

#[cfg(test)]
mod retention_tests {
    use super::*;

    #[test]
    fn audit_is_kept_180_days_or_as_long_as_messages_whichever_is_longer() {
        let day = 86_400_000_000;
        let now = 1_000 * day;
        assert_eq!(retention_cutoffs(now, 30), Some((now - 30 * day, now - 180 * day)));
        assert_eq!(retention_cutoffs(now, 365), Some((now - 365 * day, now - 365 * day)));
        assert_eq!(retention_cutoffs(now, 0), None, "messages kept forever: audit too");
    }
}
