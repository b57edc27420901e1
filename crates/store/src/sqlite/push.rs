//! The SQLite adapter's Web Push subscriptions and push queue.

use super::{SqliteStore, db};
use crate::*;
use rusqlite::{Connection, OptionalExtension, Row, params};

const SUB_COLS: &str = "s.id, s.user_id, s.endpoint, s.p256dh, s.auth, s.device_name, s.created_at, s.last_used_at";

fn subscription_row(r: &Row, at: usize) -> rusqlite::Result<PushSubscription> {
    Ok(PushSubscription {
        id: r.get(at)?,
        user_id: r.get(at + 1)?,
        endpoint: r.get(at + 2)?,
        p256dh: r.get(at + 3)?,
        auth: r.get(at + 4)?,
        device_name: r.get(at + 5)?,
        created_at: r.get(at + 6)?,
        last_used_at: r.get(at + 7)?,
    })
}

/// Queues one push for each subscription of its person (inside the caller's write, so
/// a message and its push commit together). A push already waiting with the same tag
/// takes the newer payload and keeps the earlier of the two due times — unless the newer
/// one yields (a read receipt) and the waiting one tells of a message still unread (one
/// retention deleted counts as unread, as in `due_pushes`); after a sent one, the next
/// waits out `min_gap`.
pub(super) fn enqueue(c: &Connection, p: &NewPush) -> Result<()> {
    c.prepare_cached(
        "INSERT INTO push_queue (subscription_id, tag, payload, message_id, ready_at, due_at, attempts, version)
         SELECT id, ?2, ?3, ?4, ?5, ?5, 0, 0 FROM push_subscriptions WHERE user_id = ?1
         ON CONFLICT (subscription_id, tag) DO UPDATE SET
             due_at = CASE WHEN push_queue.payload IS NULL
                           THEN MAX(excluded.due_at, COALESCE(push_queue.last_sent_at + ?6, 0))
                           ELSE MIN(push_queue.due_at, MAX(excluded.due_at, COALESCE(push_queue.last_sent_at + ?6, 0))) END,
             attempts = CASE WHEN push_queue.payload IS NULL THEN 0 ELSE push_queue.attempts END,
             payload = excluded.payload,
             message_id = excluded.message_id,
             ready_at = excluded.ready_at,
             version = push_queue.version + 1
         WHERE NOT ?7 OR push_queue.payload IS NULL OR push_queue.message_id IS NULL
            OR EXISTS (SELECT 1 FROM messages m WHERE m.id = push_queue.message_id AND m.status = 'read')",
    )
    .and_then(|mut s| {
        s.execute(params![
            p.user_id,
            p.tag,
            p.payload,
            p.message_id,
            p.ready_at,
            p.min_gap,
            p.yields_to_message
        ])
    })
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl PushStore for SqliteStore {
    async fn save_push_subscription(&self, new: NewPushSubscription) -> Result<PushSubscription> {
        self.write(move |c| {
            // The same browser subscribing again (perhaps signed in as someone else now)
            // starts afresh: what waited for the old owner must not reach the new one.
            c.prepare_cached("DELETE FROM push_subscriptions WHERE endpoint = ?1")
                .and_then(|mut s| s.execute([&new.endpoint]))
                .map_err(db)?;
            c.prepare_cached(&format!(
                "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, device_name, token_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {}",
                SUB_COLS.replace("s.", "")
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![
                        new.user_id,
                        new.endpoint,
                        new.p256dh,
                        new.auth,
                        new.device_name,
                        new.token_hash,
                        new.now
                    ],
                    |r| subscription_row(r, 0),
                )
            })
            .map_err(db)
        })
        .await
    }

    async fn push_subscriptions_of(&self, user_id: Id) -> Result<Vec<PushSubscription>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {SUB_COLS} FROM push_subscriptions s WHERE s.user_id = ?1 ORDER BY s.id"
                ))
                .map_err(db)?;
            let rows = s.query_map([user_id], |r| subscription_row(r, 0)).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn delete_push_subscription(&self, user_id: Id, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1 AND user_id = ?2")
                .and_then(|mut s| s.execute([id, user_id]))
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn drop_push_subscription(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1")
                .and_then(|mut s| s.execute([id]))
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn enqueue_pushes(&self, pushes: Vec<NewPush>) -> Result<()> {
        if pushes.is_empty() {
            return Ok(());
        }
        self.write(move |c| pushes.iter().try_for_each(|p| enqueue(c, p))).await
    }

    async fn due_pushes(&self, now: Micros, limit: u32) -> Result<Vec<PendingPush>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT q.id, q.version, q.tag, q.payload, q.ready_at, q.attempts, COALESCE(m.status = 'read', 0),
                            {SUB_COLS}
                       FROM push_queue q
                       JOIN push_subscriptions s ON s.id = q.subscription_id
                       LEFT JOIN messages m ON m.id = q.message_id
                      WHERE q.payload IS NOT NULL AND q.due_at <= ?1
                      ORDER BY q.due_at LIMIT ?2"
                ))
                .map_err(db)?;
            let rows = s
                .query_map(params![now, limit], |r| {
                    Ok(PendingPush {
                        id: r.get(0)?,
                        version: r.get(1)?,
                        tag: r.get(2)?,
                        payload: r.get(3)?,
                        ready_at: r.get(4)?,
                        attempts: r.get(5)?,
                        message_read: r.get(6)?,
                        subscription: subscription_row(r, 7)?,
                    })
                })
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn next_push_due(&self) -> Result<Option<Micros>> {
        self.read(|c| {
            c.prepare_cached("SELECT MIN(due_at) FROM push_queue WHERE payload IS NOT NULL")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(db)
        })
        .await
    }

    async fn settle_push(&self, id: Id, version: i64, outcome: PushOutcome) -> Result<()> {
        self.write(move |c| {
            match outcome {
                PushOutcome::Sent { at, min_gap } => {
                    // A newer payload that came while this one was on its way still
                    // waits, no sooner than the rate limit allows.
                    c.prepare_cached(
                        "UPDATE push_queue SET last_sent_at = ?3, attempts = 0,
                                payload = CASE WHEN version = ?2 THEN NULL ELSE payload END,
                                due_at = CASE WHEN version = ?2 THEN due_at ELSE MAX(due_at, ?3 + ?4) END
                          WHERE id = ?1",
                    )
                    .and_then(|mut s| s.execute(params![id, version, at, min_gap]))
                    .map_err(db)?;
                    c.prepare_cached(
                        "UPDATE push_subscriptions SET last_used_at = ?2
                          WHERE id = (SELECT subscription_id FROM push_queue WHERE id = ?1)",
                    )
                    .and_then(|mut s| s.execute([id, at]))
                    .map_err(db)?;
                    // What a sent push remembers is needed for the rate limit only.
                    c.prepare_cached(
                        "DELETE FROM push_queue WHERE payload IS NULL AND last_sent_at < ?1 - 86400000000",
                    )
                    .and_then(|mut s| s.execute([at]))
                    .map_err(db)?;
                }
                PushOutcome::Retry { due_at } => {
                    c.prepare_cached("UPDATE push_queue SET due_at = ?2, attempts = attempts + 1 WHERE id = ?1")
                        .and_then(|mut s| s.execute([id, due_at]))
                        .map_err(db)?;
                }
                PushOutcome::Dropped => {
                    c.prepare_cached(
                        "UPDATE push_queue SET payload = NULL, attempts = 0 WHERE id = ?1 AND version = ?2",
                    )
                    .and_then(|mut s| s.execute([id, version]))
                    .map_err(db)?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn push_settings(&self, user_id: Id) -> Result<PushSettings> {
        self.read(move |c| {
            let row = c
                .prepare_cached("SELECT read_receipts FROM push_settings WHERE user_id = ?1")
                .and_then(|mut s| s.query_row([user_id], |r| r.get::<_, bool>(0)).optional())
                .map_err(db)?;
            Ok(PushSettings {
                read_receipts: row.unwrap_or(false),
            })
        })
        .await
    }

    async fn set_push_settings(&self, user_id: Id, settings: PushSettings) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO push_settings (user_id, read_receipts) VALUES (?1, ?2)
                 ON CONFLICT (user_id) DO UPDATE SET read_receipts = excluded.read_receipts",
            )
            .and_then(|mut s| s.execute(params![user_id, settings.read_receipts]))
            .map(drop)
            .map_err(db)
        })
        .await
    }
}

/// Forgets a person's push settings (the person is deleted).
pub(super) fn forget_settings(c: &Connection, user_id: Id) -> Result<()> {
    c.prepare_cached("DELETE FROM push_settings WHERE user_id = ?1")
        .and_then(|mut s| s.execute([user_id]))
        .map(drop)
        .map_err(db)
}

/// Removes the subscriptions made with this login token (its logout).
pub(super) fn forget_token(c: &Connection, hash: &[u8]) -> Result<()> {
    c.prepare_cached("DELETE FROM push_subscriptions WHERE token_hash = ?1")
        .and_then(|mut s| s.execute([hash]))
        .map(drop)
        .map_err(db)
}

/// Removes every subscription of a person (signed out everywhere, or deleted).
pub(super) fn forget_user(c: &Connection, user_id: Id) -> Result<()> {
    c.prepare_cached("DELETE FROM push_subscriptions WHERE user_id = ?1")
        .and_then(|mut s| s.execute([user_id]))
        .map(drop)
        .map_err(db)
}
