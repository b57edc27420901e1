-- Doorplate schema, version 9: Web Push. The browsers people asked to be notified on,
-- and the queue of pushes waiting to go (persisted, so a restart loses none).
-- Never edit once landed.

CREATE TABLE push_subscriptions (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id),
    -- The push service's URL for one browser: one subscription per browser.
    endpoint     TEXT NOT NULL UNIQUE,
    p256dh       BLOB NOT NULL,
    auth         BLOB NOT NULL,
    device_name  TEXT NOT NULL,
    -- The login token it was made with: that token's logout removes it.
    token_hash   BLOB,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id);
CREATE INDEX push_subscriptions_token ON push_subscriptions(token_hash) WHERE token_hash IS NOT NULL;

-- One row per subscription and tag (a conversation, the alerts …). `payload` is what
-- waits to go (NULL: nothing waits; the row remembers when the tag last went, for the
-- rate limit). A newer notification replaces the payload and bumps `version`.
CREATE TABLE push_queue (
    id              INTEGER PRIMARY KEY,
    subscription_id INTEGER NOT NULL REFERENCES push_subscriptions(id) ON DELETE CASCADE,
    tag             TEXT NOT NULL,
    payload         TEXT,
    -- No reference: retention may delete the message first (then it counts as unread).
    message_id      INTEGER,
    ready_at        INTEGER NOT NULL,
    due_at          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL DEFAULT 0,
    last_sent_at    INTEGER,
    UNIQUE (subscription_id, tag)
);
CREATE INDEX push_queue_due ON push_queue(due_at) WHERE payload IS NOT NULL;
