-- Doorplate schema, version 3: uploads by owner and by age (the per-user quota of uploads
-- no message carries yet, and the sweep that removes them), and the heartbeat row that
-- /readyz writes to prove the store can commit. Never edit once landed.

CREATE INDEX media_owner ON media(owner_id);
CREATE INDEX media_created ON media(created_at);

CREATE TABLE heartbeat (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL
);
