//! The shared store: PostgreSQL, one schema per school. Each [`PgStore`] has one writer
//! with group commit ([`writer`]) and reads through a pool of connections; the
//! connections themselves are [`PgPools`], which every school of a process shares (a
//! district opens one, [`PgStore::open`] makes one of its own), so a process holds a
//! fixed number of connections however many schools it hosts. A read connection's
//! `search_path` is set to the school's schema when it is checked out for another
//! school than the last; a write batch sets it for its transaction; so the queries name
//! no schema. Each area's trait is implemented in a file of its own (directory,
//! messages, records, schedule, chunks for the bytes of media); [`migrate`] creates the
//! schema and applies and checks the migrations, [`errors`] maps PostgreSQL's errors to
//! the store's, with the same meanings as the SQLite adapter's.

mod chunks;
mod directory;
pub mod district;
mod dump;
mod errors;
pub mod leases;
mod messages;
mod migrate;
mod push;
mod records;
mod rows;
mod schedule;
mod writer;

pub use chunks::PgMediaBytes;

use crate::*;
use deadpool::managed;
use deadpool_postgres::{ClientWrapper, Manager, ManagerConfig, RecyclingMethod, Runtime};
use errors::db;
use futures_util::future::BoxFuture;
use std::time::Duration;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;
pub use writer::Fence;
use writer::Writer;

/// A connection as the adapter uses it (with its cache of prepared statements).
pub(crate) type Conn = deadpool_postgres::ClientWrapper;

/// Query parameters.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Connections of a [`PgStore`] that opens its own pools: one writer, four readers (the
/// shape a school had before schools shared them).
const OWN_WRITERS: usize = 1;
const OWN_READERS: usize = 4;

/// Connections a district's process keeps at most, shared by all its schools: writes
/// (a school's writer holds one for the length of one batch) and reads. 12 in all, so
/// eight servers fit under PostgreSQL's default `max_connections` of 100 whatever the
/// number of schools (ARCHITECTURE.md, "PostgreSQL").
pub const SHARED_WRITERS: usize = 4;
pub const SHARED_READERS: usize = 8;

/// How long to wait for the database to accept a connection: a database that does not
/// answer is an error at once, not a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A read connection and the schema its session's `search_path` names (`None`: not
/// known, e.g. after a failed `SET`).
pub(crate) struct ReadConn {
    client: ClientWrapper,
    schema: Option<String>,
}

impl std::ops::Deref for ReadConn {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

/// deadpool-postgres's manager, with each connection's current schema beside it.
pub(crate) struct ReadManager(Manager);

impl managed::Manager for ReadManager {
    type Type = ReadConn;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> std::result::Result<ReadConn, tokio_postgres::Error> {
        Ok(ReadConn {
            client: self.0.create().await?,
            schema: None,
        })
    }

    async fn recycle(
        &self,
        conn: &mut ReadConn,
        metrics: &managed::Metrics,
    ) -> managed::RecycleResult<tokio_postgres::Error> {
        self.0.recycle(&mut conn.client, metrics).await
    }

    fn detach(&self, conn: &mut ReadConn) {
        managed::Manager::detach(&self.0, &mut conn.client)
    }
}

pub(crate) type ReadPool = managed::Pool<ReadManager>;
pub(crate) type Reader = managed::Object<ReadManager>;

/// The connections one process keeps to one database: a pool for the schools' writers
/// and one for their reads. Cloning shares them.
#[derive(Clone)]
pub struct PgPools {
    writers: deadpool_postgres::Pool,
    readers: ReadPool,
    /// Where the database is, for messages (never the password).
    place: String,
}

impl std::fmt::Debug for PgPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPools").field("place", &self.place).finish()
    }
}

/// Whether `schema` is a plain lower-case identifier (what a school's schema name is:
/// it goes into `SET search_path` and DDL, so nothing else is allowed).
fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && schema.len() <= 63
        && !schema.starts_with("pg_")
}

/// The schema's name as an SQL identifier.
pub(crate) fn quoted(schema: &str) -> String {
    format!("\"{schema}\"")
}

fn manager(config: &tokio_postgres::Config) -> Manager {
    Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            // A recycled connection is checked by whether its socket closed; a query to
            // prove it (Verified) would cost a round trip per use.
            recycling_method: RecyclingMethod::Fast,
        },
    )
}

impl PgPools {
    /// Pools of at most `writers` and `readers` connections to the database at `url` (a
    /// `postgresql://` URL or `key=value` string), made when first needed. Connects once
    /// to prove the database answers: one that does not within a few seconds is an
    /// error naming it.
    pub async fn connect(url: &str, writers: usize, readers: usize) -> Result<PgPools> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Internal(format!("the database URL is not valid: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("doorplate");
        }
        // Every connection commits durably whatever the server's default says.
        let options = format!(
            "{}-c synchronous_commit=on",
            config.get_options().map(|o| format!("{o} ")).unwrap_or_default()
        );
        config.options(&options);
        let place = describe(&config);
        let timeout = Some(CONNECT_TIMEOUT + Duration::from_secs(1));
        let writers = deadpool_postgres::Pool::builder(manager(&config))
            .max_size(writers)
            .runtime(Runtime::Tokio1)
            .create_timeout(timeout)
            .build()
            .map_err(internal)?;
        let readers = managed::Pool::builder(ReadManager(manager(&config)))
            .max_size(readers)
            .runtime(Runtime::Tokio1)
            .create_timeout(timeout)
            .build()
            .map_err(internal)?;
        let pools = PgPools {
            writers,
            readers,
            place,
        };
        drop(pools.writers.get().await.map_err(|e| pools.unreachable(e))?);
        Ok(pools)
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(format!(
            "cannot connect to the PostgreSQL database at {}: {e}",
            self.place
        ))
    }

    /// Connections open now (writes, reads) — for measurements and tests.
    pub fn open_connections(&self) -> (usize, usize) {
        (self.writers.status().size, self.readers.status().size)
    }
}

/// A read connection whose `search_path` is `schema` (set only when the connection last
/// served another school).
pub(crate) async fn read_conn(pool: &ReadPool, schema: &str) -> Result<Reader> {
    let mut c = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(format!("no database connection: {e}")))?;
    if c.schema.as_deref() != Some(schema) {
        c.schema = None;
        c.client
            .batch_execute(&format!("SET search_path TO {}", quoted(schema)))
            .await
            .map_err(db)?;
        c.schema = Some(schema.to_string());
    }
    Ok(c)
}

/// PostgreSQL adapter of [`Store`].
pub struct PgStore {
    writer: Writer,
    readers: ReadPool,
    schema: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("schema", &self.schema).finish()
    }
}

impl PgStore {
    /// Connects to the database at `url` with pools of its own (one writer, four
    /// readers) and opens `schema` ([`PgStore::open_in`]).
    pub async fn open(url: &str, schema: &str) -> Result<PgStore> {
        if !valid_schema(schema) {
            return Err(bad_schema(schema));
        }
        let pools = PgPools::connect(url, OWN_WRITERS, OWN_READERS).await?;
        PgStore::open_in(&pools, schema).await
    }

    /// Opens the school whose tables are in `schema` on shared connections: creates the
    /// schema if it is missing and applies pending migrations. `schema` must be a
    /// lower-case identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes). Needs a tokio
    /// runtime (the writer is a task on it). A migration edited after it ran is an
    /// error naming its file.
    pub async fn open_in(pools: &PgPools, schema: &str) -> Result<PgStore> {
        Self::open_in_observed(pools, schema, crate::observe::unobserved()).await
    }

    /// [`PgStore::open_in`], with the writer reporting its queue and its commits to
    /// `observer` (the server's metrics), as `SqliteStore::open_observed` does.
    pub async fn open_in_observed(
        pools: &PgPools,
        schema: &str,
        observer: std::sync::Arc<dyn WriterObserver>,
    ) -> Result<PgStore> {
        Self::open_in_fenced(pools, schema, observer, None).await
    }

    /// [`PgStore::open_in_observed`], every write transaction of which first checks
    /// `fence` (the school's lease epoch, when several servers share the database): once
    /// another server took the school over, every write fails with [`StoreError::Fenced`].
    pub async fn open_in_fenced(
        pools: &PgPools,
        schema: &str,
        observer: std::sync::Arc<dyn WriterObserver>,
        fence: Option<Fence>,
    ) -> Result<PgStore> {
        if !valid_schema(schema) {
            return Err(bad_schema(schema));
        }
        {
            let mut conn = pools.readers.get().await.map_err(|e| pools.unreachable(e))?;
            // The schema may not exist yet: `search_path` names it all the same.
            conn.schema = None;
            conn.client
                .batch_execute(&format!("SET search_path TO {}", quoted(schema)))
                .await
                .map_err(db)?;
            conn.schema = Some(schema.to_string());
            migrate::migrate(&conn, schema).await?;
        }
        Ok(PgStore {
            writer: Writer::start(pools.writers.clone(), schema, observer, fence),
            readers: pools.readers.clone(),
            schema: schema.to_string(),
        })
    }

    /// The schema this store keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The bytes of this school's media, in its schema.
    pub fn media_bytes(&self) -> PgMediaBytes {
        PgMediaBytes::new(self.writer.clone(), self.readers.clone(), self.schema.clone())
    }

    /// A read connection from the pool, on this school's schema.
    async fn reader(&self) -> Result<Reader> {
        read_conn(&self.readers, &self.schema).await
    }

    /// Runs `f` in the writer's next batch; returns once the batch is committed.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.writer.write(f).await
    }

    /// [`PgStore::write`], queued before it returns (see [`writer::Writer::submit`]).
    fn submit<T, F>(&self, f: F) -> crate::Queued<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c Conn) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        self.writer.submit(f)
    }
}

fn bad_schema(schema: &str) -> StoreError {
    StoreError::Internal(format!(
        "{schema:?} is not a usable schema name: use lower-case letters, digits and _"
    ))
}

/// Host and port (or socket folder) and database name, for messages (never the password).
fn describe(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", config.get_dbname().unwrap_or("(default database)"))
}

/// A failure that is ours, not the caller's (logged by the server, never shown).
pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

#[async_trait]
impl Store for PgStore {
    async fn import(&self, ops: Vec<ImportOp>, dry_run: bool) -> Result<ImportReport> {
        let now = crate::migration::now_micros();
        self.write(move |c| Box::pin(async move { schedule::import(c, &ops, dry_run, now).await }))
            .await
    }

    async fn ping(&self) -> Result<()> {
        let c = self.reader().await?;
        c.simple_query("SELECT 1").await.map(drop).map_err(db)
    }

    async fn heartbeat(&self, now: Micros) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                rows::exec(
                    c,
                    "INSERT INTO heartbeat (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = $1",
                    &[&now],
                )
                .await
                .map(drop)
            })
        })
        .await
    }

    async fn export_dump(&self) -> Result<crate::dump::SchoolDump> {
        let c = self.reader().await?;
        // One snapshot: every table as of the same moment.
        c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db)?;
        let dump = dump::export(&c).await;
        let _ = c.batch_execute("ROLLBACK").await;
        dump
    }

    async fn import_dump(&self, dump: crate::dump::SchoolDump) -> Result<()> {
        self.write(move |c| Box::pin(async move { dump::import(c, &dump).await }))
            .await
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod schema_name_tests {
    #[test]
    fn schema_names_are_plain_identifiers() {
        for ok in ["school_1", "_x", "a"] {
            assert!(super::valid_schema(ok), "{ok}");
        }
        for bad in ["", "1a", "A", "a-b", "a b", "a\"b", "pg_catalog", &"x".repeat(64)] {
            assert!(!super::valid_schema(bad), "{bad}");
        }
    }
}
