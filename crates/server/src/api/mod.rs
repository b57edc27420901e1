//! The HTTP API under `/api/v1`: one router per feature, merged here, and the OpenAPI
//! document generated from the handlers' annotations.

pub mod about;
pub mod alerts;
pub mod arrangements;
pub mod auth;
pub mod backups;
pub mod calls;
pub mod district;
pub mod doorplate;
pub mod downloads;
pub mod events;
pub mod fleet;
pub mod import;
pub mod media;
pub mod messages;
pub mod notices;
pub mod openapi;
pub mod preferences;
pub mod presence;
pub mod push;
pub mod school;
pub mod settings;
pub mod timetable;
pub mod users;

use crate::error::ApiError;
use crate::school::AppState;
use doorplate_domain::Id;
use serde::{Deserialize, Deserializer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorplate API", description = "Students, guardians and staff in touch through the doorplates at every door. See API.md for the contract."),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every API route and its OpenAPI description, built from the same handlers.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(about::router())
        .merge(auth::router())
        .merge(users::router())
        .merge(school::router())
        .merge(doorplate::router())
        .merge(fleet::router())
        .merge(presence::router())
        .merge(messages::router())
        .merge(media::router())
        .merge(events::router())
        .merge(settings::router())
        .merge(timetable::router())
        .merge(arrangements::router())
        .merge(notices::router())
        .merge(import::router())
        .merge(alerts::router())
        .merge(preferences::router())
        .merge(push::router())
        .merge(calls::router())
        .merge(backups::router())
        .merge(district::router());
    let (router, mut doc) = OpenApiRouter::new().nest("/api/v1", api).split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    openapi::complete(&mut doc);
    (router, doc)
}

/// An id in a request body: opaque strings on the wire; plain numbers are accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiId(pub Id);

impl<'de> Deserialize<'de> for ApiId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            N(i64),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ApiId(n)),
            Raw::S(s) => id_from(&s)
                .map(ApiId)
                .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not an id"))),
        }
    }
}

impl utoipa::PartialSchema for ApiId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(openapi::ID))
            .into()
    }
}

impl utoipa::ToSchema for ApiId {}

/// The one reading of an id on the wire: a decimal number, spaces around ignored.
fn id_from(s: &str) -> Option<Id> {
    s.trim().parse().ok()
}

/// An id in a path: text that is no id names nothing, so it is 404 like an unknown id.
pub fn parse_id(s: &str) -> Result<Id, ApiError> {
    id_from(s).ok_or_else(|| ApiError::not_found("that"))
}

/// An optional id in a query filter: absent or empty is no filter; text that is no id
/// is 400 `bad_id` (a filter that can match nothing is a mistake worth saying).
pub fn query_id(field: &str, v: Option<&str>) -> Result<Option<Id>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => id_from(s)
            .map(Some)
            .ok_or_else(|| ApiError::bad("bad_id", format!("{field} is not an id"))),
    }
}

/// Trims a required text field and refuses it empty or too long.
pub fn required_text(field: &'static str, v: &str, max: usize) -> Result<String, ApiError> {
    let t = v.trim();
    if t.is_empty() {
        return Err(ApiError::bad("missing_field", format!("{field} must not be empty"))
            .with_params(serde_json::json!({"field": field})));
    }
    if t.chars().count() > max {
        return Err(
            ApiError::bad("too_long", format!("{field} must be at most {max} characters"))
                .with_params(serde_json::json!({"field": field, "max": max})),
        );
    }
    Ok(t.to_string())
}
