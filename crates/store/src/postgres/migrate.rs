//! The migration runner for PostgreSQL: creates the school's schema if it is missing,
//! applies the embedded migrations it lacks (each in its own transaction: PostgreSQL's
//! DDL is transactional, so a failing migration leaves nothing behind), and refuses to
//! start when a migration that was applied has changed since.
//!
//! Every applied migration is recorded in `<schema>.schema_migrations` with a BLAKE2b-256
//! digest of its text, as the SQLite adapter does. Two processes opening the same schema
//! at once take turns on a transaction-scoped advisory lock keyed by the schema's name.

use super::errors::db;
use super::{Conn, quoted};
use crate::migration::{Migration, check_recorded, digest, migration, now_micros};
use crate::{Result, StoreError};

/// Every migration, in the order they apply. Append only; never edit one that landed.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init.sql"),
    migration!(2, "0002_media_chunks.sql"),
    migration!(3, "0003_push.sql"),
    migration!(4, "0004_push_settings.sql"),
];

/// The advisory lock's key for a schema (both halves of `pg_advisory_xact_lock(int, int)`).
const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock(hashtext('doorplate-migrate'), hashtext($1))";

/// Creates the schema and applies what is missing; fails, changing nothing, when an
/// applied migration's text differs from the one embedded here. The connection's
/// `search_path` is the schema.
pub(crate) async fn migrate(c: &Conn, schema: &str) -> Result<()> {
    migrate_with(c, schema, MIGRATIONS).await
}

async fn migrate_with(c: &Conn, schema: &str, migrations: &[Migration]) -> Result<()> {
    in_transaction(c, async {
        c.execute(LOCK_SQL, &[&schema]).await.map_err(db)?;
        c.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 digest     TEXT NOT NULL,
                 applied_at BIGINT NOT NULL
             );",
            schema = quoted(schema)
        ))
        .await
        .map_err(db)?;
        for row in c
            .query(
                "SELECT version, name, digest FROM schema_migrations ORDER BY version",
                &[],
            )
            .await
            .map_err(db)?
        {
            let version: i32 = row.get(0);
            check_recorded(migrations, version as u32, row.get(1), row.get(2))?;
        }
        Ok(())
    })
    .await?;

    for m in migrations {
        let applied = in_transaction(c, async {
            c.execute(LOCK_SQL, &[&schema]).await.map_err(db)?;
            let version = m.version as i32;
            let done = c
                .query_opt("SELECT 1 FROM schema_migrations WHERE version = $1", &[&version])
                .await
                .map_err(db)?
                .is_some();
            if done {
                return Ok(false);
            }
            c.batch_execute(m.sql)
                .await
                .map_err(|e| StoreError::Internal(format!("migration {} failed: {}", m.name, db(e))))?;
            c.execute(
                "INSERT INTO schema_migrations (version, name, digest, applied_at) VALUES ($1, $2, $3, $4)",
                &[&version, &m.name, &digest(m.sql), &now_micros()],
            )
            .await
            .map_err(db)?;
            Ok(true)
        })
        .await?;
        if applied {
            tracing::info!(migration = m.name, schema, "applied migration");
        }
    }
    Ok(())
}

/// Runs `body` between BEGIN and COMMIT, rolling back when it fails.
async fn in_transaction<T>(c: &Conn, body: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    c.batch_execute("BEGIN").await.map_err(db)?;
    match body.await {
        Ok(v) => {
            c.batch_execute("COMMIT").await.map_err(db)?;
            Ok(v)
        }
        Err(e) => {
            let _ = c.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}
