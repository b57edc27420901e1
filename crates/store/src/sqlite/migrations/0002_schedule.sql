-- Doorplate schema, version 2: the timetable, arrangements, notices, and the engine's
-- memory (suppressed presences, last end of day). Never edit once landed.

CREATE TABLE timetable_slots (
    id          INTEGER PRIMARY KEY,
    room_id     INTEGER NOT NULL REFERENCES rooms(id),
    weekday     INTEGER NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_secs  INTEGER NOT NULL,
    end_secs    INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    group_id    INTEGER REFERENCES groups(id),
    teacher_id  INTEGER REFERENCES users(id),
    valid_from  TEXT,
    valid_until TEXT
);
CREATE INDEX timetable_room ON timetable_slots(room_id);

CREATE TABLE arrangements (
    id         INTEGER PRIMARY KEY,
    room_id    INTEGER NOT NULL REFERENCES rooms(id),
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    group_ids  TEXT NOT NULL DEFAULT '[]',
    user_ids   TEXT NOT NULL DEFAULT '[]',
    teacher_id INTEGER REFERENCES users(id),
    created_by INTEGER REFERENCES users(id)
);
CREATE INDEX arrangements_end ON arrangements(ends_at);

CREATE TABLE notices (
    id             INTEGER PRIMARY KEY,
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL,
    body           TEXT NOT NULL DEFAULT '',
    room_ids       TEXT NOT NULL DEFAULT '[]',
    starts_on      TEXT,
    ends_on        TEXT,
    image_media_id INTEGER REFERENCES media(id),
    created_at     INTEGER NOT NULL
);

-- A person ended a presence the schedule wants: the engine leaves it ended until then.
CREATE TABLE suppressions (
    student_id   INTEGER NOT NULL,
    doorplate_id INTEGER NOT NULL,
    until        INTEGER NOT NULL,
    PRIMARY KEY (student_id, doorplate_id)
) WITHOUT ROWID;

CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
