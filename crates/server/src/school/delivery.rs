//! R3 routing: after a message is durable, hint the doorplates where the recipient is
//! present (a count and a name, never content), push the message to the recipient's
//! live clients, and move the sender's status forward.

use super::core::Core;
use crate::error::ApiResult;
use crate::hub::Principal;
use crate::views::{QuietNow, message_json, sees_rooms};
use doorplate_domain::Micros;
use doorplate_domain::quiet::holds;
use doorplate_domain::routing::{Placement, Recipient, route};
use doorplate_domain::{Id, MessageStatus, Role};
use doorplate_store::{Message, NewAlert, NewMessage, NewPush, StatusChange, User};
use serde_json::json;
use std::sync::Arc;

/// How long a push waits when the recipient's app is open: time to read the message
/// there (a message read before its push goes is not pushed).
const OPEN_APP_GRACE: Micros = 3_000_000;

/// R3's delivery: store, hint, and move the sender's status forward.
pub struct Delivery {
    core: Arc<Core>,
}

impl Delivery {
    pub fn new(core: Arc<Core>) -> Delivery {
        Delivery { core }
    }

    /// Stores a message and delivers it (R3; the decision is `domain::routing`). Routing
    /// is decided first, under the recipient's lock, so the stored status already says
    /// where it will be shown; the write is queued before the lock goes, so it commits
    /// before any later presence change of the recipient, and the hints go out only after
    /// the message is durable, in the turn taken under the lock (`turns`): before whatever
    /// was decided about the student after it. Messages to one student share commits.
    /// Returns the message and whether it was created now (`false`: this `client_id` was
    /// sent before).
    pub async fn send(&self, mut new: NewMessage, sender: &User, recipient: &User) -> ApiResult<(Message, bool)> {
        let student = recipient.role == Role::Student;
        let guard = if student {
            Some(self.core.student_lock(recipient.id).lock().await)
        } else {
            None
        };
        let mut quiet = None;
        let to = if student {
            let mut at = Vec::new();
            for p in self.core.presence.of_student(recipient.id) {
                at.push(Placement {
                    doorplate: p.doorplate_id,
                    room: self.core.directory.room_name_of(p.doorplate_id).await,
                    in_exam: self.core.schedule.in_exam(p.doorplate_id),
                });
            }
            Recipient::Student { at }
        } else {
            quiet = self.core.quiet_now(recipient).await;
            Recipient::Person {
                online: self.core.hub.is_online(Principal::User(recipient.id)),
                held: holds(quiet.is_some(), new.urgent, sender.role),
            }
        };
        // A message held by quiet hours: the recipient's app lists it without a sound,
        // and the sender is told until when it waits.
        let held = matches!(to, Recipient::Person { held: true, .. });
        let route = route(to);
        let online = !student && route.status == MessageStatus::Notified;
        let plates = route.hint;
        new.status = route.status;
        new.notified_rooms = route.rooms;
        new.push = self.push_for(&new, sender, recipient, quiet.as_ref().filter(|_| held).map(|q| q.at));
        let pushed = new.push.is_some();
        let queued = self.core.store.insert_message(new);
        let turn = guard.map(|lock| {
            let turn = self.core.student_line(recipient.id).take();
            drop(lock);
            turn
        });
        // A failed write ends the turn early (the line skips it) and publishes nothing.
        let (msg, created) = queued.await?;
        if !created {
            return Ok((msg, false));
        }
        if pushed {
            self.core.push.wake();
        }
        self.core.metrics.messages_stored.inc();
        if let Some(turn) = &turn {
            turn.wait().await;
        }
        let unread = self.core.unread.add(recipient.id, 1);
        for (plate, _) in &plates {
            self.hint(*plate, recipient.id, &recipient.display_name, unread, msg.urgent);
        }
        drop(turn);
        // Each party's frame is built for their view (the hub replays it as it is); when
        // both see the same, it is serialised once.
        let settings = self.core.settings();
        let frame = |who: &User| {
            let mut body = json!({"message": message_json(&msg, sees_rooms(who.role, &settings))});
            if held && who.id == recipient.id {
                body["quiet"] = json!(true);
            }
            if let Some(q) = quiet.clone().filter(|_| held && who.id == sender.id) {
                body["recipient_quiet"] = json!(QuietNow::from(q));
            }
            body.to_string()
        };
        let for_recipient = frame(recipient);
        let same_view = !held && sees_rooms(sender.role, &settings) == sees_rooms(recipient.role, &settings);
        let for_sender = if same_view { None } else { Some(frame(sender)) };
        let hub = &self.core.hub;
        hub.publish_raw(Principal::User(recipient.id), "message.new", &for_recipient);
        hub.publish_raw(
            Principal::User(sender.id),
            "message.new",
            for_sender.as_deref().unwrap_or(&for_recipient),
        );
        let show_room = sees_rooms(sender.role, &settings);
        if online {
            self.core.hub.publish(
                Principal::User(sender.id),
                "message.status",
                &json!({"message_id": msg.id.to_string(), "status": "notified"}),
            );
        }
        for (_, room) in &plates {
            let mut data = json!({"message_id": msg.id.to_string(), "status": "notified"});
            if show_room && !room.is_empty() {
                data["room"] = json!(room);
            }
            self.core
                .hub
                .publish(Principal::User(sender.id), "message.status", &data);
        }
        if msg.urgent && sender.role == Role::Guardian && student {
            self.alert_class_teachers(&msg, sender, recipient).await;
        }
        Ok((msg, true))
    }

    /// The push to the recipient's phones that the message's commit queues: for a
    /// guardian or staff member (students have no phones at school), after their quiet
    /// hours when the message is held, and a moment later when their app is open, so a
    /// message they read there at once is not pushed as well.
    fn push_for(
        &self,
        new: &NewMessage,
        sender: &User,
        recipient: &User,
        held_until: Option<Micros>,
    ) -> Option<NewPush> {
        if recipient.role == Role::Student {
            return None;
        }
        let now = self.core.now();
        let ready_at = match held_until {
            Some(until) => until,
            None if self.core.hub.is_online(Principal::User(recipient.id)) => now + OPEN_APP_GRACE,
            None => now,
        };
        let settings = self.core.settings();
        let note = crate::push::notes::MessageNote {
            conversation_id: new.conversation_id,
            kind: new.kind,
            text: new.text.as_deref(),
            urgent: new.urgent,
            sender,
            recipient: recipient.id,
        };
        Some(crate::push::notes::new_message(
            note,
            settings.push_previews,
            ready_at,
            &settings.language,
        ))
    }

    /// R3's hint to a doorplate: a count and a name, never content.
    fn hint(&self, doorplate: Id, student: Id, display_name: &str, unread: u32, urgent: bool) {
        self.core.metrics.hints_sent.inc();
        self.core.hub.publish(
            Principal::Device(doorplate),
            "notify.new_message",
            &json!({"user_id": student.to_string(), "display_name": display_name, "unread": unread, "urgent": urgent}),
        );
    }

    /// Hints the messages that waited for a student who just arrived at `doorplate`.
    /// The caller holds the student's lock.
    pub async fn hint_waiting(&self, student: Id, display_name: &str, doorplate: Id) {
        if self.core.schedule.in_exam(doorplate) {
            return;
        }
        let unread = self.core.unread.get(student);
        self.hint(doorplate, student, display_name, unread, false);
        match self.core.store.unnotified_for(student).await {
            Ok(waiting) if !waiting.is_empty() => {
                let room = self.core.directory.room_name_of(doorplate).await;
                self.mark_notified(waiting.iter().map(|m| m.id).collect(), room).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "could not load waiting messages"),
        }
    }

    async fn mark_notified(&self, ids: Vec<Id>, room: String) -> Vec<StatusChange> {
        match self.core.store.mark_notified(ids, room.clone()).await {
            Ok(changed) => {
                let settings = self.core.settings();
                for m in &changed {
                    let mut data = json!({"message_id": m.id.to_string(), "status": m.status.as_str()});
                    // The sender is looked up (cached) to know whether they see rooms; if
                    // that fails, the room is left out rather than shown.
                    let sees = match self.core.directory.user(m.sender_id).await {
                        Ok(u) => sees_rooms(u.role, &settings),
                        Err(_) => false,
                    };
                    if !room.is_empty() && sees {
                        data["room"] = json!(room);
                    }
                    self.core
                        .hub
                        .publish(Principal::User(m.sender_id), "message.status", &data);
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
        let unread = self.core.unread.add(reader, -(read.len() as i64));
        // The doorplates where the reader is present update their badge (count only).
        for p in self.core.presence.of_student(reader) {
            self.core.hub.publish(
                Principal::Device(p.doorplate_id),
                "notify.unread",
                &json!({"user_id": reader.to_string(), "unread": unread}),
            );
        }
        for m in read {
            debug_assert_eq!(m.status, MessageStatus::Read);
            self.core.hub.publish(
                Principal::User(m.sender_id),
                "message.status",
                &json!({"message_id": m.id.to_string(), "status": "read"}),
            );
        }
    }

    /// A read receipt on the phones of the writers who asked for one ("Tell me when my
    /// messages are read", off by default): once per writer and reading, queued after
    /// the read is recorded and sent by the school's sender like every push. Never to a
    /// student (no phones at school), nor to a writer whose app is open — the `read`
    /// status reached it live just now, which is all the receipt would say. Inside the
    /// writer's quiet hours it waits for their end, as a message does. It carries the
    /// conversation's tag, so it replaces that conversation's notification, and the
    /// store keeps a waiting push of a message not read yet instead of it.
    pub async fn push_read_receipt(&self, reader: &User, conversation_id: Id, read: &[StatusChange]) {
        let mut writers: Vec<(Id, usize)> = Vec::new();
        for m in read {
            match writers.iter_mut().find(|(w, _)| *w == m.sender_id) {
                Some((_, n)) => *n += 1,
                None => writers.push((m.sender_id, 1)),
            }
        }
        let mut pushes = Vec::new();
        for (writer, count) in writers {
            if writer == reader.id || self.core.hub.is_online(Principal::User(writer)) {
                continue;
            }
            let wants = match self.core.store.push_settings(writer).await {
                Ok(s) => s.read_receipts,
                Err(e) => {
                    tracing::error!(error = %e, "could not read a person's push settings");
                    false
                }
            };
            if !wants {
                continue;
            }
            let writer = match self.core.directory.user(writer).await {
                Ok(u) if u.role != Role::Student => u,
                Ok(_) => continue,
                Err(e) => {
                    tracing::error!(error = ?e, "could not look up a read message's writer");
                    continue;
                }
            };
            // Never urgent: quiet hours always hold it.
            let ready_at = match self.core.quiet_now(&writer).await {
                Some(q) => q.at,
                None => self.core.now(),
            };
            let lang = self.core.settings().language.clone();
            pushes.push(crate::push::notes::read_receipt(
                writer.id,
                conversation_id,
                reader,
                count,
                ready_at,
                &lang,
            ));
        }
        if pushes.is_empty() {
            return;
        }
        match self.core.store.enqueue_pushes(pushes).await {
            Ok(()) => self.core.push.wake(),
            Err(e) => tracing::error!(error = %e, "could not queue a read receipt's push"),
        }
    }

    /// An urgent message from a guardian also alerts the child's class teachers: each
    /// gets an alert that is kept until they acknowledge it (stored first, so a teacher
    /// with no client open finds it later), then the live `message.urgent`.
    async fn alert_class_teachers(&self, msg: &Message, sender: &User, student: &User) {
        let teachers = self.core.schedule.teachers_of(student.id);
        if teachers.is_empty() {
            return;
        }
        let new = teachers
            .iter()
            .map(|&teacher_id| NewAlert {
                teacher_id,
                message_id: msg.id,
                student_id: student.id,
                from_id: sender.id,
                at: msg.created_at,
            })
            .collect();
        let stored = match self.core.store.insert_alerts(new).await {
            Ok(stored) => stored,
            Err(e) => {
                // The live banner still goes out: a teacher looking now is told.
                tracing::error!(error = %e, "could not store the urgent alerts");
                Vec::new()
            }
        };
        // The teachers' phones too: an urgent alert never waits for quiet hours.
        let settings = self.core.settings();
        let now = self.core.now();
        let pushes = teachers
            .iter()
            .map(|&t| crate::push::notes::alert(t, student, sender, msg.id, now, &settings.language))
            .collect();
        match self.core.store.enqueue_pushes(pushes).await {
            Ok(()) => self.core.push.wake(),
            Err(e) => tracing::error!(error = %e, "could not queue the urgent alerts' pushes"),
        }
        for t in teachers {
            let mut data = json!({"message_id": msg.id.to_string(), "student_id": student.id.to_string(),
                                  "student_name": student.display_name, "from_id": sender.id.to_string(),
                                  "from_name": sender.display_name});
            if let Some(a) = stored.iter().find(|a| a.teacher_id == t) {
                data["alert_id"] = json!(a.id.to_string());
            }
            self.core.hub.publish(Principal::User(t), "message.urgent", &data);
        }
    }
}
