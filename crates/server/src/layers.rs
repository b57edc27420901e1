//! Middleware around the whole router: a read timeout on request bodies, headers every
//! response carries, the error JSON on the API's own error answers (405 and the
//! extractors' plain-text rejections), and compression of text answers.

use crate::error::error_response;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{And, Predicate, SizeAbove};

/// What the middleware here need from [`crate::HttpConfig`].
#[derive(Clone, Debug)]
pub struct Edge {
    /// A request body that sends nothing for this long is ended (408).
    pub body_timeout: Duration,
    /// The server is reached over HTTPS (its public URL says so): cookies get `Secure`.
    pub secure: bool,
}

/// Ends a request whose body stalls: when no bytes arrive for `body_timeout`, the
/// handler's read fails, and whatever it answered becomes 408 `timeout` with
/// `Connection: close`, so the connection is not kept for the rest of that body.
pub async fn body_timeout(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let stalled = Arc::new(AtomicBool::new(false));
    let req = req.map(|body| Body::new(IdleTimeoutBody::new(body, edge.body_timeout, stalled.clone())));
    let res = next.run(req).await;
    if !stalled.load(Ordering::Relaxed) {
        return res;
    }
    let mut res = error_response(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "the request body stopped arriving",
    );
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// A request body that fails when the next bytes take longer than `timeout`; the time
/// starts again after every frame, so a slow but moving upload is never cut.
struct IdleTimeoutBody {
    body: Body,
    timeout: Duration,
    /// Boxed so the body stays `Unpin`; set while a read is waiting.
    sleep: Option<Pin<Box<Sleep>>>,
    stalled: Arc<AtomicBool>,
}

impl IdleTimeoutBody {
    /// Wraps `body`; `stalled` turns true when it times out.
    fn new(body: Body, timeout: Duration, stalled: Arc<AtomicBool>) -> Self {
        IdleTimeoutBody {
            body,
            timeout,
            sleep: None,
            stalled,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body stopped arriving")]
struct Stalled;

impl HttpBody for IdleTimeoutBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            this.sleep = None;
            return Poll::Ready(frame);
        }
        let timeout = this.timeout;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        if sleep.as_mut().poll(cx).is_ready() {
            this.stalled.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(Stalled))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Compresses (gzip or br, as the client asks) the answers that are text: the faces'
/// HTML, JavaScript, CSS and SVG, the API's JSON and CSV. Never media (pictures, voice
/// and video are compressed already, and are served in ranges), never an event socket's
/// upgrade (it has no type), and nothing under 1 KiB, where the headers cost more than
/// is saved.
pub fn compression() -> CompressionLayer<And<SizeAbove, TextOnly>> {
    CompressionLayer::new()
        .gzip(true)
        .br(true)
        // Compressed per request, so the level is a CPU trade. Measured on the faces'
        // 56 files (548 KB, release build): brotli's default 11 took 1.2 s for 27%,
        // level 5 81 ms for 29%; gzip 5 is between gzip 4 (12 ms, 32%) and 6.
        .quality(CompressionLevel::Precise(COMPRESSION_LEVEL))
        .compress_when(SizeAbove::new(1024).and(TextOnly))
}

/// gzip and brotli level for answers made on the fly (see [`compression`]).
const COMPRESSION_LEVEL: i32 = 5;

/// The [`Predicate`] of [`compression`]: a list of the text types we send, so anything
/// else (media above all) is never compressed.
#[derive(Clone, Copy, Debug)]
pub struct TextOnly;

impl Predicate for TextOnly {
    fn should_compress<B: HttpBody>(&self, res: &axum::http::Response<B>) -> bool {
        let ty = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(
            ty.as_str(),
            "text/html"
                | "text/javascript"
                | "text/css"
                | "text/csv"
                | "text/plain"
                | "application/json"
                | "application/manifest+json"
                | "image/svg+xml"
        )
    }
}

/// Headers on every response: `nosniff` (a notice image or a download is never run as
/// something else), and `Secure` on our cookies when the server is reached over HTTPS.
pub async fn common_headers(State(edge): State<Arc<Edge>>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.entry("x-content-type-options")
        .or_insert(HeaderValue::from_static("nosniff"));
    if edge.secure {
        let cookies: Vec<HeaderValue> = h.get_all(header::SET_COOKIE).iter().cloned().collect();
        if !cookies.is_empty() {
            h.remove(header::SET_COOKIE);
            for c in cookies {
                let secured = match c.to_str() {
                    Ok(s) if !s.to_ascii_lowercase().contains("; secure") => {
                        HeaderValue::from_str(&format!("{s}; Secure")).unwrap_or(c)
                    }
                    _ => c,
                };
                h.append(header::SET_COOKIE, secured);
            }
        }
    }
    res
}

/// Gives the API's error answers that did not come from `ApiError` (axum's 405, a body
/// extractor's plain-text 413 …) the `{"error": {code, message}}` body, keeping their
/// status and headers (`Allow` on a 405).
pub async fn api_error_shape(req: Request, next: Next) -> Response {
    let api = req.uri().path().contains("/api/");
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    // Axum's rejection texts are short and say what was wrong; keep them for 4xx.
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if status.is_client_error() && !b.is_empty() => String::from_utf8_lossy(&b).into_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let fresh = error_response(status, code_for(status), &text);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, fresh.into_body())
}

/// The error code for a status that was not answered through `ApiError`.
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PRECONDITION_FAILED => "precondition_failed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::RANGE_NOT_SATISFIABLE => "bad_range",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "throttled",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use futures_util::stream;

    fn chunk() -> Result<Bytes, std::io::Error> {
        Ok(Bytes::from_static(b"abc"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_body_that_keeps_moving_is_read_whole() {
        // Three chunks, each 0.9 s after the last: never a whole second without bytes.
        let slow = stream::unfold(0, |n| async move {
            if n == 3 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(900)).await;
            Some((chunk(), n + 1))
        });
        let stalled = Arc::new(AtomicBool::new(false));
        let body = IdleTimeoutBody::new(Body::from_stream(slow), Duration::from_secs(1), stalled.clone());
        let bytes = axum::body::to_bytes(Body::new(body), usize::MAX).await.unwrap();
        assert_eq!(&bytes[..], b"abcabcabc");
        assert!(!stalled.load(Ordering::Relaxed));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_stops_fails_after_the_timeout() {
        let stuck = stream::once(async { chunk() }).chain(stream::pending());
        let stalled = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let body = IdleTimeoutBody::new(Body::from_stream(stuck), Duration::from_secs(1), stalled.clone());
        assert!(axum::body::to_bytes(Body::new(body), usize::MAX).await.is_err());
        assert!(stalled.load(Ordering::Relaxed));
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
