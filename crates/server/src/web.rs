//! The three web faces (kiosk, family app, console) and their shared modules, served as
//! plain files. Release builds embed them (and a test build, through the `embed-web`
//! feature: a changed file rebuilds, a new file needs this file touched); other debug
//! builds read `web/` from disk, so a page can be edited and reloaded without
//! rebuilding. Each file carries its content hash as
//! a strong ETag and `no-cache`: a browser revalidates on every load and gets a 304 until
//! the file changes, so an update still reaches every kiosk at its next reload.
//! (Compression is the edge's: [`crate::layers::compression`].)

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/"]
struct Assets;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/", get(|| async { Redirect::temporary("/app") }))
        .route(
            "/favicon.ico",
            get(|h: HeaderMap| async move { asset("app/icons/icon.svg", &h) }),
        );
    for face in ["kiosk", "app", "admin"] {
        r = r
            .route(
                &format!("/{face}"),
                get(move |h: HeaderMap| async move { asset(&format!("{face}/index.html"), &h) }),
            )
            .route(
                &format!("/{face}/"),
                get(move |h: HeaderMap| async move { asset(&format!("{face}/index.html"), &h) }),
            )
            .route(
                &format!("/{face}/{{*path}}"),
                get(move |Path(p): Path<String>, h: HeaderMap| async move { asset(&format!("{face}/{p}"), &h) }),
            );
    }
    r.route(
        "/common/{*path}",
        get(|Path(p): Path<String>, h: HeaderMap| async move { asset(&format!("common/{p}"), &h) }),
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

/// One embedded file, or 304 when the browser's copy (`If-None-Match`) is this one.
fn asset(path: &str, req: &HeaderMap) -> Response {
    if path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let etag = etag_of(&file.metadata.sha256_hash());
    let mut res = if has_copy(req.get(header::IF_NONE_MATCH), &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = file.data.into_owned().into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(mime_of(path)));
        res
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    // Revalidate every time (the URLs carry no version): an update reaches every kiosk
    // at its next reload, and an unchanged file costs a 304.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res
}

/// A strong ETag from a file's SHA-256 (its first 128 bits, in hex).
fn etag_of(sha256: &[u8; 32]) -> String {
    format!("\"{}\"", crate::crypto::hex(&sha256[..16]))
}

/// Whether an `If-None-Match` names this ETag (or `*`). The comparison is weak, as RFC
/// 9110 §13.1.2 says for this header: a `W/` in the client's list still matches.
fn has_copy(if_none_match: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(list) = if_none_match.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
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

/// The kiosk's build: a digest of every file the kiosk page loads (its own and the
/// shared modules), the first 12 hex digits. The state answer carries it; a kiosk keeps
/// the one it loaded with and reports it, so the console shows which screens still run
/// an older page (they pick up the new one at their next reload).
pub fn kiosk_build() -> String {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD
        .get_or_init(|| {
            use blake2::Digest;
            let mut names: Vec<_> = Assets::iter()
                .filter(|n| n.starts_with("kiosk/") || n.starts_with("common/"))
                .collect();
            names.sort();
            let mut h = blake2::Blake2b512::new();
            for n in names {
                if let Some(f) = Assets::get(&n) {
                    h.update(n.as_bytes());
                    h.update(f.metadata.sha256_hash());
                }
            }
            crate::crypto::hex(&h.finalize()[..6])
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        let tag = etag_of(&[0xab; 32]);
        assert_eq!(tag, format!("\"{}\"", "ab".repeat(16)));
        let has = |v: &str| has_copy(Some(&HeaderValue::from_str(v).unwrap()), &tag);
        assert!(has(&tag));
        assert!(has(&format!("\"x\", W/{tag}")));
        assert!(has("*"));
        assert!(!has("\"x\""));
        assert!(!has_copy(None, &tag));
    }
}
