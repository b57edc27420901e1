//! The three web faces (kiosk, family app, console) and their shared modules, served as
//! plain files. Release builds embed them; debug builds read `web/` from disk, so a page
//! can be edited and reloaded without rebuilding.

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/"]
struct Assets;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/", get(|| async { Redirect::temporary("/app") }))
        .route("/favicon.ico", get(|| async { asset("app/icons/icon.svg") }));
    for face in ["kiosk", "app", "admin"] {
        r = r
            .route(
                &format!("/{face}"),
                get(move || async move { asset(&format!("{face}/index.html")) }),
            )
            .route(
                &format!("/{face}/"),
                get(move || async move { asset(&format!("{face}/index.html")) }),
            )
            .route(
                &format!("/{face}/{{*path}}"),
                get(move |Path(p): Path<String>| async move { asset(&format!("{face}/{p}")) }),
            );
    }
    r.route(
        "/common/{*path}",
        get(|Path(p): Path<String>| async move { asset(&format!("common/{p}")) }),
    )
    .layer(middleware::from_fn(face_headers))
}

/// What a face may load: only our own files, with blobs and data URLs for images and
/// media it fetched with its token or recorded (camera, microphone: getUserMedia is not
/// a CSP matter), and the event socket on this host. No inline scripts or styles (the
/// faces have none: `dom.js` sets styles through the CSSOM), no plugins, no `<base>`.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
media-src 'self' blob:; font-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; \
base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Security headers on every face file: the CSP above, and no framing by another site
/// (`frame-ancestors` for today's browsers, `X-Frame-Options` for older ones) so nobody
/// can overlay the console or a kiosk to steal clicks.
async fn face_headers(req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .map(str::to_owned);
    let mut res = next.run(req).await;
    // `connect-src 'self'` covers ws: and wss: on the same host only in CSP level 3
    // browsers; older Safari needs the socket's origin spelled out.
    let connect = match host {
        Some(h) => format!("connect-src 'self' ws://{h} wss://{h}"),
        None => "connect-src 'self'".into(),
    };
    if let Ok(v) = HeaderValue::from_str(&format!("{CSP}; {connect}")) {
        let h = res.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, v);
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    res
}

fn asset(path: &str) -> Response {
    if path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_of(path);
            let mut res = file.data.into_owned().into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            // Pages revalidate so an update reaches every kiosk at its next reload.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            res
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}
