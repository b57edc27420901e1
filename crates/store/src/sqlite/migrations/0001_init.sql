-- Doorplate schema, version 1. Never edit once landed: add 0002_….sql instead.
-- Instants are UTC microseconds (INTEGER). Secrets (card UIDs, QR tokens, bearer
-- tokens, pairing codes) are stored only as keyed hashes (BLOB), passwords as argon2id.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    role          TEXT NOT NULL CHECK (role IN ('admin','teacher','student','guardian')),
    display_name  TEXT NOT NULL,
    username      TEXT UNIQUE COLLATE NOCASE,
    password_hash TEXT,
    card_hash     BLOB UNIQUE,
    qr_hash       BLOB UNIQUE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    deleted       INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE INDEX users_role ON users(role);

CREATE TABLE guardianships (
    guardian_id INTEGER NOT NULL REFERENCES users(id),
    student_id  INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (guardian_id, student_id)
) WITHOUT ROWID;
CREATE INDEX guardianships_student ON guardianships(student_id);

CREATE TABLE tokens (
    hash       BLOB PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX tokens_user ON tokens(user_id);

CREATE TABLE rooms (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('classroom','lab','office','dorm','other'))
);

CREATE TABLE groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    teacher_id INTEGER REFERENCES users(id)
);
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE doorplates (
    id              INTEGER PRIMARY KEY,
    room_id         INTEGER NOT NULL REFERENCES rooms(id),
    name            TEXT NOT NULL,
    token_hash      BLOB UNIQUE,
    pairing_hash    BLOB UNIQUE,
    pairing_expires INTEGER,
    last_seen       INTEGER,
    created_at      INTEGER NOT NULL
);

CREATE TABLE presences (
    student_id   INTEGER NOT NULL REFERENCES users(id),
    doorplate_id INTEGER NOT NULL REFERENCES doorplates(id),
    source       TEXT NOT NULL,
    since        INTEGER NOT NULL,
    until        INTEGER,
    PRIMARY KEY (student_id, doorplate_id)
) WITHOUT ROWID;

CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    a_id       INTEGER NOT NULL REFERENCES users(id),
    b_id       INTEGER NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    UNIQUE (a_id, b_id),
    CHECK (a_id < b_id)
);
CREATE INDEX conversations_b ON conversations(b_id);

CREATE TABLE media (
    id         INTEGER PRIMARY KEY,
    owner_id   INTEGER NOT NULL REFERENCES users(id),
    mime       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    file       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    sender_id       INTEGER NOT NULL REFERENCES users(id),
    recipient_id    INTEGER NOT NULL REFERENCES users(id),
    client_id       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    text            TEXT,
    media_id        INTEGER REFERENCES media(id),
    urgent          INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'sent',
    notified_rooms  TEXT NOT NULL DEFAULT '[]',
    UNIQUE (sender_id, client_id)
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
CREATE INDEX messages_unread ON messages(recipient_id, status);
CREATE INDEX messages_media ON messages(media_id) WHERE media_id IS NOT NULL;

CREATE TABLE settings (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_id   INTEGER,
    action     TEXT NOT NULL,
    subject_id INTEGER,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit(at);
