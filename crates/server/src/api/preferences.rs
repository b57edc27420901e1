//! A person's own choices about being told: a teacher's quiet hours (messages wait
//! silently inside them) and a guardian's arrival notices per child ("checked in at
//! Dormitory 3 at 21:03", off unless chosen, and only where the school allows them).
//! An admin may also see and set a staff member's quiet hours.

use super::parse_id;
use crate::auth::{AdminAuth, UserAuth};
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path};
use crate::school::AppState;
use crate::views::QuietNow;
use axum::extract::State;
use doorplate_domain::Role;
use doorplate_domain::quiet::{QuietHours, may_have_quiet_hours};
use doorplate_store::User;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_my_quiet_hours, set_my_quiet_hours))
        .routes(routes!(get_user_quiet_hours, set_user_quiet_hours))
        .routes(routes!(set_arrival_notices))
}

/// A staff member's quiet hours and whether they are inside them now.
#[derive(Serialize, ToSchema)]
pub struct QuietHoursView {
    /// `null`: none set.
    pub quiet_hours: Option<QuietHours>,
    /// Inside them now: until when. `null` otherwise.
    pub now: Option<QuietNow>,
}

/// The new quiet hours; `null` (or every day `null`) clears them.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuietHours {
    pub quiet_hours: Option<QuietHours>,
}

async fn quiet_view(app: &AppState, user: &User) -> ApiResult<QuietHoursView> {
    Ok(QuietHoursView {
        quiet_hours: app.store.quiet_hours(user.id).await?,
        now: app.quiet_now(user).await.map(QuietNow::from),
    })
}

fn staff_only(user: &User) -> ApiResult<()> {
    if may_have_quiet_hours(user.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "not_staff",
            "only teachers and admins have quiet hours".into(),
        ))
    }
}

async fn store_quiet(app: &AppState, actor: &User, user: &User, req: SetQuietHours) -> ApiResult<QuietHoursView> {
    staff_only(user)?;
    let hours = req.quiet_hours.filter(|q| !q.is_empty());
    if let Some(q) = &hours {
        q.validate().map_err(|why| ApiError::bad("bad_quiet_hours", why))?;
    }
    app.store.set_quiet_hours(user.id, hours.clone()).await?;
    app.audit(
        Some(actor.id),
        "user.quiet_hours",
        Some(user.id),
        json!({"quiet_hours": hours}),
    )
    .await;
    quiet_view(app, user).await
}

/// GET /api/v1/me/quiet-hours — the caller's quiet hours (teachers and admins).
#[utoipa::path(get, path = "/me/quiet-hours", tag = "people", responses((status = 200, body = QuietHoursView), (status = 403)))]
async fn get_my_quiet_hours(State(app): State<AppState>, auth: UserAuth) -> ApiResult<axum::Json<QuietHoursView>> {
    staff_only(&auth.user)?;
    Ok(axum::Json(quiet_view(&app, &auth.user).await?))
}

/// PUT /api/v1/me/quiet-hours — sets the caller's quiet hours: per weekday (Monday
/// first) a span `{from, to}` as "HH:MM" in the school's zone; `from` > `to` is the
/// evening and the early morning of that day, `from` = `to` the whole day.
#[utoipa::path(put, path = "/me/quiet-hours", tag = "people", request_body = SetQuietHours,
    responses((status = 200, body = QuietHoursView), (status = 400), (status = 403)))]
async fn set_my_quiet_hours(
    State(app): State<AppState>,
    auth: UserAuth,
    Json(req): Json<SetQuietHours>,
) -> ApiResult<axum::Json<QuietHoursView>> {
    Ok(axum::Json(store_quiet(&app, &auth.user, &auth.user, req).await?))
}

/// GET /api/v1/users/{id}/quiet-hours — a staff member's quiet hours (admins).
#[utoipa::path(get, path = "/users/{id}/quiet-hours", tag = "people", params(("id" = String, Path)),
    responses((status = 200, body = QuietHoursView), (status = 403), (status = 404)))]
async fn get_user_quiet_hours(
    State(app): State<AppState>,
    AdminAuth(_): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<QuietHoursView>> {
    let user = app.store.user(parse_id(&id)?).await.or_not_found("user")?;
    staff_only(&user)?;
    Ok(axum::Json(quiet_view(&app, &user).await?))
}

/// PUT /api/v1/users/{id}/quiet-hours — sets a staff member's quiet hours (admins).
#[utoipa::path(put, path = "/users/{id}/quiet-hours", tag = "people", params(("id" = String, Path)), request_body = SetQuietHours,
    responses((status = 200, body = QuietHoursView), (status = 400), (status = 403), (status = 404)))]
async fn set_user_quiet_hours(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    Json(req): Json<SetQuietHours>,
) -> ApiResult<axum::Json<QuietHoursView>> {
    let user = app.store.user(parse_id(&id)?).await.or_not_found("user")?;
    Ok(axum::Json(store_quiet(&app, &admin, &user, req).await?))
}

/// Whether the guardian is told when this child checks in.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArrivalNotices {
    pub on: bool,
}

/// PUT /api/v1/children/{id}/arrival-notices — a guardian turns arrival notices for
/// their child on or off. 404 for a child not theirs; 409 `arrival_notices_off` to turn
/// them on while the school has the feature off.
#[utoipa::path(put, path = "/children/{id}/arrival-notices", tag = "people", params(("id" = String, Path)), request_body = ArrivalNotices,
    responses((status = 200, body = ArrivalNotices), (status = 403), (status = 404), (status = 409)))]
async fn set_arrival_notices(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
    Json(req): Json<ArrivalNotices>,
) -> ApiResult<axum::Json<ArrivalNotices>> {
    if auth.user.role != Role::Guardian {
        return Err(ApiError::forbidden("only guardians choose arrival notices"));
    }
    let child = parse_id(&id)?;
    if req.on && !app.settings().arrival_notices {
        return Err(ApiError::Conflict(
            "arrival_notices_off",
            "the school has arrival notices turned off".into(),
        ));
    }
    app.store
        .set_arrival_notices(auth.user.id, child, req.on)
        .await
        .or_not_found("child")?;
    Ok(axum::Json(ArrivalNotices { on: req.on }))
}
