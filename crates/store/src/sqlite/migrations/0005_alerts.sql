-- Doorplate schema, version 5: urgent alerts to class teachers are kept until the
-- teacher acknowledges them (a live banner alone is lost when nobody is looking).
-- Never edit once landed.

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    teacher_id      INTEGER NOT NULL REFERENCES users(id),
    -- Retention deletes old messages; their alerts go with them.
    message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    student_id      INTEGER NOT NULL REFERENCES users(id),
    from_id         INTEGER NOT NULL REFERENCES users(id),
    at              INTEGER NOT NULL,
    acknowledged_at INTEGER,
    UNIQUE (teacher_id, message_id)
);
-- A teacher's open alerts, newest first.
CREATE INDEX alerts_open ON alerts(teacher_id, id) WHERE acknowledged_at IS NULL;
CREATE INDEX alerts_message ON alerts(message_id);
