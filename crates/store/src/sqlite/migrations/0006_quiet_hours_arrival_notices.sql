-- Doorplate schema, version 6 (issue 17, items 12 and 13). Never edit once landed.

-- A teacher's quiet hours: the seven days' spans as JSON (domain::quiet::QuietHours).
-- No row: no quiet hours.
CREATE TABLE quiet_hours (
    user_id INTEGER PRIMARY KEY REFERENCES users(id),
    days    TEXT NOT NULL
);

-- A guardian's opt-in to be told when this child checks in (off unless they choose it);
-- kept on the guardianship so it ends with it.
ALTER TABLE guardianships ADD COLUMN arrival_notices INTEGER NOT NULL DEFAULT 0
    CHECK (arrival_notices IN (0, 1));
