//! Signing in and out.

use crate::auth::{COOKIE, Caller, UserAuth};
use crate::crypto::{new_token, verify_password_async};
use crate::error::{ApiError, ApiResult, Json};
use crate::state::{AppState, ThrottleKey, now_micros};
use crate::views::UserView;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorplate_domain::Role;
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
/// `doorplate_session` cookie). Students sign in at a doorplate instead (R4).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401), (status = 429)))]
async fn login(State(app): State<AppState>, Json(req): Json<LoginRequest>) -> ApiResult<Response> {
    let key = ThrottleKey::Account(req.username.trim().to_lowercase());
    let now = now_micros();
    app.throttle
        .lock()
        .expect("throttle poisoned")
        .check(&key, now)
        .map_err(ApiError::Throttled)?;
    let user = app.store.user_by_username(req.username.trim().to_string()).await.ok();
    let phc = user.as_ref().and_then(|u| u.password_hash.clone());
    let password = req.password;
    // Verify even for unknown users (against a dummy hash) so timing does not tell
    // which usernames exist.
    let ok = match phc {
        Some(phc) => verify_password_async(password, phc).await,
        None => {
            let _ = verify_password_async(password, dummy_hash().to_string()).await;
            false
        }
    };
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        _ => {
            let locked = app.throttle.lock().expect("throttle poisoned").fail(&key, now);
            return Err(match locked {
                Err(secs) => ApiError::Throttled(secs),
                Ok(()) => ApiError::Unauthorized("invalid_credentials", "wrong username or password".into()),
            });
        }
    };
    app.throttle.lock().expect("throttle poisoned").succeed(&key);
    if user.role == Role::Student {
        return Err(ApiError::Forbidden(
            "students_use_doorplates",
            "students sign in at a doorplate".into(),
        ));
    }
    let token = new_token("dpu_");
    let expires = now + TOKEN_DAYS * 86_400_000_000;
    app.store
        .create_token(app.secrets.hash("token", &token), user.id, now, expires)
        .await?;
    app.audit(Some(user.id), "auth.login", Some(user.id), json!({})).await;
    let cookie = req.cookie.then(|| session_cookie(&token, TOKEN_DAYS * 86_400));
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

/// An argon2id hash of a random string, verified against for unknown usernames so they
/// cost the same time as known ones.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| crate::crypto::hash_password(&crate::crypto::new_token("")))
}

/// POST /api/v1/auth/logout — ends this login token (and clears the cookie).
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204), (status = 401)))]
async fn logout(State(app): State<AppState>, caller: Caller) -> ApiResult<Response> {
    if let Caller::User {
        token,
        user,
        session: None,
    } = &caller
    {
        let hash = app.secrets.hash("token", token);
        app.store.delete_token(hash.clone()).await?;
        app.cache.forget_token(&hash);
        app.audit(Some(user.id), "auth.logout", Some(user.id), json!({})).await;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(res)
}

/// The `doorplate_session` cookie (an empty value with `max_age` 0 clears it). `Secure`
/// is added by `layers::common_headers` when the server's public URL is https.
fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
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
