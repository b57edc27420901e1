//! The accept loop: what `axum::serve` does, plus the limits a public server needs.
//!
//! `axum::serve` gives hyper no timer, so a client that sends half a request head keeps
//! its connection (and a file descriptor) forever. Here each connection is served by
//! hyper's HTTP/1 builder with Tokio's timer and a header read timeout (which also ends
//! keep-alive connections that stay idle that long), and every client address may hold
//! only so many connections at once: one host cannot use up the process's files.

use crate::district::hop::Hop;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::future::Future;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Limits on each connection, from [`crate::HttpConfig`].
#[derive(Clone, Debug)]
pub struct ConnLimits {
    /// How long a client may take to send a request head (and how long an idle
    /// keep-alive connection stays open).
    pub header_timeout: Duration,
    /// Connections one address may hold at once; 0 means no limit.
    pub per_address: usize,
    /// Reverse proxies: not capped, and their `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[IpAddr]>,
    /// Checks the hop header of requests another server of the district forwarded
    /// (`district::hop`); `None`: no hop is believed.
    pub hop: Option<crate::district::hop::HopKey>,
    /// This server's name, for `Doorplate-Served-By` on the answers made here.
    pub served_by: String,
}

/// Open connections per client address.
///
/// A std `Mutex`: each use is one map update, never held across an await.
#[derive(Default)]
struct Counts(Mutex<HashMap<IpAddr, usize>>);

/// One admitted connection; gives its slot back when dropped.
struct Slot {
    counts: Arc<Counts>,
    ip: IpAddr,
}

impl Counts {
    /// A slot for `ip`, or `None` when it already holds `max` connections.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut map = self.0.lock().expect("connection counts poisoned");
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().expect("connection counts poisoned");
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// A client's socket with its slot: the slot is given back only when the socket is
/// closed, so an event socket (which outlives hyper's connection after the upgrade) keeps
/// counting — or when the connection turns out to be another server of the district
/// forwarding requests (a valid hop), which carries many clients and is not capped.
struct Counted {
    tcp: TcpStream,
    _slot: Arc<Mutex<Option<Slot>>>,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// What a refused connection reads before it is closed: a 503 with the error JSON, and
/// this server's name (`served_by`, when it can be a header value).
fn refused_answer(served_by: &str) -> Vec<u8> {
    let body = r#"{"error":{"code":"too_many_connections","message":"this address has too many open connections"}}"#;
    let name = match axum::http::HeaderValue::from_str(served_by) {
        Ok(_) if !served_by.is_empty() => format!("doorplate-served-by: {served_by}\r\n"),
        _ => String::new(),
    };
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n\
         retry-after: 10\r\n{name}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` until `shutdown` completes, then lets open requests
/// finish (live sockets are closed by the app's own shutdown flag) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let counts = Arc::new(Counts::default());
    let refused = refused_answer(&limits.served_by);
    // Dropped at shutdown: every connection task watches it to start its graceful close.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    // Each connection task holds a clone; `closed()` completes when all are gone.
    let (done_tx, done_rx) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // A client that gave up before we took it: nothing to wait for (a
                // pause here would let anyone slow our accepts by resetting).
                Err(e) if matches!(
                    e.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::ConnectionRefused
                ) => continue,
                Err(e) => {
                    // Out of files or a similar passing trouble: wait a little, as
                    // axum::serve does, instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // A trusted proxy carries many clients on its connections: it is not capped.
        let cap = if limits.trusted_proxies.contains(&peer.ip()) {
            0
        } else {
            limits.per_address
        };
        let Some(slot) = counts.admit(peer.ip(), cap) else {
            tracing::debug!(%peer, "refused: too many connections from this address");
            // Best effort, never waits: the socket's buffer takes these few bytes.
            let _ = tcp.try_write(&refused);
            continue;
        };
        // No Nagle: an event is often two small frames in a row (a message, then its
        // status); waiting for the first one's ACK cost 40 ms at the tail.
        let _ = tcp.set_nodelay(true);
        let slot = Arc::new(Mutex::new(Some(slot)));
        let router = router.clone();
        let trusted = limits.trusted_proxies.clone();
        let hop_key = limits.hop.clone();
        let held = slot.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            let hop = if req.headers().contains_key(crate::district::hop::HOP_HEADER) {
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_string();
                let (method, now) = (req.method().clone(), crate::school::now_micros());
                crate::district::hop::take(hop_key.as_ref(), req.headers_mut(), &method, &path, now)
            } else {
                None
            };
            let client = match hop {
                Some(Hop::Fresh(h)) => {
                    // Another server of the district: its connections are not capped.
                    held.lock().expect("connection slot poisoned").take();
                    let client = h.client;
                    req.extensions_mut().insert(h);
                    client
                }
                Some(Hop::Stale(h)) => {
                    // A server sent it (the MAC is right), so it is not forwarded again;
                    // but its stamp is off, so its client is not believed.
                    tracing::warn!(%peer, "a forwarded request's stamp is over 30 s off: are the servers' clocks in step?");
                    req.extensions_mut().insert(h);
                    crate::client::client_of(peer.ip(), req.headers(), &trusted)
                }
                None => crate::client::client_of(peer.ip(), req.headers(), &trusted),
            };
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(crate::client::ClientAddr(client));
            let mut router = router.clone();
            tower_service::Service::call(&mut router, req)
        });
        let mut stop = stop_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(Counted { tcp, _slot: slot }), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        tracing::debug!(%peer, error = %e, "connection ended");
                    }
                }
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop_tx);
    drop(done_rx);
    // Requests in flight finish; one that takes longer (a stalled upload) is cut, so the
    // process still exits within its 10 s.
    if tokio::time::timeout(REQUEST_DRAIN, done_tx.closed()).await.is_err() {
        tracing::warn!(
            seconds = REQUEST_DRAIN.as_secs(),
            "requests still open at shutdown were cut short"
        );
    }
}

/// How long shutdown waits for requests in flight.
const REQUEST_DRAIN: Duration = Duration::from_secs(5);
