-- Doorplate schema, version 10: a person's own choices about what is pushed to their
-- phones, beside their subscriptions (issue 16: "a read receipt only if you ask for
-- it"). No row: every choice at its default, off. Never edit once landed.

CREATE TABLE push_settings (
    user_id       INTEGER PRIMARY KEY REFERENCES users(id),
    -- Tell me when my messages are read.
    read_receipts INTEGER NOT NULL DEFAULT 0 CHECK (read_receipts IN (0, 1))
);
