//! Many schools in one process: each a [`HostedSchool`] with its own store, key, hub,
//! caches, throttles, engine and sweeper, and its own router; nothing is shared but the
//! accept loop. A request names its school by its path — `/s/{slug}/…` — or, without
//! one, goes to the default school, so a one-school install and every link printed
//! before many schools keep working.
//!
//! [`District::dispatch`] strips `/s/{slug}` and hands the request to that school's
//! router unchanged otherwise, so every handler sees the paths it always saw, and can
//! reach nothing of another school: a token, cookie, pairing code, card, ticket, media
//! id or throttle lives in one school's store and memory, hashed with its own key.
//!
//! A school of the district that another server hosts is forwarded there
//! ([`forward`]); one between hosts waits briefly, then gets 503 with `Retry-After`.

pub mod catalog;
pub mod forward;
pub mod hop;
pub mod hosts;
pub mod moving;
pub mod placement;
pub mod status;

use crate::school::AppState;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::task::JoinHandle;

pub use crate::school::info::SchoolInfo;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SlugError {
    #[error("the slug {0:?} must be 2 to 32 characters of a-z, 0-9 and -")]
    Invalid(String),
}

/// A slug is `[a-z0-9-]{2,32}`.
pub fn check_slug(slug: &str) -> Result<(), SlugError> {
    let ok = (2..=32).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SlugError::Invalid(slug.into()))
    }
}

/// Where the school was addressed: `/s/{slug}`, or empty at the root paths. Handlers
/// that print a path for the browser (the session cookie's `Path`) read it.
#[derive(Clone, Debug, Default)]
pub struct SchoolBase(pub Arc<str>);

/// Read by handlers: the prefix the request came through, empty at the root paths.
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SchoolBase {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<SchoolBase>().cloned().unwrap_or_default())
    }
}

impl SchoolBase {
    /// The cookie path for this school: its prefix, or `/` at the root.
    pub fn cookie_path(&self) -> String {
        if self.0.is_empty() {
            "/".into()
        } else {
            format!("{}/", self.0)
        }
    }
}

/// One school this process hosts: its state, its router, and the tasks that run it.
pub struct Hosted {
    pub info: SchoolInfo,
    pub app: AppState,
    router: Router,
    /// Turns `true` to stop this school alone (dropped from the district) or with the
    /// server.
    stop: tokio::sync::watch::Sender<bool>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Hosted {
    pub fn new(info: SchoolInfo, app: AppState, router: Router, stop: tokio::sync::watch::Sender<bool>) -> Hosted {
        Hosted {
            info,
            app,
            router,
            stop,
            tasks: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Tasks that end when the school stops (its engine, its sweeper).
    pub fn track(&self, task: JoinHandle<()>) {
        self.tasks.lock().unwrap().push(task);
    }

    /// Tells the school to stop: its sockets close, its engine and sweeper end their pass.
    pub fn signal_stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops the school and waits for its event sockets to close (each at its moment of
    /// the restart spread) and its engine and sweeper to finish their pass (cut short
    /// after `drain`).
    pub async fn stop(&self, drain: std::time::Duration) {
        self.signal_stop();
        self.app.sockets.close();
        // The spread is 1.5 s; a client that stopped reading must not hold the exit.
        let sockets = drain.min(std::time::Duration::from_secs(3));
        if tokio::time::timeout(sockets, self.app.sockets.wait()).await.is_err() {
            tracing::warn!(school = %self.info.slug, open = self.app.sockets.len(), "event sockets did not close in time");
        }
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().unwrap());
        let aborts: Vec<_> = tasks.iter().map(|t| t.abort_handle()).collect();
        let finished = tokio::time::timeout(drain, async {
            for t in tasks {
                let _ = t.await;
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(school = %self.info.slug, seconds = drain.as_secs(), "background work did not stop in time; cutting it short");
            for a in aborts {
                a.abort();
            }
        }
    }
}

/// The schools this process hosts, by slug, and which one the root paths serve.
pub struct District {
    schools: RwLock<HashMap<String, Arc<Hosted>>>,
    default: String,
    /// The schools other servers host (several servers on PostgreSQL); empty otherwise.
    placement: Arc<placement::Placement>,
    /// Sends requests for schools hosted elsewhere to their host; names this server on
    /// every answer.
    forwarder: forward::Forwarder,
}

impl District {
    pub fn new(default: String, forwarder: forward::Forwarder) -> District {
        District {
            schools: RwLock::new(HashMap::new()),
            default,
            placement: Arc::new(placement::Placement::new()),
            forwarder,
        }
    }

    /// Forwarding: the hop key the accept loop checks, and the spliced sockets to close
    /// at shutdown.
    pub fn forwarder(&self) -> &forward::Forwarder {
        &self.forwarder
    }

    /// Where the schools hosted elsewhere are: written by the lease keeper, read to
    /// forward requests.
    pub fn placement(&self) -> &Arc<placement::Placement> {
        &self.placement
    }

    pub fn default_slug(&self) -> &str {
        &self.default
    }

    pub fn get(&self, slug: &str) -> Option<Arc<Hosted>> {
        self.schools.read().unwrap().get(slug).cloned()
    }

    pub fn slugs(&self) -> Vec<String> {
        let mut v: Vec<_> = self.schools.read().unwrap().keys().cloned().collect();
        v.sort();
        v
    }

    pub fn all(&self) -> Vec<Arc<Hosted>> {
        self.schools.read().unwrap().values().cloned().collect()
    }

    /// Adds a hosted school (replacing none: the caller checked).
    pub fn insert(&self, hosted: Arc<Hosted>) {
        self.schools.write().unwrap().insert(hosted.info.slug.clone(), hosted);
    }

    /// Takes a school out: requests for it get the unknown-school answer from now on.
    pub fn remove(&self, slug: &str) -> Option<Arc<Hosted>> {
        self.schools.write().unwrap().remove(slug)
    }

    /// Hands a request to its school's router: `/s/{slug}/rest` as `/rest`, anything else
    /// to the default school (or, for a request forwarded here, the school its hop names).
    /// A school hosted by another server is forwarded there; one between hosts waits up
    /// to [`MOVING_WAIT`], then gets 503. An unknown slug is a 404 that says so (JSON for
    /// the API, a page for a person). Every answer made here carries this server's name in
    /// `Doorplate-Served-By`; a forwarded one keeps its host's.
    pub async fn dispatch(&self, req: Request) -> Response {
        let forwarded = req.extensions().get::<hop::Forwarded>().map(|f| f.school.clone());
        let path = req.uri().path();
        let (slug, rest, prefixed) = match path.strip_prefix("/s/") {
            Some(tail) => match tail.find('/') {
                Some(i) => (tail[..i].to_string(), tail[i..].to_string(), true),
                None => (tail.to_string(), String::new(), true),
            },
            None => (
                forwarded.clone().unwrap_or_else(|| self.default.clone()),
                path.to_string(),
                false,
            ),
        };
        let api = rest.starts_with("/api/");
        let waited_until = tokio::time::Instant::now() + MOVING_WAIT;
        loop {
            if let Some(hosted) = self.get(&slug) {
                let res = if prefixed {
                    self.serve_prefixed(&hosted, &slug, &rest, req).await
                } else {
                    call(&hosted.router, req).await
                };
                return self.forwarder.stamp(res);
            }
            if forwarded.is_some() {
                // Forwarded here by a server that thought we host it: never again (no
                // loop), the client retries once the placement settles.
                return self.forwarder.stamp(forward::moving(api));
            }
            match self.placement.place_of(&slug) {
                Some(placement::Place::Peer(peer)) => {
                    return self.forwarder.forward(req, &peer, &slug, api, &self.placement).await;
                }
                Some(placement::Place::Moving) if tokio::time::Instant::now() < waited_until => {
                    tokio::time::sleep(MOVING_POLL).await;
                }
                Some(placement::Place::Moving) => return self.forwarder.stamp(forward::moving(api)),
                None => return self.forwarder.stamp(unknown_school(&rest)),
            }
        }
    }

    /// `/s/{slug}/rest` to the school's router as `/rest`.
    async fn serve_prefixed(&self, hosted: &Hosted, slug: &str, rest: &str, mut req: Request) -> Response {
        if rest.is_empty() || rest == "/" {
            // The school's own front door, like `/` at the root.
            return Redirect::temporary(&format!("/s/{slug}/app")).into_response();
        }
        let uri = match req.uri().query() {
            Some(q) => format!("{rest}?{q}"),
            None => rest.to_string(),
        };
        match uri.parse::<Uri>() {
            Ok(u) => *req.uri_mut() = u,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
        req.extensions_mut().insert(SchoolBase(format!("/s/{slug}").into()));
        call(&hosted.router, req).await
    }
}

/// How long a request for a school between hosts waits for it to be hosted again.
pub const MOVING_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// How often a waiting request looks at the placement again.
const MOVING_POLL: std::time::Duration = std::time::Duration::from_millis(100);

async fn call(router: &Router, req: Request) -> Response {
    use tower_service::Service;
    let mut router = router.clone();
    match router.call(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// The answer for a school this server does not know: a 404 that says so, as the API's
/// error JSON or as a page in both languages.
fn unknown_school(rest: &str) -> Response {
    let mut res = if rest.starts_with("/api/") {
        crate::error::ApiError::NotFound("no school at this address".into()).into_response()
    } else {
        let page = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>No such school</title></head>\
<body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem; color: #1f2937\">\
<h1>No school at this address</h1><p>Check the link you were given, or ask the school's office for the right one.</p>\
<h1 lang=\"zh\">此地址没有对应的学校</h1><p lang=\"zh\">请核对您收到的链接，或向学校办公室索取正确的地址。</p>\
</body></html>";
        let mut res = (StatusCode::NOT_FOUND, page).into_response();
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
    res.headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_lowercase_words() {
        for ok in ["ab", "north-high", "s2", &"a".repeat(32)] {
            assert_eq!(check_slug(ok), Ok(()), "{ok}");
        }
        for bad in ["a", "", "North", "a_b", "a b", "é1", "../x", &"a".repeat(33)] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
