//! What a doorplate does with its device token: its state, check-in and check-out, and
//! opening a personal session after a proof (R4, R5).

use crate::auth::DeviceAuth;
use crate::crypto::{new_token, pretend_to_verify, verify_password_async};
use crate::error::{ApiError, ApiResult, Json};
use crate::school::arrivals::LeaveReason;
use crate::school::{AppState, HostedSchool};
use crate::throttles::Key;
use crate::time::rfc3339;
use crate::views::{DoorplateView, RoomView, UserView, doorplate_view};
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::queue::{Waiting, queue_order};
use doorplate_domain::{PresenceSource, Role};
use doorplate_store::{Doorplate, StoreError, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(doorplate_state))
        .routes(routes!(check_in))
        .routes(routes!(check_out))
        .routes(routes!(open_session))
        .routes(routes!(end_session))
}

/// A proof of identity at a doorplate: exactly one of a card, a QR badge, or a
/// username with a password.
#[derive(Deserialize, ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// A card UID as the reader types it.
    pub card: Option<String>,
    /// The secret of a QR badge.
    pub qr: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProofRequest {
    pub credential: Credential,
}

/// Finds who a credential proves. The attempt is counted before it is evaluated (see
/// `throttles`): against the doorplate (wrong proofs in a row), for a card or badge also
/// against the doorplate's probe budget that no success resets, and for a password
/// against the account. 429 with Retry-After when a budget is spent; a spent probe
/// budget is audited and flagged on the console's doorplate list.
pub async fn prove(app: &HostedSchool, doorplate: &Doorplate, cred: Credential) -> ApiResult<User> {
    let now = app.now();
    let mut keys = vec![Key::Doorplate(doorplate.id)];
    match (&cred.card, &cred.qr, &cred.username, &cred.password) {
        (Some(card), None, None, None) => {
            if crate::api::users::normalize_card(card).is_empty() {
                return Err(ApiError::bad("bad_credential", "the card number is empty"));
            }
            keys.push(Key::Probe(doorplate.id));
        }
        (None, Some(_), None, None) => keys.push(Key::Probe(doorplate.id)),
        (None, None, Some(username), Some(_)) => keys.push(Key::Account(username.trim().to_lowercase())),
        _ => {
            return Err(ApiError::bad(
                "bad_credential",
                "a credential is one of {card}, {qr} or {username, password}",
            ));
        }
    }
    let attempt = match app.throttles.reserve(keys, now) {
        Ok(a) => a,
        Err(refusal) => {
            if let Some(id) = refusal.probed {
                tracing::warn!(doorplate_id = id, "wrong cards or badges over budget: probing?");
                app.audit(None, "doorplate.probed", Some(id), json!({"doorplate_id": id}))
                    .await;
            }
            return Err(refusal.into());
        }
    };
    let looked_up = match (cred.card, cred.qr, cred.username, cred.password) {
        (Some(card), ..) => {
            let card = crate::api::users::normalize_card(&card);
            lookup(
                app.store.user_by_card(app.secrets.hash("card", &card)).await,
                "unknown_card",
            )
        }
        (None, Some(qr), ..) => lookup(
            app.store.user_by_qr(app.secrets.hash("qr", qr.trim())).await,
            "unknown_badge",
        ),
        (None, None, Some(username), Some(password)) => {
            match lookup(
                app.store.user_by_username(username.trim().to_string()).await,
                "wrong_password",
            ) {
                Ok(Ok(u)) => {
                    let ok = match u.password_hash.clone() {
                        Some(phc) => verify_password_async(password, phc).await,
                        None => {
                            pretend_to_verify().await;
                            false
                        }
                    };
                    Ok(if ok { Ok(u) } else { Err("wrong_password") })
                }
                Ok(Err(code)) => {
                    pretend_to_verify().await;
                    Ok(Err(code))
                }
                Err(e) => Err(e),
            }
        }
        _ => unreachable!("the credential's shape was checked above"),
    };
    let found = match looked_up {
        Ok(found) => found.and_then(|u| if u.disabled { Err("disabled") } else { Ok(u) }),
        Err(e) => {
            attempt.cancel();
            return Err(e);
        }
    };
    match found {
        Ok(user) => {
            attempt.succeed(now);
            Ok(user)
        }
        Err(code) => {
            attempt.fail(now);
            app.audit(
                None,
                "credential.failed",
                None,
                json!({"doorplate_id": doorplate.id, "reason": code}),
            )
            .await;
            Err(ApiError::Unauthorized(
                code,
                match code {
                    "unknown_card" => "this card is not known here",
                    "unknown_badge" => "this badge is not known here",
                    "disabled" => "this account is disabled",
                    _ => "wrong username or password",
                }
                .into(),
            ))
        }
    }
}

fn lookup(r: Result<User, StoreError>, code: &'static str) -> ApiResult<Result<User, &'static str>> {
    match r {
        Ok(u) => Ok(Ok(u)),
        Err(StoreError::NotFound) => Ok(Err(code)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Serialize, ToSchema)]
pub struct PresentStudent {
    pub user_id: String,
    pub display_name: String,
    pub unread: u32,
    /// An unread message of theirs is marked urgent.
    pub urgent: bool,
    pub since: String,
    /// active | timetable | teacher_now | teacher_advance
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct Period {
    /// lesson | exam | meeting | dorm | activity
    pub kind: String,
    pub title: String,
    pub starts_at: String,
    pub ends_at: String,
    pub teacher: Option<String>,
}

pub use crate::api::notices::NoticeView;

fn period_view(o: &doorplate_domain::timetable::Occurrence, teacher: Option<String>) -> Period {
    Period {
        kind: o.kind.as_str().into(),
        title: o.title.clone(),
        starts_at: rfc3339(o.starts),
        ends_at: rfc3339(o.ends),
        teacher,
    }
}

#[derive(Serialize, ToSchema)]
pub struct DoorplateState {
    pub doorplate: DoorplateView,
    pub room: RoomView,
    pub current: Option<Period>,
    pub next: Option<Period>,
    /// Who is present, students with unread messages first (oldest waiting first).
    pub present: Vec<PresentStudent>,
    pub notices: Vec<NoticeView>,
    /// Whether the room sits an exam now: hints wait until it ends (R7).
    pub exam: bool,
    /// The user whose personal session this doorplate hosts now, if any.
    pub session_user_id: Option<String>,
    /// The school's clock when this answer was made: the kiosk times its next look at
    /// the periods by it, not by its own clock, which may be off.
    pub now: String,
    /// The kiosk build the server serves now; a kiosk keeps the one it loaded with and
    /// reports it (`POST /api/v1/doorplate/version`).
    pub kiosk_build: String,
}

/// GET /api/v1/doorplate/state — what the doorplate shows: room, periods, who is here.
#[utoipa::path(get, path = "/doorplate/state", tag = "doorplate", responses((status = 200, body = DoorplateState), (status = 401), (status = 403)))]
async fn doorplate_state(
    State(app): State<AppState>,
    DeviceAuth(d): DeviceAuth,
) -> ApiResult<axum::Json<DoorplateState>> {
    let room = app.store.room(d.room_id).await?;
    let rows = app.presence.at_doorplate(d.id);
    let users = app
        .store
        .users_by_ids(rows.iter().map(|r| r.student_id).collect())
        .await?;
    let waiting = app.store.unread_summary(users.iter().map(|u| u.id).collect()).await?;
    // R5: students with new messages first, in the order their messages arrived; then
    // everyone else in the order they came.
    let mut present: Vec<(Option<i64>, i64, PresentStudent)> = rows
        .iter()
        .filter_map(|r| {
            let u = users.iter().find(|u| u.id == r.student_id)?;
            let unread = app.unread.get(u.id);
            let (first_unread, urgent) = match waiting.iter().find(|w| w.0 == u.id) {
                Some(w) if unread > 0 => (Some(w.1), w.2),
                _ => (None, false),
            };
            let student = PresentStudent {
                user_id: u.id.to_string(),
                display_name: u.display_name.clone(),
                unread,
                urgent,
                since: rfc3339(r.since),
                source: r.source.as_str().into(),
            };
            Some((first_unread, r.since, student))
        })
        .collect();
    fn in_queue(x: &(Option<i64>, i64, PresentStudent)) -> Waiting<'_> {
        Waiting {
            first_unread: x.0,
            since: x.1,
            name: &x.2.display_name,
        }
    }
    present.sort_by(|a, b| queue_order(&in_queue(a), &in_queue(b)));
    let now = app.now();
    app.saw_doorplate(d.id).await;
    let (current, next) = app.schedule.periods(room.id, now);
    let teacher_name =
        async |o: &Option<doorplate_domain::timetable::Occurrence>| match o.as_ref().and_then(|o| o.teacher_id) {
            Some(t) => app.store.user(t).await.ok().map(|u| u.display_name),
            None => None,
        };
    let (ct, nt) = (teacher_name(&current).await, teacher_name(&next).await);
    Ok(axum::Json(DoorplateState {
        doorplate: doorplate_view(&d, true, rows.len(), None),
        room: RoomView::from(&room),
        current: current.as_ref().map(|o| period_view(o, ct)),
        next: next.as_ref().map(|o| period_view(o, nt)),
        present: present.into_iter().map(|p| p.2).collect(),
        notices: crate::api::notices::notices_for_room(&app, room.id, now).await?,
        exam: app.schedule.in_exam(d.id),
        session_user_id: app.sessions.holder(d.id).map(|u| u.to_string()),
        now: rfc3339(now),
        kiosk_build: crate::web::kiosk_build(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct PresenceView {
    pub user_id: String,
    pub doorplate_id: String,
    pub source: String,
    pub since: String,
    pub until: Option<String>,
}

impl From<&doorplate_store::PresenceRow> for PresenceView {
    fn from(p: &doorplate_store::PresenceRow) -> Self {
        PresenceView {
            user_id: p.student_id.to_string(),
            doorplate_id: p.doorplate_id.to_string(),
            source: p.source.as_str().into(),
            since: rfc3339(p.since),
            until: p.until.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CheckInResponse {
    pub user: UserView,
    pub presence: PresenceView,
}

fn student_only(u: &User) -> ApiResult<()> {
    if u.role != Role::Student {
        return Err(ApiError::Unprocessable(
            "not_a_student",
            "only students check in and out at a doorplate".into(),
        ));
    }
    Ok(())
}

/// POST /api/v1/doorplate/checkin — a student proves themselves and becomes present
/// here (source `active`).
#[utoipa::path(post, path = "/doorplate/checkin", tag = "doorplate", request_body = ProofRequest,
    responses((status = 200, body = CheckInResponse), (status = 400), (status = 401), (status = 422), (status = 429)))]
async fn check_in(
    State(app): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    Json(req): Json<ProofRequest>,
) -> ApiResult<axum::Json<CheckInResponse>> {
    let user = prove(&app, &d, req.credential).await?;
    student_only(&user)?;
    let row = app
        .arrivals
        .arrive(user.id, d.id, PresenceSource::Active, None, Some(user.id))
        .await?;
    Ok(axum::Json(CheckInResponse {
        user: UserView::from(&user),
        presence: PresenceView::from(&row),
    }))
}

/// POST /api/v1/doorplate/checkout — the student leaves (R6): the doorplate purges them
/// and any session of theirs here ends. 409 if they were not present here.
#[utoipa::path(post, path = "/doorplate/checkout", tag = "doorplate", request_body = ProofRequest,
    responses((status = 204), (status = 401), (status = 409), (status = 429)))]
async fn check_out(
    State(app): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    Json(req): Json<ProofRequest>,
) -> ApiResult<StatusCode> {
    let user = prove(&app, &d, req.credential).await?;
    student_only(&user)?;
    if !app
        .arrivals
        .leave(user.id, d.id, LeaveReason::CheckedOut, Some(user.id))
        .await?
    {
        return Err(ApiError::Conflict(
            "not_present",
            "you are not checked in at this doorplate".into(),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionResponse {
    /// A bearer for the user's own endpoints, valid on this doorplate only while the
    /// user is present here and not idle.
    pub session_token: String,
    pub user: UserView,
    pub expires_at: String,
    pub idle_seconds: u32,
}

/// POST /api/v1/doorplate/sessions — a personal session for whoever proves themselves
/// (R4). For a student it implies an active check-in; a teacher (or an admin, by
/// password) gets teacher mode, which never carries an admin's powers (`AdminAuth`
/// refuses session tokens). Cards and badges open sessions for students and teachers
/// only. It ends any earlier session on this doorplate (R5).
#[utoipa::path(post, path = "/doorplate/sessions", tag = "doorplate", request_body = ProofRequest,
    responses((status = 200, body = SessionResponse), (status = 401), (status = 422), (status = 429)))]
async fn open_session(
    State(app): State<AppState>,
    DeviceAuth(d): DeviceAuth,
    Json(req): Json<ProofRequest>,
) -> ApiResult<axum::Json<SessionResponse>> {
    let by_token = req.credential.card.is_some() || req.credential.qr.is_some();
    let user = prove(&app, &d, req.credential).await?;
    if by_token && !doorplate_domain::account::may_carry_card(user.role) {
        // Only students and teachers carry cards and badges; one found on anyone else
        // (from before imports were checked) opens nothing.
        return Err(ApiError::Forbidden(
            "card_not_allowed",
            "cards and badges open sessions for students and teachers only".into(),
        ));
    }
    match user.role {
        Role::Student => {
            if !app.presence.is_present(user.id, d.id) {
                app.arrivals
                    .arrive(user.id, d.id, PresenceSource::Active, None, Some(user.id))
                    .await?;
            }
        }
        Role::Teacher | Role::Admin => {}
        Role::Guardian => {
            return Err(ApiError::Unprocessable(
                "not_school_member",
                "guardians use the family app, not a doorplate".into(),
            ));
        }
    }
    let idle = app.settings().session_idle_seconds;
    let token = new_token("dps_");
    let (expires, previous) = app.sessions.open(
        app.secrets.hash("session", &token),
        user.id,
        d.id,
        app.now(),
        idle as i64,
        user.role == Role::Student,
    );
    if let Some(prev) = previous {
        app.session_ended(prev, "replaced");
    }
    app.audit(
        Some(user.id),
        "session.opened",
        Some(user.id),
        json!({"doorplate_id": d.id}),
    )
    .await;
    Ok(axum::Json(SessionResponse {
        session_token: token,
        user: UserView::from(&user),
        expires_at: rfc3339(expires),
        idle_seconds: idle,
    }))
}

/// DELETE /api/v1/doorplate/sessions/current — "Done": ends the personal session only;
/// the student stays present.
#[utoipa::path(delete, path = "/doorplate/sessions/current", tag = "doorplate", responses((status = 204)))]
async fn end_session(State(app): State<AppState>, DeviceAuth(d): DeviceAuth) -> ApiResult<StatusCode> {
    if let Some(ended) = app.sessions.end_at(d.id) {
        app.audit(
            Some(ended.user_id),
            "session.closed",
            Some(ended.user_id),
            json!({"doorplate_id": d.id}),
        )
        .await;
        app.session_ended(ended, "closed");
    }
    Ok(StatusCode::NO_CONTENT)
}
