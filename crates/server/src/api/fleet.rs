//! The doorplates as a fleet (admin): rename, move to another room, unpair and delete a
//! doorplate; remote "reload" and "identify" sent to the screen as live events; the
//! kiosk build each screen reports; and the list with online state, last seen, and a
//! flag on screens that should be online but have been offline for ten minutes.

use super::{ApiId, parse_id, required_text};
use crate::auth::{AdminAuth, DeviceAuth, StaffAuth};
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path};
use crate::hub::Principal;
use crate::school::{AppState, HostedSchool};
use crate::views::{DoorplateView, doorplate_view};
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::Micros;
use doorplate_store::{Doorplate, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// A paired doorplate that was seen and has been offline this long should be online.
pub const OFFLINE_ALERT_AFTER: Micros = 10 * 60 * 1_000_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_doorplates))
        .routes(routes!(update_doorplate, delete_doorplate))
        .routes(routes!(unpair_doorplate))
        .routes(routes!(send_command))
        .routes(routes!(report_version))
}

/// A doorplate as the console's fleet list shows it.
pub fn fleet_view(app: &HostedSchool, d: &Doorplate, now: Micros) -> DoorplateView {
    let online = app.hub.is_online(Principal::Device(d.id));
    let mut v = doorplate_view(
        d,
        online,
        app.presence.at_doorplate(d.id).len(),
        app.throttles.probed_since(d.id, now),
    );
    v.version = app
        .kiosk_versions
        .lock()
        .expect("versions poisoned")
        .get(&d.id)
        .cloned();
    v.offline_alert = d.paired && !online && d.last_seen.is_some_and(|seen| now - seen >= OFFLINE_ALERT_AFTER);
    v
}

/// GET /api/v1/doorplates — every doorplate with its online state, last seen, the kiosk
/// build it runs, and whether it has been offline too long (staff).
#[utoipa::path(get, path = "/doorplates", tag = "school", responses((status = 200, body = Vec<DoorplateView>)))]
async fn list_doorplates(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
) -> ApiResult<axum::Json<Vec<DoorplateView>>> {
    let list = app.store.list_doorplates().await?;
    let now = app.now();
    Ok(axum::Json(list.iter().map(|d| fleet_view(&app, d, now)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDoorplate {
    pub name: Option<String>,
    /// Moving a doorplate ends the presences on it (they were in the old room).
    pub room_id: Option<ApiId>,
}

#[derive(Serialize, ToSchema)]
pub struct DoorplateResponse {
    pub doorplate: DoorplateView,
}

async fn find(app: &AppState, id: &str) -> ApiResult<Doorplate> {
    app.store.doorplate(parse_id(id)?).await.or_not_found("doorplate")
}

/// PATCH /api/v1/doorplates/{id} — rename and/or move to another room (admin). A move
/// ends the presences on this doorplate, tells the screen to reload its state, and the
/// schedule is reloaded (which doorplates a room has comes from it).
#[utoipa::path(patch, path = "/doorplates/{id}", tag = "school", params(("id" = String, Path)), request_body = UpdateDoorplate,
    responses((status = 200, body = DoorplateResponse), (status = 404), (status = 422)))]
async fn update_doorplate(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    Json(req): Json<UpdateDoorplate>,
) -> ApiResult<axum::Json<DoorplateResponse>> {
    let old = find(&app, &id).await?;
    let name = req.name.map(|n| required_text("name", &n, 100)).transpose()?;
    let room = req.room_id.map(|r| r.0).filter(|r| *r != old.room_id);
    if let Some(r) = room {
        app.store
            .room(r)
            .await
            .or_unprocessable("unknown_room", "room_id refers to no room")?;
    }
    if room.is_some() {
        app.arrivals.vacate(old.id).await?;
    }
    let d = app
        .store
        .update_doorplate(old.id, name, room)
        .await
        .map_err(|e| match e {
            StoreError::BadReference(_) => ApiError::Unprocessable("unknown_room", "room_id refers to no room".into()),
            other => other.into(),
        })?;
    if room.is_some() {
        // An arrival that slipped in between the first pass and the move.
        app.arrivals.vacate(d.id).await?;
    }
    app.audit(
        Some(admin.id),
        if room.is_some() {
            "doorplate.moved"
        } else {
            "doorplate.renamed"
        },
        Some(d.id),
        json!({"doorplate_id": d.id, "room_id": d.room_id, "name": d.name}),
    )
    .await;
    if room.is_some() {
        app.engine.reload().await;
    }
    // Its band shows its name and room: it reloads its state.
    app.hub.publish(Principal::Device(d.id), "signage.updated", &json!({}));
    Ok(axum::Json(DoorplateResponse {
        doorplate: fleet_view(&app, &d, app.now()),
    }))
}

/// The screen's device token is gone: its socket closes and its session ends.
fn cut_off(app: &HostedSchool, d: &Doorplate) {
    if let Some(ended) = app.sessions.end_at(d.id) {
        app.session_ended(ended, "unpaired");
    }
    app.hub.disconnect(Principal::Device(d.id));
    app.kiosk_versions.lock().expect("versions poisoned").remove(&d.id);
}

/// POST /api/v1/doorplates/{id}/unpair — the device token stops working at once and
/// its event socket closes; the doorplate stays, to be paired again with a new code
/// (admin). Presences stay: the room did not change.
#[utoipa::path(post, path = "/doorplates/{id}/unpair", tag = "school", params(("id" = String, Path)),
    responses((status = 200, body = DoorplateResponse), (status = 404)))]
async fn unpair_doorplate(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<DoorplateResponse>> {
    let d = find(&app, &id).await?;
    let d = app.store.unpair_doorplate(d.id).await.or_not_found("doorplate")?;
    cut_off(&app, &d);
    app.audit(
        Some(admin.id),
        "doorplate.unpaired",
        Some(d.id),
        json!({"doorplate_id": d.id}),
    )
    .await;
    Ok(axum::Json(DoorplateResponse {
        doorplate: fleet_view(&app, &d, app.now()),
    }))
}

/// DELETE /api/v1/doorplates/{id} — the presences on it end, its session ends, its
/// token stops working and its socket closes; the schedule is reloaded (admin).
#[utoipa::path(delete, path = "/doorplates/{id}", tag = "school", params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
async fn delete_doorplate(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let d = find(&app, &id).await?;
    app.arrivals.vacate(d.id).await?;
    app.store.delete_doorplate(d.id).await.or_not_found("doorplate")?;
    // The store took any row that slipped in meanwhile; the live table lets go of it too.
    app.arrivals.vacate(d.id).await?;
    cut_off(&app, &d);
    app.audit(
        Some(admin.id),
        "doorplate.deleted",
        Some(d.id),
        json!({"doorplate_id": d.id, "name": d.name}),
    )
    .await;
    app.engine.reload().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// reload | identify
    pub command: String,
}

/// POST /api/v1/doorplates/{id}/command — `reload` (the kiosk reloads its page, e.g.
/// to pick up a new build) or `identify` (it flashes its screen with its name for a few
/// seconds), sent as the live event `doorplate.command {command, name}` (admin). 409
/// `offline` when the screen has no socket: nothing would hear it.
#[utoipa::path(post, path = "/doorplates/{id}/command", tag = "school", params(("id" = String, Path)), request_body = CommandRequest,
    responses((status = 204), (status = 400), (status = 404), (status = 409)))]
async fn send_command(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    Json(req): Json<CommandRequest>,
) -> ApiResult<StatusCode> {
    let d = find(&app, &id).await?;
    if !matches!(req.command.as_str(), "reload" | "identify") {
        return Err(ApiError::bad("bad_command", "command is reload or identify"));
    }
    if !app.hub.is_online(Principal::Device(d.id)) {
        return Err(ApiError::Conflict("offline", "the doorplate is offline".into()));
    }
    app.hub.publish(
        Principal::Device(d.id),
        "doorplate.command",
        &json!({"command": req.command, "name": d.name}),
    );
    app.audit(
        Some(admin.id),
        "doorplate.command",
        Some(d.id),
        json!({"doorplate_id": d.id, "command": req.command}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionReport {
    /// The kiosk build the page was loaded with (`kiosk_build` of its first state).
    pub version: String,
}

/// POST /api/v1/doorplate/version — the kiosk reports the build it runs (device token);
/// kept in memory and shown on the console's fleet list.
#[utoipa::path(post, path = "/doorplate/version", tag = "doorplate", request_body = VersionReport,
    responses((status = 204), (status = 400), (status = 401)))]
async fn report_version(
    State(app): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    Json(req): Json<VersionReport>,
) -> ApiResult<StatusCode> {
    let v = req.version.trim();
    if v.is_empty() || v.chars().count() > 64 || v.chars().any(char::is_control) {
        return Err(ApiError::bad("bad_version", "version is 1 to 64 printable characters"));
    }
    app.kiosk_versions
        .lock()
        .expect("versions poisoned")
        .insert(d.id, v.to_string());
    app.saw_doorplate(d.id).await;
    Ok(StatusCode::NO_CONTENT)
}
