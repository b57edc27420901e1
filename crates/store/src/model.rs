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
