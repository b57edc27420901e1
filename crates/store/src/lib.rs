//! The Store port: everything the server keeps on disk, behind one trait.
//!
//! Handlers see only [`Store`]; the SQLite adapter in [`sqlite`] is the embedded
//! database, the PostgreSQL adapter in [`postgres`] the shared one (a schema per school).

pub mod dump;
pub mod media_bytes;
mod migration;
mod model;
pub mod observe;
pub mod postgres;
pub mod sqlite;

pub use model::*;
pub use observe::WriterObserver;

use async_trait::async_trait;
use doorplate_domain::quiet::QuietHours;
use doorplate_domain::timetable::{Arrangement, Slot};
use doorplate_domain::{Id, Micros, Role, Settings};

/// What can go wrong in a store call. `NotFound` and `Conflict` are the caller's
/// business (404, 409); `Internal` is ours and is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; the string names the field ("username", "card" …).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// A reference to a row that does not exist (e.g. an unknown room id).
    #[error("unknown reference: {0}")]
    BadReference(&'static str),
    /// The disk (or the file system's quota) is full: nothing was written.
    #[error("the disk is full")]
    Full,
    /// The writer thread has stopped (it panicked): no write can succeed until a restart.
    #[error("the database writer has stopped")]
    WriterStopped,
    /// The school's lease was taken by another server since this one was granted it
    /// (several servers on PostgreSQL): nothing was written, and this server must stop
    /// hosting the school.
    #[error("this server no longer hosts the school: another server took it over")]
    Fenced,
    /// The storage failed for a reason other than room: the database cannot be reached
    /// (connection refused or lost) or an I/O error. Nothing was written; trying again
    /// later may work.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("store failure: {0}")]
    Internal(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// People, their credentials and tokens, guardianships, rooms, classes and doorplates.
#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn user(&self, id: Id) -> Result<User>;
    async fn users_by_ids(&self, ids: Vec<Id>) -> Result<Vec<User>>;
    async fn user_by_username(&self, username: String) -> Result<User>;
    async fn user_by_card(&self, card_hash: Vec<u8>) -> Result<User>;
    async fn user_by_qr(&self, qr_hash: Vec<u8>) -> Result<User>;
    async fn list_users(&self, role: Option<Role>, q: Option<String>, limit: u32) -> Result<Vec<User>>;
    /// `Conflict("last_admin")`, changing nothing, when it would disable the last active
    /// admin.
    async fn update_user(&self, id: Id, patch: UserPatch) -> Result<User>;
    /// Removes the account's credentials and hides it; its messages stay for the others.
    /// `Conflict("last_admin")` for the last active admin.
    async fn delete_user(&self, id: Id) -> Result<()>;
    async fn set_badge(&self, id: Id, qr_hash: Vec<u8>) -> Result<()>;

    async fn add_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()>;
    async fn remove_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()>;
    async fn is_guardian_of(&self, guardian_id: Id, student_id: Id) -> Result<bool>;
    async fn guardians_of(&self, student_id: Id) -> Result<Vec<Id>>;
    async fn children_of(&self, guardian_id: Id) -> Result<Vec<Id>>;
    /// Whether the guardian is told when this child checks in (off unless chosen).
    /// `NotFound` when there is no such guardianship.
    async fn set_arrival_notices(&self, guardian_id: Id, student_id: Id, on: bool) -> Result<()>;
    /// The guardian's children they chose arrival notices for.
    async fn arrival_notice_children(&self, guardian_id: Id) -> Result<Vec<Id>>;
    /// The guardians of this child who chose arrival notices.
    async fn arrival_notice_guardians(&self, student_id: Id) -> Result<Vec<Id>>;

    /// A person's quiet hours (`None`: they have none).
    async fn quiet_hours(&self, user_id: Id) -> Result<Option<QuietHours>>;
    /// Sets (or with `None` clears) a person's quiet hours.
    async fn set_quiet_hours(&self, user_id: Id, hours: Option<QuietHours>) -> Result<()>;

    async fn create_token(&self, hash: Vec<u8>, user_id: Id, now: Micros, expires_at: Micros) -> Result<()>;
    /// The user a live token belongs to.
    async fn token_user(&self, hash: Vec<u8>, now: Micros) -> Result<Id>;
    async fn delete_token(&self, hash: Vec<u8>) -> Result<()>;
    async fn delete_tokens_of(&self, user_id: Id) -> Result<()>;

    async fn create_room(&self, name: String, kind: String) -> Result<Room>;
    async fn room(&self, id: Id) -> Result<Room>;
    async fn list_rooms(&self) -> Result<Vec<Room>>;

    async fn create_group(&self, name: String, member_ids: Vec<Id>, teacher_id: Option<Id>) -> Result<Group>;
    async fn group(&self, id: Id) -> Result<Group>;
    async fn list_groups(&self) -> Result<Vec<Group>>;
    /// The groups a user belongs to (as member or class teacher).
    async fn groups_of(&self, user_id: Id) -> Result<Vec<Group>>;
    async fn update_group(
        &self,
        id: Id,
        name: Option<String>,
        member_ids: Option<Vec<Id>>,
        teacher_id: Option<Option<Id>>,
    ) -> Result<Group>;
    async fn delete_group(&self, id: Id) -> Result<()>;

    async fn create_doorplate(
        &self,
        room_id: Id,
        name: String,
        pairing_hash: Vec<u8>,
        expires: Micros,
        now: Micros,
    ) -> Result<Doorplate>;
    /// Pairs the doorplate whose unexpired code has this hash; the code is spent.
    async fn pair_doorplate(&self, pairing_hash: Vec<u8>, token_hash: Vec<u8>, now: Micros) -> Result<Doorplate>;
    /// A new pairing code for an existing doorplate (a replaced screen).
    async fn renew_pairing(&self, id: Id, pairing_hash: Vec<u8>, expires: Micros) -> Result<()>;
    async fn doorplate(&self, id: Id) -> Result<Doorplate>;
    async fn doorplate_by_token(&self, token_hash: Vec<u8>) -> Result<Doorplate>;
    async fn list_doorplates(&self) -> Result<Vec<Doorplate>>;
    async fn touch_doorplate(&self, id: Id, now: Micros) -> Result<()>;
    /// Renames a doorplate and/or moves it to another room (`BadReference("room_id")`
    /// for an unknown room).
    async fn update_doorplate(&self, id: Id, name: Option<String>, room_id: Option<Id>) -> Result<Doorplate>;
    /// Forgets the device token and any pairing code: the screen must pair again.
    async fn unpair_doorplate(&self, id: Id) -> Result<Doorplate>;
    /// Deletes a doorplate with whatever presence rows and suppressions still name it.
    async fn delete_doorplate(&self, id: Id) -> Result<()>;
}

/// Who is present at which doorplate (the live table in the server is built from it).
#[async_trait]
pub trait PresenceStore: Send + Sync {
    async fn presences(&self) -> Result<Vec<PresenceRow>>;
    /// Applies one student's presence change atomically: the removals, then the upsert.
    async fn apply_presence(&self, change: PresenceChange) -> Result<()>;
}

/// A write already queued in the store's single writer: its result, once committed.
pub type Queued<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'static>>;

/// Conversations, messages and their statuses, and message retention.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// The conversation between two users, created if it does not exist yet.
    async fn open_conversation(&self, a: Id, b: Id, now: Micros) -> Result<Conversation>;
    async fn conversation(&self, id: Id) -> Result<Conversation>;
    /// The user's conversations with their unread counts and last messages, most recent
    /// activity first.
    async fn conversations_of(&self, user_id: Id) -> Result<Vec<ConversationSummary>>;
    /// How many messages to `user_id` in the conversation are not read yet.
    async fn unread_in(&self, conversation_id: Id, user_id: Id) -> Result<u32>;
    /// Stores a message unless the sender already sent one with this `client_id`;
    /// `.1` is true when it was created now. The write is queued before this returns:
    /// any write asked for after it commits in the same transaction or a later one, so a
    /// caller can fix the message's place among other writes (a presence change of its
    /// recipient) without holding a lock until it is on disk.
    fn insert_message(&self, new: NewMessage) -> Queued<(Message, bool)>;
    async fn messages(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        after: Option<Id>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    /// Marks messages to `reader` in the conversation up to `up_to` read; returns those
    /// whose status changed.
    async fn mark_read(&self, conversation_id: Id, reader: Id, up_to: Id) -> Result<Vec<StatusChange>>;
    /// Raises the status of these messages to notified and records the rooms; returns
    /// those whose status or rooms changed.
    async fn mark_notified(&self, ids: Vec<Id>, room: String) -> Result<Vec<StatusChange>>;
    /// Messages to a user still in status `sent`, oldest first.
    async fn unnotified_for(&self, recipient_id: Id) -> Result<Vec<Message>>;
    /// Unread counts for every user with unread messages.
    async fn unread_counts(&self) -> Result<Vec<(Id, u32)>>;
    /// For each of these users with unread messages: when the oldest unread one arrived,
    /// and whether any unread one is urgent (a doorplate lists them in that order: R5).
    async fn unread_summary(&self, user_ids: Vec<Id>) -> Result<Vec<(Id, Micros, bool)>>;

    /// Deletes the messages sent before `cutoff` (the school's retention) and the uploads
    /// nothing refers to any more; returns the media files to remove from disk.
    async fn purge_before(&self, cutoff: Micros) -> Result<Vec<String>>;

    /// Stores these alerts in one write (one for a teacher and message is kept once:
    /// storing it again returns the stored one) and returns them as stored.
    async fn insert_alerts(&self, alerts: Vec<NewAlert>) -> Result<Vec<Alert>>;
    /// The teacher's alerts not acknowledged yet, newest first.
    async fn open_alerts(&self, teacher_id: Id) -> Result<Vec<Alert>>;
    /// Acknowledges the teacher's alert (again is fine: the first time is kept).
    /// `NotFound` when there is no such alert of this teacher's.
    async fn acknowledge_alert(&self, id: Id, teacher_id: Id, now: Micros) -> Result<Alert>;
}

/// Uploaded files' records (the bytes live in the data folder).
#[async_trait]
pub trait MediaStore: Send + Sync {
    async fn insert_media(&self, owner_id: Id, mime: String, size: u64, file: String, now: Micros) -> Result<Media>;
    /// Like [`Store::insert_media`], unless the owner's unattached uploads (see
    /// [`Store::unattached_media_bytes`]) would then exceed `pending_limit` bytes: then
    /// nothing is stored and the answer is `Ok(None)`. Check and insert are one write,
    /// so parallel uploads of one user cannot both slip under the limit.
    async fn insert_media_within(
        &self,
        owner_id: Id,
        mime: String,
        size: u64,
        file: String,
        now: Micros,
        pending_limit: u64,
    ) -> Result<Option<Media>>;
    /// Bytes of the user's uploads that no message or notice carries yet.
    async fn unattached_media_bytes(&self, owner_id: Id) -> Result<u64>;
    /// Uploads made before `cutoff` that no message or notice carries, oldest first.
    async fn unattached_media_before(&self, cutoff: Micros) -> Result<Vec<Media>>;
    /// Deletes those of these uploads that are still unattached (a message may have
    /// taken one since they were listed); returns the files to remove from disk.
    async fn delete_unattached_media(&self, ids: Vec<Id>) -> Result<Vec<String>>;
    async fn media(&self, id: Id) -> Result<Media>;
    /// Whether `user_id` may read the media: its owner, or a participant of a conversation
    /// with a message that carries it.
    async fn may_read_media(&self, media_id: Id, user_id: Id) -> Result<bool>;
}

/// The timetable, arrangements, notices, and the schedule engine's memory.
#[async_trait]
pub trait ScheduleStore: Send + Sync {
    async fn slots(&self) -> Result<Vec<Slot>>;
    async fn slot(&self, id: Id) -> Result<Slot>;
    /// Stores a slot (its `id` is ignored) and returns it with its id.
    async fn create_slot(&self, slot: Slot) -> Result<Slot>;
    async fn update_slot(&self, slot: Slot) -> Result<Slot>;
    async fn delete_slot(&self, id: Id) -> Result<()>;

    /// Arrangements that have not ended at `after`.
    async fn arrangements(&self, after: Micros) -> Result<Vec<Arrangement>>;
    /// One arrangement, ended or not.
    async fn arrangement(&self, id: Id) -> Result<Arrangement>;
    async fn create_arrangement(&self, a: Arrangement, created_by: Id) -> Result<Arrangement>;
    async fn delete_arrangement(&self, id: Id) -> Result<()>;

    async fn notices(&self) -> Result<Vec<Notice>>;
    async fn notice(&self, id: Id) -> Result<Notice>;
    async fn create_notice(&self, n: Notice) -> Result<Notice>;
    async fn update_notice(&self, n: Notice) -> Result<Notice>;
    async fn delete_notice(&self, id: Id) -> Result<()>;

    /// (student, doorplate, until) pairs the engine must not re-add before `until`.
    async fn suppressions(&self) -> Result<Vec<(Id, Id, Micros)>>;
    async fn suppress(&self, student_id: Id, doorplate_id: Id, until: Micros) -> Result<()>;
    async fn drop_suppressions_before(&self, now: Micros) -> Result<()>;
    async fn kv_get(&self, key: String) -> Result<Option<String>>;
    async fn kv_put(&self, key: String, value: String) -> Result<()>;
}

/// The audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn audit(&self, entry: AuditEntry) -> Result<()>;
    async fn audit_log(&self, filter: AuditFilter) -> Result<Vec<AuditEntry>>;
    /// Deletes the audit entries written before `cutoff`; returns how many went. The
    /// caller picks the cutoff (the server keeps audit at least as long as messages).
    async fn purge_audit_before(&self, cutoff: Micros) -> Result<u64>;
}

/// The school's settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self) -> Result<Settings>;
    async fn save_settings(&self, settings: Settings) -> Result<()>;
}

/// Web Push: the people's subscriptions, their choices of what is pushed, and the queue
/// of pushes waiting to go.
#[async_trait]
pub trait PushStore: Send + Sync {
    /// Keeps a subscription (the same endpoint again replaces the old one, whoever had it).
    async fn save_push_subscription(&self, new: NewPushSubscription) -> Result<PushSubscription>;
    /// A person's subscriptions, oldest first.
    async fn push_subscriptions_of(&self, user_id: Id) -> Result<Vec<PushSubscription>>;
    /// Removes one of the person's subscriptions (`NotFound` if it is not theirs).
    async fn delete_push_subscription(&self, user_id: Id, id: Id) -> Result<()>;
    /// Removes a subscription the push service no longer knows (404, 410), with its queue.
    async fn drop_push_subscription(&self, id: Id) -> Result<()>;
    /// Queues pushes for every subscription of each person (see [`NewPush`]).
    async fn enqueue_pushes(&self, pushes: Vec<NewPush>) -> Result<()>;
    /// Up to `limit` pushes due at `now`, the earliest first.
    async fn due_pushes(&self, now: Micros, limit: u32) -> Result<Vec<PendingPush>>;
    /// When the next waiting push is due (`None`: none waits).
    async fn next_push_due(&self) -> Result<Option<Micros>>;
    /// Records what became of a push the sender tried (`version` as it was read).
    async fn settle_push(&self, id: Id, version: i64, outcome: PushOutcome) -> Result<()>;
    /// A person's push settings (all off when they never chose any).
    async fn push_settings(&self, user_id: Id) -> Result<PushSettings>;
    /// Keeps a person's push settings (`BadReference` for an unknown person). Deleting
    /// the person forgets them; signing out does not.
    async fn set_push_settings(&self, user_id: Id, settings: PushSettings) -> Result<()>;
}

/// The port: every area above, and what spans them. Every call is durable when it
/// returns `Ok`: writes are committed (group commit batches them, but nobody is answered
/// before their batch is on disk). Handlers hold an `Arc<dyn Store>`; an area's methods
/// are callable through it with only `Store` in scope.
#[async_trait]
pub trait Store:
    DirectoryStore
    + PresenceStore
    + MessageStore
    + MediaStore
    + ScheduleStore
    + AuditStore
    + SettingsStore
    + PushStore
    + 'static
{
    /// Applies the rows all or nothing: with any error, or in a dry run, nothing stays.
    async fn import(&self, ops: Vec<ImportOp>, dry_run: bool) -> Result<ImportReport>;
    /// Whether the store can serve (for /readyz).
    async fn ping(&self) -> Result<()>;
    /// Proves the store can commit (for /readyz): records `now` as the heartbeat through
    /// the same path as every other write. [`StoreError::WriterStopped`] when the writer
    /// is gone.
    async fn heartbeat(&self, now: Micros) -> Result<()>;
    /// The school's whole database (every table of [`dump::TABLES`]), read in one
    /// consistent snapshot.
    async fn export_dump(&self) -> Result<dump::SchoolDump>;
    /// Writes a dump into this school, keeping every id, in one transaction: all or
    /// nothing. `Conflict("school")`, changing nothing, unless the school is empty.
    async fn import_dump(&self, dump: dump::SchoolDump) -> Result<()>;
}
