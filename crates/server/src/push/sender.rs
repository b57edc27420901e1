//! The school's push sender: one task that drains the persisted queue. It wakes when a
//! push is queued (or the school's clock moves, in tests), at the next due time, and at
//! least every 30 s; sends what is due, a batch at a time, side by side; and records
//! each outcome in the store: sent, retry later (429, 5xx, no answer: backoff), the
//! subscription gone (404, 410: forgotten with its queue), or dropped (hours late, read
//! meanwhile, refused for good).

use crate::school::AppState;
use crate::school::clock;
use doorplate_domain::push::{Verdict, too_late, ttl_secs, verdict};
use doorplate_domain::{Micros, push::EndpointError};
use doorplate_store::{PendingPush, PushOutcome};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// How many pushes are sent side by side at most.
const BATCH: u32 = 32;
/// How long one push service may take to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest the sender sleeps without looking (a safety net: every queueing wakes it).
const IDLE: Duration = Duration::from_secs(30);

/// An HTTPS client with Mozilla's roots on rustls (ring); plain http only where the
/// configuration allows loopback (test builds).
fn client(allow_http: bool) -> HttpsClient {
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots();
    let connector = if allow_http {
        builder.https_or_http()
    } else {
        builder.https_only()
    }
    .enable_http1()
    .build();
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(connector)
}

/// Runs until the school shuts down.
pub async fn run(app: AppState) {
    let mut stop = app.shutdown.clone();
    let http = client(app.push.config().allows_http());
    loop {
        // Armed before the work, so a push queued (or a clock moved) meanwhile is seen.
        let woken = app.push.woken();
        let moved = clock::moved(app.clock.as_ref());
        tokio::pin!(woken, moved);
        woken.as_mut().enable();
        let full = send_due(&app, &http).await;
        let wait = if full {
            Duration::ZERO
        } else {
            match app.store.next_push_due().await {
                Ok(Some(due)) => Duration::from_micros((due - app.now()).max(0) as u64).min(IDLE),
                Ok(None) => IDLE,
                Err(e) => {
                    tracing::error!(error = %e, "could not read the push queue");
                    IDLE
                }
            }
        };
        if wait.is_zero() {
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut woken => {}
            _ = &mut moved => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Sends what is due now; `true` when a whole batch went (more may be waiting).
async fn send_due(app: &AppState, http: &HttpsClient) -> bool {
    let now = app.now();
    let due = match app.store.due_pushes(now, BATCH).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "could not read the push queue");
            return false;
        }
    };
    let full = due.len() as u32 == BATCH;
    let sends = due.into_iter().map(|p| async move {
        let outcome = attempt(app, http, &p, now).await;
        settle(app, &p, outcome).await;
    });
    futures_util::future::join_all(sends).await;
    full
}

/// What became of one attempt.
enum Attempt {
    Settle(PushOutcome),
    /// The push service does not know the subscription any more.
    Gone,
}

async fn attempt(app: &AppState, http: &HttpsClient, p: &PendingPush, now: Micros) -> Attempt {
    if too_late(&p.tag, p.ready_at, now) {
        tracing::info!(push = p.id, "push dropped: too late");
        return Attempt::Settle(PushOutcome::Dropped);
    }
    if p.message_read {
        return Attempt::Settle(PushOutcome::Dropped);
    }
    let endpoint = &p.subscription.endpoint;
    // Checked again at every send: a row that came in some other way (an import, a
    // narrower allow-list since) never makes the server call an arbitrary host.
    if let Err(e) = app.push.config().check_endpoint(endpoint) {
        tracing::warn!(push = p.id, error = ?e, "push endpoint not allowed any more; subscription dropped");
        return Attempt::Gone;
    }
    let body = match super::ece::encrypt(p.payload.as_bytes(), &p.subscription.p256dh, &p.subscription.auth) {
        Ok(b) => b,
        Err(super::ece::EceError::TooLarge) => {
            tracing::error!(push = p.id, "push payload too large; dropped");
            return Attempt::Settle(PushOutcome::Dropped);
        }
        Err(e) => {
            tracing::warn!(push = p.id, error = %e, "subscription keys unusable; subscription dropped");
            return Attempt::Gone;
        }
    };
    let urgent = p.payload.contains("\"urgent\":true");
    let auth = app
        .push
        .vapid
        .authorization(endpoint, now / 1_000_000, &app.push.contact());
    let request = hyper::Request::post(endpoint.as_str())
        .header("TTL", ttl_secs(&p.tag, p.ready_at, now).to_string())
        .header("Content-Encoding", "aes128gcm")
        .header("Content-Type", "application/octet-stream")
        .header("Urgency", if urgent { "high" } else { "normal" })
        // The push service replaces an undelivered push with the same topic (a phone
        // that was off gets one notification per conversation, not a pile).
        .header("Topic", topic(&p.tag))
        .header("Authorization", auth)
        .body(Full::new(Bytes::from(body)));
    let request = match request {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(push = p.id, error = %e, "push endpoint unusable; subscription dropped");
            return Attempt::Gone;
        }
    };
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, http.request(request)).await;
    let (status, retry_after) = match answer {
        Ok(Ok(res)) => {
            let retry_after = res
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            (Some(res.status().as_u16()), retry_after)
        }
        Ok(Err(e)) => {
            tracing::info!(push = p.id, error = %e, "push service unreachable; will retry");
            (None, None)
        }
        Err(_) => {
            tracing::info!(push = p.id, "push service did not answer in time; will retry");
            (None, None)
        }
    };
    match verdict(status, p.attempts, retry_after) {
        Verdict::Delivered => Attempt::Settle(PushOutcome::Sent {
            at: now,
            min_gap: super::MIN_GAP_MICROS,
        }),
        Verdict::Gone => Attempt::Gone,
        Verdict::RetryIn(secs) => Attempt::Settle(PushOutcome::Retry {
            due_at: now + secs as i64 * 1_000_000,
        }),
        Verdict::Refused => {
            tracing::warn!(push = p.id, status = ?status, "push refused by the push service; dropped");
            Attempt::Settle(PushOutcome::Dropped)
        }
    }
}

async fn settle(app: &AppState, p: &PendingPush, outcome: Attempt) {
    let done = match outcome {
        Attempt::Settle(o) => app.store.settle_push(p.id, p.version, o).await,
        Attempt::Gone => app.store.drop_push_subscription(p.subscription.id).await,
    };
    if let Err(e) = done {
        tracing::error!(push = p.id, error = %e, "could not record a push's outcome");
    }
}

/// The `Topic` header (RFC 8030 §5.4: at most 32 base64url characters) for a tag.
fn topic(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(32)
        .collect()
}

/// What an endpoint refusal means to a person (the API's message).
pub fn endpoint_message(e: EndpointError) -> &'static str {
    match e {
        EndpointError::Malformed => "the subscription's endpoint is not a URL",
        EndpointError::NotHttps => "the subscription's endpoint must be an https URL",
        EndpointError::HostNotAllowed => {
            "the subscription's endpoint is not a known browser push service; an operator may allow it with --push-host"
        }
    }
}
