//! The application state shared by every handler (axum `State<AppState>`).

use crate::crypto::Secrets;
use crate::hub::Hub;
use crate::presence::PresenceTable;
use crate::sessions::Sessions;
use crate::sharded::Sharded;
use doorplate_domain::throttle::{Policy, Throttle};
use doorplate_domain::{Id, Micros, Settings};
use doorplate_store::Store;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

pub type AppState = Arc<App>;

pub fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as Micros)
        .unwrap_or(0)
}

/// What a failed credential is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    Doorplate(Id),
    Account(String),
}

/// Unread counts per user, kept in memory so a hint carries its count without a query.
/// Loaded from the store at start and moved with every send and read.
#[derive(Default)]
pub struct Unread(Sharded<Id, u32>);

impl Unread {
    pub fn get(&self, user: Id) -> u32 {
        self.0.read(&user, |v| v.copied().unwrap_or(0))
    }
    pub fn add(&self, user: Id, n: i64) -> u32 {
        self.0.write(user, |m, k| {
            let v = m.entry(k).or_insert(0);
            *v = (*v as i64 + n).max(0) as u32;
            *v
        })
    }
    /// Replaces every count (after messages were purged).
    pub fn reset(&self, counts: Vec<(Id, u32)>) {
        self.0.clear();
        for (user, n) in counts {
            self.set(user, n);
        }
    }

    pub fn set(&self, user: Id, n: u32) {
        self.0.write(user, |m, k| {
            m.insert(k, n);
        })
    }
}

/// Single-use tickets that let a browser open the event socket without a header.
pub struct Ticket {
    pub token: String,
    pub expires: Micros,
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    pub presence: PresenceTable,
    pub cache: crate::cache::Cache,
    pub schedule: crate::schedule::Schedule,
    pub sessions: Sessions,
    pub secrets: Secrets,
    pub unread: Unread,
    /// The school's settings, cached: read on every request, written by an admin.
    pub settings: RwLock<Settings>,
    /// Failed credentials. A std `Mutex`: each use is a map lookup.
    pub throttle: Mutex<Throttle<ThrottleKey>>,
    /// Event tickets by keyed hash: what bearer token each stands for.
    pub tickets: Mutex<HashMap<Vec<u8>, Ticket>>,
    pub media_dir: PathBuf,
    /// Below this many free bytes in the data folder, uploads are refused (507) and
    /// `/readyz` answers 503.
    pub min_free_bytes: u64,
    /// Per-user upload limits and the uploads in flight.
    pub uploads: crate::uploads::Uploads,
    /// Per-student locks (sharded): presence changes and hints of one student in order.
    pub student_locks: Vec<tokio::sync::Mutex<()>>,
    /// The admins, who watch the whole presence board live.
    pub admins: RwLock<Vec<Id>>,
    /// Turns `true` when the server shuts down: live sockets close.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
}

impl App {
    pub async fn new(
        store: Arc<dyn Store>,
        secrets: Secrets,
        media_dir: PathBuf,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Result<App, doorplate_store::StoreError> {
        let settings = store.settings().await?;
        let presence = PresenceTable::load(&store.presences().await?);
        let unread = Unread::default();
        for (user, n) in store.unread_counts().await? {
            unread.set(user, n);
        }
        Ok(App {
            store,
            hub: Hub::new(),
            presence,
            cache: Default::default(),
            schedule: Default::default(),
            sessions: Sessions::default(),
            secrets,
            unread,
            settings: RwLock::new(settings),
            throttle: Mutex::new(Throttle::new(Policy::default())),
            tickets: Mutex::new(HashMap::new()),
            media_dir,
            min_free_bytes: crate::DEFAULT_MIN_FREE_BYTES,
            uploads: crate::uploads::Uploads::new(Default::default()),
            student_locks: (0..1024).map(|_| tokio::sync::Mutex::new(())).collect(),
            shutdown,
            admins: RwLock::new(Vec::new()),
        })
    }

    /// Reloads the list of admins (after an account changed).
    pub async fn reload_admins(&self) {
        if let Ok(list) = self
            .store
            .list_users(Some(doorplate_domain::Role::Admin), None, 10_000)
            .await
        {
            *self.admins.write().expect("admins poisoned") =
                list.into_iter().filter(|u| !u.disabled).map(|u| u.id).collect();
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings poisoned").clone()
    }
}
