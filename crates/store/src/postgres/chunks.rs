//! The bytes of a school's uploads in its schema (`media_chunks`, migration 0002): an
//! upload is stored in pieces of [`CHUNK`] bytes, each committed through the school's
//! writer (group commit, like every other write) as soon as it is full, so an upload
//! never sits in memory whole and every byte is durable once
//! [`MediaSink::finish`] returns. A read walks the pieces one query at a time, each
//! read when the download's stream asks for it, so a slow client holds a read
//! connection only for the moment of each query.

use super::errors::db;
use super::writer::Writer;
use super::{ReadPool, read_conn, rows};
use crate::media_bytes::{ByteStream, MediaBytes, MediaSink};
use crate::{Result, StoreError};
use async_trait::async_trait;
use doorplate_domain::Micros;

/// Bytes per stored piece: a few hundred KiB keeps each row's write and each read small
/// next to a round trip, and a video of 50 MB is 200 rows.
pub(crate) const CHUNK: usize = 256 * 1024;

/// The media of one school's schema.
#[derive(Clone)]
pub struct PgMediaBytes {
    writer: Writer,
    readers: ReadPool,
    schema: String,
}

impl PgMediaBytes {
    pub(super) fn new(writer: Writer, readers: ReadPool, schema: String) -> PgMediaBytes {
        PgMediaBytes {
            writer,
            readers,
            schema,
        }
    }

    /// Stores one piece; committed when this returns.
    async fn put(&self, name: &str, pos: u64, piece: Vec<u8>, started: Micros) -> Result<()> {
        let name = name.to_string();
        let pos = pos as i64;
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    rows::exec(
                        c,
                        "INSERT INTO media_chunks (file, pos, bytes, started_at) VALUES ($1, $2, $3, $4)",
                        &[&name, &pos, &piece, &started],
                    )
                    .await
                    .map(drop)
                })
            })
            .await
    }
}

#[async_trait]
impl MediaBytes for PgMediaBytes {
    async fn create(&self, name: &str, now: Micros) -> Result<Box<dyn MediaSink>> {
        Ok(Box::new(ChunkSink {
            bytes: self.clone(),
            name: name.to_string(),
            started: now,
            pos: 0,
            buffer: Vec::with_capacity(CHUNK),
            stored_any: false,
            kept: false,
        }))
    }

    async fn stored_len(&self, name: &str) -> Result<u64> {
        let c = read_conn(&self.readers, &self.schema).await?;
        let row = rows::one(
            &c,
            "SELECT pos + length(bytes) FROM media_chunks WHERE file = $1 ORDER BY pos DESC LIMIT 1",
            &[&name],
        )
        .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    fn read(&self, name: &str, start: u64, end: u64) -> ByteStream {
        let state = (self.clone(), name.to_string(), start);
        Box::pin(futures_util::stream::try_unfold(
            state,
            move |(me, name, pos)| async move {
                if pos >= end {
                    return Ok(None);
                }
                // The piece that holds byte `pos`: the last one that starts at or before it.
                let row = {
                    let c = read_conn(&me.readers, &me.schema).await?;
                    let at = pos as i64;
                    rows::opt(
                        &c,
                        "SELECT pos, bytes FROM media_chunks WHERE file = $1 AND pos <= $2 ORDER BY pos DESC LIMIT 1",
                        &[&name, &at],
                    )
                    .await?
                };
                let Some(row) = row else {
                    return Err(StoreError::NotFound);
                };
                let piece_at = row.get::<_, i64>(0) as u64;
                let mut bytes: Vec<u8> = row.get(1);
                let from = (pos - piece_at) as usize;
                if from >= bytes.len() {
                    // A piece is missing: the upload is damaged.
                    tracing::error!(file = %name, pos, "a stored upload has a gap");
                    return Err(StoreError::Internal(format!("upload {name} has no byte {pos}")));
                }
                let to = bytes.len().min((end - piece_at) as usize);
                bytes.truncate(to);
                if from > 0 {
                    bytes.drain(..from);
                }
                let next = pos + bytes.len() as u64;
                Ok(Some((bytes, (me, name, next))))
            },
        ))
    }

    async fn remove(&self, names: Vec<String>) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    rows::exec(c, "DELETE FROM media_chunks WHERE file = ANY($1)", &[&names])
                        .await
                        .map(drop)
                })
            })
            .await
    }

    async fn tidy(&self, before: Micros) -> Result<u64> {
        self.writer
            .write(move |c| {
                Box::pin(async move {
                    let row = rows::one(
                        c,
                        "WITH gone AS (
                             DELETE FROM media_chunks k
                              WHERE k.started_at < $1
                                AND NOT EXISTS (SELECT 1 FROM media m WHERE m.file = k.file)
                             RETURNING k.file)
                         SELECT count(DISTINCT file) FROM gone",
                        &[&before],
                    )
                    .await?;
                    Ok(row.get::<_, i64>(0) as u64)
                })
            })
            .await
    }

    async fn names(&self) -> Result<Vec<String>> {
        let c = read_conn(&self.readers, &self.schema).await?;
        let rows = c
            .query("SELECT DISTINCT file FROM media_chunks", &[])
            .await
            .map_err(db)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

/// An upload being stored: full pieces go to the database as they fill.
struct ChunkSink {
    bytes: PgMediaBytes,
    name: String,
    started: Micros,
    /// Where the next piece starts.
    pos: u64,
    buffer: Vec<u8>,
    /// Whether any piece was stored (and must go if the upload is not kept).
    stored_any: bool,
    kept: bool,
}

impl ChunkSink {
    async fn store_piece(&mut self, piece: Vec<u8>) -> Result<()> {
        let len = piece.len() as u64;
        // Marked before the write: a piece whose commit failed may still have landed.
        self.stored_any = true;
        self.bytes.put(&self.name, self.pos, piece, self.started).await?;
        self.pos += len;
        Ok(())
    }
}

#[async_trait]
impl MediaSink for ChunkSink {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = (CHUNK - self.buffer.len()).min(rest.len());
            self.buffer.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buffer.len() == CHUNK {
                let piece = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
                self.store_piece(piece).await?;
            }
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        if !self.buffer.is_empty() || !self.stored_any {
            let piece = std::mem::take(&mut self.buffer);
            self.store_piece(piece).await?;
        }
        Ok(())
    }

    fn keep(mut self: Box<Self>) {
        self.kept = true;
    }
}

impl Drop for ChunkSink {
    fn drop(&mut self) {
        if self.kept || !self.stored_any {
            return;
        }
        // Not kept (refused, or its row could not be stored): its pieces go. Should this
        // fail, the tidy pass removes them later (they are named by no media row).
        let bytes = self.bytes.clone();
        let name = std::mem::take(&mut self.name);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = bytes.remove(vec![name]).await {
                    tracing::warn!(error = %e, "removing the pieces of a refused upload failed");
                }
            });
        }
    }
}
