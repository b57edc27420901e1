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

#[derive(Serialize, Deserialize, ToSchema)]
pub struct SettingsView {
    pub timezone: String,
    pub max_doorplates_per_student: u32,
    pub session_idle_seconds: u32,
    pub end_of_day: String,
    pub show_room_to_guardians: bool,
    pub retention_days: u32,
    /// zh-CN | en | auto
    pub language: String,
    pub max_image_bytes: u64,
    pub max_voice_bytes: u64,
    pub max_video_bytes: u64,
    pub term_start: Option<String>,
    pub term_end: Option<String>,
    pub holidays: Vec<String>,
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> Self {
        SettingsView {
            timezone: s.timezone,
            max_doorplates_per_student: s.max_doorplates_per_student,
            session_idle_seconds: s.session_idle_seconds,
            end_of_day: s.end_of_day,
            show_room_to_guardians: s.show_room_to_guardians,
            retention_days: s.retention_days,
            language: s.language,
            max_image_bytes: s.max_image_bytes,
            max_voice_bytes: s.max_voice_bytes,
            max_video_bytes: s.max_video_bytes,
            term_start: s.term_start,
            term_end: s.term_end,
            holidays: s.holidays,
        }
    }
}

/// GET /api/v1/settings — the school's settings (any signed-in caller, doorplates too).
#[utoipa::path(get, path = "/settings", tag = "settings", responses((status = 200, body = SettingsView), (status = 401)))]
async fn get_settings(State(app): State<AppState>, _caller: Caller) -> axum::Json<SettingsView> {
    axum::Json(app.settings().into())
}

/// Any subset of the settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub timezone: Option<String>,
    pub max_doorplates_per_student: Option<u32>,
    pub session_idle_seconds: Option<u32>,
    pub end_of_day: Option<String>,
    pub show_room_to_guardians: Option<bool>,
    pub retention_days: Option<u32>,
    pub language: Option<String>,
    pub max_image_bytes: Option<u64>,
    pub max_voice_bytes: Option<u64>,
    pub max_video_bytes: Option<u64>,
    /// "YYYY-MM-DD"; an empty string clears it.
    pub term_start: Option<String>,
    pub term_end: Option<String>,
    pub holidays: Option<Vec<String>>,
}

/// PATCH /api/v1/settings — change settings (admin). All or nothing: one bad field
/// changes none.
#[utoipa::path(patch, path = "/settings", tag = "settings", request_body = SettingsPatch,
    responses((status = 200, body = SettingsView), (status = 400), (status = 403)))]
async fn update_settings(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(p): Json<SettingsPatch>,
) -> ApiResult<axum::Json<SettingsView>> {
    let mut s = app.settings();
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = p.$f { s.$f = v; } )* };
    }
    set!(
        timezone,
        max_doorplates_per_student,
        session_idle_seconds,
        end_of_day,
        show_room_to_guardians,
        retention_days,
        language,
        max_image_bytes,
        max_voice_bytes,
        max_video_bytes,
        holidays
    );
    if let Some(d) = p.term_start {
        s.term_start = Some(d).filter(|d| !d.is_empty());
    }
    if let Some(d) = p.term_end {
        s.term_end = Some(d).filter(|d| !d.is_empty());
    }
    s.validate()
        .map_err(|(field, why)| ApiError::bad("bad_setting", format!("{field} {why}")))?;
    if jiff::tz::TimeZone::get(&s.timezone).is_err() {
        return Err(ApiError::bad(
            "bad_setting",
            format!("timezone {:?} is not a known IANA zone", s.timezone),
        ));
    }
    app.store.save_settings(s.clone()).await?;
    *app.settings.write().expect("settings poisoned") = s.clone();
    app.engine.reload().await;
    app.audit(
        Some(admin.id),
        "settings.updated",
        None,
        serde_json::to_value(SettingsView::from(s.clone())).unwrap_or_default(),
    )
    .await;
    Ok(axum::Json(s.into()))
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
