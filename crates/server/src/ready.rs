//! `GET /readyz`: whether this server should get traffic — the store can commit a
//! write, the data folder has room, and the server is not shutting down.
//!
//! A read alone is not enough: with the disk full, the database locked by another
//! process, or the writer thread gone, every read still answers while every message,
//! upload and presence change fails.

use crate::school::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doorplate_store::StoreError;
use serde_json::json;
use std::time::Duration;

/// How long the heartbeat write may take before the store counts as unable to write.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// GET /readyz — 200 `{"status":"ready"}`, or 503 `{"status":"not_ready","problems":[…]}`
/// saying what is wrong.
pub async fn readyz(State(app): State<AppState>) -> Response {
    let mut problems: Vec<String> = Vec::new();
    if *app.shutdown.borrow() {
        problems.push("draining: the server is shutting down".into());
    }
    if let Some(p) = store_problem(&app).await {
        problems.push(p);
    }
    match crate::storage::free_bytes(&app.media_dir) {
        Ok(free) if free < app.min_free_bytes => problems.push(format!(
            "disk: {} MiB free in the data folder, below the floor of {} MiB; uploads are refused",
            free >> 20,
            app.min_free_bytes >> 20
        )),
        Ok(_) => {}
        Err(e) => problems.push(format!("disk: cannot read the free space of the data folder: {e}")),
    }
    if problems.is_empty() {
        (StatusCode::OK, axum::Json(json!({"status": "ready"}))).into_response()
    } else {
        tracing::warn!(?problems, "not ready");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "not_ready", "problems": problems})),
        )
            .into_response()
    }
}

/// Whether the school's store can commit a write now: a heartbeat row through its
/// writer, within [`WRITE_TIMEOUT`]. `None` when it can; otherwise what is wrong, in
/// words for an operator. `/readyz` and the systemd watchdog both ask it.
pub async fn store_problem(app: &crate::school::HostedSchool) -> Option<String> {
    describe(tokio::time::timeout(WRITE_TIMEOUT, app.store.heartbeat(app.now())).await)
}

/// [`store_problem`], for the systemd watchdog: a problem a restart of this process
/// could cure. A database that cannot be reached, or a school another server took over,
/// is not one — the lease keeper recovers from both by itself, and a restart would only
/// fail to connect.
pub async fn store_problem_for_restart(app: &crate::school::HostedSchool) -> Option<String> {
    match tokio::time::timeout(WRITE_TIMEOUT, app.store.heartbeat(app.now())).await {
        Ok(Err(StoreError::Unavailable(_) | StoreError::Fenced)) => None,
        other => describe(other),
    }
}

fn describe(outcome: Result<Result<(), StoreError>, tokio::time::error::Elapsed>) -> Option<String> {
    match outcome {
        Ok(Ok(())) => None,
        Ok(Err(StoreError::WriterStopped)) => Some("store: the database writer has stopped; restart the server".into()),
        Ok(Err(StoreError::Full)) => Some("store: the disk is full; nothing can be written".into()),
        Ok(Err(StoreError::Fenced)) => {
            Some("store: another server took this school over; it is no longer hosted here".into())
        }
        Ok(Err(StoreError::Unavailable(why))) => Some(format!(
            "store: the database cannot be reached ({why}); writes are refused until it answers again"
        )),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: the store cannot write");
            Some("store: a write failed (see the server log)".into())
        }
        Err(_) => Some(format!(
            "store: a write did not complete within {} s (is the database locked or the disk stuck?)",
            WRITE_TIMEOUT.as_secs()
        )),
    }
}
