//! Notices, announcements, honours and showcases on doorplates (R7). A change shows on
//! the doorplates it targets at once (`signage.updated`).

use super::{ApiId, parse_id, required_text};
use crate::auth::{AdminAuth, Caller, StaffAuth};
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path};
use crate::hub::Principal;
use crate::school::AppState;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use doorplate_domain::{Id, Micros};
use doorplate_store::Notice;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_notices, create_notice))
        .routes(routes!(update_notice, delete_notice))
        .routes(routes!(notice_image))
}

#[derive(Serialize, ToSchema, Clone)]
pub struct NoticeView {
    pub id: String,
    /// notice | announcement | honour | showcase
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Rooms whose doorplates show it; empty = every doorplate.
    pub room_ids: Vec<String>,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    /// `/api/v1/notices/{id}/image` when it has a picture (any signed-in caller or doorplate).
    pub image_url: Option<String>,
}

fn view(n: &Notice) -> NoticeView {
    NoticeView {
        id: n.id.to_string(),
        kind: n.kind.clone(),
        title: n.title.clone(),
        body: n.body.clone(),
        room_ids: n.room_ids.iter().map(|r| r.to_string()).collect(),
        starts_on: n.starts_on.clone(),
        ends_on: n.ends_on.clone(),
        image_url: n.image_media_id.map(|_| format!("/api/v1/notices/{}/image", n.id)),
    }
}

/// The notices a room's doorplates show today (in the school's zone).
pub async fn notices_for_room(app: &AppState, room: Id, now: Micros) -> ApiResult<Vec<NoticeView>> {
    let today = app
        .schedule
        .calendar()
        .and_then(|c| c.date_of(now))
        .map(|d| d.to_string())
        .unwrap_or_default();
    Ok(app
        .store
        .notices()
        .await?
        .iter()
        .filter(|n| n.room_ids.is_empty() || n.room_ids.contains(&room))
        .filter(|n| {
            n.starts_on.as_deref().is_none_or(|s| s <= today.as_str())
                && n.ends_on.as_deref().is_none_or(|e| e >= today.as_str())
        })
        .map(view)
        .collect())
}

/// GET /api/v1/notices — every notice (staff).
#[utoipa::path(get, path = "/notices", tag = "signage", responses((status = 200, body = Vec<NoticeView>)))]
async fn list_notices(State(app): State<AppState>, StaffAuth(_): StaffAuth) -> ApiResult<axum::Json<Vec<NoticeView>>> {
    Ok(axum::Json(app.store.notices().await?.iter().map(view).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeRequest {
    pub kind: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub room_ids: Option<Vec<ApiId>>,
    /// "YYYY-MM-DD"; empty string clears.
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    /// A picture uploaded with `POST /api/v1/media`.
    pub image_media_id: Option<ApiId>,
}

#[derive(Serialize, ToSchema)]
pub struct NoticeResponse {
    pub notice: NoticeView,
}

async fn fill(app: &AppState, mut n: Notice, r: NoticeRequest, uploader: Id) -> ApiResult<Notice> {
    if let Some(k) = r.kind {
        if !matches!(k.as_str(), "notice" | "announcement" | "honour" | "showcase") {
            return Err(ApiError::bad(
                "bad_kind",
                "kind is notice, announcement, honour or showcase",
            ));
        }
        n.kind = k;
    }
    if let Some(t) = r.title {
        n.title = required_text("title", &t, 120)?;
    }
    if let Some(b) = r.body {
        if b.chars().count() > 2000 {
            return Err(ApiError::bad("too_long", "body has at most 2000 characters")
                .with_params(serde_json::json!({"field": "body", "max": 2000})));
        }
        n.body = b.trim().to_string();
    }
    if let Some(rooms) = r.room_ids {
        let known = app.store.list_rooms().await?;
        if rooms.iter().any(|r| !known.iter().any(|k| k.id == r.0)) {
            return Err(ApiError::Unprocessable(
                "unknown_room",
                "a room_id refers to no room".into(),
            ));
        }
        n.room_ids = rooms.iter().map(|r| r.0).collect();
    }
    for (field, v, slot) in [
        ("starts_on", r.starts_on, &mut n.starts_on),
        ("ends_on", r.ends_on, &mut n.ends_on),
    ] {
        if let Some(v) = v {
            if v.is_empty() {
                *slot = None;
            } else if v.parse::<jiff::civil::Date>().is_ok() {
                *slot = Some(v);
            } else {
                return Err(ApiError::bad(
                    "bad_date",
                    format!("{field} must be a date as YYYY-MM-DD"),
                ));
            }
        }
    }
    if let (Some(s), Some(e)) = (&n.starts_on, &n.ends_on)
        && e < s
    {
        return Err(ApiError::Unprocessable(
            "bad_dates",
            "ends_on is before starts_on".into(),
        ));
    }
    if let Some(m) = r.image_media_id {
        let media = app
            .store
            .media(m.0)
            .await
            .or_unprocessable("unknown_media", "image_media_id refers to no upload")?;
        if media.owner_id != uploader || !media.mime.starts_with("image/") {
            return Err(ApiError::Unprocessable(
                "unknown_media",
                "image_media_id must be a picture you uploaded".into(),
            ));
        }
        n.image_media_id = Some(media.id);
    }
    Ok(n)
}

/// Tells the doorplates a notice targets to refresh their signage.
fn announce(app: &AppState, rooms: &[Id]) {
    let plates = if rooms.is_empty() {
        app.schedule.all_plates()
    } else {
        rooms.iter().flat_map(|r| app.schedule.plates_of_room(*r)).collect()
    };
    for d in plates {
        app.hub.publish(Principal::Device(d), "signage.updated", &json!({}));
    }
}

/// POST /api/v1/notices — a notice for some rooms' doorplates, or all (admin).
#[utoipa::path(post, path = "/notices", tag = "signage", request_body = NoticeRequest,
    responses((status = 201, body = NoticeResponse), (status = 400), (status = 422)))]
async fn create_notice(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(r): Json<NoticeRequest>,
) -> ApiResult<(StatusCode, axum::Json<NoticeResponse>)> {
    if r.title.is_none() {
        return Err(
            ApiError::bad("missing_field", "a notice needs a title").with_params(serde_json::json!({"field": "title"}))
        );
    }
    let blank = Notice {
        id: 0,
        kind: "notice".into(),
        title: String::new(),
        body: String::new(),
        room_ids: vec![],
        starts_on: None,
        ends_on: None,
        image_media_id: None,
        created_at: app.now(),
    };
    let n = fill(&app, blank, r, admin.id).await?;
    let n = app.store.create_notice(n).await?;
    app.audit(Some(admin.id), "notice.created", Some(n.id), json!({})).await;
    announce(&app, &n.room_ids);
    Ok((StatusCode::CREATED, axum::Json(NoticeResponse { notice: view(&n) })))
}

async fn find(app: &AppState, id: &str) -> ApiResult<Notice> {
    let id = parse_id(id)?;
    app.store.notice(id).await.or_not_found("notice")
}

/// PATCH /api/v1/notices/{id} (admin).
#[utoipa::path(patch, path = "/notices/{id}", tag = "signage", params(("id" = String, Path)), request_body = NoticeRequest,
    responses((status = 200, body = NoticeResponse), (status = 404)))]
async fn update_notice(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    Json(r): Json<NoticeRequest>,
) -> ApiResult<axum::Json<NoticeResponse>> {
    let old = find(&app, &id).await?;
    let n = fill(&app, old.clone(), r, admin.id).await?;
    let n = app.store.update_notice(n).await?;
    app.audit(Some(admin.id), "notice.updated", Some(n.id), json!({})).await;
    let mut rooms = old.room_ids.clone();
    rooms.extend(&n.room_ids);
    announce(
        &app,
        if old.room_ids.is_empty() || n.room_ids.is_empty() {
            &[]
        } else {
            &rooms
        },
    );
    Ok(axum::Json(NoticeResponse { notice: view(&n) }))
}

/// DELETE /api/v1/notices/{id} (admin).
#[utoipa::path(delete, path = "/notices/{id}", tag = "signage", params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_notice(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let old = find(&app, &id).await?;
    app.store.delete_notice(old.id).await?;
    app.audit(Some(admin.id), "notice.deleted", Some(old.id), json!({}))
        .await;
    announce(&app, &old.room_ids);
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/notices/{id}/image — a notice's picture, for anyone signed in and for
/// doorplates (it is public within the school); with an ETag, so a kiosk that shows it
/// all day revalidates with a 304.
#[utoipa::path(get, path = "/notices/{id}/image", tag = "signage", params(("id" = String, Path)), responses((status = 200), (status = 304), (status = 404)))]
async fn notice_image(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let n = find(&app, &id).await?;
    let media = app
        .store
        .media(n.image_media_id.ok_or_else(|| ApiError::not_found("image"))?)
        .await?;
    super::media::send_media(&app, &media, req, "private, max-age=3600").await
}
