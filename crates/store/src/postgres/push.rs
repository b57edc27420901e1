//! The PostgreSQL adapter's Web Push subscriptions and push queue (the same rules as
//! SQLite's, `sqlite/push.rs`).

use super::rows::*;
use super::{Conn, PgStore};
use crate::*;
use tokio_postgres::Row;

const SUB_COLS: &str = "s.id, s.user_id, s.endpoint, s.p256dh, s.auth, s.device_name, s.created_at, s.last_used_at";

fn subscription_row(r: &Row, at: usize) -> PushSubscription {
    PushSubscription {
        id: r.get(at),
        user_id: r.get(at + 1),
        endpoint: r.get(at + 2),
        p256dh: r.get(at + 3),
        auth: r.get(at + 4),
        device_name: r.get(at + 5),
        created_at: r.get(at + 6),
        last_used_at: r.get(at + 7),
    }
}

/// Queues one push for each subscription of its person, inside the caller's write (see
/// the SQLite adapter's `enqueue`: the same collapse, gap and yielding of a read receipt
/// to a waiting unread message).
pub(super) async fn enqueue(c: &Conn, p: &NewPush) -> Result<()> {
    exec(
        c,
        "INSERT INTO push_queue (subscription_id, tag, payload, message_id, ready_at, due_at, attempts, version)
         SELECT id, $2, $3, $4, $5, $5, 0, 0 FROM push_subscriptions WHERE user_id = $1
         ON CONFLICT (subscription_id, tag) DO UPDATE SET
             due_at = CASE WHEN push_queue.payload IS NULL
                           THEN GREATEST(excluded.due_at, COALESCE(push_queue.last_sent_at + $6::BIGINT, 0))
                           ELSE LEAST(push_queue.due_at, GREATEST(excluded.due_at, COALESCE(push_queue.last_sent_at + $6::BIGINT, 0))) END,
             attempts = CASE WHEN push_queue.payload IS NULL THEN 0 ELSE push_queue.attempts END,
             payload = excluded.payload,
             message_id = excluded.message_id,
             ready_at = excluded.ready_at,
             version = push_queue.version + 1
         WHERE NOT $7::BOOLEAN OR push_queue.payload IS NULL OR push_queue.message_id IS NULL
            OR EXISTS (SELECT 1 FROM messages m WHERE m.id = push_queue.message_id AND m.status = 'read')",
        &[
            &p.user_id,
            &p.tag,
            &p.payload,
            &p.message_id,
            &p.ready_at,
            &p.min_gap,
            &p.yields_to_message,
        ],
    )
    .await
    .map(drop)
}

/// Forgets a person's push settings (the person is deleted).
pub(super) async fn forget_settings(c: &Conn, user_id: Id) -> Result<()> {
    exec(c, "DELETE FROM push_settings WHERE user_id = $1", &[&user_id])
        .await
        .map(drop)
}

/// Removes the subscriptions made with this login token (its logout).
pub(super) async fn forget_token(c: &Conn, hash: &[u8]) -> Result<()> {
    exec(c, "DELETE FROM push_subscriptions WHERE token_hash = $1", &[&hash])
        .await
        .map(drop)
}

/// Removes every subscription of a person (signed out everywhere, or deleted).
pub(super) async fn forget_user(c: &Conn, user_id: Id) -> Result<()> {
    exec(c, "DELETE FROM push_subscriptions WHERE user_id = $1", &[&user_id])
        .await
        .map(drop)
}

#[async_trait]
impl PushStore for PgStore {
    async fn save_push_subscription(&self, new: NewPushSubscription) -> Result<PushSubscription> {
        self.write(move |c| {
            Box::pin(async move {
                // The same browser subscribing again starts afresh (see SQLite's).
                exec(c, "DELETE FROM push_subscriptions WHERE endpoint = $1", &[&new.endpoint]).await?;
                let sql = format!(
                    "INSERT INTO push_subscriptions AS s (user_id, endpoint, p256dh, auth, device_name, token_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SUB_COLS}"
                );
                let row = one(
                    c,
                    &sql,
                    &[
                        &new.user_id,
                        &new.endpoint,
                        &new.p256dh,
                        &new.auth,
                        &new.device_name,
                        &new.token_hash,
                        &new.now,
                    ],
                )
                .await?;
                Ok(subscription_row(&row, 0))
            })
        })
        .await
    }

    async fn push_subscriptions_of(&self, user_id: Id) -> Result<Vec<PushSubscription>> {
        let c = self.reader().await?;
        let sql = format!("SELECT {SUB_COLS} FROM push_subscriptions s WHERE s.user_id = $1 ORDER BY s.id");
        Ok(query(&c, &sql, &[&user_id])
            .await?
            .iter()
            .map(|r| subscription_row(r, 0))
            .collect())
    }

    async fn delete_push_subscription(&self, user_id: Id, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                found(
                    exec(
                        c,
                        "DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2",
                        &[&id, &user_id],
                    )
                    .await?,
                )
            })
        })
        .await
    }

    async fn drop_push_subscription(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(c, "DELETE FROM push_subscriptions WHERE id = $1", &[&id])
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn enqueue_pushes(&self, pushes: Vec<NewPush>) -> Result<()> {
        if pushes.is_empty() {
            return Ok(());
        }
        self.write(move |c| {
            Box::pin(async move {
                for p in &pushes {
                    enqueue(c, p).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn due_pushes(&self, now: Micros, limit: u32) -> Result<Vec<PendingPush>> {
        let c = self.reader().await?;
        let sql = format!(
            "SELECT q.id, q.version, q.tag, q.payload, q.ready_at, q.attempts, COALESCE(m.status = 'read', false),
                    {SUB_COLS}
               FROM push_queue q
               JOIN push_subscriptions s ON s.id = q.subscription_id
               LEFT JOIN messages m ON m.id = q.message_id
              WHERE q.payload IS NOT NULL AND q.due_at <= $1
              ORDER BY q.due_at LIMIT $2"
        );
        let rows = query(&c, &sql, &[&now, &(limit as i64)]).await?;
        Ok(rows
            .iter()
            .map(|r| PendingPush {
                id: r.get(0),
                version: r.get(1),
                tag: r.get(2),
                payload: r.get(3),
                ready_at: r.get(4),
                attempts: r.get::<_, i32>(5).max(0) as u32,
                message_read: r.get(6),
                subscription: subscription_row(r, 7),
            })
            .collect())
    }

    async fn next_push_due(&self) -> Result<Option<Micros>> {
        let c = self.reader().await?;
        let row = one(&c, "SELECT MIN(due_at) FROM push_queue WHERE payload IS NOT NULL", &[]).await?;
        Ok(row.get(0))
    }

    async fn settle_push(&self, id: Id, version: i64, outcome: PushOutcome) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                match outcome {
                    PushOutcome::Sent { at, min_gap } => {
                        exec(
                            c,
                            "UPDATE push_queue SET last_sent_at = $3, attempts = 0,
                                    payload = CASE WHEN version = $2 THEN NULL ELSE payload END,
                                    due_at = CASE WHEN version = $2 THEN due_at ELSE GREATEST(due_at, $3::BIGINT + $4::BIGINT) END
                              WHERE id = $1",
                            &[&id, &version, &at, &min_gap],
                        )
                        .await?;
                        exec(
                            c,
                            "UPDATE push_subscriptions SET last_used_at = $2
                              WHERE id = (SELECT subscription_id FROM push_queue WHERE id = $1)",
                            &[&id, &at],
                        )
                        .await?;
                        exec(
                            c,
                            "DELETE FROM push_queue WHERE payload IS NULL AND last_sent_at < $1::BIGINT - 86400000000",
                            &[&at],
                        )
                        .await?;
                    }
                    PushOutcome::Retry { due_at } => {
                        exec(
                            c,
                            "UPDATE push_queue SET due_at = $2, attempts = attempts + 1 WHERE id = $1",
                            &[&id, &due_at],
                        )
                        .await?;
                    }
                    PushOutcome::Dropped => {
                        exec(
                            c,
                            "UPDATE push_queue SET payload = NULL, attempts = 0 WHERE id = $1 AND version = $2",
                            &[&id, &version],
                        )
                        .await?;
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn push_settings(&self, user_id: Id) -> Result<PushSettings> {
        let c = self.reader().await?;
        let row = opt(
            &c,
            "SELECT read_receipts FROM push_settings WHERE user_id = $1",
            &[&user_id],
        )
        .await?;
        Ok(PushSettings {
            read_receipts: row.is_some_and(|r| r.get(0)),
        })
    }

    async fn set_push_settings(&self, user_id: Id, settings: PushSettings) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO push_settings (user_id, read_receipts) VALUES ($1, $2)
                     ON CONFLICT (user_id) DO UPDATE SET read_receipts = excluded.read_receipts",
                    &[&user_id, &settings.read_receipts],
                )
                .await
                .map(drop)
            })
        })
        .await
    }
}
