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
    pub upsert: Option<PresenceRow>,
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
        if self.a_id == user {
            self.b_id
        } else {
            self.a_id
        }
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
