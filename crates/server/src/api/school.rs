//! Rooms, groups (classes) and doorplates, and pairing a doorplate with its code.

use super::{ApiId, parse_id, required_text};
use crate::auth::{AdminAuth, StaffAuth, UserAuth};
use crate::client::ClientAddr;
use crate::crypto::{new_token, pairing_code};
use crate::error::{ApiError, ApiResult, Json, NotFoundAs};
use crate::school::AppState;
use crate::throttles::Key;
use crate::views::{DoorplateView, GroupView, RoomView, doorplate_view, group_view};
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::Role;
use doorplate_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// A pairing code is good for this long.
const PAIRING_MINUTES: i64 = 15;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_room, list_rooms))
        .routes(routes!(create_group, list_groups))
        .routes(routes!(update_group, delete_group))
        .routes(routes!(class_badges))
        .routes(routes!(create_doorplate))
        .routes(routes!(new_pairing_code))
        .routes(routes!(pair))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRoom {
    pub name: String,
    /// classroom | lab | office | dorm | other
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoomResponse {
    pub room: RoomView,
}

/// POST /api/v1/rooms — a room (admin).
#[utoipa::path(post, path = "/rooms", tag = "school", request_body = CreateRoom,
    responses((status = 201, body = RoomResponse), (status = 400)))]
async fn create_room(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(req): Json<CreateRoom>,
) -> ApiResult<(StatusCode, axum::Json<RoomResponse>)> {
    let name = required_text("name", &req.name, 100)?;
    if !matches!(req.kind.as_str(), "classroom" | "lab" | "office" | "dorm" | "other") {
        return Err(ApiError::bad(
            "bad_kind",
            "kind is classroom, lab, office, dorm or other",
        ));
    }
    let room = app.store.create_room(name, req.kind).await?;
    app.audit(Some(admin.id), "room.created", Some(room.id), json!({}))
        .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(RoomResponse {
            room: RoomView::from(&room),
        }),
    ))
}

/// GET /api/v1/rooms — every room (any signed-in user).
#[utoipa::path(get, path = "/rooms", tag = "school", responses((status = 200, body = Vec<RoomView>)))]
async fn list_rooms(State(app): State<AppState>, _auth: UserAuth) -> ApiResult<axum::Json<Vec<RoomView>>> {
    Ok(axum::Json(
        app.store.list_rooms().await?.iter().map(RoomView::from).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub name: String,
    pub member_ids: Vec<ApiId>,
    /// The class teacher.
    pub teacher_id: Option<ApiId>,
}

#[derive(Serialize, ToSchema)]
pub struct GroupResponse {
    pub group: GroupView,
}

/// POST /api/v1/groups — a class and its class teacher (admin).
#[utoipa::path(post, path = "/groups", tag = "school", request_body = CreateGroup,
    responses((status = 201, body = GroupResponse), (status = 400), (status = 409), (status = 422)))]
async fn create_group(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(req): Json<CreateGroup>,
) -> ApiResult<(StatusCode, axum::Json<GroupResponse>)> {
    let name = required_text("name", &req.name, 100)?;
    let ids: Vec<_> = req.member_ids.iter().map(|i| i.0).collect();
    let members = check_members(&app, &ids).await?;
    if let Some(t) = req.teacher_id {
        check_teacher(&app, t.0).await?;
    }
    let group = app
        .store
        .create_group(name, ids, req.teacher_id.map(|t| t.0))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict("name_taken", "a group with that name exists".into()),
            other => other.into(),
        })?;
    app.audit(Some(admin.id), "group.created", Some(group.id), json!({}))
        .await;
    app.engine.reload().await;
    Ok((
        StatusCode::CREATED,
        axum::Json(GroupResponse {
            group: group_view(&group, &members),
        }),
    ))
}

/// GET /api/v1/groups — classes with their members (staff: a teacher sees the classes
/// they teach first; admins see all).
#[utoipa::path(get, path = "/groups", tag = "school", responses((status = 200, body = Vec<GroupView>)))]
async fn list_groups(State(app): State<AppState>, StaffAuth(user): StaffAuth) -> ApiResult<axum::Json<Vec<GroupView>>> {
    let mut groups = app.store.list_groups().await?;
    if user.role == Role::Teacher {
        groups.retain(|g| g.teacher_id == Some(user.id));
    }
    let mut ids: Vec<_> = groups.iter().flat_map(|g| g.member_ids.iter().copied()).collect();
    ids.sort_unstable();
    ids.dedup();
    let members = app.store.users_by_ids(ids).await?;
    Ok(axum::Json(groups.iter().map(|g| group_view(g, &members)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDoorplate {
    pub room_id: ApiId,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct DoorplateCreated {
    pub doorplate: DoorplateView,
    /// Single-use, valid for 15 minutes: type it on the kiosk.
    pub pairing_code: String,
    pub pairing_expires_at: String,
}

/// POST /api/v1/doorplates — a doorplate for a room, with its pairing code (admin).
#[utoipa::path(post, path = "/doorplates", tag = "school", request_body = CreateDoorplate,
    responses((status = 201, body = DoorplateCreated), (status = 422)))]
async fn create_doorplate(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(req): Json<CreateDoorplate>,
) -> ApiResult<(StatusCode, axum::Json<DoorplateCreated>)> {
    let name = required_text("name", &req.name, 100)?;
    app.store
        .room(req.room_id.0)
        .await
        .or_unprocessable("unknown_room", "room_id refers to no room")?;
    let code = pairing_code();
    let now = app.now();
    let expires = now + PAIRING_MINUTES * 60_000_000;
    let d = app
        .store
        .create_doorplate(req.room_id.0, name, app.secrets.hash("pairing", &code), expires, now)
        .await?;
    app.audit(Some(admin.id), "doorplate.created", Some(d.id), json!({}))
        .await;
    app.engine.reload().await;
    Ok((
        StatusCode::CREATED,
        axum::Json(DoorplateCreated {
            doorplate: doorplate_view(&d, false, 0, None),
            pairing_code: code,
            pairing_expires_at: crate::time::rfc3339(expires),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct PairingCode {
    pub pairing_code: String,
    pub pairing_expires_at: String,
}

/// POST /api/v1/doorplates/{id}/pairing — a fresh pairing code, e.g. to replace a broken
/// screen; the old device token stops working when the new screen pairs (admin).
#[utoipa::path(post, path = "/doorplates/{id}/pairing", tag = "school", params(("id" = String, Path)),
    responses((status = 200, body = PairingCode), (status = 404)))]
async fn new_pairing_code(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    crate::error::Path(id): crate::error::Path<String>,
) -> ApiResult<axum::Json<PairingCode>> {
    let id = parse_id(&id)?;
    let d = app.store.doorplate(id).await.or_not_found("doorplate")?;
    let code = pairing_code();
    let now = app.now();
    let expires = now + PAIRING_MINUTES * 60_000_000;
    app.store
        .renew_pairing(d.id, app.secrets.hash("pairing", &code), expires)
        .await?;
    app.audit(Some(admin.id), "doorplate.pairing", Some(d.id), json!({}))
        .await;
    Ok(axum::Json(PairingCode {
        pairing_code: code,
        pairing_expires_at: crate::time::rfc3339(expires),
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct PairRequest {
    pub pairing_code: String,
}

#[derive(Serialize, ToSchema)]
pub struct PairResponse {
    /// The doorplate's virtual account: keep it on the device.
    pub device_token: String,
    pub doorplate: DoorplateView,
}

/// POST /api/v1/devices/pair — a kiosk trades its one-time code for a device token.
///
/// Wrong codes are counted per client address before the lookup. An address that spent
/// its budget is not shut out of pairing: its codes are still looked up within a global
/// budget of wrong codes for throttled addresses (so a kiosk behind a NAT shared with a
/// guesser pairs with a correct fresh code), and its wrong codes get 429.
#[utoipa::path(post, path = "/devices/pair", tag = "doorplate", request_body = PairRequest,
    responses((status = 200, body = PairResponse), (status = 401), (status = 429)), security(()))]
async fn pair(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    Json(req): Json<PairRequest>,
) -> ApiResult<axum::Json<PairResponse>> {
    let now = app.now();
    let (attempt, client_refused) = match app.throttles.reserve(vec![Key::PairingClient(client)], now) {
        Ok(a) => (a, None),
        Err(refusal) => (app.throttles.reserve(vec![Key::PairingLocked], now)?, Some(refusal)),
    };
    let code: String = req.pairing_code.chars().filter(|c| c.is_ascii_digit()).collect();
    let token = new_token("dpd_");
    match app
        .store
        .pair_doorplate(
            app.secrets.hash("pairing", &code),
            app.secrets.hash("device", &token),
            now,
        )
        .await
    {
        Ok(d) => {
            attempt.succeed(now);
            app.audit(None, "doorplate.paired", Some(d.id), json!({})).await;
            Ok(axum::Json(PairResponse {
                device_token: token,
                doorplate: doorplate_view(&d, false, app.presence.at_doorplate(d.id).len(), None),
            }))
        }
        Err(StoreError::NotFound) => {
            attempt.fail(now);
            Err(match client_refused {
                Some(refusal) => refusal.into(),
                None => ApiError::Unauthorized(
                    "invalid_pairing_code",
                    "that pairing code is unknown or has expired".into(),
                ),
            })
        }
        Err(e) => {
            attempt.cancel();
            Err(e.into())
        }
    }
}

/// A class teacher must be an existing member of staff.
async fn check_teacher(app: &AppState, id: doorplate_domain::Id) -> ApiResult<()> {
    let t = app
        .store
        .user(id)
        .await
        .or_unprocessable("bad_teacher", "the teacher does not exist")?;
    if !t.role.is_staff() {
        return Err(ApiError::Unprocessable(
            "bad_teacher",
            "the class teacher must be staff".into(),
        ));
    }
    Ok(())
}

/// Every member must be an existing student (each named once or more).
async fn check_members(app: &AppState, ids: &[doorplate_domain::Id]) -> ApiResult<Vec<doorplate_store::User>> {
    let mut d = ids.to_vec();
    d.sort_unstable();
    d.dedup();
    let members = app.store.users_by_ids(d.clone()).await?;
    if members.len() != d.len() || members.iter().any(|m| m.role != Role::Student) {
        return Err(ApiError::Unprocessable(
            "bad_members",
            "every member must be an existing student".into(),
        ));
    }
    Ok(members)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<String>,
    pub member_ids: Option<Vec<ApiId>>,
    pub teacher_id: Option<ApiId>,
}

/// PATCH /api/v1/groups/{id} — rename a class, change its members or teacher (admin).
/// The timetable follows at once.
#[utoipa::path(patch, path = "/groups/{id}", tag = "school", params(("id" = String, Path)), request_body = UpdateGroup,
    responses((status = 200, body = GroupResponse), (status = 404), (status = 409), (status = 422)))]
async fn update_group(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    crate::error::Path(id): crate::error::Path<String>,
    Json(r): Json<UpdateGroup>,
) -> ApiResult<axum::Json<GroupResponse>> {
    let id = parse_id(&id)?;
    let name = r.name.as_deref().map(|n| required_text("name", n, 100)).transpose()?;
    let members = match &r.member_ids {
        Some(m) => Some(
            check_members(&app, &m.iter().map(|i| i.0).collect::<Vec<_>>())
                .await?
                .iter()
                .map(|u| u.id)
                .collect(),
        ),
        None => None,
    };
    if let Some(t) = r.teacher_id {
        check_teacher(&app, t.0).await?;
    }
    let g = app
        .store
        .update_group(id, name, members, r.teacher_id.map(|t| Some(t.0)))
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict("name_taken", "a group with that name exists".into()),
            StoreError::NotFound => ApiError::not_found("group"),
            other => other.into(),
        })?;
    let members = app.store.users_by_ids(g.member_ids.clone()).await?;
    app.audit(Some(admin.id), "group.updated", Some(id), json!({})).await;
    app.engine.reload().await;
    Ok(axum::Json(GroupResponse {
        group: group_view(&g, &members),
    }))
}

/// DELETE /api/v1/groups/{id} (admin). Its timetable slots stay, without a class.
#[utoipa::path(delete, path = "/groups/{id}", tag = "school", params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_group(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    crate::error::Path(id): crate::error::Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    app.store.delete_group(id).await.or_not_found("group")?;
    app.audit(Some(admin.id), "group.deleted", Some(id), json!({})).await;
    app.engine.reload().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Badge {
    pub user_id: String,
    pub display_name: String,
    pub group: String,
    /// The badge's secret; the QR code encodes it.
    pub qr_token: String,
    /// The QR code as an inline SVG, ready to print.
    pub qr_svg: String,
}

/// A badge's QR code as an inline SVG, the same for a class's sheet and one student's.
pub(crate) fn qr_svg(token: &str) -> ApiResult<String> {
    qrcode::QrCode::with_error_correction_level(token.as_bytes(), qrcode::EcLevel::M)
        .map(|c| {
            c.render::<qrcode::render::svg::Color>()
                .min_dimensions(160, 160)
                .quiet_zone(true)
                .build()
        })
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// POST /api/v1/groups/{id}/badges — fresh QR badges for every student of a class, to
/// print (admin). The previous badges stop working.
#[utoipa::path(post, path = "/groups/{id}/badges", tag = "school", params(("id" = String, Path)), responses((status = 200, body = Vec<Badge>), (status = 404)))]
async fn class_badges(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    crate::error::Path(id): crate::error::Path<String>,
) -> ApiResult<axum::Json<Vec<Badge>>> {
    let id = parse_id(&id)?;
    let g = app.store.group(id).await.or_not_found("group")?;
    let mut students = app.store.users_by_ids(g.member_ids.clone()).await?;
    students.sort_by(|a, b| a.display_name.cmp(&b.display_name));
    let mut out = Vec::with_capacity(students.len());
    for s in students {
        let token = new_token("dpq_");
        app.store.set_badge(s.id, app.secrets.hash("qr", &token)).await?;
        app.directory.forget_user(s.id);
        let svg = qr_svg(&token)?;
        out.push(Badge {
            user_id: s.id.to_string(),
            display_name: s.display_name,
            group: g.name.clone(),
            qr_token: token,
            qr_svg: svg,
        });
    }
    app.audit(Some(admin.id), "group.badges", Some(id), json!({"count": out.len()}))
        .await;
    Ok(axum::Json(out))
}
