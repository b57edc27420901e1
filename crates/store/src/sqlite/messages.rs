//! The SQLite adapter's presence table, conversations and messages, and media records.

use super::rows::*;
use super::{SqliteStore, db, internal};
use crate::*;
use doorplate_domain::MessageStatus;
use rusqlite::{Connection, OptionalExtension, params};

#[async_trait]
impl PresenceStore for SqliteStore {
    async fn presences(&self) -> Result<Vec<PresenceRow>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT student_id, doorplate_id, source, since, until FROM presences")
                .map_err(db)?;
            let rows = s.query_map([], presence_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn apply_presence(&self, change: PresenceChange) -> Result<()> {
        self.write(move |c| {
            let mut del = c
                .prepare_cached("DELETE FROM presences WHERE student_id = ?1 AND doorplate_id = ?2")
                .map_err(db)?;
            for d in &change.remove {
                del.execute([change.student_id, *d]).map_err(db)?;
            }
            for p in &change.upsert {
                c.prepare_cached(
                    "INSERT INTO presences (student_id, doorplate_id, source, since, until) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (student_id, doorplate_id) DO UPDATE SET source = ?3, since = ?4, until = ?5",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        p.student_id,
                        p.doorplate_id,
                        p.source.as_str(),
                        p.since,
                        p.until
                    ])
                })
                .map_err(db)?;
            }
            let mut audit = c
                .prepare_cached(
                    "INSERT INTO audit (at, actor_id, action, subject_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(db)?;
            for e in &change.audit {
                audit
                    .execute(params![e.at, e.actor_id, e.action, e.subject_id, e.detail.to_string()])
                    .map_err(db)?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn open_conversation(&self, a: Id, b: Id, now: Micros) -> Result<Conversation> {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO conversations (a_id, b_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute([a, b, now]))
            .map_err(db)?;
            c.prepare_cached("SELECT id, a_id, b_id, created_at FROM conversations WHERE a_id = ?1 AND b_id = ?2")
                .and_then(|mut s| s.query_row([a, b], conversation_row))
                .map_err(db)
        })
        .await
    }

    async fn conversation(&self, id: Id) -> Result<Conversation> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, a_id, b_id, created_at FROM conversations WHERE id = ?1")
                .and_then(|mut s| s.query_row([id], conversation_row))
                .map_err(db)
        })
        .await
    }

    async fn conversations_of(&self, user_id: Id) -> Result<Vec<ConversationSummary>> {
        self.read(move |c| {
            // One query for the conversations with their unread counts and last message
            // ids (each subquery is an index lookup), one for those messages.
            let mut s = c
                .prepare_cached(
                    "SELECT v.id, v.a_id, v.b_id, v.created_at,
                            (SELECT COUNT(*) FROM messages m
                              WHERE m.recipient_id = ?1 AND m.conversation_id = v.id AND m.status != 'read'),
                            (SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = v.id)
                       FROM (SELECT * FROM conversations WHERE a_id = ?1
                             UNION ALL SELECT * FROM conversations WHERE b_id = ?1) v",
                )
                .map_err(db)?;
            let convs = s
                .query_map([user_id], |r| {
                    Ok((conversation_row(r)?, r.get::<_, u32>(4)?, r.get::<_, Option<Id>>(5)?))
                })
                .map_err(db)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db)?;
            let last_ids: Vec<Id> = convs.iter().filter_map(|(_, _, last)| *last).collect();
            let mut lasts: std::collections::HashMap<Id, Message> = messages_where(
                c,
                "m.id IN (SELECT value FROM json_each(?1))",
                [serde_json::to_string(&last_ids).map_err(internal)?],
            )?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
            let mut out: Vec<ConversationSummary> = convs
                .into_iter()
                .map(|(conversation, unread, last)| ConversationSummary {
                    conversation,
                    unread,
                    last: last.and_then(|id| lasts.remove(&id)),
                })
                .collect();
            // Most recent activity first.
            out.sort_by_key(|s| std::cmp::Reverse(s.last.as_ref().map_or(s.conversation.created_at, |m| m.created_at)));
            Ok(out)
        })
        .await
    }

    async fn unread_in(&self, conversation_id: Id, user_id: Id) -> Result<u32> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT COUNT(*) FROM messages WHERE recipient_id = ?2 AND conversation_id = ?1 AND status != 'read'",
            )
            .and_then(|mut s| s.query_row([conversation_id, user_id], |r| r.get(0)))
            .map_err(db)
        })
        .await
    }

    fn insert_message(&self, new: NewMessage) -> Queued<(Message, bool)> {
        self.submit(move |c| {
            // No RETURNING: SQLite buffers RETURNING's rows in a temporary table for
            // every statement, and the one id is at hand without it. A conflict inserts
            // nothing; otherwise the new row is the last inserted.
            let changed = c
                .prepare_cached(
                    "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, text, media_id, urgent, created_at,
                                           status, notified_rooms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (sender_id, client_id) DO NOTHING",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        new.conversation_id, new.sender_id, new.recipient_id, new.client_id,
                        new.kind.as_str(), new.text, new.media_id, new.urgent, new.now,
                        new.status.as_str(), serde_json::to_string(&new.notified_rooms).unwrap_or_default()
                    ])
                })
                .map_err(db)?;
            let inserted: Option<Id> = (changed == 1).then(|| c.last_insert_rowid());
            match inserted {
                // New: the message is what was sent, no need to read it back.
                Some(id) => {
                    if let Some(push) = &new.push {
                        super::push::enqueue(c, &NewPush { message_id: Some(id), ..push.clone() })?;
                    }
                    let media = match new.media_id {
                        Some(m) => Some(
                            c.prepare_cached("SELECT id, owner_id, mime, size, file, created_at FROM media WHERE id = ?1")
                                .and_then(|mut s| s.query_row([m], media_row))
                                .map_err(db)?,
                        ),
                        None => None,
                    };
                    let m = Message {
                        id,
                        conversation_id: new.conversation_id,
                        sender_id: new.sender_id,
                        recipient_id: new.recipient_id,
                        client_id: new.client_id,
                        kind: new.kind,
                        text: new.text,
                        media,
                        urgent: new.urgent,
                        created_at: new.now,
                        status: new.status,
                        notified_rooms: new.notified_rooms,
                    };
                    Ok((m, true))
                }
                None => {
                    let m = messages_where(c, "m.sender_id = ?1 AND m.client_id = ?2", params![new.sender_id, new.client_id])?
                        .pop()
                        .ok_or(StoreError::NotFound)?;
                    Ok((m, false))
                }
            }
        })
    }

    async fn messages(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        after: Option<Id>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        self.read(move |c| {
            // Newest last: with `after`, the oldest `limit` after it; otherwise the newest
            // `limit` before `before` (or the end), turned around.
            if let Some(after) = after {
                messages_where(
                    c,
                    "m.conversation_id = ?1 AND m.id > ?2 AND (?3 IS NULL OR m.id < ?3) ORDER BY m.id LIMIT ?4",
                    params![conversation_id, after, before, limit],
                )
            } else {
                let mut v = messages_where(
                    c,
                    "m.conversation_id = ?1 AND (?2 IS NULL OR m.id < ?2) ORDER BY m.id DESC LIMIT ?3",
                    params![conversation_id, before, limit],
                )?;
                v.reverse();
                Ok(v)
            }
        })
        .await
    }

    async fn mark_read(&self, conversation_id: Id, reader: Id, up_to: Id) -> Result<Vec<StatusChange>> {
        self.write(move |c| {
            let mut s = c
                .prepare_cached(
                    "UPDATE messages SET status = 'read' WHERE conversation_id = ?1 AND recipient_id = ?2 AND id <= ?3
                       AND status != 'read' RETURNING id, sender_id, notified_rooms",
                )
                .map_err(db)?;
            let rows = s
                .query_map(params![conversation_id, reader, up_to], |r| {
                    let rooms: String = r.get(2)?;
                    Ok(StatusChange {
                        id: r.get(0)?,
                        sender_id: r.get(1)?,
                        status: MessageStatus::Read,
                        notified_rooms: serde_json::from_str(&rooms).unwrap_or_default(),
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn mark_notified(&self, ids: Vec<Id>, room: String) -> Result<Vec<StatusChange>> {
        let wanted = serde_json::to_string(&ids).map_err(internal)?;
        self.write(move |c| {
            // One statement: each row's status and rooms are computed from the row as it
            // is when it is written, so two writers (or two rooms) marking the same
            // message never lose each other's room. `sent` rises to `notified`; a read
            // message stays read but still records the room.
            let mut s = c
                .prepare_cached(
                    "UPDATE messages
                        SET status = CASE WHEN status = 'sent' THEN 'notified' ELSE status END,
                            notified_rooms = CASE
                                WHEN ?2 != '' AND NOT EXISTS (SELECT 1 FROM json_each(notified_rooms) WHERE value = ?2)
                                THEN json_insert(notified_rooms, '$[#]', ?2) ELSE notified_rooms END
                      WHERE id IN (SELECT value FROM json_each(?1))
                        AND (status = 'sent'
                             OR (?2 != '' AND NOT EXISTS (SELECT 1 FROM json_each(notified_rooms) WHERE value = ?2)))
                  RETURNING id, sender_id, status, notified_rooms",
                )
                .map_err(db)?;
            let mut out = s
                .query_map(params![wanted, room], |r| {
                    let status: String = r.get(2)?;
                    let rooms: String = r.get(3)?;
                    Ok(StatusChange {
                        id: r.get(0)?,
                        sender_id: r.get(1)?,
                        status: MessageStatus::parse(&status).unwrap_or(MessageStatus::Notified),
                        notified_rooms: serde_json::from_str(&rooms).unwrap_or_default(),
                    })
                })
                .map_err(db)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(db)?;
            // In the order asked for, as before.
            out.sort_by_key(|ch| ids.iter().position(|id| *id == ch.id));
            Ok(out)
        })
        .await
    }

    async fn unnotified_for(&self, recipient_id: Id) -> Result<Vec<Message>> {
        self.read(move |c| {
            messages_where(
                c,
                // `!= 'read'` as well: the partial index of unread messages is the one by
                // recipient (0011), and SQLite uses it only when the query says so.
                "m.recipient_id = ?1 AND m.status = 'sent' AND m.status != 'read' ORDER BY m.id",
                params![recipient_id],
            )
        })
        .await
    }

    async fn unread_counts(&self) -> Result<Vec<(Id, u32)>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(
                    "SELECT recipient_id, COUNT(*) FROM messages WHERE status != 'read' GROUP BY recipient_id",
                )
                .map_err(db)?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn unread_summary(&self, user_ids: Vec<Id>) -> Result<Vec<(Id, Micros, bool)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |c| {
            let marks = vec!["?"; user_ids.len()].join(",");
            let sql = format!(
                "SELECT recipient_id, MIN(created_at), MAX(urgent) FROM messages
                  WHERE status != 'read' AND recipient_id IN ({marks}) GROUP BY recipient_id"
            );
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s
                .query_map(rusqlite::params_from_iter(user_ids.iter()), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn purge_before(&self, cutoff: Micros) -> Result<Vec<String>> {
        self.write(move |c| {
            c.execute("DELETE FROM messages WHERE created_at < ?1", [cutoff])
                .map_err(db)?;
            let orphan = "created_at < ?1
                AND id NOT IN (SELECT media_id FROM messages WHERE media_id IS NOT NULL)
                AND id NOT IN (SELECT image_media_id FROM notices WHERE image_media_id IS NOT NULL)";
            let mut s = c
                .prepare(&format!("SELECT file FROM media WHERE {orphan}"))
                .map_err(db)?;
            let files = s
                .query_map([cutoff], |r| r.get(0))
                .map_err(db)?
                .collect::<rusqlite::Result<Vec<String>>>()
                .map_err(db)?;
            c.execute(&format!("DELETE FROM media WHERE {orphan}"), [cutoff])
                .map_err(db)?;
            Ok(files)
        })
        .await
    }

    async fn insert_alerts(&self, alerts: Vec<NewAlert>) -> Result<Vec<Alert>> {
        self.write(move |c| {
            let mut ins = c
                .prepare_cached(
                    "INSERT INTO alerts (teacher_id, message_id, student_id, from_id, at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (teacher_id, message_id) DO NOTHING",
                )
                .map_err(db)?;
            let mut get = c
                .prepare_cached(&format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE teacher_id = ?1 AND message_id = ?2"
                ))
                .map_err(db)?;
            let mut out = Vec::with_capacity(alerts.len());
            for a in &alerts {
                ins.execute(params![a.teacher_id, a.message_id, a.student_id, a.from_id, a.at])
                    .map_err(db)?;
                out.push(get.query_row([a.teacher_id, a.message_id], alert_row).map_err(db)?);
            }
            Ok(out)
        })
        .await
    }

    async fn open_alerts(&self, teacher_id: Id) -> Result<Vec<Alert>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE teacher_id = ?1 AND acknowledged_at IS NULL ORDER BY id DESC"
                ))
                .map_err(db)?;
            let rows = s.query_map([teacher_id], alert_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn acknowledge_alert(&self, id: Id, teacher_id: Id, now: Micros) -> Result<Alert> {
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE alerts SET acknowledged_at = ?3 WHERE id = ?1 AND teacher_id = ?2 AND acknowledged_at IS NULL",
            )
            .and_then(|mut s| s.execute(params![id, teacher_id, now]))
            .map_err(db)?;
            c.prepare_cached(&format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1 AND teacher_id = ?2"
            ))
            .and_then(|mut s| s.query_row([id, teacher_id], alert_row).optional())
            .map_err(db)?
            .ok_or(StoreError::NotFound)
        })
        .await
    }
}

#[async_trait]
impl MediaStore for SqliteStore {
    async fn insert_media_within(
        &self,
        owner_id: Id,
        mime: String,
        size: u64,
        file: String,
        now: Micros,
        pending_limit: u64,
    ) -> Result<Option<Media>> {
        self.write(move |c| {
            let pending = unattached_bytes(c, owner_id)?;
            if pending.saturating_add(size) > pending_limit {
                return Ok(None);
            }
            insert_media_row(c, owner_id, mime, size, file, now).map(Some)
        })
        .await
    }

    async fn unattached_media_bytes(&self, owner_id: Id) -> Result<u64> {
        self.read(move |c| unattached_bytes(c, owner_id)).await
    }

    async fn unattached_media_before(&self, cutoff: Micros) -> Result<Vec<Media>> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT id, owner_id, mime, size, file, created_at FROM media
                  WHERE created_at < ?1 AND {UNATTACHED} ORDER BY created_at, id"
            ))
            .and_then(|mut s| s.query_map([cutoff], media_row)?.collect())
            .map_err(db)
        })
        .await
    }

    async fn delete_unattached_media(&self, ids: Vec<Id>) -> Result<Vec<String>> {
        self.write(move |c| {
            let mut files = Vec::with_capacity(ids.len());
            let mut delete = c
                .prepare_cached(&format!(
                    "DELETE FROM media WHERE id = ?1 AND {UNATTACHED} RETURNING file"
                ))
                .map_err(db)?;
            for id in ids {
                if let Some(file) = delete.query_row([id], |r| r.get(0)).optional().map_err(db)? {
                    files.push(file);
                }
            }
            Ok(files)
        })
        .await
    }

    async fn insert_media(&self, owner_id: Id, mime: String, size: u64, file: String, now: Micros) -> Result<Media> {
        self.write(move |c| insert_media_row(c, owner_id, mime, size, file, now))
            .await
    }

    async fn media(&self, id: Id) -> Result<Media> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, owner_id, mime, size, file, created_at FROM media WHERE id = ?1")
                .and_then(|mut s| s.query_row([id], media_row))
                .map_err(db)
        })
        .await
    }

    async fn may_read_media(&self, media_id: Id, user_id: Id) -> Result<bool> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT 1 FROM media WHERE id = ?1 AND owner_id = ?2
                 UNION ALL
                 SELECT 1 FROM messages m JOIN conversations v ON v.id = m.conversation_id
                  WHERE m.media_id = ?1 AND (v.a_id = ?2 OR v.b_id = ?2) LIMIT 1",
            )
            .and_then(|mut s| s.exists([media_id, user_id]))
            .map_err(db)
        })
        .await
    }
}

/// The condition (on a row of `media`) that no message or notice carries the upload.
const UNATTACHED: &str = "NOT EXISTS (SELECT 1 FROM messages WHERE messages.media_id = media.id)
     AND NOT EXISTS (SELECT 1 FROM notices WHERE notices.image_media_id = media.id)";

/// Bytes of the owner's uploads that nothing carries yet (their quota counts these).
fn unattached_bytes(c: &Connection, owner_id: Id) -> Result<u64> {
    c.prepare_cached(&format!(
        "SELECT COALESCE(SUM(size), 0) FROM media WHERE owner_id = ?1 AND {UNATTACHED}"
    ))
    .and_then(|mut s| s.query_row([owner_id], |r| r.get::<_, i64>(0)))
    .map(|n| n.max(0) as u64)
    .map_err(db)
}

/// The one insert of an upload's row.
fn insert_media_row(c: &Connection, owner_id: Id, mime: String, size: u64, file: String, now: Micros) -> Result<Media> {
    c.prepare_cached("INSERT INTO media (owner_id, mime, size, file, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .and_then(|mut s| s.execute(params![owner_id, mime, size as i64, file, now]))
        .map_err(db)?;
    Ok(Media {
        id: c.last_insert_rowid(),
        owner_id,
        mime,
        size,
        file,
        created_at: now,
    })
}
