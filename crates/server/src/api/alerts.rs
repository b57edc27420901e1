//! A class teacher's urgent alerts: an urgent message from a guardian to a child of
//! their class is kept for each class teacher until they acknowledge it, so an alert
//! raised while nobody was looking is still there after a reload.

use super::parse_id;
use crate::auth::UserAuth;
use crate::error::{ApiResult, NotFoundAs, Path};
use crate::hub::Principal;
use crate::school::AppState;
use crate::time::rfc3339;
use axum::extract::State;
use doorplate_store::Alert;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(acknowledge_alert))
}

/// One urgent alert. Its message is between the guardian and the child (the teacher does
/// not read it); the way to act is the teacher's own conversation with `from_id`.
#[derive(Serialize, ToSchema)]
pub struct AlertView {
    pub id: String,
    /// The urgent message the alert is about.
    pub message_id: String,
    pub student_id: String,
    pub student_name: String,
    /// The guardian who sent it.
    pub from_id: String,
    pub from_name: String,
    pub at: String,
    pub acknowledged_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertList {
    /// Unacknowledged, newest first.
    pub alerts: Vec<AlertView>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertResponse {
    pub alert: AlertView,
}

/// The view of a stored alert, with the names of the people it is about.
pub async fn alert_view(app: &AppState, a: &Alert) -> AlertView {
    let name = async |id| app.directory.user(id).await.map(|u| u.display_name).unwrap_or_default();
    AlertView {
        id: a.id.to_string(),
        message_id: a.message_id.to_string(),
        student_id: a.student_id.to_string(),
        student_name: name(a.student_id).await,
        from_id: a.from_id.to_string(),
        from_name: name(a.from_id).await,
        at: rfc3339(a.at),
        acknowledged_at: a.acknowledged_at.map(rfc3339),
    }
}

/// GET /api/v1/alerts — the caller's unacknowledged urgent alerts, newest first.
#[utoipa::path(get, path = "/alerts", tag = "alerts", responses((status = 200, body = AlertList)))]
async fn list_alerts(State(app): State<AppState>, auth: UserAuth) -> ApiResult<axum::Json<AlertList>> {
    let stored = app.store.open_alerts(auth.user.id).await?;
    let mut alerts = Vec::with_capacity(stored.len());
    for a in &stored {
        alerts.push(alert_view(&app, a).await);
    }
    Ok(axum::Json(AlertList { alerts }))
}

/// POST /api/v1/alerts/{id}/ack — acknowledges one of the caller's alerts (again is
/// fine); another's alert is 404 like an unknown one. The caller's other clients hear
/// `alert.acknowledged {alert_id}`.
#[utoipa::path(post, path = "/alerts/{id}/ack", tag = "alerts",
    params(("id" = String, Path, description = "the alert")),
    responses((status = 200, body = AlertResponse), (status = 404)))]
async fn acknowledge_alert(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AlertResponse>> {
    let id = parse_id(&id)?;
    let a = app
        .store
        .acknowledge_alert(id, auth.user.id, app.now())
        .await
        .or_not_found("alert")?;
    app.hub.publish(
        Principal::User(auth.user.id),
        "alert.acknowledged",
        &json!({"alert_id": a.id.to_string()}),
    );
    Ok(axum::Json(AlertResponse {
        alert: alert_view(&app, &a).await,
    }))
}
