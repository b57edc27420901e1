//! Staff placing and dismissing students (R1 teacher now, R6 dismissal), and the live
//! presence table as staff see it.

use super::{ApiId, query_id};
use crate::api::doorplate::PresenceView;
use crate::auth::StaffAuth;
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Query};
use crate::school::AppState;
use crate::school::arrivals::LeaveReason;
use crate::time::parse_rfc3339;
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::{Id, PresenceSource, Role};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_presence, place, dismiss))
}

#[derive(Deserialize, IntoParams)]
pub struct PresenceQuery {
    pub doorplate_id: Option<String>,
    pub user_id: Option<String>,
}

/// GET /api/v1/presence?doorplate_id= | ?user_id= — who is where (staff). Without a
/// filter: everyone present.
#[utoipa::path(get, path = "/presence", tag = "presence", params(PresenceQuery),
    responses((status = 200, body = Vec<PresenceView>), (status = 403)))]
async fn list_presence(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
    Query(q): Query<PresenceQuery>,
) -> ApiResult<axum::Json<Vec<PresenceView>>> {
    let doorplate = query_id("doorplate_id", q.doorplate_id.as_deref())?;
    let user = query_id("user_id", q.user_id.as_deref())?;
    let rows = match (doorplate, user) {
        (Some(d), None) => app.presence.at_doorplate(d),
        (None, Some(u)) => app.presence.of_student(u),
        (Some(d), Some(u)) => app
            .presence
            .of_student(u)
            .into_iter()
            .filter(|p| p.doorplate_id == d)
            .collect(),
        (None, None) => app.presence.all(),
    };
    Ok(axum::Json(rows.iter().map(PresenceView::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceRequest {
    pub doorplate_id: ApiId,
    pub user_ids: Vec<ApiId>,
    /// When the placement ends by itself (RFC 3339); open-ended if absent.
    pub until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    pub doorplate_id: ApiId,
    pub user_ids: Vec<ApiId>,
}

/// Checks that the doorplate exists and every id is a student; nothing changes unless
/// all of them are.
async fn check_targets(app: &AppState, doorplate: Id, users: &[ApiId]) -> ApiResult<Vec<Id>> {
    app.store
        .doorplate(doorplate)
        .await
        .or_unprocessable("unknown_doorplate", "doorplate_id refers to no doorplate")?;
    if users.is_empty() || users.len() > 5000 {
        return Err(ApiError::bad("bad_user_ids", "user_ids lists 1 to 5000 students"));
    }
    let mut ids: Vec<Id> = users.iter().map(|u| u.0).collect();
    ids.sort_unstable();
    ids.dedup();
    let found = app.store.users_by_ids(ids.clone()).await?;
    if found.len() != ids.len() || found.iter().any(|u| u.role != Role::Student || u.disabled) {
        return Err(ApiError::Unprocessable(
            "not_students",
            "every user_id must be an active student".into(),
        ));
    }
    Ok(ids)
}

/// POST /api/v1/presence — place students at a doorplate now (source `teacher_now`).
#[utoipa::path(post, path = "/presence", tag = "presence", request_body = PlaceRequest,
    responses((status = 200, body = Vec<PresenceView>), (status = 400), (status = 403), (status = 422)))]
async fn place(
    State(app): State<AppState>,
    StaffAuth(staff): StaffAuth,
    Json(req): Json<PlaceRequest>,
) -> ApiResult<axum::Json<Vec<PresenceView>>> {
    let until = match req.until.as_deref() {
        Some(s) => {
            let t =
                parse_rfc3339(s).ok_or_else(|| ApiError::bad("bad_time", "until must be RFC 3339 with an offset"))?;
            if t <= app.now() {
                return Err(ApiError::Unprocessable("until_past", "until is already over".into()));
            }
            Some(t)
        }
        None => None,
    };
    let ids = check_targets(&app, req.doorplate_id.0, &req.user_ids).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = app
            .arrivals
            .arrive(
                id,
                req.doorplate_id.0,
                PresenceSource::TeacherNow,
                until,
                Some(staff.id),
            )
            .await?;
        out.push(PresenceView::from(&row));
    }
    Ok(axum::Json(out))
}

/// DELETE /api/v1/presence — dismiss students from a doorplate now (R6 purge).
#[utoipa::path(delete, path = "/presence", tag = "presence", request_body = DismissRequest,
    responses((status = 204), (status = 400), (status = 403), (status = 422)))]
async fn dismiss(
    State(app): State<AppState>,
    StaffAuth(staff): StaffAuth,
    Json(req): Json<DismissRequest>,
) -> ApiResult<StatusCode> {
    let ids = check_targets(&app, req.doorplate_id.0, &req.user_ids).await?;
    for id in ids {
        app.arrivals
            .leave(id, req.doorplate_id.0, LeaveReason::Dismissed, Some(staff.id))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
