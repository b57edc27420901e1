//! People: accounts, QR badges, guardianships, and whom a user may write to.

use super::{ApiId, parse_id};
use crate::auth::{AdminAuth, StaffAuth, UserAuth};
use crate::crypto::new_token;
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path, Query};
use crate::school::AppState;
use crate::views::UserView;
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::account::{self, Invalid};
use doorplate_domain::{Id, Party, Role, may_converse};
use doorplate_store::{NewUser, StoreError, User, UserPatch};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(new_badge))
        .routes(routes!(add_guardianship, remove_guardianship))
        .routes(routes!(list_contacts))
        .routes(routes!(list_children))
        .routes(routes!(user_guardianships))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// admin | teacher | student | guardian
    pub role: String,
    pub display_name: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The student card's UID as the reader types it.
    pub card_uid: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserResponse {
    pub user: UserView,
}

pub use doorplate_domain::account::normalize_card;

/// A field that broke a rule of `doorplate_domain::account`: 400 with the rule's code.
impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        let params = match e.max {
            Some(max) => serde_json::json!({"field": e.field, "max": max}),
            None => serde_json::json!({"field": e.field}),
        };
        ApiError::BadRequest(e.code, e.message).with_params(params)
    }
}

async fn hash_blocking(password: String) -> ApiResult<String> {
    Ok(crate::crypto::hash_password_async(password).await)
}

/// POST /api/v1/users — create an account (admin).
#[utoipa::path(post, path = "/users", tag = "people", request_body = CreateUser,
    responses((status = 201, body = UserResponse), (status = 400), (status = 403), (status = 409)))]
async fn create_user(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(req): Json<CreateUser>,
) -> ApiResult<(StatusCode, axum::Json<UserResponse>)> {
    // The same rules as the CSV import (one function: `account::check_new_account`).
    let new = account::check_new_account(
        &req.role,
        &req.display_name,
        req.username.as_deref(),
        req.password.as_deref(),
        req.card_uid.as_deref(),
    )?;
    let role = new.role;
    let password_hash = match new.password {
        Some(p) => Some(hash_blocking(p).await?),
        None => None,
    };
    let user = app
        .store
        .create_user(NewUser {
            role: Some(role),
            display_name: new.display_name,
            username: new.username,
            password_hash,
            card_hash: new.card.map(|c| app.secrets.hash("card", &c)),
            now: app.now(),
        })
        .await?;
    app.audit(
        Some(admin.id),
        "user.created",
        Some(user.id),
        json!({"role": role.as_str()}),
    )
    .await;
    app.reload_admins().await;
    Ok((
        StatusCode::CREATED,
        axum::Json(UserResponse {
            user: UserView::from(&user),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct UserQuery {
    pub role: Option<String>,
    /// Part of a name or username.
    pub q: Option<String>,
    pub limit: Option<u32>,
}

/// GET /api/v1/users?role=&q= — search the directory (staff).
#[utoipa::path(get, path = "/users", tag = "people", params(UserQuery),
    responses((status = 200, body = Vec<UserView>), (status = 403)))]
async fn list_users(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
    Query(q): Query<UserQuery>,
) -> ApiResult<axum::Json<Vec<UserView>>> {
    let role = match q.role.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(
            Role::parse(r).ok_or_else(|| ApiError::bad("bad_role", "role is admin, teacher, student or guardian"))?,
        ),
        None => None,
    };
    let users = app
        .store
        .list_users(
            role,
            q.q.filter(|s| !s.trim().is_empty()),
            q.limit.unwrap_or(200).min(100_000),
        )
        .await?;
    Ok(axum::Json(users.iter().map(UserView::from).collect()))
}

/// GET /api/v1/users/{id} — one account (staff; anyone for themselves).
#[utoipa::path(get, path = "/users/{id}", tag = "people", params(("id" = String, Path)),
    responses((status = 200, body = UserResponse), (status = 404)))]
async fn get_user(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<UserResponse>> {
    let id = parse_id(&id)?;
    if !auth.user.role.is_staff() && auth.user.id != id {
        return Err(ApiError::not_found("user"));
    }
    let user = app.store.user(id).await.or_not_found("user")?;
    Ok(axum::Json(UserResponse {
        user: UserView::from(&user),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub display_name: Option<String>,
    pub username: Option<String>,
    /// A new password (a reset).
    pub password: Option<String>,
    /// A new card UID; an empty string removes the card.
    pub card_uid: Option<String>,
    pub disabled: Option<bool>,
}

/// PATCH /api/v1/users/{id} — edit, reset a password, change a card, disable (admin).
/// A new password or disabling ends every login and socket of the user; the last
/// active admin cannot be disabled (409 `last_admin`).
#[utoipa::path(patch, path = "/users/{id}", tag = "people", params(("id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, body = UserResponse), (status = 400), (status = 404), (status = 409)))]
async fn update_user(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    Json(req): Json<UpdateUser>,
) -> ApiResult<axum::Json<UserResponse>> {
    let id = parse_id(&id)?;
    let target = app.store.user(id).await.or_not_found("user")?;
    let mut patch = UserPatch::default();
    if let Some(n) = &req.display_name {
        patch.display_name = Some(account::check_display_name(n)?);
    }
    if let Some(u) = &req.username {
        patch.username = Some(Some(account::check_username(u)?));
    }
    let password_reset = req.password.is_some();
    if let Some(p) = req.password {
        account::check_password(&p)?;
        patch.password_hash = Some(Some(hash_blocking(p).await?));
    }
    if let Some(c) = &req.card_uid {
        patch.card_hash = Some(account::check_card(target.role, c)?.map(|c| app.secrets.hash("card", &c)));
    }
    patch.disabled = req.disabled;
    // The store refuses (409 last_admin, nothing changed) to disable the last active admin.
    let user = app.store.update_user(id, patch).await?;
    app.directory.forget_user(id);
    if req.disabled == Some(true) || password_reset {
        // A disabled account or a reset password ends every login of that user, and
        // every socket and doorplate session that came with them.
        app.sign_out_everywhere(id).await?;
    }
    app.audit(
        Some(admin.id),
        "user.updated",
        Some(id),
        json!({"disabled": req.disabled, "password_reset": password_reset}),
    )
    .await;
    app.reload_admins().await;
    Ok(axum::Json(UserResponse {
        user: UserView::from(&user),
    }))
}

/// DELETE /api/v1/users/{id} — remove an account: its credentials and links go, its
/// messages stay for the people it wrote to (admin). Not one's own account (422), nor
/// the last active admin (409 `last_admin`).
#[utoipa::path(delete, path = "/users/{id}", tag = "people", params(("id" = String, Path)),
    responses((status = 204), (status = 404), (status = 409), (status = 422)))]
async fn delete_user(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    if id == admin.id {
        let others = app
            .store
            .list_users(Some(Role::Admin), None, 10_000)
            .await?
            .iter()
            .any(|u| u.id != id && !u.disabled);
        if !others {
            return Err(StoreError::Conflict("last_admin").into());
        }
        return Err(ApiError::Unprocessable(
            "self_delete",
            "you cannot delete your own account".into(),
        ));
    }
    for p in app.presence.of_student(id) {
        app.arrivals
            .leave(
                id,
                p.doorplate_id,
                crate::school::arrivals::LeaveReason::Dismissed,
                Some(admin.id),
            )
            .await?;
    }
    app.store.delete_user(id).await.or_not_found("user")?;
    app.directory.forget_user(id);
    app.sign_out_everywhere(id).await?;
    app.audit(Some(admin.id), "user.deleted", Some(id), json!({})).await;
    app.reload_admins().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct BadgeResponse {
    /// The secret a QR badge encodes. Shown once; the previous badge stops working.
    pub qr_token: String,
    /// The QR code as an inline SVG, so one student's badge can be printed.
    pub qr_svg: String,
}

/// POST /api/v1/users/{id}/badge — a fresh QR badge secret for a student (admin).
#[utoipa::path(post, path = "/users/{id}/badge", tag = "people", params(("id" = String, Path)),
    responses((status = 200, body = BadgeResponse), (status = 404), (status = 422)))]
async fn new_badge(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<BadgeResponse>> {
    let id = parse_id(&id)?;
    let user = app.store.user(id).await.or_not_found("user")?;
    if !account::may_carry_card(user.role) {
        return Err(ApiError::Unprocessable(
            "not_a_student",
            "badges are for students and teachers".into(),
        ));
    }
    let qr_token = new_token("dpq_");
    let qr_svg = super::school::qr_svg(&qr_token)?;
    app.store.set_badge(id, app.secrets.hash("qr", &qr_token)).await?;
    app.directory.forget_user(id);
    app.audit(Some(admin.id), "user.badge", Some(id), json!({})).await;
    Ok(axum::Json(BadgeResponse { qr_token, qr_svg }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GuardianshipRequest {
    pub guardian_id: ApiId,
    pub student_id: ApiId,
}

async fn guardian_and_student(app: &AppState, req: &GuardianshipRequest) -> ApiResult<(User, User)> {
    let g = app.store.user(req.guardian_id.0).await.or_not_found("guardian")?;
    let s = app.store.user(req.student_id.0).await.or_not_found("student")?;
    if g.role != Role::Guardian || s.role != Role::Student {
        return Err(ApiError::Unprocessable(
            "bad_roles",
            "a guardianship links a guardian to a student".into(),
        ));
    }
    Ok((g, s))
}

/// POST /api/v1/guardianships — link a guardian to a student (admin).
#[utoipa::path(post, path = "/guardianships", tag = "people", request_body = GuardianshipRequest,
    responses((status = 201), (status = 404), (status = 422)))]
async fn add_guardianship(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(req): Json<GuardianshipRequest>,
) -> ApiResult<StatusCode> {
    let (g, s) = guardian_and_student(&app, &req).await?;
    app.store.add_guardianship(g.id, s.id).await?;
    app.directory.forget_link(g.id, s.id);
    app.audit(
        Some(admin.id),
        "guardianship.added",
        Some(s.id),
        json!({"guardian_id": g.id}),
    )
    .await;
    Ok(StatusCode::CREATED)
}

/// DELETE /api/v1/guardianships — unlink them (admin).
#[utoipa::path(delete, path = "/guardianships", tag = "people", request_body = GuardianshipRequest,
    responses((status = 204), (status = 404)))]
async fn remove_guardianship(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(req): Json<GuardianshipRequest>,
) -> ApiResult<StatusCode> {
    let (g, s) = guardian_and_student(&app, &req).await?;
    app.store
        .remove_guardianship(g.id, s.id)
        .await
        .or_not_found("guardianship")?;
    app.directory.forget_link(g.id, s.id);
    app.audit(
        Some(admin.id),
        "guardianship.removed",
        Some(s.id),
        json!({"guardian_id": g.id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct Contact {
    pub id: String,
    pub display_name: String,
    pub role: String,
}

/// The people a user usually talks with, as suggestions for a new conversation: a
/// student's guardians and class teachers; a guardian's children and their class
/// teachers; staff: their classes' students and those students' guardians. Whether a
/// pair may talk at all is R8's alone (`domain::may_converse`): every suggestion passes
/// through it, so this list can never offer a pair that sending would refuse.
pub async fn contacts_of(app: &AppState, user: &User) -> ApiResult<Vec<User>> {
    // (id, whether a guardianship links the two)
    let mut found: Vec<(Id, bool)> = Vec::new();
    match user.role {
        Role::Student => {
            found.extend(app.store.guardians_of(user.id).await?.into_iter().map(|g| (g, true)));
            let groups = app.store.groups_of(user.id).await?;
            found.extend(groups.iter().filter_map(|g| g.teacher_id).map(|t| (t, false)));
        }
        Role::Guardian => {
            for child in app.store.children_of(user.id).await? {
                found.push((child, true));
                let groups = app.store.groups_of(child).await?;
                found.extend(groups.iter().filter_map(|g| g.teacher_id).map(|t| (t, false)));
            }
        }
        Role::Teacher | Role::Admin => {
            for g in app
                .store
                .groups_of(user.id)
                .await?
                .iter()
                .filter(|g| g.teacher_id == Some(user.id))
            {
                for s in &g.member_ids {
                    found.push((*s, false));
                    found.extend(app.store.guardians_of(*s).await?.into_iter().map(|g| (g, false)));
                }
            }
        }
    }
    // A link found once counts (the linked entry sorts first, dedup keeps it).
    found.sort_unstable_by_key(|(id, linked)| (*id, !*linked));
    found.dedup_by_key(|(id, _)| *id);
    let linked: std::collections::HashSet<Id> = found.iter().filter(|(_, l)| *l).map(|(id, _)| *id).collect();
    let me = Party {
        role: user.role,
        disabled: user.disabled,
    };
    let mut users = app
        .store
        .users_by_ids(found.into_iter().map(|(id, _)| id).collect())
        .await?;
    users.retain(|u| {
        let them = Party {
            role: u.role,
            disabled: u.disabled,
        };
        may_converse(me, them, linked.contains(&u.id), u.id == user.id).is_ok()
    });
    Ok(users)
}

/// GET /api/v1/contacts — whom the caller may start a conversation with.
#[utoipa::path(get, path = "/contacts", tag = "messages", responses((status = 200, body = Vec<Contact>)))]
async fn list_contacts(State(app): State<AppState>, auth: UserAuth) -> ApiResult<axum::Json<Vec<Contact>>> {
    let users = contacts_of(&app, &auth.user).await?;
    Ok(axum::Json(
        users
            .iter()
            .map(|u| Contact {
                id: u.id.to_string(),
                display_name: u.display_name.clone(),
                role: u.role.as_str().into(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ChildWhere {
    /// present (at a named room) | at_school (present, room hidden by policy) | not_checked_in
    pub state: String,
    /// The room, when the school shows rooms to guardians.
    pub room: Option<String>,
    pub since: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Child {
    pub id: String,
    pub display_name: String,
    /// Where the child can be reached now.
    #[serde(rename = "where")]
    pub whereabouts: ChildWhere,
    /// Messages from the guardian the child has not read yet.
    pub unread_by_child: u32,
    /// Whether this guardian is told when the child checks in (their choice, off by
    /// default; false while the school has the feature off).
    pub arrival_notices: bool,
    /// Whether the school offers arrival notices at all (the switch is shown only then).
    pub arrival_notices_available: bool,
}

/// GET /api/v1/children — a guardian's children and where each can be reached now
/// (the most recent presence; the room only when the school allows it).
#[utoipa::path(get, path = "/children", tag = "people", responses((status = 200, body = Vec<Child>), (status = 403)))]
async fn list_children(State(app): State<AppState>, auth: UserAuth) -> ApiResult<axum::Json<Vec<Child>>> {
    if auth.user.role != Role::Guardian {
        return Err(ApiError::forbidden("only guardians have children here"));
    }
    let settings = app.settings();
    let show_room = crate::views::sees_rooms(auth.user.role, &settings);
    let noticed = app.store.arrival_notice_children(auth.user.id).await?;
    let kids = app
        .store
        .users_by_ids(app.store.children_of(auth.user.id).await?)
        .await?;
    let mut out = Vec::with_capacity(kids.len());
    for kid in kids {
        let latest = app.presence.of_student(kid.id).into_iter().max_by_key(|p| p.since);
        let whereabouts = match latest {
            None => ChildWhere {
                state: "not_checked_in".into(),
                room: None,
                since: None,
            },
            Some(p) if show_room => {
                let room = match app.store.doorplate(p.doorplate_id).await {
                    Ok(d) => app.store.room(d.room_id).await.ok().map(|r| r.name),
                    Err(_) => None,
                };
                ChildWhere {
                    state: "present".into(),
                    room,
                    since: Some(crate::time::rfc3339(p.since)),
                }
            }
            Some(_) => ChildWhere {
                state: "at_school".into(),
                room: None,
                since: None,
            },
        };
        let unread_by_child = app
            .store
            .conversations_of(kid.id)
            .await?
            .iter()
            .filter(|c| c.conversation.has(auth.user.id))
            .map(|c| c.unread)
            .sum();
        out.push(Child {
            id: kid.id.to_string(),
            display_name: kid.display_name,
            whereabouts,
            unread_by_child,
            arrival_notices: settings.arrival_notices && noticed.contains(&kid.id),
            arrival_notices_available: settings.arrival_notices,
        });
    }
    Ok(axum::Json(out))
}

#[derive(Serialize, ToSchema)]
pub struct Links {
    pub guardians: Vec<UserView>,
    pub children: Vec<UserView>,
}

/// GET /api/v1/users/{id}/guardianships — a student's guardians or a guardian's
/// children (staff).
#[utoipa::path(get, path = "/users/{id}/guardianships", tag = "people", params(("id" = String, Path)), responses((status = 200, body = Links), (status = 404)))]
async fn user_guardianships(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Links>> {
    let id = parse_id(&id)?;
    app.store.user(id).await.or_not_found("user")?;
    let guardians = app.store.users_by_ids(app.store.guardians_of(id).await?).await?;
    let children = app.store.users_by_ids(app.store.children_of(id).await?).await?;
    Ok(axum::Json(Links {
        guardians: guardians.iter().map(UserView::from).collect(),
        children: children.iter().map(UserView::from).collect(),
    }))
}
