//! The shared store: PostgreSQL, one schema per school. Each [`PgStore`] has one writer
//! with group commit ([`writer`]) on a connection of its own, and a small pool of read
//! connections; every connection's `search_path` is the school's schema, so the queries
//! name no schema. Each area's trait is implemented in a file of its own (directory,
//! messages, records, schedule); [`migrate`] creates the schema and applies and checks
//! the migrations, [`errors`] maps PostgreSQL's errors to the store's, with the same
//! meanings as the SQLite adapter's.

mod directory;
pub mod district;
mod dump;
mod errors;
pub mod leases;
mod messages;
mod migrate;
mod records;
mod rows;
mod schedule;
mod writer;

use crate::*;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
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

/// How many read connections a store keeps at most (made when first needed).
const READERS: usize = 4;

/// How long to wait for the database to accept a connection: a database that does not
/// answer is an error at once, not a hang.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// PostgreSQL adapter of [`Store`].
pub struct PgStore {
    writer: Writer,
    readers: Pool,
    schema: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("schema", &self.schema).finish()
    }
}

/// Whether `schema` is a plain lower-case identifier (what a school's schema name is:
/// it goes into the connection's options and DDL, so nothing else is allowed).
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

fn pool(config: &tokio_postgres::Config, size: usize) -> Result<Pool> {
    let manager = Manager::from_config(
        config.clone(),
        NoTls,
        ManagerConfig {
            // A recycled connection is checked by whether its socket closed; a query to
            // prove it (Verified) would cost a round trip per use.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
        .build()
        .map_err(internal)
}

impl PgStore {
    /// Connects to the database at `url` (a `postgresql://` URL or `key=value` string),
    /// creates `schema` if it is missing and applies pending migrations. `schema` must
    /// be a lower-case identifier (`[a-z_][a-z0-9_]*`, at most 63 bytes). Needs a tokio
    /// runtime (the writer is a task on it). A database that does not answer within a
    /// few seconds is an error naming it; a migration edited after it ran is an error
    /// naming its file.
    pub async fn open(url: &str, schema: &str) -> Result<PgStore> {
        Self::open_observed(url, schema, crate::observe::unobserved()).await
    }

    /// [`PgStore::open`], with the writer reporting its queue and its commits to
    /// `observer` (the server's metrics), as `SqliteStore::open_observed` does.
    pub async fn open_observed(
        url: &str,
        schema: &str,
        observer: std::sync::Arc<dyn WriterObserver>,
    ) -> Result<PgStore> {
        Self::open_fenced(url, schema, observer, None).await
    }

    /// [`PgStore::open_observed`], every write transaction of which first checks `fence`
    /// (the school's lease epoch, when several servers share the database): once another
    /// server took the school over, every write fails with [`StoreError::Fenced`].
    pub async fn open_fenced(
        url: &str,
        schema: &str,
        observer: std::sync::Arc<dyn WriterObserver>,
        fence: Option<Fence>,
    ) -> Result<PgStore> {
        if !valid_schema(schema) {
            return Err(StoreError::Internal(format!(
                "{schema:?} is not a usable schema name: use lower-case letters, digits and _"
            )));
        }
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Internal(format!("the database URL is not valid: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("doorplate");
        }
        // Every connection reads and writes the school's schema alone, and commits
        // durably whatever the server's default says.
        let options = format!(
            "{}-c search_path={schema} -c synchronous_commit=on",
            config.get_options().map(|o| format!("{o} ")).unwrap_or_default()
        );
        config.options(&options);
        let where_ = describe(&config);

        let writes = pool(&config, 1)?;
        {
            let conn = writes.get().await.map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to the PostgreSQL database at {where_}: {e}"))
            })?;
            migrate::migrate(&conn, schema).await?;
        }
        Ok(PgStore {
            writer: Writer::start(writes, observer, fence),
            readers: pool(&config, READERS)?,
            schema: schema.to_string(),
        })
    }

    /// The schema this store keeps its tables in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// A read connection from the pool.
    async fn reader(&self) -> Result<deadpool_postgres::Object> {
        self.readers
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(format!("no database connection: {e}")))
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
