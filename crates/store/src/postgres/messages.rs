//! The PostgreSQL adapter's presence table, conversations and messages, and media
//! records.

use super::rows::*;
use super::{Conn, PgStore};
use crate::*;
use doorplate_domain::MessageStatus;

#[async_trait]
impl PresenceStore for PgStore {
    async fn presences(&self) -> Result<Vec<PresenceRow>> {
        let c = self.reader().await?;
        query(
            &c,
            "SELECT student_id, doorplate_id, source, since, until FROM presences ORDER BY student_id, doorplate_id",
            &[],
        )
        .await?
        .iter()
        .map(presence_row)
        .collect()
    }

    async fn apply_presence(&self, change: PresenceChange) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                for d in &change.remove {
                    exec(
                        c,
                        "DELETE FROM presences WHERE student_id = $1 AND doorplate_id = $2",
                        &[&change.student_id, d],
                    )
                    .await?;
                }
                for p in &change.upsert {
                    exec(
                        c,
                        "INSERT INTO presences (student_id, doorplate_id, source, since, until) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (student_id, doorplate_id)
                         DO UPDATE SET source = excluded.source, since = excluded.since, until = excluded.until",
                        &[&p.student_id, &p.doorplate_id, &p.source.as_str(), &p.since, &p.until],
                    )
                    .await?;
                }
                for e in &change.audit {
                    insert_audit(c, e).await?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[async_trait]
impl MessageStore for PgStore {
    async fn open_conversation(&self, a: Id, b: Id, now: Micros) -> Result<Conversation> {
        let (a, b) = if a < b { (a, b) } else { (b, a) };
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO conversations (a_id, b_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&a, &b, &now],
                )
                .await?;
                let sql = format!("SELECT {CONVERSATION_COLS} FROM conversations WHERE a_id = $1 AND b_id = $2");
                Ok(conversation_row(&one(c, &sql, &[&a, &b]).await?))
            })
        })
        .await
    }

    async fn conversation(&self, id: Id) -> Result<Conversation> {
        let c = self.reader().await?;
        let sql = format!("SELECT {CONVERSATION_COLS} FROM conversations WHERE id = $1");
        Ok(conversation_row(&one(&c, &sql, &[&id]).await?))
    }

    async fn conversations_of(&self, user_id: Id) -> Result<Vec<ConversationSummary>> {
        let c = self.reader().await?;
        // One query for the conversations with their unread counts and last message ids
        // (each subquery is an index lookup), one for those messages.
        let convs: Vec<(Conversation, u32, Option<Id>)> = query(
            &c,
            "SELECT v.id, v.a_id, v.b_id, v.created_at,
                    (SELECT COUNT(*) FROM messages m
                      WHERE m.recipient_id = $1 AND m.conversation_id = v.id AND m.status <> 'read'),
                    (SELECT MAX(m.id) FROM messages m WHERE m.conversation_id = v.id)
               FROM (SELECT * FROM conversations WHERE a_id = $1
                     UNION ALL SELECT * FROM conversations WHERE b_id = $1) v",
            &[&user_id],
        )
        .await?
        .iter()
        .map(|r| (conversation_row(r), r.get::<_, i64>(4) as u32, r.get(5)))
        .collect();
        let last_ids: Vec<Id> = convs.iter().filter_map(|(_, _, last)| *last).collect();
        let mut lasts: std::collections::HashMap<Id, Message> = messages_where(&c, "m.id = ANY($1)", &[&last_ids])
            .await?
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
    }

    async fn unread_in(&self, conversation_id: Id, user_id: Id) -> Result<u32> {
        let c = self.reader().await?;
        let row = one(
            &c,
            "SELECT COUNT(*) FROM messages WHERE recipient_id = $2 AND conversation_id = $1 AND status <> 'read'",
            &[&conversation_id, &user_id],
        )
        .await?;
        Ok(row.get::<_, i64>(0) as u32)
    }

    fn insert_message(&self, new: NewMessage) -> Queued<(Message, bool)> {
        self.submit(move |c| {
            Box::pin(async move {
                let inserted = opt(
                    c,
                    "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, text, media_id, urgent,
                                           created_at, status, notified_rooms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING id",
                    &[
                        &new.conversation_id,
                        &new.sender_id,
                        &new.recipient_id,
                        &new.client_id,
                        &new.kind.as_str(),
                        &new.text,
                        &new.media_id,
                        &new.urgent,
                        &new.now,
                        &new.status.as_str(),
                        &new.notified_rooms,
                    ],
                )
                .await?;
                match inserted {
                    // New: the message is what was sent, no need to read it back.
                    Some(row) => {
                        let media = match new.media_id {
                            Some(m) => {
                                let sql = format!("SELECT {MEDIA_COLS} FROM media WHERE id = $1");
                                Some(media_row(&one(c, &sql, &[&m]).await?))
                            }
                            None => None,
                        };
                        let m = Message {
                            id: row.get(0),
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
                        let m = messages_where(
                            c,
                            "m.sender_id = $1 AND m.client_id = $2",
                            &[&new.sender_id, &new.client_id],
                        )
                        .await?
                        .pop()
                        .ok_or(StoreError::NotFound)?;
                        Ok((m, false))
                    }
                }
            })
        })
    }

    async fn messages(
        &self,
        conversation_id: Id,
        before: Option<Id>,
        after: Option<Id>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let c = self.reader().await?;
        let limit = i64::from(limit);
        // Newest last: with `after`, the oldest `limit` after it; otherwise the newest
        // `limit` before `before` (or the end), turned around.
        if let Some(after) = after {
            messages_where(
                &c,
                "m.conversation_id = $1 AND m.id > $2 AND ($3::bigint IS NULL OR m.id < $3) ORDER BY m.id LIMIT $4",
                &[&conversation_id, &after, &before, &limit],
            )
            .await
        } else {
            let mut v = messages_where(
                &c,
                "m.conversation_id = $1 AND ($2::bigint IS NULL OR m.id < $2) ORDER BY m.id DESC LIMIT $3",
                &[&conversation_id, &before, &limit],
            )
            .await?;
            v.reverse();
            Ok(v)
        }
    }

    async fn mark_read(&self, conversation_id: Id, reader: Id, up_to: Id) -> Result<Vec<StatusChange>> {
        self.write(move |c| {
            Box::pin(async move {
                let mut out: Vec<StatusChange> = query(
                    c,
                    "UPDATE messages SET status = 'read'
                      WHERE conversation_id = $1 AND recipient_id = $2 AND id <= $3 AND status <> 'read'
                  RETURNING id, sender_id, notified_rooms",
                    &[&conversation_id, &reader, &up_to],
                )
                .await?
                .iter()
                .map(|r| StatusChange {
                    id: r.get(0),
                    sender_id: r.get(1),
                    status: MessageStatus::Read,
                    notified_rooms: r.get(2),
                })
                .collect();
                out.sort_by_key(|ch| ch.id);
                Ok(out)
            })
        })
        .await
    }

    async fn mark_notified(&self, ids: Vec<Id>, room: String) -> Result<Vec<StatusChange>> {
        self.write(move |c| {
            Box::pin(async move {
                // One statement: each row's status and rooms are computed from the row as
                // it is when it is written, so two rooms marking the same message never
                // lose each other's room. `sent` rises to `notified`; a read message stays
                // read but still records the room.
                let mut out: Vec<StatusChange> = query(
                    c,
                    "UPDATE messages
                        SET status = CASE WHEN status = 'sent' THEN 'notified' ELSE status END,
                            notified_rooms = CASE
                                WHEN $2::text <> '' AND NOT ($2::text = ANY(notified_rooms))
                                THEN array_append(notified_rooms, $2::text) ELSE notified_rooms END
                      WHERE id = ANY($1)
                        AND (status = 'sent' OR ($2::text <> '' AND NOT ($2::text = ANY(notified_rooms))))
                  RETURNING id, sender_id, status, notified_rooms",
                    &[&ids, &room],
                )
                .await?
                .iter()
                .map(|r| StatusChange {
                    id: r.get(0),
                    sender_id: r.get(1),
                    status: MessageStatus::parse(r.get(2)).unwrap_or(MessageStatus::Notified),
                    notified_rooms: r.get(3),
                })
                .collect();
                // In the order asked for.
                out.sort_by_key(|ch| ids.iter().position(|id| *id == ch.id));
                Ok(out)
            })
        })
        .await
    }

    async fn unnotified_for(&self, recipient_id: Id) -> Result<Vec<Message>> {
        let c = self.reader().await?;
        messages_where(
            &c,
            "m.recipient_id = $1 AND m.status = 'sent' ORDER BY m.id",
            &[&recipient_id],
        )
        .await
    }

    async fn unread_counts(&self) -> Result<Vec<(Id, u32)>> {
        let c = self.reader().await?;
        Ok(query(
            &c,
            "SELECT recipient_id, COUNT(*) FROM messages WHERE status <> 'read'
              GROUP BY recipient_id ORDER BY recipient_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get::<_, i64>(1) as u32))
        .collect())
    }

    async fn unread_summary(&self, user_ids: Vec<Id>) -> Result<Vec<(Id, Micros, bool)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.reader().await?;
        Ok(query(
            &c,
            "SELECT recipient_id, MIN(created_at), bool_or(urgent) FROM messages
              WHERE status <> 'read' AND recipient_id = ANY($1) GROUP BY recipient_id ORDER BY recipient_id",
            &[&user_ids],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
    }

    async fn purge_before(&self, cutoff: Micros) -> Result<Vec<String>> {
        self.write(move |c| {
            Box::pin(async move {
                exec(c, "DELETE FROM messages WHERE created_at < $1", &[&cutoff]).await?;
                let mut files: Vec<(Id, String)> = query(
                    c,
                    "DELETE FROM media WHERE created_at < $1
                        AND id NOT IN (SELECT media_id FROM messages WHERE media_id IS NOT NULL)
                        AND id NOT IN (SELECT image_media_id FROM notices WHERE image_media_id IS NOT NULL)
                  RETURNING id, file",
                    &[&cutoff],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
                files.sort();
                Ok(files.into_iter().map(|(_, f)| f).collect())
            })
        })
        .await
    }

    async fn insert_alerts(&self, alerts: Vec<NewAlert>) -> Result<Vec<Alert>> {
        self.write(move |c| {
            Box::pin(async move {
                let get = format!("SELECT {ALERT_COLS} FROM alerts WHERE teacher_id = $1 AND message_id = $2");
                let mut out = Vec::with_capacity(alerts.len());
                for a in &alerts {
                    exec(
                        c,
                        "INSERT INTO alerts (teacher_id, message_id, student_id, from_id, at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (teacher_id, message_id) DO NOTHING",
                        &[&a.teacher_id, &a.message_id, &a.student_id, &a.from_id, &a.at],
                    )
                    .await?;
                    out.push(alert_row(&one(c, &get, &[&a.teacher_id, &a.message_id]).await?));
                }
                Ok(out)
            })
        })
        .await
    }

    async fn open_alerts(&self, teacher_id: Id) -> Result<Vec<Alert>> {
        let c = self.reader().await?;
        let sql = format!(
            "SELECT {ALERT_COLS} FROM alerts WHERE teacher_id = $1 AND acknowledged_at IS NULL ORDER BY id DESC"
        );
        Ok(query(&c, &sql, &[&teacher_id]).await?.iter().map(alert_row).collect())
    }

    async fn acknowledge_alert(&self, id: Id, teacher_id: Id, now: Micros) -> Result<Alert> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "UPDATE alerts SET acknowledged_at = $3 WHERE id = $1 AND teacher_id = $2 AND acknowledged_at IS NULL",
                    &[&id, &teacher_id, &now],
                )
                .await?;
                let sql = format!("SELECT {ALERT_COLS} FROM alerts WHERE id = $1 AND teacher_id = $2");
                Ok(alert_row(&one(c, &sql, &[&id, &teacher_id]).await?))
            })
        })
        .await
    }
}

#[async_trait]
impl MediaStore for PgStore {
    async fn insert_media(&self, owner_id: Id, mime: String, size: u64, file: String, now: Micros) -> Result<Media> {
        self.write(move |c| Box::pin(insert_media_row(c, owner_id, mime, size, file, now)))
            .await
    }

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
            Box::pin(async move {
                let pending = unattached_bytes(c, owner_id).await?;
                if pending.saturating_add(size) > pending_limit {
                    return Ok(None);
                }
                insert_media_row(c, owner_id, mime, size, file, now).await.map(Some)
            })
        })
        .await
    }

    async fn unattached_media_bytes(&self, owner_id: Id) -> Result<u64> {
        unattached_bytes(&*self.reader().await?, owner_id).await
    }

    async fn unattached_media_before(&self, cutoff: Micros) -> Result<Vec<Media>> {
        let c = self.reader().await?;
        let sql =
            format!("SELECT {MEDIA_COLS} FROM media WHERE created_at < $1 AND {UNATTACHED} ORDER BY created_at, id");
        Ok(query(&c, &sql, &[&cutoff]).await?.iter().map(media_row).collect())
    }

    async fn delete_unattached_media(&self, ids: Vec<Id>) -> Result<Vec<String>> {
        self.write(move |c| {
            Box::pin(async move {
                let sql = format!("DELETE FROM media WHERE id = $1 AND {UNATTACHED} RETURNING file");
                let mut files = Vec::with_capacity(ids.len());
                for id in &ids {
                    if let Some(row) = opt(c, &sql, &[id]).await? {
                        files.push(row.get(0));
                    }
                }
                Ok(files)
            })
        })
        .await
    }

    async fn media(&self, id: Id) -> Result<Media> {
        let c = self.reader().await?;
        let sql = format!("SELECT {MEDIA_COLS} FROM media WHERE id = $1");
        Ok(media_row(&one(&c, &sql, &[&id]).await?))
    }

    async fn may_read_media(&self, media_id: Id, user_id: Id) -> Result<bool> {
        let c = self.reader().await?;
        let row = one(
            &c,
            "SELECT EXISTS (SELECT 1 FROM media WHERE id = $1 AND owner_id = $2)
                 OR EXISTS (SELECT 1 FROM messages m JOIN conversations v ON v.id = m.conversation_id
                             WHERE m.media_id = $1 AND (v.a_id = $2 OR v.b_id = $2))",
            &[&media_id, &user_id],
        )
        .await?;
        Ok(row.get(0))
    }
}

/// The condition (on a row of `media`) that no message or notice carries the upload.
const UNATTACHED: &str = "NOT EXISTS (SELECT 1 FROM messages WHERE messages.media_id = media.id)
     AND NOT EXISTS (SELECT 1 FROM notices WHERE notices.image_media_id = media.id)";

/// Bytes of the owner's uploads that nothing carries yet (their quota counts these).
async fn unattached_bytes(c: &Conn, owner_id: Id) -> Result<u64> {
    let sql = format!("SELECT COALESCE(SUM(size), 0)::bigint FROM media WHERE owner_id = $1 AND {UNATTACHED}");
    let row = one(c, &sql, &[&owner_id]).await?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}

/// The one insert of an upload's row.
async fn insert_media_row(c: &Conn, owner_id: Id, mime: String, size: u64, file: String, now: Micros) -> Result<Media> {
    let row = one(
        c,
        "INSERT INTO media (owner_id, mime, size, file, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        &[&owner_id, &mime, &(size as i64), &file, &now],
    )
    .await?;
    Ok(Media {
        id: row.get(0),
        owner_id,
        mime,
        size,
        file,
        created_at: now,
    })
}
