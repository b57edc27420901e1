//! What the API shows of the stored records: the JSON shapes of API.md, with ids as
//! strings and instants as RFC 3339. These types also describe the OpenAPI schemas.

use crate::time::rfc3339;
use doorplate_domain::{Micros, Role, Settings};
use doorplate_store::{Doorplate, Group, Message, Room, User};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct UserView {
    pub id: String,
    /// admin | teacher | student | guardian
    pub role: String,
    pub display_name: String,
    pub username: Option<String>,
    pub disabled: bool,
    /// Whether a card UID is registered (the UID itself is never shown).
    pub has_card: bool,
    /// Whether a QR badge has been issued.
    pub has_badge: bool,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            id: u.id.to_string(),
            role: u.role.as_str().into(),
            display_name: u.display_name.clone(),
            username: u.username.clone(),
            disabled: u.disabled,
            has_card: u.has_card,
            has_badge: u.has_badge,
        }
    }
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct MediaView {
    pub id: String,
    pub mime: String,
    pub size: u64,
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub sender_id: String,
    /// text | image | voice | video
    pub kind: String,
    pub text: Option<String>,
    pub media: Option<MediaView>,
    pub urgent: bool,
    pub created_at: String,
    /// sent | notified | read
    pub status: String,
    /// Rooms whose doorplate showed a hint (when the school shows rooms to guardians).
    pub notified_rooms: Vec<String>,
    /// The sender's idempotency key.
    pub client_id: String,
}

pub fn message_view(m: &Message, show_rooms: bool) -> MessageView {
    MessageView {
        id: m.id.to_string(),
        conversation_id: m.conversation_id.to_string(),
        sender_id: m.sender_id.to_string(),
        kind: m.kind.as_str().into(),
        text: m.text.clone(),
        media: m.media.as_ref().map(|md| MediaView {
            id: md.id.to_string(),
            mime: md.mime.clone(),
            size: md.size,
        }),
        urgent: m.urgent,
        created_at: rfc3339(m.created_at),
        status: m.status.as_str().into(),
        notified_rooms: if show_rooms {
            m.notified_rooms.clone()
        } else {
            Vec::new()
        },
        client_id: m.client_id.clone(),
    }
}

/// Whether a viewer of this role sees room names: in which room a message was shown
/// (`notified_rooms`, `message.status`'s `room`) and where a child is (`presence.changed`,
/// the child card). Staff and students always do; guardians only where the school allows
/// it (`show_room_to_guardians`). The one place that setting is read: every REST view,
/// every live event that can carry a room — built per recipient before it is published,
/// so the hub's replays of a frame hold no more than the live frame did — and the child
/// card.
/// A staff member's quiet hours as their correspondents see them: until when a message
/// to them waits without alerting.
#[derive(Serialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct QuietNow {
    /// The end of this quiet stretch (RFC 3339).
    pub until: String,
    /// The end on the school's wall clock, "HH:MM".
    pub until_time: String,
    /// ISO weekday of the end: 1 = Monday … 7 = Sunday.
    pub until_weekday: u8,
    /// How many days after today (in the school's zone) it ends: 0 today, 1 tomorrow.
    pub days_ahead: u8,
}

impl From<doorplate_domain::quiet::QuietUntil> for QuietNow {
    fn from(q: doorplate_domain::quiet::QuietUntil) -> Self {
        QuietNow {
            until: rfc3339(q.at),
            until_time: q.time,
            until_weekday: q.weekday,
            days_ahead: q.days_ahead,
        }
    }
}

pub fn sees_rooms(role: Role, settings: &Settings) -> bool {
    role != Role::Guardian || settings.show_room_to_guardians
}

/// A message as the live events carry it to one recipient (the sender or the other
/// party), with rooms only if that recipient sees them ([`sees_rooms`]).
pub fn message_json(m: &Message, show_rooms: bool) -> serde_json::Value {
    serde_json::to_value(message_view(m, show_rooms)).unwrap_or_default()
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct RoomView {
    pub id: String,
    pub name: String,
    /// classroom | lab | office | dorm | other
    pub kind: String,
}

impl From<&Room> for RoomView {
    fn from(r: &Room) -> Self {
        RoomView {
            id: r.id.to_string(),
            name: r.name.clone(),
            kind: r.kind.clone(),
        }
    }
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct MemberView {
    pub id: String,
    pub display_name: String,
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct GroupView {
    pub id: String,
    pub name: String,
    pub teacher_id: Option<String>,
    pub member_ids: Vec<String>,
    pub members: Vec<MemberView>,
}

pub fn group_view(g: &Group, members: &[User]) -> GroupView {
    GroupView {
        id: g.id.to_string(),
        name: g.name.clone(),
        teacher_id: g.teacher_id.map(|t| t.to_string()),
        member_ids: g.member_ids.iter().map(|m| m.to_string()).collect(),
        members: members
            .iter()
            .filter(|u| g.member_ids.contains(&u.id))
            .map(|u| MemberView {
                id: u.id.to_string(),
                display_name: u.display_name.clone(),
            })
            .collect(),
    }
}

#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct DoorplateView {
    pub id: String,
    pub room_id: String,
    pub name: String,
    pub paired: bool,
    /// Whether its virtual account has a live event socket now.
    pub online: bool,
    pub last_seen: Option<String>,
    /// How many students are present there now.
    pub present: usize,
    /// When this doorplate last ran out of its budget of wrong cards and badges (someone
    /// may be trying card numbers at it), if within the last hour. Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probed_at: Option<String>,
    /// The kiosk build this screen reported it runs (since the server started), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Paired and seen once, but offline for 10 minutes or more on the school's clock:
    /// it should be online. Staff only (the fleet list).
    pub offline_alert: bool,
}

pub fn doorplate_view(d: &Doorplate, online: bool, present: usize, probed_at: Option<Micros>) -> DoorplateView {
    DoorplateView {
        id: d.id.to_string(),
        room_id: d.room_id.to_string(),
        name: d.name.clone(),
        paired: d.paired,
        online,
        last_seen: d.last_seen.map(rfc3339),
        present,
        probed_at: probed_at.map(rfc3339),
        version: None,
        offline_alert: false,
    }
}
