//! Arrangements teachers make in advance (R1 "teacher in advance"): a class or students
//! in a room for a window; at its start they become present, at its end they leave.
//! Every change takes effect at once, as the timetable's do.

use super::timetable::{parse_kind, schedule_changed};
use super::{ApiId, parse_id, query_id, required_text};
use crate::auth::StaffAuth;
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path, Query};
use crate::school::AppState;
use crate::time::{parse_rfc3339, rfc3339};
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::Role;
use doorplate_domain::timetable::Arrangement;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_arrangements, create_arrangement))
        .routes(routes!(get_arrangement, delete_arrangement))
}

#[derive(Serialize, ToSchema)]
pub struct ArrangementView {
    pub id: String,
    pub room_id: String,
    pub kind: String,
    pub title: String,
    pub starts_at: String,
    pub ends_at: String,
    pub group_ids: Vec<String>,
    pub user_ids: Vec<String>,
    pub teacher_id: Option<String>,
}

fn arrangement_view(a: &Arrangement) -> ArrangementView {
    ArrangementView {
        id: a.id.to_string(),
        room_id: a.room_id.to_string(),
        kind: a.kind.as_str().into(),
        title: a.title.clone(),
        starts_at: rfc3339(a.starts_at),
        ends_at: rfc3339(a.ends_at),
        group_ids: a.group_ids.iter().map(|g| g.to_string()).collect(),
        user_ids: a.user_ids.iter().map(|u| u.to_string()).collect(),
        teacher_id: a.teacher_id.map(|t| t.to_string()),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ArrangementQuery {
    pub room_id: Option<String>,
}

/// GET /api/v1/arrangements?room_id= — arrangements that have not ended (staff).
#[utoipa::path(get, path = "/arrangements", tag = "timetable", params(ArrangementQuery), responses((status = 200, body = Vec<ArrangementView>)))]
async fn list_arrangements(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
    Query(q): Query<ArrangementQuery>,
) -> ApiResult<axum::Json<Vec<ArrangementView>>> {
    let room = query_id("room_id", q.room_id.as_deref())?;
    let list = app.store.arrangements(app.now()).await?;
    Ok(axum::Json(
        list.iter()
            .filter(|a| room.is_none_or(|r| a.room_id == r))
            .map(arrangement_view)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrangementRequest {
    pub room_id: ApiId,
    pub kind: String,
    pub title: String,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(default)]
    pub group_ids: Vec<ApiId>,
    #[serde(default)]
    pub user_ids: Vec<ApiId>,
    pub teacher_id: Option<ApiId>,
}

#[derive(Serialize, ToSchema)]
pub struct ArrangementResponse {
    pub arrangement: ArrangementView,
}

/// POST /api/v1/arrangements — a teacher arranges a class or students into a room for a
/// window (source `teacher_advance`); at its start they become present (staff).
#[utoipa::path(post, path = "/arrangements", tag = "timetable", request_body = ArrangementRequest,
    responses((status = 201, body = ArrangementResponse), (status = 400), (status = 422)))]
async fn create_arrangement(
    State(app): State<AppState>,
    StaffAuth(staff): StaffAuth,
    Json(r): Json<ArrangementRequest>,
) -> ApiResult<(StatusCode, axum::Json<ArrangementResponse>)> {
    let kind = parse_kind(&r.kind)?;
    let title = required_text("title", &r.title, 100)?;
    let starts = parse_rfc3339(&r.starts_at)
        .ok_or_else(|| ApiError::bad("bad_time", "starts_at must be RFC 3339 with an offset"))?;
    let ends = parse_rfc3339(&r.ends_at)
        .ok_or_else(|| ApiError::bad("bad_time", "ends_at must be RFC 3339 with an offset"))?;
    if ends <= starts {
        return Err(ApiError::Unprocessable(
            "bad_window",
            "ends_at must be after starts_at".into(),
        ));
    }
    if ends <= app.now() {
        return Err(ApiError::Unprocessable(
            "bad_window",
            "the window is already over".into(),
        ));
    }
    if ends - starts > 31 * 86_400_000_000 {
        return Err(ApiError::Unprocessable(
            "bad_window",
            "an arrangement lasts at most 31 days".into(),
        ));
    }
    if r.group_ids.is_empty() && r.user_ids.is_empty() {
        return Err(ApiError::bad("nobody", "give group_ids or user_ids"));
    }
    app.store
        .room(r.room_id.0)
        .await
        .or_unprocessable("unknown_room", "room_id refers to no room")?;
    let groups = app.store.list_groups().await?;
    if r.group_ids.iter().any(|g| !groups.iter().any(|x| x.id == g.0)) {
        return Err(ApiError::Unprocessable(
            "unknown_group",
            "a group_id refers to no class".into(),
        ));
    }
    let users = app.store.users_by_ids(r.user_ids.iter().map(|u| u.0).collect()).await?;
    if users.len() != r.user_ids.len() || users.iter().any(|u| u.role != Role::Student) {
        return Err(ApiError::Unprocessable(
            "not_students",
            "every user_id must be a student".into(),
        ));
    }
    let a = Arrangement {
        id: 0,
        room_id: r.room_id.0,
        kind,
        title,
        starts_at: starts,
        ends_at: ends,
        group_ids: r.group_ids.iter().map(|g| g.0).collect(),
        user_ids: r.user_ids.iter().map(|u| u.0).collect(),
        teacher_id: r.teacher_id.map(|t| t.0).or(Some(staff.id)),
    };
    let a = app.store.create_arrangement(a, staff.id).await?;
    app.audit(
        Some(staff.id),
        "arrangement.created",
        Some(a.id),
        json!({"room_id": a.room_id}),
    )
    .await;
    schedule_changed(&app, &[a.room_id]).await;
    Ok((
        StatusCode::CREATED,
        axum::Json(ArrangementResponse {
            arrangement: arrangement_view(&a),
        }),
    ))
}

async fn find_arrangement(app: &AppState, id: &str) -> ApiResult<Arrangement> {
    let id = parse_id(id)?;
    app.store.arrangement(id).await.or_not_found("arrangement")
}

/// GET /api/v1/arrangements/{id}
#[utoipa::path(get, path = "/arrangements/{id}", tag = "timetable", params(("id" = String, Path)), responses((status = 200, body = ArrangementResponse), (status = 404)))]
async fn get_arrangement(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ArrangementResponse>> {
    Ok(axum::Json(ArrangementResponse {
        arrangement: arrangement_view(&find_arrangement(&app, &id).await?),
    }))
}

/// DELETE /api/v1/arrangements/{id} — cancel it; if it is running, its presences end now.
#[utoipa::path(delete, path = "/arrangements/{id}", tag = "timetable", params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_arrangement(
    State(app): State<AppState>,
    StaffAuth(staff): StaffAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let a = find_arrangement(&app, &id).await?;
    app.store.delete_arrangement(a.id).await?;
    app.audit(Some(staff.id), "arrangement.deleted", Some(a.id), json!({}))
        .await;
    schedule_changed(&app, &[a.room_id]).await;
    Ok(StatusCode::NO_CONTENT)
}
