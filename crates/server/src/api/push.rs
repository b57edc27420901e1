//! Web Push subscriptions: a person's browsers that asked to be notified ("Notify me on
//! this phone"), listed with their device names and last use, and removable. Only
//! endpoints of the real push services are kept (an allow-list: a subscription must not
//! make the server send requests to any host it names); a malformed one is refused with
//! 400 and stored nowhere. A subscription belongs to the login it was made with: that
//! login's logout removes it. Beside them, the person's push settings: what they chose
//! to be told besides what always comes (read receipts, off until chosen).

use super::parse_id;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path};
use crate::school::AppState;
use crate::time::rfc3339;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use doorplate_domain::Role;
use doorplate_store::{NewPushSubscription, PushSettings, PushSubscription, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push_key))
        .routes(routes!(list_subscriptions, subscribe))
        .routes(routes!(unsubscribe))
        .routes(routes!(get_push_settings, change_push_settings))
}

/// The longest device name kept.
const MAX_DEVICE_NAME: usize = 60;

/// The school's VAPID public key: what `pushManager.subscribe` takes as
/// `applicationServerKey`.
#[derive(Serialize, ToSchema)]
pub struct PushKey {
    /// Uncompressed P-256 point, base64url without padding.
    pub public_key: String,
}

/// A browser's keys, as `PushSubscription.toJSON()` gives them (base64url).
#[derive(Deserialize, ToSchema)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (65 bytes, uncompressed).
    pub p256dh: String,
    /// The browser's authentication secret (16 bytes).
    pub auth: String,
}

/// `PushSubscription.toJSON()` and a name for the device. Other fields
/// (`expirationTime`) are ignored.
#[derive(Deserialize, ToSchema)]
pub struct SubscribeRequest {
    /// The push service's URL for this browser: https, on a known push service.
    pub endpoint: String,
    pub keys: SubscriptionKeys,
    /// What the person calls this device ("Mum's phone"); at most 60 characters.
    pub device_name: Option<String>,
}

/// One subscription, as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    pub device_name: String,
    /// The push service's host (`fcm.googleapis.com` …).
    pub service: String,
    /// The endpoint itself, so a browser can tell its own subscription in the list.
    pub endpoint: String,
    pub created_at: String,
    /// When a notification last went to it; `null`: none yet.
    pub last_used_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionResponse {
    pub subscription: SubscriptionView,
}

/// A person's choices about what reaches their phones besides what always does.
#[derive(Serialize, ToSchema)]
pub struct PushSettingsView {
    /// Tell me when my messages are read: when someone reads a message of theirs, the
    /// person's notified devices say who read it (never the text), unless their app is
    /// open. Off until they choose it.
    pub read_receipts: bool,
}

/// The settings to change, as a JSON object; a field left out stays as it is. Each is
/// `true` or `false` (not `null`, a string or a number).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushSettingsPatch {
    #[schema(value_type = bool, required = false)]
    pub read_receipts: Option<bool>,
}

impl PushSettingsPatch {
    /// Reads a patch field by field (a JSON array would otherwise pass for a struct's
    /// fields in order): 400 `bad_push_setting`, naming the field, for an unknown one or
    /// a value that is not a boolean.
    fn parse(fields: serde_json::Map<String, serde_json::Value>) -> ApiResult<PushSettingsPatch> {
        let bad =
            |field: &str, msg: String| ApiError::bad("bad_push_setting", msg).with_params(json!({"field": field}));
        for (name, value) in &fields {
            match name.as_str() {
                "read_receipts" if value.is_boolean() => {}
                "read_receipts" => return Err(bad(name, format!("{name} is true or false"))),
                _ => return Err(bad(name, format!("{name} is not a push setting"))),
            }
        }
        serde_json::from_value(serde_json::Value::Object(fields))
            .map_err(|e| ApiError::bad("bad_push_setting", e.to_string()))
    }
}

fn settings_view(s: PushSettings) -> PushSettingsView {
    PushSettingsView {
        read_receipts: s.read_receipts,
    }
}

fn view(s: &PushSubscription) -> SubscriptionView {
    let service = s
        .endpoint
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', ':', '?']).next().unwrap_or(""))
        .unwrap_or("")
        .to_string();
    SubscriptionView {
        id: s.id.to_string(),
        device_name: s.device_name.clone(),
        service,
        endpoint: s.endpoint.clone(),
        created_at: rfc3339(s.created_at),
        last_used_at: s.last_used_at.map(rfc3339),
    }
}

/// The signed-in person behind a login token (not a doorplate's session, not a
/// student: notifications are for guardians' and staff's own phones), and the token.
fn phone_owner(caller: Caller) -> ApiResult<(User, String)> {
    match caller {
        Caller::User {
            user,
            session: None,
            token,
        } if user.role != Role::Student => Ok((user, token)),
        Caller::User { session: Some(_), .. } => Err(ApiError::Forbidden(
            "not_on_a_doorplate",
            "notifications are set up in the family app, not at a door".into(),
        )),
        Caller::User { .. } => Err(ApiError::Forbidden(
            "students_use_doorplates",
            "students read their messages at the doorplates".into(),
        )),
        Caller::Device { .. } => Err(ApiError::Forbidden(
            "device_token",
            "a doorplate's own account cannot do this".into(),
        )),
    }
}

/// GET /api/v1/push/key — the school's VAPID public key.
#[utoipa::path(get, path = "/push/key", tag = "push", responses((status = 200, body = PushKey)))]
async fn push_key(State(app): State<AppState>, caller: Caller) -> ApiResult<axum::Json<PushKey>> {
    phone_owner(caller)?;
    Ok(axum::Json(PushKey {
        public_key: app.push.vapid.public_key().to_string(),
    }))
}

/// GET /api/v1/push/subscriptions — the caller's subscribed devices, oldest first.
#[utoipa::path(get, path = "/push/subscriptions", tag = "push", responses((status = 200, body = SubscriptionList)))]
async fn list_subscriptions(State(app): State<AppState>, caller: Caller) -> ApiResult<axum::Json<SubscriptionList>> {
    let (user, _) = phone_owner(caller)?;
    let subs = app.store.push_subscriptions_of(user.id).await?;
    Ok(axum::Json(SubscriptionList {
        subscriptions: subs.iter().map(view).collect(),
    }))
}

/// POST /api/v1/push/subscriptions — keeps this browser's subscription for the caller
/// (the same endpoint again replaces the old one). 400 `bad_subscription` for keys
/// that are not a P-256 key and a 16-byte secret, 400 `endpoint_not_allowed` for an
/// endpoint that is not https on a known push service; nothing is stored then.
#[utoipa::path(post, path = "/push/subscriptions", tag = "push", request_body = SubscribeRequest,
    responses((status = 201, body = SubscriptionResponse), (status = 400)))]
async fn subscribe(
    State(app): State<AppState>,
    caller: Caller,
    Json(req): Json<SubscribeRequest>,
) -> ApiResult<(StatusCode, axum::Json<SubscriptionResponse>)> {
    let (user, token) = phone_owner(caller)?;
    let endpoint = req.endpoint.trim().to_string();
    app.push.config().check_endpoint(&endpoint).map_err(|e| {
        let code = match e {
            doorplate_domain::push::EndpointError::Malformed => "bad_subscription",
            _ => "endpoint_not_allowed",
        };
        ApiError::bad(code, crate::push::sender::endpoint_message(e))
    })?;
    let decode = |s: &str| B64.decode(s.trim().trim_end_matches('='));
    let (Ok(p256dh), Ok(auth)) = (decode(&req.keys.p256dh), decode(&req.keys.auth)) else {
        return Err(ApiError::bad(
            "bad_subscription",
            "the subscription's keys are not base64url",
        ));
    };
    crate::push::ece::check_keys(&p256dh, &auth)
        .map_err(|e| ApiError::bad("bad_subscription", format!("the subscription's keys are unusable: {e}")))?;
    let device_name = req
        .device_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("")
        .to_string();
    if device_name.chars().count() > MAX_DEVICE_NAME || device_name.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "bad_device_name",
            format!("a device name has at most {MAX_DEVICE_NAME} characters"),
        ));
    }
    let saved = app
        .store
        .save_push_subscription(NewPushSubscription {
            user_id: user.id,
            endpoint,
            p256dh,
            auth,
            device_name,
            token_hash: Some(app.secrets.hash("token", &token)),
            now: app.now(),
        })
        .await?;
    app.audit(
        Some(user.id),
        "push.subscribed",
        Some(user.id),
        json!({"subscription_id": saved.id, "service": view(&saved).service}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(SubscriptionResponse {
            subscription: view(&saved),
        }),
    ))
}

/// DELETE /api/v1/push/subscriptions/{id} — removes one of the caller's subscriptions
/// (another person's is 404, like an unknown one).
#[utoipa::path(delete, path = "/push/subscriptions/{id}", tag = "push", params(("id" = String, Path)),
    responses((status = 204), (status = 404)))]
async fn unsubscribe(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let (user, _) = phone_owner(caller)?;
    let id = parse_id(&id)?;
    app.store
        .delete_push_subscription(user.id, id)
        .await
        .or_not_found("subscription")?;
    app.audit(
        Some(user.id),
        "push.unsubscribed",
        Some(user.id),
        json!({"subscription_id": id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/push/settings — the caller's push settings (each off until chosen).
#[utoipa::path(get, path = "/push/settings", tag = "push", responses((status = 200, body = PushSettingsView)))]
async fn get_push_settings(State(app): State<AppState>, caller: Caller) -> ApiResult<axum::Json<PushSettingsView>> {
    let (user, _) = phone_owner(caller)?;
    Ok(axum::Json(settings_view(app.store.push_settings(user.id).await?)))
}

/// PATCH /api/v1/push/settings — changes the caller's push settings, e.g.
/// `{"read_receipts": true}`; answers them all. They are the person's, for every device
/// they subscribed (and any they subscribe later), and stay when they sign out. 400
/// `bad_push_setting` for a value that is not a boolean or an unknown field, `bad_json`
/// for a body that is not a JSON object; nothing changes then.
#[utoipa::path(patch, path = "/push/settings", tag = "push", request_body = PushSettingsPatch,
    responses((status = 200, body = PushSettingsView), (status = 400)))]
async fn change_push_settings(
    State(app): State<AppState>,
    caller: Caller,
    Json(fields): Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::Json<PushSettingsView>> {
    let (user, _) = phone_owner(caller)?;
    let patch = PushSettingsPatch::parse(fields)?;
    let mut settings = app.store.push_settings(user.id).await?;
    let before = settings;
    if let Some(on) = patch.read_receipts {
        settings.read_receipts = on;
    }
    if settings != before {
        app.store.set_push_settings(user.id, settings).await?;
        app.audit(
            Some(user.id),
            "push.settings",
            Some(user.id),
            json!({"read_receipts": settings.read_receipts}),
        )
        .await;
    }
    Ok(axum::Json(settings_view(settings)))
}
