//! Where the bytes of uploads live, behind one trait: files in a school's media folder
//! ([`files::FileBytes`], the SQLite deployments) or chunks in the school's schema
//! (`postgres::chunks`, the PostgreSQL deployments, where several servers share one
//! database and no server's disk may hold a school's media).
//!
//! An upload is written through a [`MediaSink`]: [`MediaSink::finish`] returns once every
//! byte is durable (synced, or committed), and only then does the caller store the media
//! row; a sink dropped before [`MediaSink::keep`] removes what it wrote. Reads are
//! streams of pieces, each read when the stream is polled, so a download never holds
//! the whole file in memory.

pub mod files;

use crate::Result;
use async_trait::async_trait;
use doorplate_domain::Micros;
use futures_util::stream::BoxStream;

/// A download's bytes, a piece at a time.
pub type ByteStream = BoxStream<'static, Result<Vec<u8>>>;

/// The bytes of a school's uploads, by the name their media row keeps (`Media::file`).
#[async_trait]
pub trait MediaBytes: Send + Sync + 'static {
    /// Starts storing a new upload under `name` (a name never used before); `now` is
    /// when it started (what [`MediaBytes::tidy`] compares with).
    async fn create(&self, name: &str, now: Micros) -> Result<Box<dyn MediaSink>>;
    /// How many bytes are stored under `name`: `NotFound` when none are.
    async fn stored_len(&self, name: &str) -> Result<u64>;
    /// Bytes `start..end` of `name`, read a piece at a time as the stream is polled.
    /// A piece that cannot be read ends the stream with an error.
    fn read(&self, name: &str, start: u64, end: u64) -> ByteStream;
    /// Removes the bytes of these uploads (names with no bytes are skipped).
    async fn remove(&self, names: Vec<String>) -> Result<()>;
    /// Removes what uploads cut short left behind (a crash in the middle of one) that
    /// started before `before` and no media row names; returns how many uploads' bytes
    /// went.
    async fn tidy(&self, before: Micros) -> Result<u64>;
    /// Every stored upload's name (for tests and checks; unordered).
    async fn names(&self) -> Result<Vec<String>>;
}

/// An upload being written.
#[async_trait]
pub trait MediaSink: Send {
    /// Adds bytes (buffered; written once a piece is full). Any failure is returned here
    /// or by [`MediaSink::finish`], never lost.
    async fn write(&mut self, bytes: &[u8]) -> Result<()>;
    /// Writes the rest; when this returns `Ok`, every byte is durable under the name.
    async fn finish(&mut self) -> Result<()>;
    /// The media row is stored: the bytes stay. Dropped without this, the sink removes
    /// what it wrote.
    fn keep(self: Box<Self>);
}

/// Reads all of `name` into memory (small files: tests, moving a school).
pub async fn read_all(bytes: &dyn MediaBytes, name: &str) -> Result<Vec<u8>> {
    use futures_util::StreamExt;
    let len = bytes.stored_len(name).await?;
    let mut out = Vec::with_capacity(len as usize);
    let mut stream = bytes.read(name, 0, len);
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}

/// Stores `data` under `name` whole, durably (moving a school, tests).
pub async fn write_all(bytes: &dyn MediaBytes, name: &str, data: &[u8], now: Micros) -> Result<()> {
    let mut sink = bytes.create(name, now).await?;
    for piece in data.chunks(256 * 1024) {
        sink.write(piece).await?;
    }
    sink.finish().await?;
    sink.keep();
    Ok(())
}
