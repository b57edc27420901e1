//! Live events over WebSocket (`/api/v1/events`).
//!
//! Each socket is one task: a `select!` over frames from the client, frames for it from
//! the hub's bounded queue, a heartbeat, the revocation of its personal session, and
//! server shutdown. It writes only from its own task, so nothing else ever waits on a
//! socket.

use crate::auth::{Caller, bearer, resolve};
use crate::crypto::new_token;
use crate::error::{ApiError, ApiResult, Query};
use crate::hub::Principal;
use crate::state::{AppState, Ticket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// A ticket is good for this long, once.
const TICKET_SECONDS: i64 = 30;
/// Idle sockets are pinged this often; a client silent for three periods is closed.
const HEARTBEAT: Duration = Duration::from_secs(25);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(new_ticket)).routes(routes!(events))
}

#[derive(Serialize, ToSchema)]
pub struct TicketResponse {
    /// Single use, valid 30 s: `GET /api/v1/events?ticket=…`.
    pub ticket: String,
}

/// POST /api/v1/events/ticket — a single-use ticket for a browser to open the event
/// socket, which cannot carry an `Authorization` header.
#[utoipa::path(post, path = "/events/ticket", tag = "events", responses((status = 200, body = TicketResponse), (status = 401)))]
async fn new_ticket(
    State(app): State<AppState>,
    headers: HeaderMap,
    _caller: Caller,
) -> ApiResult<axum::Json<TicketResponse>> {
    let token = bearer(&headers).ok_or_else(ApiError::unauthenticated)?;
    let ticket = new_token("dpt_");
    let now = app.now();
    let mut tickets = app.tickets.lock().expect("tickets poisoned");
    tickets.retain(|_, t| t.expires > now);
    tickets.insert(
        app.secrets.hash("ticket", &ticket),
        Ticket {
            token,
            expires: now + TICKET_SECONDS * 1_000_000,
        },
    );
    Ok(axum::Json(TicketResponse { ticket }))
}

#[derive(Deserialize, IntoParams)]
pub struct EventsQuery {
    /// Replay what came after this `seq`.
    pub after: Option<u64>,
    /// A ticket from `POST /api/v1/events/ticket`, instead of a bearer header.
    pub ticket: Option<String>,
}

/// GET /api/v1/events?after=&ticket= — upgrades to the live event socket. Frames are
/// `{"seq": n, "type": "...", "data": {...}}`.
#[utoipa::path(get, path = "/events", tag = "events", params(EventsQuery), responses((status = 101), (status = 401)))]
async fn events(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let token = match q.ticket {
        Some(ticket) => {
            let now = app.now();
            let t = app
                .tickets
                .lock()
                .expect("tickets poisoned")
                .remove(&app.secrets.hash("ticket", &ticket));
            match t {
                Some(t) if t.expires > now => t.token,
                _ => {
                    return Err(ApiError::Unauthorized(
                        "invalid_ticket",
                        "the ticket is unknown, used or expired".into(),
                    ));
                }
            }
        }
        None => bearer(&headers).ok_or_else(ApiError::unauthenticated)?,
    };
    let caller = resolve(&app, &token).await?;
    let (principal, revoked) = match &caller {
        Caller::Device { doorplate, .. } => (Principal::Device(doorplate.id), None),
        Caller::User { user, session, .. } => (Principal::User(user.id), session.as_ref().map(|s| s.revoked.clone())),
    };
    // Authentication first, so a stranger learns nothing; then the upgrade itself.
    let ws = ws.map_err(|e| {
        ApiError::bad(
            "not_websocket",
            format!("open this endpoint as a WebSocket: {}", e.body_text()),
        )
    })?;
    let sub = app.hub.subscribe(principal, q.after);
    // Small buffers: an idle socket must cost a few KiB, not tungstenite's default 128 KiB.
    Ok(ws
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(1 << 20)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| serve_socket(app, socket, principal, sub, revoked)))
}

async fn serve_socket(
    app: AppState,
    socket: WebSocket,
    principal: Principal,
    mut sub: crate::hub::Subscription,
    mut revoked: Option<tokio::sync::watch::Receiver<bool>>,
) {
    let (mut tx, mut rx) = socket.split();
    let mut shutdown = app.shutdown.clone();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut missed_pongs = 0u8;
    let first: Vec<_> = sub.resync.take().into_iter().chain(sub.replay.drain(..)).collect();
    for f in first {
        if tx.send(Message::Text(f.to_string().into())).await.is_err() {
            app.hub.unsubscribe(principal, sub.id);
            return;
        }
    }
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        tokio::select! {
            frame = sub.rx.recv() => match frame {
                Some(f) => if tx.send(Message::Text(f.to_string().into())).await.is_err() { break },
                None => {
                    // The hub dropped us: too slow, or the account was disconnected.
                    let _ = tx.send(close(4008, "lagging; reconnect with after")).await;
                    break;
                }
            },
            msg = rx.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                // Any frame from the client (a pong or anything) proves it is alive.
                Some(Ok(_)) => missed_pongs = 0,
            },
            _ = heartbeat.tick() => {
                missed_pongs += 1;
                if missed_pongs > 3 || tx.send(Message::Ping(Vec::new().into())).await.is_err() { break }
            },
            _ = ended(revoked.as_mut()) => {
                let _ = tx.send(close(4001, "session ended")).await;
                break;
            },
            _ = ended(Some(&mut shutdown)) => {
                let _ = tx.send(close(1012, "server restarting")).await;
                break;
            },
        }
    }
    app.hub.unsubscribe(principal, sub.id);
}

/// Completes when the watched flag turns `true` (never, for `None`). The guard that
/// `wait_for` returns is dropped here, not held across the socket's awaits.
async fn ended(flag: Option<&mut tokio::sync::watch::Receiver<bool>>) {
    match flag {
        Some(r) => {
            if r.wait_for(|v| *v).await.is_err() {
                // The sender is gone: nothing will ever end this, so wait forever.
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}
