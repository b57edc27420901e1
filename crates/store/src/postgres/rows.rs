//! Running statements (each prepared once per connection), turning rows into records,
//! and the small queries several store calls share.

use super::errors::db;
use super::{Conn, Params, internal};
use crate::*;
use doorplate_domain::{MessageKind, MessageStatus, PresenceSource};
use tokio_postgres::Row;

/// The rows of a statement.
pub(super) async fn query(c: &Conn, sql: &str, p: Params<'_>) -> Result<Vec<Row>> {
    let st = c.prepare_cached(sql).await.map_err(db)?;
    c.query(&st, p).await.map_err(db)
}

/// The one row of a statement; `NotFound` when there is none.
pub(super) async fn one(c: &Conn, sql: &str, p: Params<'_>) -> Result<Row> {
    opt(c, sql, p).await?.ok_or(StoreError::NotFound)
}

/// The row of a statement, if any.
pub(super) async fn opt(c: &Conn, sql: &str, p: Params<'_>) -> Result<Option<Row>> {
    let st = c.prepare_cached(sql).await.map_err(db)?;
    c.query_opt(&st, p).await.map_err(db)
}

/// Runs a statement; how many rows it changed.
pub(super) async fn exec(c: &Conn, sql: &str, p: Params<'_>) -> Result<u64> {
    let st = c.prepare_cached(sql).await.map_err(db)?;
    c.execute(&st, p).await.map_err(db)
}

/// `NotFound` when a statement changed no row.
pub(super) fn found(n: u64) -> Result<()> {
    if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// A list of ids from a query.
pub(super) async fn ids(c: &Conn, sql: &str, p: Params<'_>) -> Result<Vec<Id>> {
    Ok(query(c, sql, p).await?.iter().map(|r| r.get(0)).collect())
}

fn bad(what: &str, value: &str) -> StoreError {
    internal(format!("unknown {what} {value:?} in the database"))
}

pub(super) const USER_COLS: &str =
    "id, role, display_name, username, password_hash, card_hash IS NOT NULL, qr_hash IS NOT NULL, disabled, created_at";

pub(super) fn user_row(r: &Row) -> Result<User> {
    let role: &str = r.get(1);
    Ok(User {
        id: r.get(0),
        role: Role::parse(role).ok_or_else(|| bad("role", role))?,
        display_name: r.get(2),
        username: r.get(3),
        password_hash: r.get(4),
        has_card: r.get(5),
        has_badge: r.get(6),
        disabled: r.get(7),
        created_at: r.get(8),
    })
}

/// One live (not deleted) user by a condition on `$1`.
pub(super) async fn user_by(c: &Conn, cond: &str, v: &(dyn tokio_postgres::types::ToSql + Sync)) -> Result<User> {
    let sql = format!("SELECT {USER_COLS} FROM users WHERE NOT deleted AND {cond}");
    user_row(&one(c, &sql, &[v]).await?)
}

pub(super) fn room_row(r: &Row) -> Room {
    Room {
        id: r.get(0),
        name: r.get(1),
        kind: r.get(2),
    }
}

/// Groups with their members, one row each, by a condition on `g.` columns.
pub(super) fn group_select(cond: &str, order: &str) -> String {
    format!(
        "SELECT g.id, g.name, g.teacher_id,
                COALESCE(array_agg(m.user_id ORDER BY m.user_id) FILTER (WHERE m.user_id IS NOT NULL), '{{}}')
           FROM groups g LEFT JOIN group_members m ON m.group_id = g.id
          WHERE {cond} GROUP BY g.id ORDER BY {order}"
    )
}

pub(super) fn group_row(r: &Row) -> Group {
    Group {
        id: r.get(0),
        name: r.get(1),
        teacher_id: r.get(2),
        member_ids: r.get(3),
    }
}

pub(super) async fn group_by_id(c: &Conn, id: Id) -> Result<Group> {
    Ok(group_row(&one(c, &group_select("g.id = $1", "g.id"), &[&id]).await?))
}

pub(super) const DOORPLATE_COLS: &str = "id, room_id, name, token_hash IS NOT NULL, last_seen";

pub(super) fn doorplate_row(r: &Row) -> Doorplate {
    Doorplate {
        id: r.get(0),
        room_id: r.get(1),
        name: r.get(2),
        paired: r.get(3),
        last_seen: r.get(4),
    }
}

pub(super) async fn doorplate_by_id(c: &Conn, id: Id) -> Result<Doorplate> {
    let sql = format!("SELECT {DOORPLATE_COLS} FROM doorplates WHERE id = $1");
    Ok(doorplate_row(&one(c, &sql, &[&id]).await?))
}

pub(super) fn presence_row(r: &Row) -> Result<PresenceRow> {
    let source: &str = r.get(2);
    Ok(PresenceRow {
        student_id: r.get(0),
        doorplate_id: r.get(1),
        source: PresenceSource::parse(source).ok_or_else(|| bad("presence source", source))?,
        since: r.get(3),
        until: r.get(4),
    })
}

pub(super) const CONVERSATION_COLS: &str = "id, a_id, b_id, created_at";

pub(super) fn conversation_row(r: &Row) -> Conversation {
    Conversation {
        id: r.get(0),
        a_id: r.get(1),
        b_id: r.get(2),
        created_at: r.get(3),
    }
}

pub(super) const MEDIA_COLS: &str = "id, owner_id, mime, size, file, created_at";

pub(super) fn media_row(r: &Row) -> Media {
    Media {
        id: r.get(0),
        owner_id: r.get(1),
        mime: r.get(2),
        size: r.get::<_, i64>(3).max(0) as u64,
        file: r.get(4),
        created_at: r.get(5),
    }
}

/// Messages (with their media) matching a condition that refers to `m.` columns.
pub(super) async fn messages_where(c: &Conn, cond: &str, p: Params<'_>) -> Result<Vec<Message>> {
    let sql = format!(
        "SELECT m.id, m.conversation_id, m.sender_id, m.recipient_id, m.client_id, m.kind, m.text, m.urgent,
                m.created_at, m.status, m.notified_rooms,
                md.id, md.owner_id, md.mime, md.size, md.file, md.created_at
           FROM messages m LEFT JOIN media md ON md.id = m.media_id WHERE {cond}"
    );
    query(c, &sql, p).await?.iter().map(message_row).collect()
}

fn message_row(r: &Row) -> Result<Message> {
    let kind: &str = r.get(5);
    let status: &str = r.get(9);
    let media_id: Option<Id> = r.get(11);
    Ok(Message {
        id: r.get(0),
        conversation_id: r.get(1),
        sender_id: r.get(2),
        recipient_id: r.get(3),
        client_id: r.get(4),
        kind: MessageKind::parse(kind).ok_or_else(|| bad("message kind", kind))?,
        text: r.get(6),
        urgent: r.get(7),
        created_at: r.get(8),
        status: MessageStatus::parse(status).ok_or_else(|| bad("message status", status))?,
        notified_rooms: r.get(10),
        media: media_id.map(|id| Media {
            id,
            owner_id: r.get(12),
            mime: r.get(13),
            size: r.get::<_, i64>(14).max(0) as u64,
            file: r.get(15),
            created_at: r.get(16),
        }),
    })
}

/// The columns [`audit_row`] reads, in its order.
pub(super) const AUDIT_COLS: &str = "at, actor_id, action, subject_id, detail::text";

pub(super) fn audit_row(r: &Row) -> AuditEntry {
    let detail: &str = r.get(4);
    AuditEntry {
        at: r.get(0),
        actor_id: r.get(1),
        action: r.get(2),
        subject_id: r.get(3),
        detail: serde_json::from_str(detail).unwrap_or(serde_json::Value::Null),
    }
}

/// Writes one audit entry (the detail is stored as JSONB).
pub(super) async fn insert_audit(c: &Conn, e: &AuditEntry) -> Result<()> {
    exec(
        c,
        "INSERT INTO audit (at, actor_id, action, subject_id, detail) VALUES ($1, $2, $3, $4, $5::text::jsonb)",
        &[&e.at, &e.actor_id, &e.action, &e.subject_id, &e.detail.to_string()],
    )
    .await
    .map(drop)
}

/// The columns [`alert_row`] reads, in its order.
pub(super) const ALERT_COLS: &str = "id, teacher_id, message_id, student_id, from_id, at, acknowledged_at";

pub(super) fn alert_row(r: &Row) -> Alert {
    Alert {
        id: r.get(0),
        teacher_id: r.get(1),
        message_id: r.get(2),
        student_id: r.get(3),
        from_id: r.get(4),
        at: r.get(5),
        acknowledged_at: r.get(6),
    }
}
