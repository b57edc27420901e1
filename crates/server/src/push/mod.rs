//! Web Push: notifications on people's phones when the family app is not open.
//!
//! `ece` seals a payload to a browser's keys (RFC 8291), `vapid` signs the server's
//! identity (RFC 8292), `notes` says what a notification carries (who and what kind;
//! the text only where the school allows previews), `sender` drains the school's
//! persisted queue. The rules without IO (the allow-list, what a push service's answer
//! means, the backoff, lateness) are `doorplate_domain::push`.
//!
//! A push is queued in the store — a message's in the very commit that stores the
//! message — and sent by the school's sender task, never on the request path.

pub mod ece;
pub mod notes;
pub mod sender;
pub mod vapid;

use doorplate_domain::Micros;
use doorplate_domain::push::{EndpointError, check_endpoint};
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;

/// The least time between two pushes about one conversation to one device: a burst of
/// messages within it collapses into one notification (the newest).
pub const MIN_GAP_MICROS: Micros = 30 * 1_000_000;

/// How the server pushes (`serve --push-contact`, `--push-host`).
#[derive(Clone, Debug, Default)]
pub struct PushConfig {
    /// The VAPID `sub` claim: a `mailto:` or `https:` URL where a push service can reach
    /// the operator. `None`: the public URL if it is https, else a placeholder address.
    pub contact: Option<String>,
    /// Push service hosts allowed besides `doorplate_domain::push::DEFAULT_PUSH_HOSTS`
    /// (`push.example.org`, `*.push.example.net`).
    pub extra_hosts: Vec<String>,
    /// Test builds only: also allow `http://127.0.0.1:PORT/…` endpoints, for a local
    /// push service in the integration tests. The field does not exist unless the
    /// library is built with the `push-loopback` feature, which only the tests enable;
    /// no option of the `doorplate` binary sets it.
    #[cfg(feature = "push-loopback")]
    pub allow_loopback: bool,
}

impl PushConfig {
    /// A contact (`None`: from the public URL) and extra allowed hosts.
    // The update fills the test builds' loopback field (absent from other builds).
    #[allow(clippy::needless_update)]
    pub fn new(contact: Option<String>, extra_hosts: Vec<String>) -> PushConfig {
        PushConfig {
            contact,
            extra_hosts,
            ..Default::default()
        }
    }

    /// Whether the server may send to this endpoint (checked when a browser subscribes,
    /// and again before every send).
    pub fn check_endpoint(&self, endpoint: &str) -> Result<(), EndpointError> {
        #[cfg(feature = "push-loopback")]
        if self.allow_loopback && endpoint.starts_with("http://127.0.0.1:") {
            return Ok(());
        }
        check_endpoint(endpoint, &self.extra_hosts)
    }

    /// Whether plain http may be used at all (the loopback allowance of test builds).
    pub fn allows_http(&self) -> bool {
        #[cfg(feature = "push-loopback")]
        if self.allow_loopback {
            return true;
        }
        false
    }
}

/// A school's Web Push: its VAPID key, the configuration, and the sender's wake-up.
pub struct Push {
    pub vapid: vapid::Vapid,
    config: RwLock<Arc<PushConfig>>,
    /// Rung after a push is queued, so the sender looks at once instead of at its next
    /// round. A `Notify` keeps one wake-up when nobody waits yet, so none is lost.
    wake: Notify,
    /// The `sub` claim when none is configured: from the public URL.
    fallback_contact: RwLock<String>,
}

impl Push {
    pub fn new(vapid: vapid::Vapid) -> Push {
        Push {
            vapid,
            config: RwLock::new(Arc::new(PushConfig::default())),
            wake: Notify::new(),
            fallback_contact: RwLock::new("mailto:webpush@doorplate.invalid".into()),
        }
    }

    /// Sets the configuration (at start).
    pub fn configure(&self, config: PushConfig, public_url: Option<&str>) {
        if let Some(url) = public_url.filter(|u| u.starts_with("https://")) {
            *self.fallback_contact.write().expect("push contact poisoned") = url.trim_end_matches('/').to_string();
        }
        *self.config.write().expect("push config poisoned") = Arc::new(config);
    }

    pub fn config(&self) -> Arc<PushConfig> {
        self.config.read().expect("push config poisoned").clone()
    }

    /// The VAPID `sub` claim.
    pub fn contact(&self) -> String {
        match &self.config().contact {
            Some(c) => c.clone(),
            None => self.fallback_contact.read().expect("push contact poisoned").clone(),
        }
    }

    /// Tells the sender a push was queued.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn woken(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }
}
