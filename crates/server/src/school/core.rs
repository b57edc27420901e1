//! The parts of a hosted school that every service reads: its clock, store, live hub,
//! presence table, directory, schedule, sessions, unread counts, settings and the
//! per-student locks. Plain data with small helpers; the services that work on them
//! (delivery, arrivals, the engine) sit above and hold an `Arc<Core>`.

use super::call_table::{CallTable, announce_stepped};
use super::clock::Clock;
use super::directory::Directory;
use super::presence::PresenceTable;
use super::schedule::Schedule;
use crate::hub::{Hub, Principal};
use crate::sessions::{Ended, Sessions};
use crate::sharded::Sharded;
use doorplate_domain::calls::EndReason;
use doorplate_domain::quiet::{QuietUntil, may_have_quiet_hours};
use doorplate_domain::{Id, Micros, Settings};
use doorplate_store::{AuditEntry, Store, User};
use serde_json::json;
use std::sync::{Arc, RwLock};

/// The wall clock, for code that has no school at hand. Anything time-based in a
/// school reads [`Core::now`] instead, so tests can move time (see `clock`).
pub fn now_micros() -> Micros {
    super::clock::wall_clock_micros()
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

/// What every service of one school shares.
pub struct Core {
    /// The school's clock: every rule that depends on time asks it.
    pub clock: Arc<dyn Clock>,
    pub store: Arc<dyn Store>,
    pub hub: Hub,
    /// Who is present where (R1), in memory.
    pub presence: PresenceTable,
    /// Users, tokens, conversations, guardianships and room names, cached.
    pub directory: Directory,
    /// The timetable as loaded, and what the engine decided last.
    pub schedule: Schedule,
    pub sessions: Sessions,
    /// The calls going on (memory only; see `call_table`).
    pub calls: CallTable,
    pub unread: Unread,
    /// The school's settings, cached: read on every request, written by an admin.
    pub settings: RwLock<Settings>,
    /// The admins, who watch the whole presence board live.
    pub admins: RwLock<Vec<Id>>,
    /// When each doorplate's "last seen" was last written: a doorplate asks for its state
    /// often, and a read should not cost a write each time.
    last_seen_written: Sharded<Id, Micros>,
    /// Per-student locks (sharded): presence changes and hints of one student in order.
    /// tokio mutexes: they are held across store writes.
    student_locks: Vec<tokio::sync::Mutex<()>>,
    /// The order in which what was decided under each lock is published (`turns`).
    turns: Vec<super::turns::Line>,
    /// The school's counters and gauges (`crate::metrics`).
    pub metrics: crate::metrics::SchoolMetrics,
}

/// Lock shards (and lines of turns) for students.
const STUDENT_LOCKS: usize = 1024;

/// A student's lock held in its turn; the turn ends, then the lock goes, when dropped.
pub struct StudentTurn<'a> {
    _turn: super::turns::Turn<'a>,
    _lock: tokio::sync::MutexGuard<'a, ()>,
}

impl Core {
    /// Loads what lives in memory from the store.
    pub async fn load(
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        metrics: crate::metrics::SchoolMetrics,
    ) -> Result<Core, doorplate_store::StoreError> {
        let settings = store.settings().await?;
        let presence = PresenceTable::load(&store.presences().await?);
        let unread = Unread::default();
        for (user, n) in store.unread_counts().await? {
            unread.set(user, n);
        }
        Ok(Core {
            clock,
            directory: Directory::new(store.clone()),
            schedule: Schedule::default(),
            store,
            hub: Hub::new(),
            presence,
            sessions: Sessions::default(),
            calls: CallTable::default(),
            unread,
            settings: RwLock::new(settings),
            admins: RwLock::new(Vec::new()),
            last_seen_written: Sharded::default(),
            student_locks: (0..STUDENT_LOCKS).map(|_| tokio::sync::Mutex::new(())).collect(),
            turns: (0..STUDENT_LOCKS).map(|_| super::turns::Line::default()).collect(),
            metrics,
        })
    }

    /// Now, on the school's clock.
    pub fn now(&self) -> Micros {
        self.clock.now()
    }

    pub fn settings(&self) -> Settings {
        self.settings.read().expect("settings poisoned").clone()
    }

    /// The school's zone (UTC if the setting names one the zone database lacks).
    pub fn zone(&self) -> jiff::tz::TimeZone {
        let name = self.settings.read().expect("settings poisoned").timezone.clone();
        jiff::tz::TimeZone::get(&name).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// Whether a person is inside their quiet hours now, and until when (staff only;
    /// `None` for everyone else). A store failure is logged and counts as not quiet:
    /// a message that alerts is better than one that waits unseen.
    pub async fn quiet_now(&self, user: &User) -> Option<QuietUntil> {
        if !may_have_quiet_hours(user.role) {
            return None;
        }
        match self.store.quiet_hours(user.id).await {
            Ok(Some(q)) => q.quiet_until(self.now(), &self.zone()),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "could not read quiet hours");
                None
            }
        }
    }

    /// The lock under which everything about one student is decided, one after another:
    /// a message's routing, a presence change. A message holds it only to decide and queue
    /// its write, then publishes in its turn ([`Core::student_turn`] for everything else).
    pub fn student_lock(&self, student: Id) -> &tokio::sync::Mutex<()> {
        &self.student_locks[(student as u64 as usize) % STUDENT_LOCKS]
    }

    /// The student's line of turns (`turns`): taken under [`Core::student_lock`].
    pub fn student_line(&self, student: Id) -> &super::turns::Line {
        &self.turns[(student as u64 as usize) % STUDENT_LOCKS]
    }

    /// The student's lock, once every message decided before has been published: for
    /// whatever changes or announces the student's presence, held until it is done.
    pub async fn student_turn(&self, student: Id) -> StudentTurn<'_> {
        let lock = self.student_lock(student).lock().await;
        let turn = self.student_line(student).take();
        turn.wait().await;
        StudentTurn {
            _turn: turn,
            _lock: lock,
        }
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

    /// Records that a doorplate was seen (for the console's "last seen"), at most once a
    /// minute per doorplate; a failure is logged, the doorplate's request goes on.
    pub async fn saw_doorplate(&self, doorplate: Id) {
        const EVERY: Micros = 60_000_000;
        let now = self.now();
        let due = self.last_seen_written.write(doorplate, |m, k| {
            let last = m.entry(k).or_insert(Micros::MIN);
            let due = now.saturating_sub(*last) >= EVERY;
            if due {
                *last = now;
            }
            due
        });
        if due && let Err(e) = self.store.touch_doorplate(doorplate, now).await {
            tracing::warn!(error = %e, doorplate, "could not record when a doorplate was last seen");
        }
    }

    /// Appends to the audit log; a failure is logged, never shown to the caller whose
    /// action already happened.
    pub async fn audit(&self, actor: Option<Id>, action: &str, subject: Option<Id>, detail: serde_json::Value) {
        let entry = AuditEntry {
            at: self.now(),
            actor_id: actor,
            action: action.into(),
            subject_id: subject,
            detail,
        };
        if let Err(e) = self.store.audit(entry).await {
            tracing::error!(error = %e, action, "could not write the audit log");
        }
    }

    /// Announces the end of a personal session to its doorplate; its sockets were
    /// already told through the session's revocation watch.
    /// A call the session carried (answered there, or placed from there) ends with it.
    pub fn session_ended(&self, ended: Ended, reason: &str) {
        let now = self.now();
        let carried = |l: &super::call_table::LiveCall| {
            l.call.student == ended.user_id
                && l.doorplates == [ended.doorplate_id]
                && (l.call.answered_at.is_some() || l.call.caller == ended.user_id)
        };
        for s in self.calls.end_where(now, EndReason::SessionClosed, carried) {
            announce_stepped(&self.hub, &self.sessions, now, &s);
        }
        self.hub.publish(
            Principal::Device(ended.doorplate_id),
            "session.ended",
            &json!({"user_id": ended.user_id.to_string(), "reason": reason}),
        );
    }

    /// A student's presence at a doorplate ended (R6): a call ringing for them there
    /// stops ringing there, a call carried there ends (`dismissed` names a teacher's
    /// dismissal as the reason).
    pub fn calls_after_leave(&self, student: Id, doorplate: Id, dismissed: bool) {
        let now = self.now();
        let reason = if dismissed {
            EndReason::Dismissed
        } else {
            EndReason::Left
        };
        for s in self.calls.student_left(student, doorplate, reason, now) {
            announce_stepped(&self.hub, &self.sessions, now, &s);
        }
    }

    /// Called when a person ends a presence: if the schedule wants it, it stays ended
    /// until the window the schedule wanted it for is over (no flapping back) — or, for
    /// one that a scheduled window pushed out, until `cap`, that window's end, when it
    /// comes back.
    pub async fn suppress_if_scheduled(&self, student: Id, doorplate: Id, cap: Option<Micros>) {
        if let Some(until) = self.schedule.suppress(student, doorplate, cap)
            && let Err(e) = self.store.suppress(student, doorplate, until).await
        {
            tracing::error!(error = %e, "could not record a suppressed presence");
        }
    }
}
