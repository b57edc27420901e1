//! Conversations and messages (R8 on every call, R3 routing after each send).

use super::{ApiId, parse_id};
use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path, Query};
use crate::school::AppState;
use crate::views::{MessageView, QuietNow, message_view};
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::message::MAX_TEXT_CHARS;
use doorplate_domain::quiet::holds;
use doorplate_domain::{Denied, MessageKind, MessageStatus, Party, Role, may_converse};
use doorplate_store::{Conversation, NewMessage, User};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations, open_conversation))
        .routes(routes!(send_message, list_messages))
        .routes(routes!(mark_read))
}

#[derive(Serialize, ToSchema)]
pub struct Peer {
    pub id: String,
    pub display_name: String,
    pub role: String,
    /// The peer (staff) is inside their quiet hours now: messages wait without alerting
    /// until then (urgent ones from guardians still alert). Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet: Option<QuietNow>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationView {
    pub id: String,
    pub peer: Peer,
    pub unread: u32,
    pub last: Option<MessageView>,
}

/// R8 for two accounts, with the guardianship looked up only when it matters.
pub async fn check_r8(app: &AppState, a: &User, b: &User) -> ApiResult<()> {
    let linked = match (a.role, b.role) {
        (Role::Guardian, Role::Student) => app.directory.is_guardian_of(a.id, b.id).await?,
        (Role::Student, Role::Guardian) => app.directory.is_guardian_of(b.id, a.id).await?,
        _ => false,
    };
    let party = |u: &User| Party {
        role: u.role,
        disabled: u.disabled,
    };
    may_converse(party(a), party(b), linked, a.id == b.id).map_err(|d| {
        ApiError::Forbidden(
            "not_allowed",
            match d {
                Denied::Disabled => "that account cannot receive messages",
                Denied::SameAccount => "you cannot write to yourself",
                Denied::NotLinked => "guardians write only to their own children",
                Denied::Roles => "these two accounts may not write to each other",
            }
            .into(),
        )
    })
}

/// The conversation if the caller takes part in it; 404 otherwise (it is none of their
/// business whether it exists).
async fn own_conversation(app: &AppState, user: &User, id: &str) -> ApiResult<Conversation> {
    let conv = app
        .directory
        .conversation(parse_id(id)?)
        .await
        .or_not_found("conversation")?;
    if !conv.has(user.id) {
        return Err(ApiError::not_found("conversation"));
    }
    Ok(conv)
}

/// Whether `viewer` sees room names (one rule: `views::sees_rooms`).
fn show_rooms(app: &AppState, viewer: &User) -> bool {
    crate::views::sees_rooms(viewer.role, &app.settings())
}

/// GET /api/v1/conversations — the caller's conversations, most recent first.
#[utoipa::path(get, path = "/conversations", tag = "messages", responses((status = 200, body = Vec<ConversationView>), (status = 403)))]
async fn list_conversations(
    State(app): State<AppState>,
    auth: UserAuth,
) -> ApiResult<axum::Json<Vec<ConversationView>>> {
    let list = app.store.conversations_of(auth.user.id).await?;
    let peers = app
        .store
        .users_by_ids(list.iter().map(|c| c.conversation.peer_of(auth.user.id)).collect())
        .await?;
    let show = show_rooms(&app, &auth.user);
    let mut quiet = Vec::new();
    for p in &peers {
        if let Some(q) = app.quiet_now(p).await {
            quiet.push((p.id, QuietNow::from(q)));
        }
    }
    Ok(axum::Json(
        list.iter()
            .filter_map(|c| {
                let peer = peers.iter().find(|p| p.id == c.conversation.peer_of(auth.user.id))?;
                Some(ConversationView {
                    id: c.conversation.id.to_string(),
                    peer: Peer {
                        id: peer.id.to_string(),
                        display_name: peer.display_name.clone(),
                        role: peer.role.as_str().into(),
                        quiet: quiet.iter().find(|(id, _)| *id == peer.id).map(|(_, q)| q.clone()),
                    },
                    unread: c.unread,
                    last: c.last.as_ref().map(|m| message_view(m, show)),
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenConversation {
    pub peer_id: ApiId,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationResponse {
    pub conversation: ConversationView,
}

/// POST /api/v1/conversations — the conversation with a peer, created if needed; 403 if
/// R8 does not allow the pair.
#[utoipa::path(post, path = "/conversations", tag = "messages", request_body = OpenConversation,
    responses((status = 200, body = ConversationResponse), (status = 403), (status = 404)))]
async fn open_conversation(
    State(app): State<AppState>,
    auth: UserAuth,
    Json(req): Json<OpenConversation>,
) -> ApiResult<axum::Json<ConversationResponse>> {
    let peer = app.store.user(req.peer_id.0).await.or_not_found("user")?;
    check_r8(&app, &auth.user, &peer).await?;
    let conv = app.store.open_conversation(auth.user.id, peer.id, app.now()).await?;
    let unread = app.store.unread_in(conv.id, auth.user.id).await?;
    let quiet = app.quiet_now(&peer).await.map(QuietNow::from);
    Ok(axum::Json(ConversationResponse {
        conversation: ConversationView {
            id: conv.id.to_string(),
            peer: Peer {
                id: peer.id.to_string(),
                display_name: peer.display_name,
                role: peer.role.as_str().into(),
                quiet,
            },
            unread,
            last: None,
        },
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The sender's idempotency key: the same key again returns the same message.
    pub client_id: String,
    /// text | image | voice | video
    pub kind: String,
    pub text: Option<String>,
    pub media_id: Option<ApiId>,
    #[serde(default)]
    pub urgent: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: MessageView,
    /// Set when the recipient's quiet hours hold the message: it waits, silently, until
    /// then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_quiet: Option<QuietNow>,
}

/// POST /api/v1/conversations/{id}/messages — send. 201 when stored now, 200 when this
/// `client_id` was already sent (the same message, nothing sent twice).
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "messages", params(("id" = String, Path)), request_body = SendMessage,
    responses((status = 201, body = MessageResponse), (status = 200, body = MessageResponse), (status = 400), (status = 403), (status = 404), (status = 422)))]
async fn send_message(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
    Json(req): Json<SendMessage>,
) -> ApiResult<(StatusCode, axum::Json<MessageResponse>)> {
    let me = &auth.user;
    let conv = own_conversation(&app, me, &id).await?;
    let client_id = req.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 100 {
        return Err(ApiError::bad("bad_client_id", "client_id is 1 to 100 characters"));
    }
    let kind = MessageKind::parse(&req.kind)
        .filter(|k| *k != MessageKind::Call)
        .ok_or_else(|| ApiError::bad("bad_kind", "kind is text, image, voice or video"))?;
    let text = req
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT_CHARS) {
        return Err(
            ApiError::bad("too_long", format!("a message has at most {MAX_TEXT_CHARS} characters"))
                .with_params(serde_json::json!({"field": "text", "max": MAX_TEXT_CHARS})),
        );
    }
    let media = match (kind, req.media_id) {
        (MessageKind::Text, Some(_)) => {
            return Err(ApiError::bad("unexpected_media", "a text message carries no media"));
        }
        (MessageKind::Text, None) => {
            if text.is_none() {
                return Err(ApiError::bad("missing_text", "a text message needs text"));
            }
            None
        }
        (_, None) => {
            return Err(ApiError::bad(
                "missing_media",
                "upload the file first and give its media_id",
            ));
        }
        (k, Some(mid)) => {
            let m = app
                .store
                .media(mid.0)
                .await
                .or_unprocessable("unknown_media", "media_id refers to no upload")?;
            if m.owner_id != me.id {
                return Err(ApiError::Unprocessable(
                    "unknown_media",
                    "media_id refers to no upload of yours".into(),
                ));
            }
            if !k.accepts_mime(&m.mime) {
                return Err(ApiError::Unprocessable(
                    "media_kind_mismatch",
                    format!("a {} message cannot carry {}", k.as_str(), m.mime),
                ));
            }
            Some(m.id)
        }
    };
    let peer = app.directory.user(conv.peer_of(me.id)).await.or_not_found("user")?;
    // R8 again on every send: a guardianship may have ended since the conversation began.
    check_r8(&app, me, &peer).await?;
    // Students cannot raise alarms with the urgent flag; guardians and staff can.
    let urgent = req.urgent && me.role != Role::Student;
    let new = NewMessage {
        conversation_id: conv.id,
        sender_id: me.id,
        recipient_id: peer.id,
        client_id,
        kind,
        text,
        media_id: media,
        urgent,
        now: app.now(),
        status: MessageStatus::Sent,
        notified_rooms: Vec::new(),
        push: None,
    };
    let (msg, created) = app.delivery.send(new, me, &peer).await.map_err(|e| match e {
        ApiError::Unprocessable(..) => {
            ApiError::Unprocessable("unknown_reference", "the message refers to something missing".into())
        }
        other => other,
    })?;
    if created && urgent {
        app.audit(
            Some(me.id),
            "message.urgent",
            Some(peer.id),
            json!({"message_id": msg.id}),
        )
        .await;
    }
    if !created && msg.conversation_id != conv.id {
        return Err(ApiError::Conflict(
            "client_id_reused",
            "that client_id was used for another conversation".into(),
        ));
    }
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    let recipient_quiet = match app.quiet_now(&peer).await {
        Some(q) if holds(true, urgent, me.role) => Some(QuietNow::from(q)),
        _ => None,
    };
    Ok((
        status,
        axum::Json(MessageResponse {
            message: message_view(&msg, show_rooms(&app, &auth.user)),
            recipient_quiet,
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// Only messages older than this id.
    pub before: Option<String>,
    /// Only messages newer than this id.
    pub after: Option<String>,
    /// At most this many (default 50, at most 200).
    pub limit: Option<u32>,
}

/// GET /api/v1/conversations/{id}/messages?before=&after=&limit= — newest last.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "messages", params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Vec<MessageView>), (status = 404)))]
async fn list_messages(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Vec<MessageView>>> {
    let conv = own_conversation(&app, &auth.user, &id).await?;
    let num = |s: &Option<String>| -> ApiResult<Option<i64>> {
        s.as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad("bad_cursor", "before/after must be message ids"))
            })
            .transpose()
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > 200 {
        return Err(ApiError::bad("bad_limit", "limit is 1 to 200"));
    }
    let list = app
        .store
        .messages(conv.id, num(&q.before)?, num(&q.after)?, limit)
        .await?;
    let show = show_rooms(&app, &auth.user);
    if auth.session.is_some() {
        app.audit(
            Some(auth.user.id),
            "message.listed",
            Some(auth.user.id),
            json!({"conversation_id": conv.id}),
        )
        .await;
    }
    Ok(axum::Json(list.iter().map(|m| message_view(m, show)).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The newest message id the reader has seen.
    pub up_to: ApiId,
}

/// POST /api/v1/conversations/{id}/read — read receipt up to a message; each sender
/// sees `read` live, and a sender who asked for read receipts on their phone
/// (`PATCH /push/settings`) gets one there when their app is closed.
#[utoipa::path(post, path = "/conversations/{id}/read", tag = "messages", params(("id" = String, Path)), request_body = ReadRequest,
    responses((status = 204), (status = 404)))]
async fn mark_read(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
    Json(req): Json<ReadRequest>,
) -> ApiResult<StatusCode> {
    let conv = own_conversation(&app, &auth.user, &id).await?;
    let read = app.store.mark_read(conv.id, auth.user.id, req.up_to.0).await?;
    if !read.is_empty() {
        app.delivery.announce_read(auth.user.id, &read);
        app.delivery.push_read_receipt(&auth.user, conv.id, &read).await;
        app.audit(
            Some(auth.user.id),
            "message.read",
            Some(auth.user.id),
            json!({"conversation_id": conv.id, "count": read.len()}),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}
