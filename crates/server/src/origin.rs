//! Cross-site request forgery: a browser sends the `doorplate_session` cookie with any
//! request to us, also one that a page on another port of the same host makes (it is the
//! same *site*, so `SameSite=Strict` does not stop it). So a request authenticated by the
//! cookie that changes anything, or that opens the event socket, must come from our own
//! origin, and a write must not carry a type a plain HTML form can send.
//!
//! A request with an `Authorization` header is left alone: a foreign page cannot set that
//! header on a request to us, and the header wins over the cookie (`auth::bearer`). So is
//! an event socket opened with a `?ticket=`, which only a bearer holder can get.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Our own origins besides the one the request's `Host` names.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    /// The configured public URL's origin (`https://doorplate.example.org`), lowercase.
    pub public: Option<String>,
}

/// Refuses a cookie-authenticated write or event socket from a foreign page (403
/// `cross_origin`), and a cookie-authenticated write whose body has a type a plain form
/// can send (415 `unsupported_media_type`).
pub async fn guard(State(origins): State<Arc<Origins>>, req: Request, next: Next) -> Response {
    if let Err(e) = check(&origins, req.method(), req.uri(), req.headers()) {
        return e.into_response();
    }
    next.run(req).await
}

/// The rule, apart from the middleware plumbing.
pub fn check(origins: &Origins, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    // Every path, not only `/api/`: the faces' files are only read, and a school's API
    // under `/s/{slug}/api/` (DISTRICT.md) is covered the day it comes.
    if !by_cookie(headers) {
        return Ok(());
    }
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let opens_socket = uri.path().ends_with("/api/v1/events") && !has_ticket(uri);
    if safe && !opens_socket {
        return Ok(());
    }
    if !from_our_origin(origins, headers) {
        return Err(ApiError::Forbidden(
            "cross_origin",
            "a request signed in by the session cookie must come from this server's own pages".into(),
        ));
    }
    if !safe && form_like_body(headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send this request with the content type its endpoint expects".into(),
        ));
    }
    Ok(())
}

/// True when the session cookie, not a header, would authenticate this request.
fn by_cookie(headers: &HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION) && crate::auth::session_cookie(headers).is_some()
}

fn has_ticket(uri: &axum::http::Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("ticket")))
}

/// `Origin` is ours when it is the public URL's origin, or the scheme and authority the
/// request itself was sent to (`Host`). Without `Origin`, a browser's `Sec-Fetch-Site`
/// must say `same-origin`. A request with neither comes from no browser page: browsers
/// put `Origin` on every request that is not a GET or HEAD and on every WebSocket
/// handshake (Fetch standard; Firefox since 70, 2019), so a foreign page cannot make
/// one, and a program holding the cookie (as API.md allows) is served.
fn from_our_origin(origins: &Origins, headers: &HeaderMap) -> bool {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase)
    };
    match text(header::ORIGIN) {
        Some(origin) => {
            if origins.public.as_deref() == Some(origin.as_str()) {
                return true;
            }
            let Some(host) = text(header::HOST) else {
                return false;
            };
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .is_some_and(|authority| authority == host)
        }
        None => match text(header::HeaderName::from_static("sec-fetch-site")) {
            Some(site) => site == "same-origin",
            None => true,
        },
    }
}

/// True when a body is sent as a type an HTML form (or a no-CORS fetch) can send without
/// asking us first: none of our endpoints reads those from a browser.
fn form_like_body(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        // No type at all: fine for a request without a body (logout, a ticket).
        let has_body = headers.contains_key(header::TRANSFER_ENCODING)
            || headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() != "0");
        return has_body;
    };
    let essence = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data" | ""
    )
}

/// The origin (`scheme://host[:port]`, lowercase, default port left out) of a public URL
/// such as `https://doorplate.example.org/`; an error says what is wrong with it.
pub fn origin_of(url: &str) -> Result<String, String> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not a URL (expected https://host[:port])"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("{url:?}: the scheme must be http or https"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("").to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("{url:?}: expected https://host[:port]"));
    }
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
    Ok(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn run(method: Method, path: &str, h: &[(&str, &str)]) -> Result<(), String> {
        let origins = Origins {
            public: Some("https://doorplate.example.org".into()),
        };
        check(&origins, &method, &path.parse().unwrap(), &headers(h)).map_err(|e| e.to_string())
    }

    const COOKIE_H: (&str, &str) = ("cookie", "doorplate_session=dpu_x");
    const HOST: (&str, &str) = ("host", "127.0.0.1:8080");

    #[test]
    fn cookie_writes_need_our_origin() {
        let ok = [
            COOKIE_H,
            HOST,
            ("origin", "http://127.0.0.1:8080"),
            ("content-type", "application/json"),
        ];
        assert!(run(Method::POST, "/api/v1/users", &ok).is_ok());
        let public = [
            COOKIE_H,
            HOST,
            ("origin", "https://doorplate.example.org"),
            ("content-type", "text/csv"),
        ];
        assert!(run(Method::POST, "/api/v1/import/users", &public).is_ok());
        let other_port = [
            COOKIE_H,
            HOST,
            ("origin", "http://127.0.0.1:9999"),
            ("content-type", "application/json"),
        ];
        assert!(run(Method::POST, "/api/v1/users", &other_port).is_err());
        let null = [COOKIE_H, HOST, ("origin", "null"), ("content-type", "application/json")];
        assert!(run(Method::DELETE, "/api/v1/users/1", &null).is_err());
        let program = [COOKIE_H, HOST, ("content-type", "application/json")];
        assert!(run(Method::DELETE, "/api/v1/users/1", &program).is_ok());
        let fetch_site = [COOKIE_H, HOST, ("sec-fetch-site", "same-site")];
        assert!(run(Method::POST, "/api/v1/auth/logout", &fetch_site).is_err());
        let same = [COOKIE_H, HOST, ("sec-fetch-site", "same-origin")];
        assert!(run(Method::POST, "/api/v1/auth/logout", &same).is_ok());
    }

    #[test]
    fn form_types_are_refused_with_the_cookie_only() {
        let form = [
            COOKIE_H,
            HOST,
            ("origin", "http://127.0.0.1:8080"),
            ("content-type", "text/plain;charset=UTF-8"),
        ];
        assert!(run(Method::POST, "/api/v1/import/users", &form).is_err());
        let bearer = [
            ("authorization", "Bearer dpu_x"),
            COOKIE_H,
            ("content-type", "text/plain"),
        ];
        assert!(run(Method::POST, "/api/v1/import/users", &bearer).is_ok());
    }

    #[test]
    fn reads_pass_but_cookie_sockets_are_checked() {
        assert!(
            run(
                Method::GET,
                "/api/v1/me",
                &[COOKIE_H, HOST, ("origin", "http://evil:1")]
            )
            .is_ok()
        );
        assert!(
            run(
                Method::GET,
                "/api/v1/events",
                &[COOKIE_H, HOST, ("origin", "http://evil:1")]
            )
            .is_err()
        );
        assert!(
            run(
                Method::GET,
                "/api/v1/events?ticket=dpt_x",
                &[COOKIE_H, HOST, ("origin", "http://evil:1")]
            )
            .is_ok()
        );
        assert!(
            run(
                Method::GET,
                "/api/v1/events",
                &[COOKIE_H, HOST, ("origin", "http://127.0.0.1:8080")]
            )
            .is_ok()
        );
    }

    #[test]
    fn public_url_origins() {
        assert_eq!(
            origin_of("https://Door.Example.org/").unwrap(),
            "https://door.example.org"
        );
        assert_eq!(
            origin_of("https://door.example.org:443").unwrap(),
            "https://door.example.org"
        );
        assert_eq!(origin_of("http://10.0.0.5:8080/x").unwrap(), "http://10.0.0.5:8080");
        assert!(origin_of("door.example.org").is_err());
        assert!(origin_of("ftp://door").is_err());
    }
}
