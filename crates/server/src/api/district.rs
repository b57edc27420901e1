//! The district's servers and leases, read-only, for admins (several servers on
//! PostgreSQL; `doorplate district status` prints the same).

use crate::auth::AdminAuth;
use crate::district::hosts::lease_micros;
use crate::district::status::DistrictStatus;
use crate::error::{ApiError, ApiResult};
use crate::school::AppState;
use axum::Extension;
use doorplate_store::postgres::district::PgDistrict;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The district's tables when the schools are on PostgreSQL (`None` on a data folder);
/// a layer of every school's router.
#[derive(Clone, Debug, Default)]
pub struct DistrictTables(pub Option<PgDistrict>);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(district_status))
}

/// GET /api/v1/district — the servers of the district (name, URL, state, when last
/// seen, which schools each hosts) and every school's lease (name, host, epoch, how long
/// held, when it runs out); admins only, read-only. The console's district page asks it
/// every few seconds. 404 on a deployment that keeps its schools in a data folder (one
/// server hosts them all).
#[utoipa::path(get, path = "/district", tag = "settings",
    responses(
        (status = 200, body = DistrictStatus,
            description = "The servers sharing the district's PostgreSQL database and every school's lease, at one moment of the database's clock"),
        (status = 403, description = "Not an admin"),
        (status = 404, description = "This deployment keeps its schools in a data folder: one server hosts them all, and there are no leases")))]
async fn district_status(
    AdminAuth(_): AdminAuth,
    tables: Option<Extension<DistrictTables>>,
) -> ApiResult<axum::Json<DistrictStatus>> {
    let Some(Extension(DistrictTables(Some(district)))) = tables else {
        return Err(ApiError::NotFound(
            "this deployment keeps its schools in a data folder: one server hosts them all".into(),
        ));
    };
    let view = district.read_leases().await?;
    Ok(axum::Json(DistrictStatus::from_view(&view, lease_micros())))
}
