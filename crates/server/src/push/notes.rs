//! What a push notification carries: a small JSON document the family app's service
//! worker turns into a notification in the reader's language (`web/app/sw.js`,
//! `web/app/strings-push.js`). It names who and what kind, never a message's text
//! unless the school allows previews, and a room only where the reader may see rooms.
//! Its `tag` is the collapse key: one notification per conversation is replaced, not
//! stacked.

use doorplate_domain::{Id, Micros};
use doorplate_store::{NewPush, User};
use serde_json::{Value, json};

/// The most characters of a message's text a preview shows.
const PREVIEW_CHARS: usize = 140;

/// The tag of a conversation's notifications.
pub fn conversation_tag(conversation_id: Id) -> String {
    format!("c:{conversation_id}")
}

fn push(user_id: Id, tag: String, mut body: Value, ready_at: Micros, lang: &str) -> NewPush {
    body["tag"] = json!(tag);
    body["lang"] = json!(lang);
    NewPush {
        user_id,
        tag,
        payload: body.to_string(),
        message_id: None,
        ready_at,
        min_gap: super::MIN_GAP_MICROS,
        yields_to_message: false,
    }
}

/// A message to notify of, before it has its id and time: `Delivery` queues its push
/// in the message's own commit.
pub struct MessageNote<'a> {
    pub conversation_id: Id,
    pub kind: doorplate_domain::MessageKind,
    pub text: Option<&'a str>,
    pub urgent: bool,
    pub sender: &'a User,
    pub recipient: Id,
}

/// A new message ("张小明: a voice message"; with previews, the text).
pub fn new_message(m: MessageNote<'_>, previews: bool, ready_at: Micros, lang: &str) -> NewPush {
    let text = m
        .text
        .filter(|_| previews && m.kind == doorplate_domain::MessageKind::Text)
        .map(|t| t.chars().take(PREVIEW_CHARS).collect::<String>());
    let body = json!({
        "type": "message",
        "conversation_id": m.conversation_id.to_string(),
        "from": m.sender.display_name,
        "kind": m.kind.as_str(),
        "text": text,
        "urgent": m.urgent,
        "url": format!("#/c/{}", m.conversation_id),
    });
    push(m.recipient, conversation_tag(m.conversation_id), body, ready_at, lang)
}

/// The reader's messages were read, for a writer who asked to be told ("张小明: read
/// your message"): who read and how many, never what. It has the conversation's tag, so
/// it replaces that conversation's notification on the phone instead of piling up
/// beside it, and yields to a push still waiting there for a message not read yet.
pub fn read_receipt(
    writer: Id,
    conversation_id: Id,
    reader: &User,
    count: usize,
    ready_at: Micros,
    lang: &str,
) -> NewPush {
    let body = json!({
        "type": "read",
        "conversation_id": conversation_id.to_string(),
        "reader": reader.display_name,
        "count": count,
        "url": format!("#/c/{conversation_id}"),
    });
    NewPush {
        yields_to_message: true,
        ..push(writer, conversation_tag(conversation_id), body, ready_at, lang)
    }
}

/// An urgent message from a guardian to their child, to one of the child's class
/// teachers (it never waits for quiet hours).
pub fn alert(teacher: Id, student: &User, from: &User, message_id: Id, now: Micros, lang: &str) -> NewPush {
    let body = json!({
        "type": "alert",
        "student": student.display_name,
        "from": from.display_name,
        "message_id": message_id.to_string(),
        "urgent": true,
        "url": "#/",
    });
    push(teacher, format!("alert:{}", student.id), body, now, lang)
}

/// A child checked in at a door (for a guardian who chose arrival notices); `room` only
/// where the guardian may see rooms.
/// `time` is "HH:MM" on the school's wall clock.
pub fn arrival(guardian: Id, child: &User, room: Option<&str>, time: &str, at: Micros, lang: &str) -> NewPush {
    let body = json!({
        "type": "arrival",
        "child": child.display_name,
        "room": room,
        "time": time,
        "url": "#/",
    });
    push(guardian, format!("arrival:{}", child.id), body, at, lang)
}

/// A school notice addressed to the reader (the whole school, or their children's
/// classes).
pub fn notice(user: Id, notice_id: Id, title: &str, now: Micros, lang: &str) -> NewPush {
    let body = json!({
        "type": "notice",
        "title": title.chars().take(PREVIEW_CHARS).collect::<String>(),
        "url": "#/",
    });
    push(user, format!("notice:{notice_id}"), body, now, lang)
}

/// A call ringing for the reader.
pub fn call(callee: Id, call_id: &str, from: &User, video: bool, now: Micros, lang: &str) -> NewPush {
    let body = json!({
        "type": "call",
        "from": from.display_name,
        "video": video,
        "call_id": call_id,
        "url": "#/",
    });
    push(callee, format!("call:{call_id}"), body, now, lang)
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorplate_domain::{MessageKind, Role};

    fn note<'a>(kind: MessageKind, text: Option<&'a str>, from: &'a User) -> MessageNote<'a> {
        MessageNote {
            conversation_id: 7,
            kind,
            text,
            urgent: false,
            sender: from,
            recipient: 2,
        }
    }

    fn user(id: Id, name: &str) -> User {
        User {
            id,
            role: Role::Guardian,
            display_name: name.into(),
            username: None,
            password_hash: None,
            has_card: false,
            has_badge: false,
            disabled: false,
            created_at: 0,
        }
    }

    #[test]
    fn a_message_says_who_and_what_kind_and_the_text_only_with_previews() {
        let from = user(1, "张伟");
        let p = new_message(note(MessageKind::Text, Some("see you at 5"), &from), false, 10, "zh-CN");
        assert_eq!((p.user_id, p.tag.as_str(), p.ready_at), (2, "c:7", 10));
        let body: Value = serde_json::from_str(&p.payload).unwrap();
        assert_eq!(body["from"], "张伟");
        assert_eq!(body["kind"], "text");
        assert_eq!(body["text"], Value::Null);
        assert!(!p.payload.contains("see you"));
        assert_eq!(body["url"], "#/c/7");
        let p = new_message(note(MessageKind::Text, Some("see you at 5"), &from), true, 10, "en");
        let body: Value = serde_json::from_str(&p.payload).unwrap();
        assert_eq!(body["text"], "see you at 5");
        // A voice message has no text to preview.
        let p = new_message(note(MessageKind::Voice, None, &from), true, 10, "en");
        assert_eq!(serde_json::from_str::<Value>(&p.payload).unwrap()["kind"], "voice");
    }

    #[test]
    fn a_read_receipt_says_who_read_in_the_conversations_tag_and_yields_to_a_message() {
        let reader = user(3, "张小明");
        let p = read_receipt(2, 7, &reader, 2, 10, "zh-CN");
        assert_eq!((p.user_id, p.tag.as_str(), p.ready_at), (2, "c:7", 10));
        assert!(p.yields_to_message && p.message_id.is_none());
        let body: Value = serde_json::from_str(&p.payload).unwrap();
        assert_eq!(body["type"], "read");
        assert_eq!(body["reader"], "张小明");
        assert_eq!(body["count"], 2);
        assert_eq!(body["tag"], "c:7");
        assert_eq!(body["url"], "#/c/7");
        assert_eq!(body.as_object().unwrap().len(), 7, "nothing else: {body}");
        let message = new_message(note(MessageKind::Text, None, &reader), false, 10, "en");
        assert!(!message.yields_to_message, "a message never yields");
    }

    #[test]
    fn a_long_preview_is_cut() {
        let from = user(1, "A");
        let long = "x".repeat(500);
        let p = new_message(note(MessageKind::Text, Some(&long), &from), true, 10, "en");
        let body: Value = serde_json::from_str(&p.payload).unwrap();
        assert_eq!(body["text"].as_str().unwrap().len(), PREVIEW_CHARS);
    }
}
