//! Forwarding: a request for a school another server of the district hosts goes to that
//! server, and its answer comes back, as if the client had asked the host itself.
//!
//! - Bodies stream both ways (an upload or a media download is never held in memory);
//!   every end-to-end header passes (`Range`, `If-None-Match`, `Host` — so the host's
//!   origin check sees the address the browser used), the hop-by-hop ones (RFC 9110
//!   §7.6.1) are dropped.
//! - An event socket's upgrade is forwarded as a request; on the host's 101 the two
//!   upgraded connections are spliced byte for byte, so frames and close codes pass
//!   unchanged, and when one side closes the other is closed. When this server stops,
//!   each spliced socket ends at a frame boundary with its own close, 1012, at a random
//!   moment within 1.5 s — as the host's own sockets do at a restart — so clients resume
//!   quietly elsewhere.
//! - Each forwarded request carries a hop header ([`super::hop`]) with the client's
//!   address, signed with the district's key: the host counts throttles and limits by
//!   that client, and never forwards the request again.
//! - A host that does not answer gets the client a 503 with `Retry-After`, never a wrong
//!   answer: a refused connection, none within [`CONNECT_TIMEOUT`], or a request that
//!   makes no progress (no byte of its body taken, no answer) for [`MOVED_STALL`] once
//!   the placement no longer names that host (a paused host accepts connections into
//!   its backlog but never answers; the lease keeper soon gives its schools to another),
//!   or for [`STALL`] in any case.
//!
//! One hyper client holds a pool of keep-alive connections per peer.

use super::hop::{self, HopKey};
use super::placement::{Peer, Place, Placement};
use crate::crypto::Secrets;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// How long a connection to a peer may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a forwarded request may make no progress — no byte of its body taken, no
/// answer — while its host is still the school's: as long as a reverse proxy's usual
/// read timeout, since an import or an export may take a while.
pub const STALL: Duration = Duration::from_secs(60);

/// How long a forwarded request may make no progress once the placement says its host no
/// longer has the school (died, paused past its lease, handed it over). A host that lost
/// its lease cannot write any more (fencing), so the 503 is never a lie about a write.
pub const MOVED_STALL: Duration = Duration::from_secs(2);

/// How often a waiting forwarded request looks at the placement.
const PLACEMENT_POLL: Duration = Duration::from_millis(250);

/// An idle pooled connection is closed after this, well before the peer's own idle
/// timeout (`--header-timeout`, 15 s by default) would close it under a request.
const POOL_IDLE: Duration = Duration::from_secs(5);

/// What a client is told to wait before it tries again, in seconds.
pub const RETRY_AFTER_SECS: u64 = 2;

/// The header every answer carries: the name of the server that hosted the school.
pub const SERVED_BY: HeaderName = HeaderName::from_static("doorplate-served-by");

/// This server's side of forwarding: its name, the hop key, the client and its pools,
/// and the spliced event sockets.
pub struct Forwarder {
    /// This server's `--name`, as `Doorplate-Served-By` says it (`None` when the name
    /// cannot be a header value).
    served_by: Option<HeaderValue>,
    hop: HopKey,
    /// Pooled per peer (by scheme and authority); bodies are axum's, streamed.
    client: Client<HttpConnector, Body>,
    /// The spliced event sockets; closed when the server stops.
    splices: tokio_util::task::TaskTracker,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Forwarder {
    /// The forwarder of the server named `name`, signing hops with a key derived from
    /// the district's key.
    pub fn new(name: &str, master: &Secrets) -> Forwarder {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        Forwarder {
            served_by: HeaderValue::from_str(name).ok(),
            hop: HopKey::derive(master),
            client,
            splices: tokio_util::task::TaskTracker::new(),
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    /// The key hops to this server are checked with.
    pub fn hop_key(&self) -> &HopKey {
        &self.hop
    }

    /// Puts this server's name on an answer it made itself.
    pub fn stamp(&self, mut res: Response) -> Response {
        if let Some(name) = &self.served_by {
            res.headers_mut().insert(SERVED_BY, name.clone());
        }
        res
    }

    /// Closes every spliced event socket with 1012, each at its moment within 1.5 s (the
    /// server is stopping; the clients reconnect and resume with `after`).
    pub fn close(&self) {
        let _ = self.stop.send(true);
        self.splices.close();
    }

    /// Waits (at most `limit`) for the spliced sockets to have sent their close.
    pub async fn closed(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.splices.wait()).await.is_err() {
            tracing::warn!(open = self.splices.len(), "forwarded sockets did not close in time");
        }
    }

    /// Sends `req` (its path as the client sent it) to `peer`, which hosts `school` as
    /// `placement` says, and returns the peer's answer; a peer that does not answer is a
    /// 503 (`api`: as the error JSON).
    pub async fn forward(&self, req: Request, peer: &Peer, school: &str, api: bool, placement: &Placement) -> Response {
        let (mut parts, body) = req.into_parts();
        let upgrade = is_upgrade(&parts.headers);
        let on_upgrade = if upgrade {
            parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
        } else {
            None
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let uri: Uri = match format!("{}{path}", peer.url.trim_end_matches('/')).parse() {
            Ok(u) => u,
            Err(e) => {
                tracing::error!(peer = %peer.name, url = %peer.url, error = %e, "a peer's advertised URL is not usable");
                return unreachable(api);
            }
        };
        let client = client_of(&parts);
        let mut headers = std::mem::take(&mut parts.headers);
        strip_hop_by_hop(&mut headers, upgrade);
        let now = crate::school::now_micros();
        headers.insert(
            hop::HOP_HEADER,
            self.hop.sign(client, school, &parts.method, &path, now),
        );
        let progress = Arc::new(Progress::new());
        let body = Body::new(Watched {
            body,
            progress: progress.clone(),
        });
        let mut out = axum::http::Request::new(body);
        *out.method_mut() = parts.method;
        *out.uri_mut() = uri;
        *out.version_mut() = Version::HTTP_11;
        *out.headers_mut() = headers;

        let sent = self.client.request(out);
        tokio::pin!(sent);
        let mut res = loop {
            match tokio::time::timeout(PLACEMENT_POLL, &mut sent).await {
                Ok(Ok(res)) => break res,
                Ok(Err(e)) => {
                    tracing::warn!(peer = %peer.name, %school, error = %e, "forwarding failed: the host did not answer");
                    return unreachable(api);
                }
                Err(_) => {
                    let moved = placement.place_of(school) != Some(Place::Peer(peer.clone()));
                    let idle = progress.idle();
                    if idle >= STALL || (moved && idle >= MOVED_STALL) {
                        tracing::warn!(peer = %peer.name, %school, moved, idle_ms = idle.as_millis() as u64, "forwarding stalled: the host stopped answering");
                        return unreachable(api);
                    }
                }
            }
        };

        if res.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_side) = on_upgrade else {
                return unreachable(api);
            };
            let peer_side = hyper::upgrade::on(&mut res);
            let stop = self.stop.subscribe();
            let peer_name = peer.name.clone();
            self.splices.spawn(async move {
                match tokio::try_join!(client_side, peer_side) {
                    Ok((client, host)) => splice(TokioIo::new(client), TokioIo::new(host), stop).await,
                    Err(e) => tracing::debug!(peer = %peer_name, error = %e, "a forwarded socket did not open"),
                }
            });
        }
        let (mut parts, incoming) = res.into_parts();
        strip_hop_by_hop(&mut parts.headers, parts.status == StatusCode::SWITCHING_PROTOCOLS);
        Response::from_parts(parts, Body::new(incoming))
    }
}

/// At shutdown each spliced socket closes at a random moment within this (as the host's
/// own sockets do), so thousands of clients do not come back at once.
const RESTART_SPREAD_MS: u32 = 1500;

/// A WebSocket close frame from the server side (unmasked): 1012, "service restart".
const CLOSE_RESTART: [u8; 4] = [0x88, 0x02, 0x03, 0xf4];

/// Joins a client's and a host's upgraded connections until either side ends (then both
/// are closed), or until this server stops: then, at the first frame boundary after a
/// random moment of the spread, the client gets a close of its own (1012) and the host's
/// connection is dropped.
async fn splice<C, H>(client: C, host: H, mut stop: tokio::sync::watch::Receiver<bool>)
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    H: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_in, mut client_out) = tokio::io::split(client);
    let (mut host_in, mut host_out) = tokio::io::split(host);
    let up = async {
        let _ = tokio::io::copy(&mut client_in, &mut host_out).await;
        let _ = host_out.shutdown().await;
    };
    let down = async {
        let mut frames = Frames::default();
        let mut buf = vec![0u8; 8 << 10];
        let mut at_boundary = true;
        let mut close_at: Option<Instant> = None;
        let spread = || {
            let ms = getrandom::u32().unwrap_or(0) % RESTART_SPREAD_MS;
            Some(Instant::now() + Duration::from_millis(u64::from(ms)))
        };
        loop {
            let stopping = *stop.borrow();
            if stopping && close_at.is_none() {
                close_at = spread();
            }
            if at_boundary && close_at.is_some_and(|t| t <= Instant::now()) {
                let _ = client_out.write_all(&CLOSE_RESTART).await;
                let _ = client_out.shutdown().await;
                return;
            }
            let waiting = close_at.filter(|t| *t > Instant::now());
            tokio::select! {
                read = host_in.read(&mut buf) => match read {
                    Ok(0) | Err(_) => {
                        let _ = client_out.shutdown().await;
                        return;
                    }
                    Ok(n) => {
                        at_boundary = frames.feed(&buf[..n]);
                        if client_out.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                },
                changed = stop.changed(), if close_at.is_none() => {
                    // Stopping (looked at above), or the forwarder is gone: close too.
                    if changed.is_err() {
                        close_at = spread();
                    }
                }
                _ = tokio::time::sleep_until(waiting.unwrap_or_else(Instant::now)), if waiting.is_some() => {}
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Where a server's stream of WebSocket frames is (RFC 6455 §5.2): the header bytes of
/// the next frame gathered so far, or the payload bytes left of the current one.
#[derive(Default)]
struct Frames {
    head: Vec<u8>,
    payload_left: u64,
}

impl Frames {
    /// Takes the next bytes of the stream; `true` when they end at a frame boundary.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= n;
                bytes = &bytes[n as usize..];
                continue;
            }
            self.head.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some(len) = payload_length(&self.head) {
                self.payload_left = len;
                self.head.clear();
            }
        }
        self.head.is_empty() && self.payload_left == 0
    }
}

/// The payload length a frame header announces, once `head` holds all of the header.
fn payload_length(head: &[u8]) -> Option<u64> {
    let second = *head.get(1)?;
    let masked = second & 0x80 != 0;
    let extended = match second & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let size = 2 + extended + if masked { 4 } else { 0 };
    if head.len() < size {
        return None;
    }
    Some(match second & 0x7f {
        n @ 0..=125 => u64::from(n),
        _ => head[2..2 + extended]
            .iter()
            .fold(0u64, |len, b| len << 8 | u64::from(*b)),
    })
}

/// The client's address as the accept loop found it (`client.rs`).
fn client_of(parts: &axum::http::request::Parts) -> std::net::IpAddr {
    if let Some(c) = parts.extensions.get::<crate::client::ClientAddr>() {
        return c.0;
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// A WebSocket (or any) upgrade: `Connection: upgrade` and an `Upgrade` header.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Drops the headers that belong to one connection: the fixed list and any that
/// `Connection` names. An upgrade keeps `Upgrade` and says `Connection: upgrade` again.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let named: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|t| HeaderName::from_bytes(t.as_bytes()).ok())
        .collect();
    let kept_upgrade = if upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    };
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    // The forwarding server answered the client's `Expect: 100-continue` already.
    headers.remove(header::EXPECT);
    if let Some(u) = kept_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, u);
    }
}

/// When a forwarded request last moved: its start, or the last piece of body the peer
/// took.
struct Progress {
    started: Instant,
    /// Milliseconds from `started` to the last step.
    last: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            started: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn step(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long since the last step.
    fn idle(&self) -> Duration {
        let last = self.started + Duration::from_millis(self.last.load(Ordering::Relaxed));
        Instant::now().saturating_duration_since(last)
    }
}

/// The client's body on its way to the peer, noting each piece the peer takes.
struct Watched {
    body: Body,
    progress: Arc<Progress>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            self.progress.step();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// 503 while a school is between hosts (or was forwarded here and is not hosted here):
/// the client waits [`RETRY_AFTER_SECS`] and asks again.
pub fn moving(api: bool) -> Response {
    unavailable(
        api,
        "school_moving",
        "this school is moving to another server; try again in a moment",
        "This school is moving to another server",
        "学校正在迁移到另一台服务器",
    )
}

/// 503 when the school's host does not answer.
pub fn unreachable(api: bool) -> Response {
    unavailable(
        api,
        "host_unreachable",
        "the server that hosts this school does not answer; try again in a moment",
        "This school's server does not answer",
        "此学校的服务器暂时没有响应",
    )
}

fn unavailable(api: bool, code: &str, message: &str, title_en: &str, title_zh: &str) -> Response {
    let mut res = if api {
        crate::error::error_response(StatusCode::SERVICE_UNAVAILABLE, code, message)
    } else {
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta http-equiv=\"refresh\" content=\"{RETRY_AFTER_SECS}\"><title>{title_en}</title></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #1f2937\">\
<h1>{title_en}</h1><p>This page tries again by itself in a moment.</p>\
<h1 lang=\"zh\">{title_zh}</h1><p lang=\"zh\">本页面稍后会自动重试。</p>\
</body></html>"
        );
        let mut res = (StatusCode::SERVICE_UNAVAILABLE, page).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        res.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go_and_an_upgrade_keeps_its_own() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert(header::RANGE, HeaderValue::from_static("bytes=0-9"));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        h.insert(header::HOST, HeaderValue::from_static("school.example"));
        strip_hop_by_hop(&mut h, false);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["range", "if-none-match", "host"]);

        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("abc"));
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h[header::CONNECTION], "upgrade");
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::SEC_WEBSOCKET_KEY], "abc");
    }

    #[test]
    fn frame_boundaries_are_found_in_any_split_of_the_stream() {
        // A 5-byte text frame, a 300-byte one (16-bit length), a ping with no payload,
        // and a 70,000-byte one (64-bit length).
        let mut stream = vec![0x81, 5];
        stream.extend(b"hello");
        let first_end = stream.len();
        stream.extend([0x81, 126, 0x01, 0x2c]);
        stream.extend([b'x'; 300]);
        stream.extend([0x89, 0]);
        stream.extend([0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x70]);
        stream.extend(vec![7u8; 70_000]);
        let mut whole = Frames::default();
        assert!(whole.feed(&stream));
        // Byte by byte: at a boundary exactly after each frame.
        let mut frames = Frames::default();
        let boundaries: Vec<usize> = (0..stream.len())
            .filter(|&i| frames.feed(&stream[i..=i]))
            .map(|i| i + 1)
            .collect();
        assert_eq!(boundaries, [first_end, first_end + 304, first_end + 306, stream.len()]);
        // Cut inside a header and inside a payload.
        let mut frames = Frames::default();
        assert!(!frames.feed(&stream[..first_end + 1]));
        assert!(!frames.feed(&stream[first_end + 1..first_end + 10]));
        assert!(frames.feed(&stream[first_end + 10..]));
    }

    #[test]
    fn an_unavailable_school_says_when_to_try_again_in_both_forms() {
        let res = moving(true);
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
        assert!(
            res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let res = unreachable(false);
        assert_eq!(res.headers()[header::RETRY_AFTER], "2");
        assert!(
            res.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
}
