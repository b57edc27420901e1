//! The Doorplate server: the HTTP/WebSocket API, the live hub, and the three web faces.
//!
//! [`run`] takes a bound listener and a shutdown future, so the tests start exactly what
//! production starts.

pub mod api;
pub mod auth;
pub mod cache;
pub mod crypto;
pub mod error;
pub mod hub;
pub mod presence;
pub mod routing;
pub mod sessions;
pub mod sharded;
pub mod state;
pub mod throttles;
pub mod time;
pub mod views;
pub mod web;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use doorplate_store::sqlite::SqliteStore;
use state::{App, AppState, now_micros};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the server keeps its data.
#[derive(Clone, Debug)]
pub struct Config {
    /// The data folder: `doorplate.db` (SQLite), `media/`, and `secret.key`.
    pub data_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data folder {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("database: {0}")]
    Store(#[from] doorplate_store::StoreError),
    #[error("serving: {0}")]
    Serve(std::io::Error),
}

/// Opens the data folder and builds the application state.
pub async fn open_app(config: &Config, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<AppState, StartError> {
    let dir = &config.data_dir;
    let media = dir.join("media");
    std::fs::create_dir_all(&media).map_err(|e| StartError::DataDir(dir.clone(), e))?;
    let secrets = crypto::Secrets::load_or_create(dir).map_err(|e| StartError::DataDir(dir.clone(), e))?;
    let store = SqliteStore::open(&dir.join("doorplate.db"))?;
    Ok(Arc::new(App::new(Arc::new(store), secrets, media, shutdown).await?))
}

/// Serves until `shutdown` completes, then closes every socket and returns.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let app = open_app(&config, stop_rx).await?;
    app.reload_admins().await;
    let sweeper = tokio::spawn(sweep(app.clone()));
    let engine = tokio::spawn(schedule::run_engine(app.clone()));
    let router = router(app.clone());
    let addr = listener.local_addr().ok();
    tracing::info!(addr = ?addr, data = %config.data_dir.display(), "doorplate serving");
    // No Nagle: an event is often two small frames in a row (a message, then its
    // status); waiting for the first one's ACK cost 40 ms at the tail.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: closing live sockets");
            let _ = stop_tx.send(true);
        })
        .await
        .map_err(StartError::Serve)?;
    sweeper.abort();
    engine.abort();
    Ok(())
}

/// The whole HTTP surface.
pub fn router(app: AppState) -> axum::Router {
    let (api, doc) = api::router();
    let doc = Arc::new(doc);
    api.route(
        "/api/v1/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
    .route("/healthz", get(|| async { "ok" }))
    .route("/readyz", get(readyz))
    .fallback(|| async { error::ApiError::NotFound("no such endpoint".into()) })
    .merge(web::router())
    .layer(middleware::from_fn(log_request))
    .with_state(app)
}

/// GET /readyz — 200 when the store answers.
async fn readyz(State(app): State<AppState>) -> Response {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
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
/// forget old throttle entries. Once an hour (and at start): apply message retention.
async fn sweep(app: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seconds: u64 = 0;
    loop {
        tick.tick().await;
        if seconds.is_multiple_of(3600) {
            apply_retention(&app).await;
        }
        seconds += 1;
        let now = now_micros();
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
        app.expire_presences().await;
        app.throttles.prune(now);
        if seconds.is_multiple_of(10) {
            // Replay covers a reconnect within minutes; older gaps get `resync`.
            app.hub.prune(Duration::from_secs(300));
        }
    }
}
pub mod demo;
pub mod schedule;

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
    let Some((cutoff, audit_cutoff)) = retention_cutoffs(now_micros(), days) else {
        return;
    };
    match app.store.purge_before(cutoff).await {
        Ok(files) => {
            for f in &files {
                let _ = tokio::fs::remove_file(app.media_dir.join(f)).await;
            }
            if let Ok(counts) = app.store.unread_counts().await {
                app.unread.reset(counts);
            }
            tracing::info!(retention_days = days, media_removed = files.len(), "retention applied");
        }
        Err(e) => tracing::error!(error = %e, "retention failed"),
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
