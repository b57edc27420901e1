//! The school's settings and the audit log.

use crate::auth::{AdminAuth, Caller};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::school::AppState;
use crate::time::rfc3339;
use axum::extract::State;
use doorplate_domain::Settings;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(audit_log))
}

/// GET /api/v1/settings — the school's settings (any signed-in caller, doorplates too).
#[utoipa::path(get, path = "/settings", tag = "settings", responses((status = 200, body = Settings), (status = 401)))]
async fn get_settings(State(app): State<AppState>, _caller: Caller) -> axum::Json<Settings> {
    axum::Json(app.settings())
}

/// PATCH /api/v1/settings — change any subset of the settings (admin), e.g.
/// `{"session_idle_seconds": 90}`. All or nothing: one bad field changes none. An empty
/// `term_start` or `term_end` clears it.
#[utoipa::path(patch, path = "/settings", tag = "settings",
    request_body(content = Settings, description = "any subset of the settings"),
    responses((status = 200, body = Settings), (status = 400), (status = 403)))]
async fn update_settings(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(patch): Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::Json<Settings>> {
    let s = patched(app.settings(), patch)?;
    app.store.save_settings(s.clone()).await?;
    *app.settings.write().expect("settings poisoned") = s.clone();
    app.engine.reload().await;
    app.audit(
        Some(admin.id),
        "settings.updated",
        None,
        serde_json::to_value(&s).unwrap_or_default(),
    )
    .await;
    Ok(axum::Json(s))
}

/// The settings with the patch's fields laid over them, checked.
fn patched(current: Settings, patch: serde_json::Map<String, serde_json::Value>) -> ApiResult<Settings> {
    let bad =
        |field: &str, msg: String| ApiError::bad("bad_setting", msg).with_params(serde_json::json!({"field": field}));
    let serde_json::Value::Object(mut fields) =
        serde_json::to_value(&current).map_err(|e| ApiError::Internal(e.to_string()))?
    else {
        return Err(ApiError::Internal("settings are not a JSON object".into()));
    };
    for (name, value) in patch {
        match fields.get_mut(&name) {
            Some(slot) => *slot = value,
            None => return Err(bad(&name, format!("{name} is not a setting"))),
        }
    }
    let mut s: Settings = serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|e| ApiError::bad("bad_setting", e.to_string()))?; // a wrong type: serde names it, no one field
    s.term_start = s.term_start.filter(|d| !d.is_empty());
    s.term_end = s.term_end.filter(|d| !d.is_empty());
    s.validate()
        .map_err(|(field, why)| bad(field, format!("{field} {why}")))?;
    if jiff::tz::TimeZone::get(&s.timezone).is_err() {
        return Err(bad(
            "timezone",
            format!("timezone {:?} is not a known IANA zone", s.timezone),
        ));
    }
    Ok(s)
}

#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// Only entries of this action (e.g. `presence.left`).
    pub action: Option<String>,
    /// Only entries by this person.
    pub actor_id: Option<String>,
    /// Only entries about this person or thing.
    pub subject_id: Option<String>,
    pub limit: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub at: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub subject_id: Option<String>,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// GET /api/v1/audit?action=&limit= — presence changes, sessions, reads, admin actions
/// (admin), newest first.
#[utoipa::path(get, path = "/audit", tag = "settings", params(AuditQuery), responses((status = 200, body = Vec<AuditView>), (status = 403)))]
async fn audit_log(
    State(app): State<AppState>,
    AdminAuth(_): AdminAuth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<Vec<AuditView>>> {
    let list = app
        .store
        .audit_log(doorplate_store::AuditFilter {
            action: q.action.filter(|a| !a.is_empty()),
            actor_id: crate::api::query_id("actor_id", q.actor_id.as_deref())?,
            subject_id: crate::api::query_id("subject_id", q.subject_id.as_deref())?,
            limit: q.limit.unwrap_or(200).min(2000),
        })
        .await?;
    Ok(axum::Json(
        list.into_iter()
            .map(|e| AuditView {
                at: rfc3339(e.at),
                actor_id: e.actor_id.map(|i| i.to_string()),
                action: e.action,
                subject_id: e.subject_id.map(|i| i.to_string()),
                detail: e.detail,
            })
            .collect(),
    ))
}
