//! R3 routing: after a message is durable, hint the doorplates where the recipient is
//! present (a count and a name, never content), push the message to the recipient's
//! live clients, and move the sender's status forward.

use crate::hub::Principal;
use crate::sessions::Ended;
use crate::state::App;
use crate::views::message_json;
use doorplate_domain::{Id, MessageStatus, Role};
use doorplate_store::{Message, StatusChange, User};
use serde_json::json;

impl App {
    /// Delivers a newly stored message. Called once per message, after commit. Returns
    /// the message as it stands after routing (its status may have moved to notified).
    pub async fn route_message(&self, msg: &Message, sender: &User, recipient: &User) -> Message {
        let unread = self.unread.add(recipient.id, 1);
        let body = json!({"message": message_json(msg)});
        self.hub.publish(Principal::User(recipient.id), "message.new", &body);
        self.hub.publish(Principal::User(sender.id), "message.new", &body);

        let mut rooms = Vec::new();
        if recipient.role == Role::Student {
            let _guard = self.student_lock(recipient.id).lock().await;
            for p in self.presence.of_student(recipient.id) {
                // During an exam the doorplate holds hints; they show when it ends (R7).
                if self.schedule.in_exam(p.doorplate_id) {
                    continue;
                }
                self.hub.publish(
                    Principal::Device(p.doorplate_id),
                    "notify.new_message",
                    &json!({"user_id": recipient.id.to_string(), "display_name": recipient.display_name,
                            "unread": unread, "urgent": msg.urgent}),
                );
                rooms.push(self.room_name_of(p.doorplate_id).await);
            }
        } else if self.hub.is_online(Principal::User(recipient.id)) {
            // Staff and guardians are "notified" when one of their clients got it live.
            rooms.push(String::new());
        }
        let mut routed = msg.clone();
        for room in rooms {
            if let Some(c) = self.mark_notified(vec![msg.id], room).await.pop() {
                routed.status = c.status;
                routed.notified_rooms = c.notified_rooms;
            }
        }
        if msg.urgent && sender.role == Role::Guardian && recipient.role == Role::Student {
            self.alert_class_teachers(msg, sender, recipient).await;
        }
        routed
    }

    /// Hints the messages that waited for a student who just arrived at `doorplate`.
    /// The caller holds the student's lock.
    pub async fn hint_waiting(&self, student: Id, display_name: &str, doorplate: Id) {
        if self.schedule.in_exam(doorplate) {
            return;
        }
        let unread = self.unread.get(student);
        self.hub.publish(
            Principal::Device(doorplate),
            "notify.new_message",
            &json!({"user_id": student.to_string(), "display_name": display_name, "unread": unread, "urgent": false}),
        );
        match self.store.unnotified_for(student).await {
            Ok(waiting) if !waiting.is_empty() => {
                let room = self.room_name_of(doorplate).await;
                self.mark_notified(waiting.iter().map(|m| m.id).collect(), room).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not load waiting messages"),
        }
    }

    async fn mark_notified(&self, ids: Vec<Id>, room: String) -> Vec<StatusChange> {
        match self.store.mark_notified(ids, room.clone()).await {
            Ok(changed) => {
                for m in &changed {
                    let mut data = json!({"message_id": m.id.to_string(), "status": m.status.as_str()});
                    if !room.is_empty() && self.settings().show_room_to_guardians {
                        data["room"] = json!(room);
                    }
                    self.hub.publish(Principal::User(m.sender_id), "message.status", &data);
                }
                changed
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record a notified status");
                Vec::new()
            }
        }
    }

    /// Read receipts: tell each sender their messages were read.
    pub fn announce_read(&self, reader: Id, read: &[StatusChange]) {
        let unread = self.unread.add(reader, -(read.len() as i64));
        // The doorplates where the reader is present update their badge (count only).
        for p in self.presence.of_student(reader) {
            self.hub.publish(
                Principal::Device(p.doorplate_id),
                "notify.unread",
                &json!({"user_id": reader.to_string(), "unread": unread}),
            );
        }
        for m in read {
            debug_assert_eq!(m.status, MessageStatus::Read);
            self.hub.publish(
                Principal::User(m.sender_id),
                "message.status",
                &json!({"message_id": m.id.to_string(), "status": "read"}),
            );
        }
    }

    /// An urgent message from a guardian also alerts the child's class teachers.
    async fn alert_class_teachers(&self, msg: &Message, sender: &User, student: &User) {
        let Ok(groups) = self.store.groups_of(student.id).await else {
            return;
        };
        for t in groups.iter().filter_map(|g| g.teacher_id) {
            self.hub.publish(
                Principal::User(t),
                "message.urgent",
                &json!({"message_id": msg.id.to_string(), "student_id": student.id.to_string(),
                        "student_name": student.display_name, "from_id": sender.id.to_string(),
                        "from_name": sender.display_name}),
            );
        }
    }

    /// Announces the end of a personal session to its doorplate; its sockets were
    /// already told through the session's revocation watch.
    pub fn session_ended(&self, ended: Ended, reason: &str) {
        self.hub.publish(
            Principal::Device(ended.doorplate_id),
            "session.ended",
            &json!({"user_id": ended.user_id.to_string(), "reason": reason}),
        );
    }
}
