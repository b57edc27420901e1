//! One hosted school: the services that make it work, and the value that holds them.
//!
//! Dependencies run one way, bottom to top:
//! - leaf parts (`clock`, `presence` the table, `schedule` the loaded timetable,
//!   `directory` the cached people, plus the crate's `hub`, `sessions`, `throttles`,
//!   `revocation`), gathered in [`Core`];
//! - `delivery` (R3: store a message, hint doorplates, statuses; the decision is
//!   `domain::routing`) on the core;
//! - `arrivals` (R1, R2, R6: arrive, move, leave, purge) on the core and delivery;
//! - `engine` (the timetable engine and end of day) on all of the above;
//! - [`HostedSchool`], which holds them, on top; handlers see only it.

pub mod arrivals;
pub mod call_table;
pub mod calls;
pub mod clock;
pub mod core;
pub mod delivery;
pub mod directory;
pub mod engine;
pub mod info;
pub mod presence;
pub mod schedule;
pub mod turns;

use self::arrivals::Arrivals;
use self::calls::Calls;
use self::clock::Clock;
use self::core::Core;
use self::delivery::Delivery;
use self::engine::Engine;
use crate::crypto::Secrets;
use crate::revocation::Revocations;
use crate::throttles::Throttles;
use doorplate_domain::{Id, Micros};
use doorplate_store::{Store, StoreError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use self::calls::IceConfig;
pub use self::core::now_micros;

/// What every handler gets (axum `State<AppState>`).
pub type AppState = Arc<HostedSchool>;

/// Single-use tickets that let a browser open the event socket without a header.
pub struct Ticket {
    pub token: String,
    pub expires: Micros,
}

/// One school as this process hosts it.
pub struct HostedSchool {
    core: Arc<Core>,
    pub delivery: Arc<Delivery>,
    pub arrivals: Arc<Arrivals>,
    pub engine: Arc<Engine>,
    /// Live calls between doorplates and guardians' phones.
    pub calls: Arc<Calls>,
    /// Where browsers find a TURN relay for calls, and its shared secret.
    pub ice: IceConfig,
    pub secrets: Secrets,
    /// Credential attempts, counted before they are evaluated.
    pub throttles: Throttles,
    /// Event tickets by keyed hash: what bearer token each stands for.
    pub tickets: Mutex<HashMap<Vec<u8>, Ticket>>,
    /// The event sockets of login tokens, closed when their token is revoked.
    pub revocations: Revocations,
    pub media_dir: PathBuf,
    /// Below this many free bytes in the data folder, uploads are refused (507) and
    /// `/readyz` answers 503.
    pub min_free_bytes: u64,
    /// Per-user upload limits and the uploads in flight.
    pub uploads: crate::uploads::Uploads,
    /// The kiosk build each doorplate reported it runs (memory only: a kiosk reports
    /// again on every connection).
    pub kiosk_versions: Mutex<HashMap<Id, String>>,
    /// Turns `true` when the server shuts down: live sockets close.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// Which school this is (slug, name, zone at the time it was hosted).
    pub school: info::SchoolInfo,
    /// The open event sockets (axum does not wait for them): shutdown waits until each
    /// has sent its close.
    pub sockets: tokio_util::task::TaskTracker,
}

/// The shared parts are read everywhere (`app.store`, `app.hub`, `app.presence`,
/// `app.now()` …): the hosted school lends them out rather than repeating them.
impl std::ops::Deref for HostedSchool {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl HostedSchool {
    pub async fn new(
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        secrets: Secrets,
        media_dir: PathBuf,
        shutdown: tokio::sync::watch::Receiver<bool>,
        metrics: crate::metrics::SchoolMetrics,
    ) -> Result<HostedSchool, StoreError> {
        let throttles = Throttles::counting(metrics.throttled.clone());
        let core = Arc::new(Core::load(clock, store, metrics).await?);
        let delivery = Arc::new(Delivery::new(core.clone()));
        let arrivals = Arc::new(Arrivals::new(core.clone(), delivery.clone()));
        let engine = Arc::new(Engine::new(core.clone(), arrivals.clone(), delivery.clone()));
        let calls = Arc::new(Calls::new(core.clone(), delivery.clone()));
        Ok(HostedSchool {
            core,
            delivery,
            arrivals,
            engine,
            calls,
            ice: IceConfig::default(),
            secrets,
            throttles,
            tickets: Mutex::new(HashMap::new()),
            revocations: Revocations::default(),
            media_dir,
            min_free_bytes: crate::DEFAULT_MIN_FREE_BYTES,
            uploads: crate::uploads::Uploads::new(Default::default()),
            kiosk_versions: Mutex::new(HashMap::new()),
            shutdown,
            school: info::SchoolInfo::unnamed(String::new()),
            sockets: tokio_util::task::TaskTracker::new(),
        })
    }

    /// Signs `user` out everywhere: their login tokens go from the store and the caches,
    /// the sockets of those tokens close, and their personal sessions on doorplates end
    /// (whose sockets close through the session's own flag; each doorplate is told).
    pub async fn sign_out_everywhere(&self, user: Id) -> Result<(), StoreError> {
        self.store.delete_tokens_of(user).await?;
        // The token cache maps hashes to users: which hashes were this user's is not
        // known here, so all of it goes (it refills from the store on the next request).
        self.directory.forget_people();
        self.revocations.revoke_user(user);
        for ended in self.sessions.end_for_user(user) {
            self.session_ended(ended, "revoked");
        }
        Ok(())
    }

    /// Removes the uploads made before `now - UNATTACHED_TTL` that no message or notice
    /// carries, rows first, then their files; returns how many went. `now` is a parameter
    /// so a test can run the sweep an hour ahead without waiting.
    pub async fn sweep_unattached(&self, now: Micros) -> usize {
        self.uploads.prune(now);
        let stale = match self
            .store
            .unattached_media_before(now - crate::uploads::UNATTACHED_TTL)
            .await
        {
            Ok(list) if list.is_empty() => return 0,
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "listing unattached uploads failed");
                return 0;
            }
        };
        let ids = stale.iter().map(|m| m.id).collect();
        match self.store.delete_unattached_media(ids).await {
            Ok(files) => {
                for f in &files {
                    if let Err(e) = tokio::fs::remove_file(self.media_dir.join(f)).await {
                        tracing::warn!(file = %f, error = %e, "removing an unattached upload failed");
                    }
                }
                tracing::info!(removed = files.len(), "unattached uploads removed");
                files.len()
            }
            Err(e) => {
                tracing::error!(error = %e, "removing unattached uploads failed");
                0
            }
        }
    }
}
