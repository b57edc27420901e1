//! Live calls (API.md "Calls"): place, answer, decline, hang up, relay signalling, the
//! ICE servers to use, and — for staff — the calls going on. The rules are
//! `domain::calls` and `domain::signal`; the work is `school::calls`.

use super::{ApiId, parse_id};
use crate::auth::{StaffAuth, UserAuth};
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path, Query};
use crate::school::AppState;
use crate::school::calls::Signal;
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::signal::{check_candidate, check_sdp};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_call, current_calls))
        .routes(routes!(ice_servers))
        .routes(routes!(check_call))
        .routes(routes!(get_call))
        .routes(routes!(accept_call))
        .routes(routes!(decline_call))
        .routes(routes!(end_call))
        .routes(routes!(signal_call))
}

/// A call: `{id, caller, callee, state: ringing|active|ended, video, started_at,
/// answered_at?, ends_at?, ended_at?, end_reason?, duration_seconds?, ended_by?,
/// doorplate_id?, room?, max_seconds}`; `caller` and `callee` are `{id, display_name,
/// role}`. `ends_at` is when the school's clock ends it (the ring's 45 s, then the
/// maximum length).
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct CallView(#[allow(dead_code)] Value);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceCall {
    /// The guardian (from a student's doorplate session) or the child (from a guardian).
    pub peer_id: ApiId,
    /// Video (true) or voice only.
    #[serde(default)]
    pub video: bool,
}

/// POST /api/v1/calls — place a call. It rings at the peer: a guardian's phone, or every
/// doorplate where the child is present (not in an exam). 403 with the policy's code
/// (`not_allowed`, `call_not_allowed`, `calls_off`, `call_outside_hours`,
/// `call_video_off`, `call_daily_limit`, `call_not_present`, `call_exam_hold`); 409
/// (`already_in_call`, `peer_in_call`, `doorplate_in_call`) when someone is in a call.
#[utoipa::path(post, path = "/calls", tag = "calls", request_body = PlaceCall,
    responses((status = 201, body = CallView), (status = 403), (status = 404), (status = 409)))]
async fn place_call(
    State(app): State<AppState>,
    auth: UserAuth,
    Json(req): Json<PlaceCall>,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let peer = app.directory.user(req.peer_id.0).await.or_not_found("user")?;
    let session = auth.session.as_ref().map(|s| s.doorplate_id);
    let live = app
        .calls
        .place(&auth.user, session, &peer, req.video, false)
        .await?
        .ok_or_else(|| ApiError::Internal("a call placed was not returned".into()))?;
    Ok((StatusCode::CREATED, axum::Json(json!({"call": live.json()}))))
}

#[derive(Deserialize, IntoParams)]
pub struct CheckQuery {
    pub peer_id: String,
    /// Whether a video call is meant (default false).
    pub video: Option<bool>,
}

/// GET /api/v1/calls/check?peer_id=&video= — whether a call to this peer could ring now:
/// `{ok: true}`, or `{ok: false, code, message}` with the code `POST /calls` would
/// answer (for a face's call button, which says why not).
#[utoipa::path(get, path = "/calls/check", tag = "calls", params(CheckQuery),
    responses((status = 200, body = Object), (status = 404)))]
async fn check_call(
    State(app): State<AppState>,
    auth: UserAuth,
    Query(q): Query<CheckQuery>,
) -> ApiResult<axum::Json<Value>> {
    let peer = app.directory.user(parse_id(&q.peer_id)?).await.or_not_found("user")?;
    let session = auth.session.as_ref().map(|s| s.doorplate_id);
    let settings = app.settings();
    let base = json!({"video_allowed": settings.calls.video, "max_minutes": settings.calls.max_minutes});
    let mut out = base;
    match app
        .calls
        .place(&auth.user, session, &peer, q.video.unwrap_or(false), true)
        .await
    {
        Ok(_) => out["ok"] = json!(true),
        Err(ApiError::Forbidden(code, msg) | ApiError::Conflict(code, msg)) => {
            out["ok"] = json!(false);
            out["code"] = json!(code);
            out["message"] = json!(msg);
        }
        Err(e) => return Err(e),
    }
    Ok(axum::Json(out))
}

/// GET /api/v1/calls — the calls going on (staff), for the console's supervision: the
/// answered ones (a ring is not listed), a teacher those of their classes' students, an
/// admin every one; the longest-running first. Live changes come as `call.started` and
/// `call.ended` on the same person's event stream.
#[utoipa::path(get, path = "/calls", tag = "calls", responses((status = 200, body = Vec<CallView>), (status = 403)))]
async fn current_calls(State(app): State<AppState>, StaffAuth(staff): StaffAuth) -> axum::Json<Value> {
    let list: Vec<Value> = app.calls.current_for(&staff).iter().map(|l| l.json()).collect();
    axum::Json(json!(list))
}

/// GET /api/v1/calls/{id} — a call one takes part in, while it goes on.
#[utoipa::path(get, path = "/calls/{id}", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = CallView), (status = 404), (status = 409)))]
async fn get_call(State(app): State<AppState>, auth: UserAuth, Path(id): Path<String>) -> ApiResult<axum::Json<Value>> {
    let live = app.calls.view(auth.user.id, parse_id(&id)?)?;
    Ok(axum::Json(json!({"call": live.json()})))
}

/// POST /api/v1/calls/{id}/accept — the callee answers. A student answers at a
/// doorplate the call rings at, through the personal session their proof opened there.
/// 409 `call_answered` when answered already, `call_ended` when over.
#[utoipa::path(post, path = "/calls/{id}/accept", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = CallView), (status = 403), (status = 404), (status = 409)))]
async fn accept_call(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let session = auth.session.as_ref().map(|s| s.doorplate_id);
    let live = app.calls.accept(&auth.user, session, parse_id(&id)?).await?;
    Ok(axum::Json(json!({"call": live.json()})))
}

/// POST /api/v1/calls/{id}/decline — the callee says no while it rings (the caller's
/// conversation gets the trace "declined").
#[utoipa::path(post, path = "/calls/{id}/decline", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = CallView), (status = 403), (status = 404), (status = 409)))]
async fn decline_call(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let live = app.calls.decline(&auth.user, parse_id(&id)?).await?;
    Ok(axum::Json(json!({"call": live.json()})))
}

/// POST /api/v1/calls/{id}/end — a party hangs up; a teacher of the student's class or an
/// admin ends it from the console (`ended_by_staff`).
#[utoipa::path(post, path = "/calls/{id}/end", tag = "calls", params(("id" = String, Path)),
    responses((status = 200, body = CallView), (status = 403), (status = 404), (status = 409)))]
async fn end_call(State(app): State<AppState>, auth: UserAuth, Path(id): Path<String>) -> ApiResult<axum::Json<Value>> {
    let id = parse_id(&id)?;
    let me = &auth.user;
    let live = match app.calls.view(me.id, id) {
        Ok(_) => app.calls.hang_up(me, id).await?,
        Err(ApiError::NotFound(_)) if me.role.is_staff() && auth.session.is_none() => {
            let watched = app.calls.current_for(me).iter().any(|l| l.call.id == id);
            if !watched {
                return Err(ApiError::not_found("call"));
            }
            app.calls.end_by_staff(me, id).await?
        }
        Err(e) => return Err(e),
    };
    Ok(axum::Json(json!({"call": live.json()})))
}

/// An RTCSessionDescription as a browser gives it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SdpBody {
    /// offer | answer
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// An RTCIceCandidate as a browser gives it (an empty `candidate` ends the candidates).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CandidateBody {
    pub candidate: String,
    pub sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex")]
    pub sdp_mline_index: Option<u32>,
    /// Sent by browsers; not relayed.
    #[serde(default)]
    #[allow(dead_code)]
    pub username_fragment: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalBody {
    pub sdp: Option<SdpBody>,
    pub candidate: Option<CandidateBody>,
}

/// POST /api/v1/calls/{id}/signal `{sdp?| candidate?}` — relays WebRTC signalling to the
/// other party as `call.signal` (while the call is active). Checked first: a body that is
/// not a browser's session description or ICE candidate is 400 `bad_signal` and goes
/// nowhere. 403 for a call one is not part of.
#[utoipa::path(post, path = "/calls/{id}/signal", tag = "calls", params(("id" = String, Path)), request_body = SignalBody,
    responses((status = 204), (status = 400), (status = 403), (status = 404), (status = 409)))]
async fn signal_call(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
    Json(req): Json<SignalBody>,
) -> ApiResult<StatusCode> {
    let bad = |why: &str| ApiError::bad("bad_signal", why.to_string());
    let signal = match (req.sdp, req.candidate) {
        (Some(s), None) => {
            check_sdp(&s.kind, &s.sdp).map_err(|e| bad(e.0))?;
            Signal::Sdp {
                kind: s.kind,
                sdp: s.sdp,
            }
        }
        (None, Some(c)) => {
            check_candidate(&c.candidate, c.sdp_mid.as_deref(), c.sdp_mline_index).map_err(|e| bad(e.0))?;
            Signal::Candidate {
                candidate: c.candidate,
                sdp_mid: c.sdp_mid,
                sdp_mline_index: c.sdp_mline_index,
            }
        }
        _ => return Err(bad("send either sdp or candidate")),
    };
    app.calls.signal(&auth.user, parse_id(&id)?, signal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET /api/v1/calls/ice — the ICE servers a browser uses for calls, with short-lived
/// TURN credentials (coturn's `use-auth-secret`), valid for the longest call the school
/// allows and its ring: `{ice_servers: [{urls, username, credential}],
/// ice_transport_policy: all|relay}`. Empty when no relay is configured.
#[utoipa::path(get, path = "/calls/ice", tag = "calls", responses((status = 200, body = Object), (status = 401), (status = 403)))]
async fn ice_servers(State(app): State<AppState>, auth: UserAuth) -> axum::Json<Value> {
    let valid = app.settings().calls.max_seconds() + doorplate_domain::calls::RING_SECONDS + 300;
    let expires = crate::school::clock::wall_clock_micros() / 1_000_000 + valid;
    axum::Json(app.ice.servers(auth.user.id, expires))
}
