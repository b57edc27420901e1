-- The bytes of uploads, in the school's schema: several servers share one database, so
-- no server's disk may hold a school's media. An upload is stored in pieces of at most
-- 256 KiB, each committed through the school's writer before the next is read from the
-- client; the media row follows once every piece is committed. `pos` is the offset of a
-- piece's first byte, so a read of a range starts at the piece that holds its first byte
-- and walks on piece by piece. `started_at` is when the upload began: pieces that no
-- media row names and that are older than an upload may take were left by a crash.
CREATE TABLE media_chunks (
    file       TEXT NOT NULL,
    pos        BIGINT NOT NULL CHECK (pos >= 0),
    bytes      BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (file, pos)
);
-- Pictures, voice and video are compressed already: no second try (and no CPU) on them.
ALTER TABLE media_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
-- The tidy pass and the school move look uploads up by their name.
CREATE INDEX media_file ON media (file);
