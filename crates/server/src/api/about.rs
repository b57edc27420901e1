//! `GET /api/v1/school` — which school this address is: its slug, name and zone. Public,
//! so a sign-in screen can say where a person is signing in (two schools' apps look
//! alike) before anyone has a token.

use crate::district::SchoolInfo;
use crate::school::AppState;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(school_info))
}

/// GET /api/v1/school — the school at this address.
#[utoipa::path(get, path = "/school", tag = "school", responses((status = 200, body = SchoolInfo)))]
async fn school_info(State(app): State<AppState>) -> axum::Json<SchoolInfo> {
    let mut info = app.school.clone();
    // The zone the school runs on is its settings' (an admin may have changed it).
    info.timezone = app.settings().timezone.clone();
    axum::Json(info)
}
