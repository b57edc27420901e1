//! The one API error type: every handler returns `Result<_, ApiError>`, and this file
//! alone decides the status, the `{"error": {code, message}}` body and what is logged.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorplate_store::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{1}")]
    Unauthorized(&'static str, String),
    #[error("{1}")]
    Forbidden(&'static str, String),
    #[error("{0}")]
    NotFound(String),
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("{0}")]
    TooLarge(String),
    /// A cookie-signed write whose body has a type an HTML form can send (`origin.rs`).
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("too many attempts; try again in {0} s")]
    Throttled(u64),
    /// Too many requests of one kind (429 with `Retry-After` seconds), with its own code.
    #[error("{1}")]
    RateLimited(&'static str, String, u64),
    /// A per-user limit on kept bytes was reached (413), with its own code.
    #[error("{1}")]
    Quota(&'static str, String),
    /// The disk has no room (507 `insufficient_storage`); nothing was stored.
    #[error("{0}")]
    InsufficientStorage(String),
    /// Storage failed for another reason (503 `storage_unavailable`); nothing was stored.
    #[error("{0}")]
    StorageUnavailable(String),
    /// The school is between servers (its lease was taken over, or no server hosts it
    /// yet): 503 `school_moving` with `Retry-After`; nothing was stored.
    #[error("{0}")]
    SchoolMoving(String),
    /// Our fault: logged with its cause, shown to the caller only as "internal error".
    #[error("internal: {0}")]
    Internal(String),
    /// Any of the above with the parameters a face needs to say it in the reader's
    /// language (`{"error": {code, message, params}}`): which field, what limit. The
    /// `message` stays English for logs and programs; the faces word the code.
    #[error("{0}")]
    WithParams(Box<ApiError>, serde_json::Map<String, serde_json::Value>),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad(code: &'static str, msg: impl Into<String>) -> Self {
        ApiError::BadRequest(code, msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        ApiError::Forbidden("forbidden", msg.into())
    }
    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }
    /// This error with parameters for the faces (see [`ApiError::WithParams`]).
    pub fn with_params(self, params: serde_json::Value) -> Self {
        match params {
            serde_json::Value::Object(map) if !map.is_empty() => ApiError::WithParams(Box::new(self), map),
            _ => self,
        }
    }

    pub fn unauthenticated() -> Self {
        ApiError::Unauthorized("unauthenticated", "sign in first".into())
    }
}

/// Turns "not found" — and only that — into the answer a handler chooses; every other
/// failure (a store that is down, a full disk) keeps its own status. A handler never
/// writes `map_err(|_| …)` over a store result: that made a broken database look like
/// an unknown id.
pub trait NotFoundAs<T> {
    /// Not found is 404 naming `what`.
    fn or_not_found(self, what: &str) -> ApiResult<T>;
    /// Not found is 422 with this code and message (a request that names a row that
    /// does not exist).
    fn or_unprocessable(self, code: &'static str, msg: &str) -> ApiResult<T>;
}

impl<T> NotFoundAs<T> for Result<T, StoreError> {
    fn or_not_found(self, what: &str) -> ApiResult<T> {
        self.map_err(ApiError::from).or_not_found(what)
    }
    fn or_unprocessable(self, code: &'static str, msg: &str) -> ApiResult<T> {
        self.map_err(ApiError::from).or_unprocessable(code, msg)
    }
}

impl<T> NotFoundAs<T> for ApiResult<T> {
    fn or_not_found(self, what: &str) -> ApiResult<T> {
        self.map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::not_found(what),
            other => other,
        })
    }
    fn or_unprocessable(self, code: &'static str, msg: &str) -> ApiResult<T> {
        self.map_err(|e| match e {
            ApiError::NotFound(_) => ApiError::Unprocessable(code, msg.into()),
            other => other,
        })
    }
}

impl From<StoreError> for ApiError {
    /// Store failures map here once: unknown rows are 404, broken uniqueness 409, a
    /// reference to a missing row 422, anything else internal.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            // The conflicts people meet have codes of their own (the faces word them).
            StoreError::Conflict("username") => {
                ApiError::Conflict("username_taken", "that username is already taken".into())
            }
            StoreError::Conflict("card") => {
                ApiError::Conflict("card_taken", "that card is already registered to someone".into())
            }
            StoreError::Conflict("last_admin") => ApiError::Conflict(
                "last_admin",
                "this is the last active admin; make another admin first".into(),
            ),
            StoreError::Conflict(field) => {
                ApiError::Conflict("conflict", format!("{field} is already taken")).with_params(json!({"field": field}))
            }
            StoreError::BadReference(field) => {
                ApiError::Unprocessable("unknown_reference", format!("{field} refers to nothing"))
            }
            StoreError::Full => ApiError::InsufficientStorage("the server's disk is full; try again later".into()),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "storage failed: nothing was stored");
                ApiError::StorageUnavailable("the server cannot store or read this now; try again later".into())
            }
            StoreError::WriterStopped => {
                tracing::error!("the database writer has stopped: writes fail until a restart");
                ApiError::StorageUnavailable("the server cannot store anything now; try again later".into())
            }
            StoreError::Fenced => ApiError::SchoolMoving(
                "this school is moving to another server; nothing was stored, try again in a moment".into(),
            ),
            StoreError::Internal(m) => ApiError::Internal(m),
        }
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A body over the limit is 413; anything else about the JSON (its syntax, its
    /// fields, a missing `application/json`) is bad input, 400, as API.md lists.
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(e.body_text()),
            _ => ApiError::BadRequest("bad_json", e.body_text()),
        }
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::BadRequest("bad_query", e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        ApiError::BadRequest("bad_path", e.body_text())
    }
}

impl ApiError {
    /// The status and the snake_case code this error answers with.
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(c, _) => (StatusCode::BAD_REQUEST, c),
            ApiError::Unauthorized(c, _) => (StatusCode::UNAUTHORIZED, c),
            ApiError::Forbidden(c, _) => (StatusCode::FORBIDDEN, c),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(c, _) => (StatusCode::CONFLICT, c),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Unprocessable(c, _) => (StatusCode::UNPROCESSABLE_ENTITY, c),
            ApiError::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled"),
            ApiError::RateLimited(c, _, _) => (StatusCode::TOO_MANY_REQUESTS, c),
            ApiError::Quota(c, _) => (StatusCode::PAYLOAD_TOO_LARGE, c),
            ApiError::InsufficientStorage(_) => (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage"),
            ApiError::StorageUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable"),
            ApiError::SchoolMoving(_) => (StatusCode::SERVICE_UNAVAILABLE, "school_moving"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::WithParams(inner, _) => inner.status_and_code(),
        }
    }

    /// Seconds to wait, for a throttled answer's `Retry-After`.
    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Throttled(secs) | ApiError::RateLimited(_, _, secs) => Some(*secs),
            // A takeover is done within seconds.
            ApiError::SchoolMoving(_) => Some(2),
            ApiError::WithParams(inner, _) => inner.retry_after(),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut body = json!({"error": {"code": code, "message": message}});
        if let ApiError::WithParams(_, params) = &self {
            body["error"]["params"] = serde_json::Value::Object(params.clone());
        }
        let mut res = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}

/// The `{"error": {code, message}}` answer with this status; `ApiError` and the
/// middleware that reshapes axum's own error answers both build it here.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"code": code, "message": message}}))).into_response()
}

/// A JSON body extractor whose rejections are our error JSON (400, 413), not axum's text.
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    axum::Json<T>: axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(v))
    }
}

/// Query string extractor with our error JSON.
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(v))
    }
}

/// Path extractor with our error JSON.
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(v))
    }
}

#[cfg(test)]
mod not_found_tests {
    use super::*;

    #[test]
    fn only_not_found_becomes_the_chosen_answer() {
        let gone: Result<(), StoreError> = Err(StoreError::NotFound);
        assert!(matches!(gone.or_not_found("user"), Err(ApiError::NotFound(m)) if m == "user not found"));
        let gone: Result<(), StoreError> = Err(StoreError::NotFound);
        assert!(matches!(
            gone.or_unprocessable("unknown_room", "room_id refers to no room"),
            Err(ApiError::Unprocessable("unknown_room", _))
        ));
        // A broken store is not an unknown id.
        let broken: Result<(), StoreError> = Err(StoreError::Internal("disk I/O error".into()));
        assert!(matches!(broken.or_not_found("user"), Err(ApiError::Internal(_))));
        let stopped: Result<(), StoreError> = Err(StoreError::WriterStopped);
        assert!(matches!(
            stopped.or_unprocessable("unknown_room", "x"),
            Err(ApiError::StorageUnavailable(_))
        ));
    }
}
