//! The records the store keeps, as plain data.

use doorplate_domain::{Id, MessageKind, MessageStatus, Micros, PresenceSource, Role};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: Id,
    pub role: Role,
    pub display_name: String,
    pub username: Option<String>,
    /// argon2id PHC string; never leaves the server.
    pub password_hash: Option<String>,
    pub has_card: bool,
    pub has_badge: bool,
    pub disabled: bool,
    pub created_at: Micros,
}

#[derive(Clone, Debug, Default)]
pub struct NewUser {
    pub role: Option<Role>,
    pub display_name: String,
    pub username: Option<String>,
    pub password_hash: Option<String>,
    pub card_hash: Option<Vec<u8>>,
    pub now: Micros,
}

/// A change to a user; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub username: Option<Option<String>>,
    pub password_hash: Option<Option<String>>,
    pub card_hash: Option<Option<Vec<u8>>>,
    pub disabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Room {
    pub id: Id,
    pub name: String,
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub id: Id,
    pub name: String,
    pub teacher_id: Option<Id>,
    pub member_ids: Vec<Id>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Doorplate {
    pub id: Id,
    pub room_id: Id,
    pub name: String,
    pub paired: bool,
    pub last_seen: Option<Micros>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresenceRow {
    pub student_id: Id,
    pub doorplate_id: Id,
    pub source: PresenceSource,
    pub since: Micros,
    pub until: Option<Micros>,
}

/// One student's presence change, applied in one step.
#[derive(Clone, Debug, Default)]
pub struct PresenceChange {
    pub student_id: Id,
    pub remove: Vec<Id>,
    /// Rows added or replaced: every doorplate of the room the student is in.
    pub upsert: Vec<PresenceRow>,
    /// Audit entries written in the same step.
    pub audit: Vec<AuditEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub id: Id,
    pub a_id: Id,
    pub b_id: Id,
    pub created_at: Micros,
}

impl Conversation {
    pub fn has(&self, user: Id) -> bool {
        self.a_id == user || self.b_id == user
    }

    /// The other participant, for one of the two.
    pub fn peer_of(&self, user: Id) -> Id {
        if self.a_id == user { self.b_id } else { self.a_id }
    }
}

#[derive(Clone, Debug)]
pub struct ConversationSummary {
    pub conversation: Conversation,
    pub unread: u32,
    pub last: Option<Message>,
}

#[derive(Clone, Debug)]
pub struct NewMessage {
    pub conversation_id: Id,
    pub sender_id: Id,
    pub recipient_id: Id,
    pub client_id: String,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub media_id: Option<Id>,
    pub urgent: bool,
    pub now: Micros,
    /// `Notified` when routing found the recipient present (or online) before the
    /// insert; the hints go out right after the commit.
    pub status: MessageStatus,
    pub notified_rooms: Vec<String>,
    /// The push to the recipient's devices, queued in the same commit as the message
    /// (only when it is created now; `message_id` is filled in).
    pub push: Option<NewPush>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub id: Id,
    pub conversation_id: Id,
    pub sender_id: Id,
    pub recipient_id: Id,
    pub client_id: String,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub media: Option<Media>,
    pub urgent: bool,
    pub created_at: Micros,
    pub status: MessageStatus,
    pub notified_rooms: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Media {
    pub id: Id,
    pub owner_id: Id,
    pub mime: String,
    pub size: u64,
    /// File name under the data folder's `media/`.
    pub file: String,
    pub created_at: Micros,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: Micros,
    pub actor_id: Option<Id>,
    pub action: String,
    pub subject_id: Option<Id>,
    pub detail: serde_json::Value,
}

/// A notice on doorplates (R7 signage).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub id: Id,
    /// notice | announcement | honour | showcase
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The rooms whose doorplates show it; empty means every doorplate (when it is
    /// addressed to no class either).
    pub room_ids: Vec<Id>,
    /// The classes (groups) it is addressed to: their guardians see it in the family
    /// app. Empty with empty `room_ids` is school-wide.
    pub group_ids: Vec<Id>,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    pub image_media_id: Option<Id>,
    pub created_at: Micros,
}

/// One row of a CSV import, resolved by names inside the import's transaction so that
/// rows may refer to rows created earlier in the same import.
#[derive(Clone, Debug)]
pub enum ImportOp {
    /// Creates the user, or updates the one with this username.
    User {
        role: Role,
        display_name: String,
        username: String,
        password_hash: Option<String>,
        card_hash: Option<Vec<u8>>,
    },
    Guardianship {
        guardian_username: String,
        student_username: String,
    },
    /// Creates the group, or replaces the members and teacher of the one with this name.
    Group {
        name: String,
        teacher_username: Option<String>,
        member_usernames: Vec<String>,
    },
    /// Creates the room unless one with this name exists (then updates its kind).
    Room { name: String, kind: String },
    Slot {
        room_name: String,
        group_name: String,
        teacher_username: Option<String>,
        slot: doorplate_domain::timetable::Slot,
    },
}

/// What an import did or, in a dry run, would do. Errors carry the index of the op.
#[derive(Clone, Debug, Default)]
pub struct ImportReport {
    pub created: u32,
    pub updated: u32,
    pub errors: Vec<(usize, String)>,
}

/// Which audit entries to list, newest first.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub action: Option<String>,
    pub actor_id: Option<Id>,
    pub subject_id: Option<Id>,
    pub limit: u32,
}

/// A message whose status moved, as its sender must be told.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusChange {
    pub id: Id,
    pub sender_id: Id,
    pub status: MessageStatus,
    pub notified_rooms: Vec<String>,
}

/// An urgent message from a guardian, kept for one of the child's class teachers until
/// they acknowledge it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alert {
    pub id: Id,
    pub teacher_id: Id,
    /// The urgent message (guardian to student) the alert is about.
    pub message_id: Id,
    pub student_id: Id,
    /// The guardian who sent it.
    pub from_id: Id,
    pub at: Micros,
    pub acknowledged_at: Option<Micros>,
}

/// An alert to store: one per class teacher of the message's student.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewAlert {
    pub teacher_id: Id,
    pub message_id: Id,
    pub student_id: Id,
    pub from_id: Id,
    pub at: Micros,
}

/// A browser's Web Push subscription (RFC 8030/8291): where its push service takes
/// messages for it, and the keys its payloads are encrypted to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: Id,
    pub user_id: Id,
    /// The push service's URL for this browser (https, a host on the allow-list).
    pub endpoint: String,
    /// The browser's P-256 public key, uncompressed (65 bytes).
    pub p256dh: Vec<u8>,
    /// The browser's authentication secret (16 bytes).
    pub auth: Vec<u8>,
    /// What the person calls the device ("Mum's phone"), shown in the app's settings.
    pub device_name: String,
    pub created_at: Micros,
    /// When a push last reached the push service for it (`None`: never yet).
    pub last_used_at: Option<Micros>,
}

/// A subscription to keep: a new endpoint is added, a known one (the same browser
/// subscribing again, perhaps as another person) is replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPushSubscription {
    pub user_id: Id,
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
    pub device_name: String,
    /// The hash of the login token the device subscribed with: that token's logout (or
    /// the end of every token of the user) removes the subscription.
    pub token_hash: Option<Vec<u8>>,
    pub now: Micros,
}

/// A notification to push to every subscription of a person. One per `tag` and
/// subscription waits at a time: a newer one with the same tag replaces the text of one
/// still waiting (a burst in one conversation collapses into one push).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPush {
    pub user_id: Id,
    /// The collapse key, also the notification's `tag` (`c:<conversation>`, `alerts` …).
    pub tag: String,
    /// The clear payload (JSON), encrypted per subscription when it is sent.
    pub payload: String,
    /// The message it tells of: a message read before the push goes is not pushed. In a
    /// [`NewMessage`], the store fills it in.
    pub message_id: Option<Id>,
    /// When it may go first (now, or the end of the recipient's quiet hours); lateness
    /// is counted from here.
    pub ready_at: Micros,
    /// The least time between two pushes with one tag to one device (the rate limit):
    /// a push that follows a sent one sooner waits until then.
    pub min_gap: Micros,
    /// A lesser notification (a read receipt): it does not replace one with its tag
    /// still waiting to tell of a message not read yet, which says more; it goes only
    /// where nothing waits, or what waits is another lesser one or is read already.
    pub yields_to_message: bool,
}

/// A person's own choices about what is pushed to their phones (every one off until
/// they choose it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushSettings {
    /// Tell me when my messages are read: a push when the recipient reads a message of
    /// theirs.
    pub read_receipts: bool,
}

/// A push whose time has come, with its subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingPush {
    /// The queue row.
    pub id: Id,
    /// Changes whenever a newer notification replaces the payload: settling an older
    /// version as sent keeps the newer one waiting.
    pub version: i64,
    pub tag: String,
    pub payload: String,
    pub ready_at: Micros,
    pub attempts: u32,
    /// The message it tells of is read already (it is not pushed then).
    pub message_read: bool,
    pub subscription: PushSubscription,
}

/// What became of a push the sender tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The push service took it at `at`; the next push with this tag waits `min_gap`.
    Sent { at: Micros, min_gap: Micros },
    /// Try again at `due_at` (the push service was busy or failing).
    Retry { due_at: Micros },
    /// Given up (too late, read meanwhile, refused for good): forgotten, unless a newer
    /// notification replaced it meanwhile.
    Dropped,
}
