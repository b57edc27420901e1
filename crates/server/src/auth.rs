//! Who is calling: one extractor per kind of principal, so a handler's signature says
//! who may call it.
//!
//! A bearer token (header `Authorization: Bearer …` or the `doorplate_session` cookie)
//! is one of three kinds, told apart by its prefix: `dpu_` a user's login, `dpd_` a
//! doorplate's virtual account, `dps_` a personal session on a doorplate. Only keyed
//! hashes of tokens are stored or kept in memory.

use crate::error::ApiError;
use crate::school::AppState;
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};
use doorplate_domain::{Id, Role};
use doorplate_store::{Doorplate, StoreError, User};
use tokio::sync::watch;

pub const COOKIE: &str = "doorplate_session";

/// A personal session on a doorplate that a user's request came through.
#[derive(Clone, Debug)]
pub struct ViaSession {
    pub doorplate_id: Id,
    pub revoked: watch::Receiver<bool>,
}

/// Any authenticated caller.
#[derive(Clone, Debug)]
pub enum Caller {
    User {
        user: User,
        session: Option<ViaSession>,
        token: String,
    },
    Device {
        doorplate: Doorplate,
        token: String,
    },
}

/// The bearer token of a request, from the header or the cookie.
pub fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    session_cookie(headers)
}

/// The value of the `doorplate_session` cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// Resolves a token to its caller. 401 for anything unknown, expired or disabled.
pub async fn resolve(app: &AppState, token: &str) -> Result<Caller, ApiError> {
    let invalid = || ApiError::Unauthorized("invalid_token", "the token is unknown or has expired".into());
    let not_found_is_invalid = |e: StoreError| match e {
        StoreError::NotFound => invalid(),
        other => other.into(),
    };
    let api_not_found_is_invalid = |e: ApiError| match e {
        ApiError::NotFound(_) => invalid(),
        other => other,
    };
    let now = app.now();
    if token.starts_with("dpd_") {
        let doorplate = app
            .store
            .doorplate_by_token(app.secrets.hash("device", token))
            .await
            .map_err(not_found_is_invalid)?;
        return Ok(Caller::Device {
            doorplate,
            token: token.into(),
        });
    }
    let (user_id, session) = if token.starts_with("dps_") {
        let live = app
            .sessions
            .check(&app.secrets.hash("session", token), now, |u, d| {
                app.presence.is_present(u, d)
            })
            .map_err(|ended| {
                if let Some(e) = ended {
                    app.session_ended(e, "expired");
                }
                ApiError::Unauthorized("session_ended", "the personal session has ended".into())
            })?;
        (
            live.user_id,
            Some(ViaSession {
                doorplate_id: live.doorplate_id,
                revoked: live.revoked,
            }),
        )
    } else if token.starts_with("dpu_") {
        (
            app.directory
                .token_user(app.secrets.hash("token", token), now)
                .await
                .map_err(api_not_found_is_invalid)?,
            None,
        )
    } else {
        return Err(invalid());
    };
    let user = app.directory.user(user_id).await.map_err(api_not_found_is_invalid)?;
    if user.disabled {
        return Err(ApiError::Unauthorized("disabled", "this account is disabled".into()));
    }
    Ok(Caller::User {
        user,
        session,
        token: token.into(),
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        resolve(app, &token).await
    }
}

/// A user (not a device): a login token or a personal session on a doorplate.
/// A device token gets 403: the doorplate's own account never reads messages.
pub struct UserAuth {
    pub user: User,
    pub session: Option<ViaSession>,
}

impl FromRequestParts<AppState> for UserAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::User { user, session, .. } => Ok(UserAuth { user, session }),
            Caller::Device { .. } => Err(ApiError::Forbidden(
                "device_token",
                "a doorplate's own account cannot do this; open a personal session".into(),
            )),
        }
    }
}

/// A teacher or an admin (also through a personal session on a doorplate).
pub struct StaffAuth(pub User);

impl FromRequestParts<AppState> for StaffAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let UserAuth { user, .. } = UserAuth::from_request_parts(parts, app).await?;
        if !user.role.is_staff() {
            return Err(ApiError::forbidden("only staff may do this"));
        }
        Ok(StaffAuth(user))
    }
}

/// An admin, signed in with a login token. A personal session on a doorplate never
/// carries an admin's powers, whoever opened it: it is teacher mode (a card, a badge or a
/// password typed at a door proves someone at that door, not the right to run the
/// school).
pub struct AdminAuth(pub User);

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let UserAuth { user, session } = UserAuth::from_request_parts(parts, app).await?;
        if user.role != Role::Admin {
            return Err(ApiError::forbidden("only an admin may do this"));
        }
        if session.is_some() {
            return Err(ApiError::Forbidden(
                "teacher_mode",
                "a doorplate session has a teacher's powers only; sign in to the console for this".into(),
            ));
        }
        Ok(AdminAuth(user))
    }
}

/// A doorplate's virtual account.
pub struct DeviceAuth(pub Doorplate);

impl FromRequestParts<AppState> for DeviceAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::Device { doorplate, .. } => Ok(DeviceAuth(doorplate)),
            Caller::User { .. } => Err(ApiError::Forbidden(
                "not_a_device",
                "only a paired doorplate may do this".into(),
            )),
        }
    }
}
