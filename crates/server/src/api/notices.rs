//! Notices, announcements, honours and showcases on doorplates (R7). A change shows on
//! the doorplates it targets at once (`signage.updated`).
//!
//! Who a notice is for: `room_ids` are the rooms whose doorplates show it, `group_ids`
//! the classes whose families see it in the app (`GET /api/v1/notices/feed`). With
//! neither it is school-wide: every doorplate and every family. A notice for rooms only
//! is the doorplates' signage, not for parents; one for classes only shows on no
//! doorplate.

use super::{ApiId, parse_id, required_text};
use crate::auth::{AdminAuth, Caller, StaffAuth, UserAuth};
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
        .routes(routes!(notice_feed))
}

/// A notice in the family app's feed, with the names of the classes it is addressed to
/// that concern the reader (empty: the whole school).
#[derive(Serialize, ToSchema)]
pub struct FeedNotice {
    #[serde(flatten)]
    pub notice: NoticeView,
    pub classes: Vec<String>,
}

/// GET /api/v1/notices/feed — the notices and announcements for families, newest first:
/// a guardian's are the school-wide ones and those addressed to a class one of their
/// children is in; staff see every one families see. Signage for rooms only, honours
/// and showcases are the doorplates' and not here; nor is one that has not started yet.
#[utoipa::path(get, path = "/notices/feed", tag = "signage", responses((status = 200, body = Vec<FeedNotice>), (status = 403)))]
async fn notice_feed(State(app): State<AppState>, auth: UserAuth) -> ApiResult<axum::Json<Vec<FeedNotice>>> {
    let me = &auth.user;
    let groups = app.store.list_groups().await?;
    // The classes whose notices this reader sees: a guardian's children's, staff all.
    let mine: Vec<&doorplate_store::Group> = match me.role {
        doorplate_domain::Role::Guardian => {
            let kids = app.store.children_of(me.id).await?;
            groups
                .iter()
                .filter(|g| g.member_ids.iter().any(|m| kids.contains(m)))
                .collect()
        }
        r if r.is_staff() && auth.session.is_none() => groups.iter().collect(),
        _ => {
            return Err(ApiError::Forbidden(
                "not_for_you",
                "the notices feed is for guardians and staff".into(),
            ));
        }
    };
    let today = app
        .schedule
        .calendar()
        .and_then(|c| c.date_of(app.now()))
        .map(|d| d.to_string())
        .unwrap_or_default();
    let mut feed: Vec<(&Notice, Vec<String>)> = Vec::new();
    let notices = app.store.notices().await?;
    for n in notices
        .iter()
        .filter(|n| matches!(n.kind.as_str(), "notice" | "announcement"))
        .filter(|n| n.starts_on.as_deref().is_none_or(|s| s <= today.as_str()))
    {
        let classes: Vec<String> = mine
            .iter()
            .filter(|g| n.group_ids.contains(&g.id))
            .map(|g| g.name.clone())
            .collect();
        if is_school_wide(n) || !classes.is_empty() {
            feed.push((n, classes));
        }
    }
    feed.sort_by_key(|(n, _)| std::cmp::Reverse((n.created_at, n.id)));
    Ok(axum::Json(
        feed.into_iter()
            .map(|(n, classes)| FeedNotice {
                notice: view(n),
                classes,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema, Clone)]
pub struct NoticeView {
    pub id: String,
    /// notice | announcement | honour | showcase
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Rooms whose doorplates show it; with `group_ids` also empty, every doorplate.
    pub room_ids: Vec<String>,
    /// Classes whose families see it in the app; with `room_ids` also empty, the whole
    /// school.
    pub group_ids: Vec<String>,
    pub created_at: String,
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
        group_ids: n.group_ids.iter().map(|g| g.to_string()).collect(),
        created_at: crate::time::rfc3339(n.created_at),
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
        .filter(|n| is_school_wide(n) || n.room_ids.contains(&room))
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
    /// Classes (groups) whose families see it in the app.
    pub group_ids: Option<Vec<ApiId>>,
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
    if let Some(groups) = r.group_ids {
        let known = app.store.list_groups().await?;
        if groups.iter().any(|g| !known.iter().any(|k| k.id == g.0)) {
            return Err(ApiError::Unprocessable(
                "unknown_group",
                "a group_id refers to no class".into(),
            ));
        }
        n.group_ids = groups.iter().map(|g| g.0).collect();
        n.group_ids.dedup();
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

/// School-wide: addressed to no room and no class in particular.
fn is_school_wide(n: &Notice) -> bool {
    n.room_ids.is_empty() && n.group_ids.is_empty()
}

/// Tells the doorplates these notices target to refresh their signage.
/// Queues a push of a new notice to the guardians it is addressed to: every guardian
/// for a school-wide one, those of the named classes' children otherwise. Signage for
/// rooms only, honours and showcases, and a notice that starts later, are not pushed.
async fn push_notice(app: AppState, n: Notice) {
    let today = app
        .schedule
        .calendar()
        .and_then(|c| c.date_of(app.now()))
        .map(|d| d.to_string())
        .unwrap_or_default();
    let for_families = matches!(n.kind.as_str(), "notice" | "announcement")
        && (is_school_wide(&n) || !n.group_ids.is_empty())
        && n.starts_on.as_deref().is_none_or(|s| s <= today.as_str());
    if !for_families {
        return;
    }
    let guardians: Result<Vec<Id>, doorplate_store::StoreError> = async {
        if is_school_wide(&n) {
            let all = app
                .store
                .list_users(Some(doorplate_domain::Role::Guardian), None, u32::MAX)
                .await?;
            return Ok(all.into_iter().filter(|u| !u.disabled).map(|u| u.id).collect());
        }
        let mut out = std::collections::BTreeSet::new();
        for g in &n.group_ids {
            let Ok(group) = app.store.group(*g).await else { continue };
            for student in group.member_ids {
                out.extend(app.store.guardians_of(student).await?);
            }
        }
        Ok(out.into_iter().collect())
    }
    .await;
    let lang = app.settings().language;
    let now = app.now();
    match guardians {
        Ok(ids) => {
            let pushes = ids
                .into_iter()
                .map(|g| crate::push::notes::notice(g, n.id, &n.title, now, &lang))
                .collect();
            match app.store.enqueue_pushes(pushes).await {
                Ok(()) => app.push.wake(),
                Err(e) => tracing::error!(error = %e, "could not queue a notice's pushes"),
            }
        }
        Err(e) => tracing::error!(error = %e, "could not find whom a notice is for"),
    }
}

fn announce(app: &AppState, notices: &[&Notice]) {
    let plates: Vec<Id> = if notices.iter().any(|n| is_school_wide(n)) {
        app.schedule.all_plates()
    } else {
        notices
            .iter()
            .flat_map(|n| &n.room_ids)
            .flat_map(|r| app.schedule.plates_of_room(*r))
            .collect()
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
        group_ids: vec![],
        starts_on: None,
        ends_on: None,
        image_media_id: None,
        created_at: app.now(),
    };
    let n = fill(&app, blank, r, admin.id).await?;
    let n = app.store.create_notice(n).await?;
    app.audit(Some(admin.id), "notice.created", Some(n.id), json!({})).await;
    announce(&app, &[&n]);
    // The families it is addressed to hear of it on their phones; queueing for a whole
    // school is many rows, so it is done beside the request, not in its way.
    tokio::spawn(push_notice(app.clone(), n.clone()));
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
    announce(&app, &[&old, &n]);
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
    announce(&app, &[&old]);
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
