//! Signing in and out.

use crate::auth::{COOKIE, Caller, UserAuth};
use crate::client::ClientAddr;
use crate::crypto::{new_token, pretend_to_verify, verify_password_async};
use crate::district::SchoolBase;
use crate::error::{ApiError, ApiResult, Json};
use crate::school::AppState;
use crate::throttles::Key;
use crate::views::UserView;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorplate_domain::Role;
use doorplate_store::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long a login token lives.
const TOKEN_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Also set the token as the `doorplate_session` cookie (default true). The web faces
    /// hold the bearer token and send `false`, so no cookie is left for a forged request.
    #[serde(default = "yes")]
    pub cookie: bool,
}

fn yes() -> bool {
    true
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub token: String,
    pub user: UserView,
}

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
}

/// POST /api/v1/auth/login — a login token for staff and guardians (also set as the
/// `doorplate_session` cookie). Students sign in at a doorplate instead (R4): a student's
/// username gets 403 `students_use_doorplates` whatever the password, so the answer never
/// tells whether a student's password is right.
///
/// The attempt is counted against the account and the client address before any
/// password is hashed (see `throttles`), so parallel guesses get no more than the budget.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401), (status = 403), (status = 429)))]
async fn login(
    State(app): State<AppState>,
    ClientAddr(client): ClientAddr,
    base: SchoolBase,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let username = req.username.trim().to_string();
    let now = app.now();
    let attempt = app
        .throttles
        .reserve(vec![Key::Client(client), Key::Account(username.to_lowercase())], now)?;
    let user = match app.store.user_by_username(username).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => {
            attempt.cancel();
            return Err(e.into());
        }
    };
    let wrong = || ApiError::Unauthorized("invalid_credentials", "wrong username or password".into());
    let user = match user {
        None => {
            pretend_to_verify().await;
            attempt.fail(now);
            return Err(wrong());
        }
        Some(u) if u.role == Role::Student => {
            pretend_to_verify().await;
            attempt.fail(now);
            return Err(ApiError::Forbidden(
                "students_use_doorplates",
                "students sign in at a doorplate".into(),
            ));
        }
        Some(u) => u,
    };
    let ok = match user.password_hash.clone() {
        Some(phc) => verify_password_async(req.password, phc).await,
        None => {
            pretend_to_verify().await;
            false
        }
    };
    if !ok || user.disabled {
        attempt.fail(now);
        return Err(wrong());
    }
    attempt.succeed(now);
    let token = new_token("dpu_");
    let expires = now + TOKEN_DAYS * 86_400_000_000;
    app.store
        .create_token(app.secrets.hash("token", &token), user.id, now, expires)
        .await?;
    app.audit(Some(user.id), "auth.login", Some(user.id), json!({})).await;
    let cookie = req.cookie.then(|| session_cookie(&token, TOKEN_DAYS * 86_400, &base));
    let mut res = axum::Json(LoginResponse {
        token,
        user: UserView::from(&user),
    })
    .into_response();
    if let Some(v) = cookie {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(res)
}

/// POST /api/v1/auth/logout — ends this login token (and clears the cookie).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204), (status = 401)))]
async fn logout(State(app): State<AppState>, base: SchoolBase, caller: Caller) -> ApiResult<Response> {
    if let Caller::User {
        token,
        user,
        session: None,
    } = &caller
    {
        let hash = app.secrets.hash("token", token);
        app.store.delete_token(hash.clone()).await?;
        app.directory.forget_token(&hash);
        // Its event sockets close too: a signed-out token must not keep receiving.
        app.revocations.revoke_token(user.id, &hash);
        app.audit(Some(user.id), "auth.logout", Some(user.id), json!({})).await;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, &base));
    Ok(res)
}

/// The `doorplate_session` cookie (an empty value with `max_age` 0 clears it). `Secure`
/// is added by `layers::common_headers` when the server's public URL is https. Its
/// `Path` is the school's (`/s/{slug}/`, or `/` at the root paths), so a browser sends
/// each school its own cookie first.
fn session_cookie(token: &str, max_age: i64, base: &SchoolBase) -> HeaderValue {
    let path = base.cookie_path();
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    ))
    .expect("a token is printable ASCII")
}

/// GET /api/v1/me — who the token belongs to.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = MeResponse), (status = 401)))]
async fn me(auth: UserAuth) -> axum::Json<MeResponse> {
    axum::Json(MeResponse {
        user: UserView::from(&auth.user),
    })
}
