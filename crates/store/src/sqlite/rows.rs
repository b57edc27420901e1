//! Turning rows into records, and the small queries several store calls share.

use super::db;
use crate::*;
use doorplate_domain::{MessageKind, MessageStatus, PresenceSource};
use rusqlite::{Connection, Params, Row, ToSql};

pub(super) const USER_COLS: &str =
    "id, role, display_name, username, password_hash, card_hash IS NOT NULL, qr_hash IS NOT NULL, disabled, created_at";

fn bad(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, what.to_string().into())
}

pub(super) fn user_row(r: &Row) -> rusqlite::Result<User> {
    let role: String = r.get(1)?;
    Ok(User {
        id: r.get(0)?,
        role: Role::parse(&role).ok_or_else(|| bad(1, "role"))?,
        display_name: r.get(2)?,
        username: r.get(3)?,
        password_hash: r.get(4)?,
        has_card: r.get(5)?,
        has_badge: r.get(6)?,
        disabled: r.get(7)?,
        created_at: r.get(8)?,
    })
}

/// One live (not deleted) user by a condition on `?1`.
pub(super) fn user_by(c: &Connection, cond: &str, v: impl ToSql) -> Result<User> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE deleted = 0 AND {cond}");
    c.prepare_cached(&sql)
        .and_then(|mut s| s.query_row([v], user_row))
        .map_err(db)
}

pub(super) fn room_row(r: &Row) -> rusqlite::Result<Room> {
    Ok(Room {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
    })
}

pub(super) fn group_by_id(c: &Connection, id: Id) -> Result<Group> {
    let (name, teacher_id) = c
        .prepare_cached("SELECT name, teacher_id FROM groups WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(db)?;
    let member_ids = ids(
        c,
        "SELECT user_id FROM group_members WHERE group_id = ?1 ORDER BY user_id",
        id,
    )?;
    Ok(Group {
        id,
        name,
        teacher_id,
        member_ids,
    })
}

pub(super) const DOORPLATE_COLS: &str = "id, room_id, name, token_hash IS NOT NULL, last_seen";

pub(super) fn doorplate_row(r: &Row) -> rusqlite::Result<Doorplate> {
    Ok(Doorplate {
        id: r.get(0)?,
        room_id: r.get(1)?,
        name: r.get(2)?,
        paired: r.get(3)?,
        last_seen: r.get(4)?,
    })
}

pub(super) fn doorplate_by(c: &Connection, cond: &str, v: impl ToSql) -> Result<Doorplate> {
    let sql = format!("SELECT {DOORPLATE_COLS} FROM doorplates WHERE {cond}");
    c.prepare_cached(&sql)
        .and_then(|mut s| s.query_row([v], doorplate_row))
        .map_err(db)
}

pub(super) fn presence_row(r: &Row) -> rusqlite::Result<PresenceRow> {
    let source: String = r.get(2)?;
    Ok(PresenceRow {
        student_id: r.get(0)?,
        doorplate_id: r.get(1)?,
        source: PresenceSource::parse(&source).ok_or_else(|| bad(2, "source"))?,
        since: r.get(3)?,
        until: r.get(4)?,
    })
}

pub(super) fn conversation_row(r: &Row) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        a_id: r.get(1)?,
        b_id: r.get(2)?,
        created_at: r.get(3)?,
    })
}

pub(super) fn media_row(r: &Row) -> rusqlite::Result<Media> {
    Ok(Media {
        id: r.get(0)?,
        owner_id: r.get(1)?,
        mime: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        file: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// Messages (with their media) matching a condition that refers to `m.` columns.
pub(super) fn messages_where(c: &Connection, cond: &str, p: impl Params) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.sender_id, m.recipient_id, m.client_id, m.kind, m.text, m.urgent,
                m.created_at, m.status, m.notified_rooms,
                md.id, md.owner_id, md.mime, md.size, md.file, md.created_at
           FROM messages m LEFT JOIN media md ON md.id = m.media_id WHERE {cond}"
    );
    let mut s = c.prepare_cached(&sql).map_err(db)?;
    let rows = s
        .query_map(p, |r| {
            let kind: String = r.get(5)?;
            let status: String = r.get(9)?;
            let rooms: String = r.get(10)?;
            let media_id: Option<Id> = r.get(11)?;
            let media = match media_id {
                Some(id) => Some(Media {
                    id,
                    owner_id: r.get(12)?,
                    mime: r.get(13)?,
                    size: r.get::<_, i64>(14)? as u64,
                    file: r.get(15)?,
                    created_at: r.get(16)?,
                }),
                None => None,
            };
            Ok(Message {
                id: r.get(0)?,
                conversation_id: r.get(1)?,
                sender_id: r.get(2)?,
                recipient_id: r.get(3)?,
                client_id: r.get(4)?,
                kind: MessageKind::parse(&kind).ok_or_else(|| bad(5, "kind"))?,
                text: r.get(6)?,
                urgent: r.get(7)?,
                created_at: r.get(8)?,
                status: MessageStatus::parse(&status).ok_or_else(|| bad(9, "status"))?,
                notified_rooms: serde_json::from_str(&rooms).unwrap_or_default(),
                media,
            })
        })
        .map_err(db)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
}

pub(super) fn audit_row(r: &Row) -> rusqlite::Result<AuditEntry> {
    let detail: String = r.get(4)?;
    Ok(AuditEntry {
        at: r.get(0)?,
        actor_id: r.get(1)?,
        action: r.get(2)?,
        subject_id: r.get(3)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
    })
}

/// A list of ids from a query with one parameter.
pub(super) fn ids(c: &Connection, sql: &str, v: impl ToSql) -> Result<Vec<Id>> {
    ids2(c, sql, [v])
}

pub(super) fn ids2(c: &Connection, sql: &str, p: impl Params) -> Result<Vec<Id>> {
    let mut s = c.prepare_cached(sql).map_err(db)?;
    let rows = s.query_map(p, |r| r.get(0)).map_err(db)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
}

/// The columns [`alert_row`] reads, in its order.
pub(super) const ALERT_COLUMNS: &str = "id, teacher_id, message_id, student_id, from_id, at, acknowledged_at";

pub(super) fn alert_row(r: &Row) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: r.get(0)?,
        teacher_id: r.get(1)?,
        message_id: r.get(2)?,
        student_id: r.get(3)?,
        from_id: r.get(4)?,
        at: r.get(5)?,
        acknowledged_at: r.get(6)?,
    })
}
