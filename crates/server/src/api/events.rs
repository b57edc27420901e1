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
use crate::metrics::SocketCount;
use crate::revocation::Registered;
use crate::school::{AppState, Ticket};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::watch;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

/// A ticket is good for this long, once.
const TICKET_SECONDS: i64 = 30;
/// Idle sockets are pinged this often; a client silent for three periods is closed.
const HEARTBEAT: Duration = Duration::from_secs(25);
/// At shutdown each socket closes (1012) at a random moment within this, so thousands of
/// clients do not all reconnect in the same instant.
const RESTART_SPREAD_MS: u32 = 1500;

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
    // Read before the token is checked: see `revocation.rs` for the race this closes.
    let epoch = app.revocations.epoch();
    let caller = resolve(&app, &token).await?;
    let (principal, ending) = match &caller {
        Caller::Device { doorplate, .. } => (Principal::Device(doorplate.id), None),
        Caller::User {
            user,
            session: Some(session),
            ..
        } => (Principal::User(user.id), Some(Ending::Session(session.revoked.clone()))),
        Caller::User { user, .. } => {
            let hash = app.secrets.hash("token", &token);
            let revoked = match app.revocations.register(user.id, &hash, epoch, false) {
                Registered::Watching(rx) => rx,
                Registered::Stale => {
                    // Something was revoked while we checked: check again, now that the
                    // store and the caches know.
                    resolve(&app, &token).await?;
                    match app.revocations.register(user.id, &hash, epoch, true) {
                        Registered::Watching(rx) => rx,
                        Registered::Stale => unreachable!("a forced registration is never stale"),
                    }
                }
            };
            (
                Principal::User(user.id),
                Some(Ending::Login {
                    user: user.id,
                    token: token.clone(),
                    revoked,
                }),
            )
        }
    };
    // Authentication first, so a stranger learns nothing; then the upgrade itself.
    let ws = ws.map_err(|e| {
        ApiError::bad(
            "not_websocket",
            format!("open this endpoint as a WebSocket: {}", e.body_text()),
        )
    })?;
    let sub = app.hub.subscribe(principal, q.after);
    let kind = match (&principal, &ending) {
        (Principal::Device(_), _) => &app.metrics.sockets.device,
        (_, Some(Ending::Session(_))) => &app.metrics.sockets.session,
        _ => &app.metrics.sockets.user,
    };
    let counted = SocketCount::open(kind);
    // Taken before the upgrade: shutdown waits for this socket's close from here on.
    let tracked = app.sockets.token();
    // Small buffers: an idle socket must cost a few KiB, not tungstenite's default 128 KiB.
    // The read buffer is allocated whole when the socket opens and clients send only
    // pongs and small frames, so 1 KiB (it grows for a larger frame, up to the limit
    // below): 3 KiB less per idle socket than 4 KiB (docs/BENCHMARK.md).
    Ok(ws
        .read_buffer_size(1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(1 << 20)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            serve_socket(app, socket, principal, sub, ending).await;
            drop((counted, tracked));
        }))
}

/// What ends a user's socket besides the client and shutdown.
enum Ending {
    /// A personal session on a doorplate: its flag turns when the session ends.
    Session(watch::Receiver<bool>),
    /// A login token: its flag turns on logout, or when the user is disabled, deleted or
    /// given a new password; the heartbeat also checks the token again (expiry).
    Login {
        user: doorplate_domain::Id,
        token: String,
        revoked: watch::Receiver<bool>,
    },
}

impl Ending {
    fn flag(&mut self) -> &mut watch::Receiver<bool> {
        match self {
            Ending::Session(r) | Ending::Login { revoked: r, .. } => r,
        }
    }

    fn reason(&self) -> &'static str {
        match self {
            Ending::Session(_) => "session ended",
            Ending::Login { .. } => "token revoked",
        }
    }
}

async fn serve_socket(
    app: AppState,
    socket: WebSocket,
    principal: Principal,
    mut sub: crate::hub::Subscription,
    mut ending: Option<Ending>,
) {
    let (mut tx, mut rx) = socket.split();
    let mut shutdown = app.shutdown.clone();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.tick().await;
    let mut missed_pongs = 0u8;
    // When this socket closes for the restart, once the server is shutting down.
    let mut closing: Option<tokio::time::Instant> = None;
    let first: Vec<_> = sub.resync.take().into_iter().chain(sub.replay.drain(..)).collect();
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    // Revoked while the upgrade was under way: nothing may be sent, not even the replay.
    if let Some(e) = &mut ending
        && *e.flag().borrow()
    {
        let _ = tx.send(close(4001, e.reason())).await;
        finish(&app, principal, sub.id, ending);
        return;
    }
    for f in first {
        if tx.send(Message::Text(f.to_string().into())).await.is_err() {
            finish(&app, principal, sub.id, ending);
            return;
        }
    }
    loop {
        tokio::select! {
            frame = sub.rx.recv() => {
                let written = match frame {
                    Some(f) => write_queued(&mut tx, f, &mut sub.rx, ending.as_mut()).await,
                    // The hub dropped us: too slow, or the account was disconnected.
                    None => Written::Dropped,
                };
                match written {
                    Written::All => {}
                    Written::Failed => break,
                    Written::Ended => {
                        let reason = ending.as_ref().map_or("session ended", Ending::reason);
                        let _ = tx.send(close(4001, reason)).await;
                        break;
                    }
                    Written::Dropped => {
                        let _ = tx.send(close(4008, "lagging; reconnect with after")).await;
                        break;
                    }
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
                // A login token can also run out while its socket is open.
                if let Some(Ending::Login { token, .. }) = &ending
                    && let Err(ApiError::Unauthorized(..)) = resolve(&app, token).await
                {
                    let _ = tx.send(close(4001, "token revoked")).await;
                    break;
                }
            },
            _ = ended(ending.as_mut().map(Ending::flag)) => {
                let reason = ending.as_ref().map_or("session ended", Ending::reason);
                let _ = tx.send(close(4001, reason)).await;
                break;
            },
            // Frames still go out until this socket's moment comes.
            _ = ended(Some(&mut shutdown)), if closing.is_none() => {
                closing = Some(tokio::time::Instant::now() + restart_delay());
            },
            _ = until(closing) => {
                let _ = tx.send(close(1012, "server restarting")).await;
                break;
            },
        }
    }
    // A screen's last moment online: the console's offline alert counts from here.
    if let Principal::Device(d) = principal
        && let Err(e) = app.store.touch_doorplate(d, app.now()).await
    {
        tracing::warn!(error = %e, doorplate = d, "could not record when a doorplate went offline");
    }
    finish(&app, principal, sub.id, ending);
}

/// Most frames one socket write carries.
const FRAMES_PER_WRITE: usize = 64;

/// What became of the frames [`write_queued`] took.
enum Written {
    /// Written (and flushed).
    All,
    /// The socket failed.
    Failed,
    /// The session ended: the frames from there on were not written.
    Ended,
    /// The hub dropped this socket's queue (too slow): the frames before that were written.
    Dropped,
}

/// Writes `first` and every frame already waiting behind it (up to
/// [`FRAMES_PER_WRITE`]) with one flush, so the frames of one commit — its hints and
/// statuses, published one after another by the requests it answered — share a socket
/// write instead of costing one each. After the first frame the task lets the tasks
/// already woken run (`yield_now`): those are the requests of the same commit, which
/// queue their frames meanwhile. `select!` picks among ready branches at random, so the
/// session's flag is read before every frame: once it has turned, not one more frame
/// goes out, even one already queued.
async fn write_queued(
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    first: crate::hub::Frame,
    rx: &mut tokio::sync::mpsc::Receiver<crate::hub::Frame>,
    mut ending: Option<&mut Ending>,
) -> Written {
    use tokio::sync::mpsc::error::TryRecvError;
    let mut next = first;
    let mut outcome = Written::All;
    for taken in 1..=FRAMES_PER_WRITE {
        if ending.as_mut().is_some_and(|e| *e.flag().borrow()) {
            outcome = Written::Ended;
            break;
        }
        if tx.feed(Message::Text(next.as_ref().into())).await.is_err() {
            return Written::Failed;
        }
        if taken == 1 {
            tokio::task::yield_now().await;
        }
        if taken == FRAMES_PER_WRITE {
            break; // the rest wait for the next write
        }
        next = match rx.try_recv() {
            Ok(f) => f,
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => {
                outcome = Written::Dropped;
                break;
            }
        };
    }
    if tx.flush().await.is_err() {
        return Written::Failed;
    }
    outcome
}

/// Lets go of a closed socket's queue and of its token's flag.
fn finish(app: &AppState, principal: Principal, sub: u64, ending: Option<Ending>) {
    app.hub.unsubscribe(principal, sub);
    if let Some(Ending::Login { user, revoked, .. }) = ending {
        drop(revoked);
        app.revocations.release(user);
    }
}

/// A random moment within [`RESTART_SPREAD_MS`].
fn restart_delay() -> Duration {
    let r = getrandom::u32().unwrap_or(0) % RESTART_SPREAD_MS;
    Duration::from_millis(u64::from(r))
}

/// Completes at `at` (never, for `None`).
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Completes when the watched flag turns `true` (never, for `None`). The guard that
/// `wait_for` returns is dropped here, not held across the socket's awaits.
async fn ended(flag: Option<&mut watch::Receiver<bool>>) {
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
