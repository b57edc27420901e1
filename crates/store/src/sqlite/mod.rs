//! The embedded store: SQLite in WAL mode with `synchronous=FULL` (crash-safe), one
//! writer thread with group commit ([`writer`]) and a small pool of read connections.

mod errors;
mod migrate;
mod rows;
mod schedule;
mod writer;

use crate::*;
use doorplate_domain::timetable::{Arrangement, Slot};
use doorplate_domain::{MessageStatus, Settings};
use rows::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use writer::Writer;

/// SQLite adapter of [`Store`].
pub struct SqliteStore {
    writer: Writer,
    readers: mpsc::Sender<ReadJob>,
    /// Tells the checkpointer to stop when the store goes.
    stop: Arc<AtomicBool>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Checkpoints the WAL in the background twice a second (PASSIVE: it never blocks the
/// writer or the readers), so the WAL stays small without stalling a commit.
fn start_checkpointer(path: &Path, stop: Arc<AtomicBool>) -> Result<()> {
    let conn = open(path, false)?;
    std::thread::Builder::new()
        .name("doorplate-sqlite-checkpoint".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(500));
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                }
            }
        })
        .map_err(internal)?;
    Ok(())
}

/// How many reader threads (each with its own connection) serve queries. WAL lets them
/// read while the writer writes; a fixed few avoid both connection churn and a thread
/// per waiting request on a small machine.
const READERS: usize = 4;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Starts the reader threads; they share one queue (a std `Mutex` around the receiver,
/// held only while taking the next job).
fn start_readers(path: &Path) -> Result<mpsc::Sender<ReadJob>> {
    let (tx, rx) = mpsc::channel::<ReadJob>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..READERS {
        let conn = open(path, true)?;
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("doorplate-sqlite-reader-{i}"))
            .spawn(move || {
                loop {
                    let job = match rx.lock() {
                        Ok(r) => r.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(&conn),
                        Err(_) => return,
                    }
                }
            })
            .map_err(internal)?;
    }
    Ok(tx)
}

fn open(path: &Path, read_only: bool) -> Result<Connection> {
    let conn = Connection::open(path).map_err(internal)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;
         PRAGMA busy_timeout=5000; PRAGMA cache_size=-16000;",
    )
    .map_err(internal)?;
    if read_only {
        conn.execute_batch("PRAGMA query_only=ON;").map_err(internal)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (or creates) the database file and applies pending migrations.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        let conn = open(path, false)?;
        migrate::migrate(&conn)?;
        // The writer never checkpoints: copying the WAL back into the database (and its
        // sync) would stall every caller of that batch. A thread of its own does it.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0;").map_err(internal)?;
        let writer = Writer::start(conn).map_err(internal)?;
        let stop = Arc::new(AtomicBool::new(false));
        start_checkpointer(path, stop.clone())?;
        Ok(SqliteStore {
            writer,
            readers: start_readers(path)?,
            stop,
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        self.readers
            .send(job)
            .map_err(|_| StoreError::Internal("the readers have stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("a reader dropped a query".into()))?
    }

    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.writer.write(f).await
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

use errors::db;

#[async_trait]
impl Store for SqliteStore {
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.write(move |c| {
            let role = new.role.ok_or(StoreError::BadReference("role"))?;
            c.prepare_cached(
                "INSERT INTO users (role, display_name, username, password_hash, card_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    role.as_str(),
                    new.display_name,
                    new.username,
                    new.password_hash,
                    new.card_hash,
                    new.now
                ])
            })
            .map_err(db)?;
            user_by(c, "id = ?1", c.last_insert_rowid())
        })
        .await
    }

    async fn user(&self, id: Id) -> Result<User> {
        self.read(move |c| user_by(c, "id = ?1", id)).await
    }

    async fn users_by_ids(&self, ids: Vec<Id>) -> Result<Vec<User>> {
        self.read(move |c| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match user_by(c, "id = ?1", id) {
                    Ok(u) => out.push(u),
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn user_by_username(&self, username: String) -> Result<User> {
        self.read(move |c| user_by(c, "username = ?1", username)).await
    }

    async fn user_by_card(&self, card_hash: Vec<u8>) -> Result<User> {
        self.read(move |c| user_by(c, "card_hash = ?1", card_hash)).await
    }

    async fn user_by_qr(&self, qr_hash: Vec<u8>) -> Result<User> {
        self.read(move |c| user_by(c, "qr_hash = ?1", qr_hash)).await
    }

    async fn list_users(&self, role: Option<Role>, q: Option<String>, limit: u32) -> Result<Vec<User>> {
        self.read(move |c| {
            let pattern = q.map(|q| format!("%{}%", q.replace(['%', '_'], "")));
            let sql = format!(
                "SELECT {USER_COLS} FROM users WHERE deleted = 0
                   AND (?1 IS NULL OR role = ?1)
                   AND (?2 IS NULL OR display_name LIKE ?2 OR username LIKE ?2)
                 ORDER BY display_name, id LIMIT ?3"
            );
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s
                .query_map(params![role.map(|r| r.as_str()), pattern, limit], user_row)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn update_user(&self, id: Id, patch: UserPatch) -> Result<User> {
        self.write(move |c| {
            user_by(c, "id = ?1", id)?;
            if let Some(v) = patch.display_name {
                c.execute("UPDATE users SET display_name = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.username {
                c.execute("UPDATE users SET username = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.password_hash {
                c.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.card_hash {
                c.execute("UPDATE users SET card_hash = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.disabled {
                c.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            user_by(c, "id = ?1", id)
        })
        .await
    }

    async fn delete_user(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE users SET deleted = 1, disabled = 1, username = NULL, password_hash = NULL,
                            card_hash = NULL, qr_hash = NULL WHERE id = ?1 AND deleted = 0",
                    [id],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            c.execute("DELETE FROM tokens WHERE user_id = ?1", [id]).map_err(db)?;
            c.execute(
                "DELETE FROM guardianships WHERE guardian_id = ?1 OR student_id = ?1",
                [id],
            )
            .map_err(db)?;
            c.execute("DELETE FROM group_members WHERE user_id = ?1", [id])
                .map_err(db)?;
            c.execute("DELETE FROM presences WHERE student_id = ?1", [id])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn set_badge(&self, id: Id, qr_hash: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE users SET qr_hash = ?2 WHERE id = ?1 AND deleted = 0",
                    params![id, qr_hash],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn add_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO guardianships (guardian_id, student_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                [guardian_id, student_id],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn remove_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM guardianships WHERE guardian_id = ?1 AND student_id = ?2",
                    [guardian_id, student_id],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn is_guardian_of(&self, guardian_id: Id, student_id: Id) -> Result<bool> {
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM guardianships WHERE guardian_id = ?1 AND student_id = ?2")
                .and_then(|mut s| s.exists([guardian_id, student_id]))
                .map_err(db)
        })
        .await
    }

    async fn guardians_of(&self, student_id: Id) -> Result<Vec<Id>> {
        self.read(move |c| {
            ids(
                c,
                "SELECT guardian_id FROM guardianships WHERE student_id = ?1",
                student_id,
            )
        })
        .await
    }

    async fn children_of(&self, guardian_id: Id) -> Result<Vec<Id>> {
        self.read(move |c| {
            ids(
                c,
                "SELECT student_id FROM guardianships WHERE guardian_id = ?1",
                guardian_id,
            )
        })
        .await
    }

    async fn create_token(&self, hash: Vec<u8>, user_id: Id, now: Micros, expires_at: Micros) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, user_id, now, expires_at],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn token_user(&self, hash: Vec<u8>, now: Micros) -> Result<Id> {
        self.read(move |c| {
            c.prepare_cached("SELECT user_id FROM tokens WHERE hash = ?1 AND expires_at > ?2")
                .and_then(|mut s| s.query_row(params![hash, now], |r| r.get(0)))
                .map_err(db)
        })
        .await
    }

    async fn delete_token(&self, hash: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM tokens WHERE hash = ?1", [hash])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn delete_tokens_of(&self, user_id: Id) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM tokens WHERE user_id = ?1", [user_id])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn create_room(&self, name: String, kind: String) -> Result<Room> {
        self.write(move |c| {
            c.execute("INSERT INTO rooms (name, kind) VALUES (?1, ?2)", params![name, kind])
                .map_err(db)?;
            Ok(Room {
                id: c.last_insert_rowid(),
                name,
                kind,
            })
        })
        .await
    }

    async fn room(&self, id: Id) -> Result<Room> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, kind FROM rooms WHERE id = ?1")
                .and_then(|mut s| s.query_row([id], room_row))
                .map_err(db)
        })
        .await
    }

    async fn list_rooms(&self) -> Result<Vec<Room>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT id, name, kind FROM rooms ORDER BY name, id")
                .map_err(db)?;
            let rows = s.query_map([], room_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn create_group(&self, name: String, member_ids: Vec<Id>, teacher_id: Option<Id>) -> Result<Group> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO groups (name, teacher_id) VALUES (?1, ?2)",
                params![name, teacher_id],
            )
            .map_err(db)?;
            let id = c.last_insert_rowid();
            let mut s = c
                .prepare_cached("INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
                .map_err(db)?;
            for m in &member_ids {
                s.execute([id, *m]).map_err(db)?;
            }
            group_by_id(c, id)
        })
        .await
    }

    async fn group(&self, id: Id) -> Result<Group> {
        self.read(move |c| group_by_id(c, id)).await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        self.read(|c| {
            let gids = ids(c, "SELECT id FROM groups WHERE ?1 = ?1 ORDER BY name", 0)?;
            gids.into_iter().map(|g| group_by_id(c, g)).collect()
        })
        .await
    }

    async fn groups_of(&self, user_id: Id) -> Result<Vec<Group>> {
        self.read(move |c| {
            let gids = ids(
                c,
                "SELECT id FROM groups WHERE teacher_id = ?1
                 UNION SELECT group_id FROM group_members WHERE user_id = ?1",
                user_id,
            )?;
            gids.into_iter().map(|g| group_by_id(c, g)).collect()
        })
        .await
    }

    async fn create_doorplate(
        &self,
        room_id: Id,
        name: String,
        pairing_hash: Vec<u8>,
        expires: Micros,
        now: Micros,
    ) -> Result<Doorplate> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO doorplates (room_id, name, pairing_hash, pairing_expires, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![room_id, name, pairing_hash, expires, now],
            )
            .map_err(|e| match db(e) {
                StoreError::BadReference(_) => StoreError::BadReference("room_id"),
                other => other,
            })?;
            doorplate_by(c, "id = ?1", c.last_insert_rowid())
        })
        .await
    }

    async fn pair_doorplate(&self, pairing_hash: Vec<u8>, token_hash: Vec<u8>, now: Micros) -> Result<Doorplate> {
        self.write(move |c| {
            let id: Id = c
                .query_row(
                    "SELECT id FROM doorplates WHERE pairing_hash = ?1 AND pairing_expires > ?2",
                    params![pairing_hash, now],
                    |r| r.get(0),
                )
                .map_err(db)?;
            c.execute(
                "UPDATE doorplates SET token_hash = ?2, pairing_hash = NULL, pairing_expires = NULL, last_seen = ?3 WHERE id = ?1",
                params![id, token_hash, now],
            )
            .map_err(db)?;
            doorplate_by(c, "id = ?1", id)
        })
        .await
    }

    async fn renew_pairing(&self, id: Id, pairing_hash: Vec<u8>, expires: Micros) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE doorplates SET pairing_hash = ?2, pairing_expires = ?3 WHERE id = ?1",
                    params![id, pairing_hash, expires],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn doorplate(&self, id: Id) -> Result<Doorplate> {
        self.read(move |c| doorplate_by(c, "id = ?1", id)).await
    }

    async fn doorplate_by_token(&self, token_hash: Vec<u8>) -> Result<Doorplate> {
        self.read(move |c| doorplate_by(c, "token_hash = ?1", token_hash)).await
    }

    async fn list_doorplates(&self) -> Result<Vec<Doorplate>> {
        self.read(|c| {
            let sql = format!("SELECT {DOORPLATE_COLS} FROM doorplates ORDER BY name, id");
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s.query_map([], doorplate_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn touch_doorplate(&self, id: Id, now: Micros) -> Result<()> {
        self.write(move |c| {
            c.execute("UPDATE doorplates SET last_seen = ?2 WHERE id = ?1", [id, now])
                .map(drop)
                .map_err(db)
        })
        .await
    }

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
            if let Some(p) = change.upsert {
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

    async fn insert_message(&self, new: NewMessage) -> Result<(Message, bool)> {
        self.write(move |c| {
            let inserted: Option<Id> = c
                .prepare_cached(
                    "INSERT INTO messages (conversation_id, sender_id, recipient_id, client_id, kind, text, media_id, urgent, created_at,
                                           status, notified_rooms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (sender_id, client_id) DO NOTHING RETURNING id",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![
                            new.conversation_id, new.sender_id, new.recipient_id, new.client_id,
                            new.kind.as_str(), new.text, new.media_id, new.urgent, new.now,
                            new.status.as_str(), serde_json::to_string(&new.notified_rooms).unwrap_or_default()
                        ],
                        |r| r.get(0),
                    )
                    .optional()
                })
                .map_err(db)?;
            match inserted {
                // New: the message is what was sent, no need to read it back.
                Some(id) => {
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
        .await
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
                "m.recipient_id = ?1 AND m.status = 'sent' ORDER BY m.id",
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

    async fn insert_media(&self, owner_id: Id, mime: String, size: u64, file: String, now: Micros) -> Result<Media> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO media (owner_id, mime, size, file, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![owner_id, mime, size as i64, file, now],
            )
            .map_err(db)?;
            Ok(Media {
                id: c.last_insert_rowid(),
                owner_id,
                mime,
                size,
                file,
                created_at: now,
            })
        })
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

    async fn settings(&self) -> Result<Settings> {
        self.read(|c| {
            let json: Option<String> = c
                .query_row("SELECT json FROM settings WHERE id = 1", [], |r| r.get(0))
                .optional()
                .map_err(db)?;
            Ok(json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default())
        })
        .await
    }

    async fn save_settings(&self, settings: Settings) -> Result<()> {
        let json = serde_json::to_string(&settings).map_err(internal)?;
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (id, json) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET json = ?1",
                [json],
            )
            .map(drop)
            .map_err(db)
        })
        .await
    }

    async fn audit(&self, e: AuditEntry) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("INSERT INTO audit (at, actor_id, action, subject_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
                .and_then(|mut s| s.execute(params![e.at, e.actor_id, e.action, e.subject_id, e.detail.to_string()]))
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn audit_log(&self, f: AuditFilter) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            // Only the filters given go into the query, so each can use its index
            // (`?1 IS NULL OR action = ?1` would scan the whole log).
            let mut conds = vec!["1 = 1"];
            let mut values: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(a) = f.action {
                conds.push("action = ?");
                values.push(a.into());
            }
            if let Some(a) = f.actor_id {
                conds.push("actor_id = ?");
                values.push(a.into());
            }
            if let Some(s) = f.subject_id {
                conds.push("subject_id = ?");
                values.push(s.into());
            }
            values.push(i64::from(f.limit).into());
            let sql = format!(
                "SELECT at, actor_id, action, subject_id, detail FROM audit WHERE {} ORDER BY id DESC LIMIT ?",
                conds.join(" AND ")
            );
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s.query_map(rusqlite::params_from_iter(values), audit_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn purge_audit_before(&self, cutoff: Micros) -> Result<u64> {
        // In chunks, each its own write: a first purge of a year of rollovers must not
        // hold the writer (and every send behind it) for one long delete.
        const CHUNK: usize = 5_000;
        let mut total = 0u64;
        loop {
            let n = self
                .write(move |c| {
                    c.prepare_cached(
                        "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ?1 ORDER BY at LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![cutoff, CHUNK as i64]))
                    .map_err(db)
                })
                .await?;
            total += n as u64;
            if n < CHUNK {
                return Ok(total);
            }
        }
    }

    async fn update_group(
        &self,
        id: Id,
        name: Option<String>,
        member_ids: Option<Vec<Id>>,
        teacher_id: Option<Option<Id>>,
    ) -> Result<Group> {
        self.write(move |c| schedule::update_group(c, id, name, member_ids, teacher_id))
            .await
    }

    async fn delete_group(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            c.execute("UPDATE timetable_slots SET group_id = NULL WHERE group_id = ?1", [id])
                .map_err(db)?;
            let n = c.execute("DELETE FROM groups WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn slots(&self) -> Result<Vec<Slot>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM timetable_slots ORDER BY id",
                    schedule::SLOT_COLS
                ))
                .map_err(db)?;
            let rows = s.query_map([], schedule::slot_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn slot(&self, id: Id) -> Result<Slot> {
        self.read(move |c| schedule::slot_by_id(c, id)).await
    }

    async fn create_slot(&self, slot: Slot) -> Result<Slot> {
        self.write(move |c| schedule::insert_slot(c, &slot)).await
    }

    async fn update_slot(&self, slot: Slot) -> Result<Slot> {
        self.write(move |c| schedule::update_slot(c, &slot)).await
    }

    async fn delete_slot(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM timetable_slots WHERE id = ?1", [id])
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn arrangements(&self, after: Micros) -> Result<Vec<Arrangement>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM arrangements WHERE ends_at > ?1 ORDER BY starts_at, id",
                    schedule::ARR_COLS
                ))
                .map_err(db)?;
            let rows = s.query_map([after], schedule::arrangement_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn arrangement(&self, id: Id) -> Result<Arrangement> {
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM arrangements WHERE id = ?1",
                schedule::ARR_COLS
            ))
            .and_then(|mut s| s.query_row([id], schedule::arrangement_row))
            .map_err(db)
        })
        .await
    }

    async fn create_arrangement(&self, a: Arrangement, created_by: Id) -> Result<Arrangement> {
        self.write(move |c| schedule::insert_arrangement(c, &a, created_by))
            .await
    }

    async fn delete_arrangement(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c.execute("DELETE FROM arrangements WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn notices(&self) -> Result<Vec<Notice>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM notices ORDER BY id DESC",
                    schedule::NOTICE_COLS
                ))
                .map_err(db)?;
            let rows = s.query_map([], schedule::notice_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn notice(&self, id: Id) -> Result<Notice> {
        self.read(move |c| schedule::notice_by_id(c, id)).await
    }

    async fn create_notice(&self, n: Notice) -> Result<Notice> {
        self.write(move |c| schedule::save_notice(c, &n, true)).await
    }

    async fn update_notice(&self, n: Notice) -> Result<Notice> {
        self.write(move |c| schedule::save_notice(c, &n, false)).await
    }

    async fn delete_notice(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c.execute("DELETE FROM notices WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn suppressions(&self) -> Result<Vec<(Id, Id, Micros)>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT student_id, doorplate_id, until FROM suppressions")
                .map_err(db)?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn suppress(&self, student_id: Id, doorplate_id: Id, until: Micros) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO suppressions (student_id, doorplate_id, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (student_id, doorplate_id) DO UPDATE SET until = ?3",
            )
            .and_then(|mut s| s.execute([student_id, doorplate_id, until]))
            .map(drop)
            .map_err(db)
        })
        .await
    }

    async fn drop_suppressions_before(&self, now: Micros) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM suppressions WHERE until <= ?1", [now])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn kv_get(&self, key: String) -> Result<Option<String>> {
        self.read(move |c| {
            c.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn kv_put(&self, key: String, value: String) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .map(drop)
            .map_err(db)
        })
        .await
    }

    async fn import(&self, ops: Vec<ImportOp>, dry_run: bool) -> Result<ImportReport> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        self.write(move |c| schedule::import(c, &ops, dry_run, now)).await
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

    async fn ping(&self) -> Result<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(db)).await
    }
}
