//! The migration runner: applies the embedded migrations a database lacks, each in its
//! own transaction, and refuses to start when a migration that was applied has changed
//! since (a landed migration must never be edited: a database made before the edit
//! would silently differ from one made after).
//!
//! Every applied migration is recorded in `schema_migrations` with a BLAKE2b-256 digest
//! of its text. Migrations are known by the number in their file name, so a branch that
//! adds 0004 before another branch's 0003 lands still applies 0003 later. Databases made
//! before this table existed recorded only `PRAGMA user_version`: the migrations up to
//! it are taken as applied and their digests recorded on the first start.

use super::internal;
use crate::migration::{Migration, check_recorded, digest, migration, now_micros as now};
use crate::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

/// Every migration, in the order they apply. Append only; never edit one that landed.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_init.sql"),
    migration!(2, "0002_schedule.sql"),
    migration!(3, "0003_storage.sql"),
    migration!(4, "0004_indexes_checks.sql"),
    migration!(5, "0005_alerts.sql"),
    migration!(6, "0006_quiet_hours_arrival_notices.sql"),
    migration!(7, "0007_fleet_and_class_notices.sql"),
    migration!(8, "0008_call_messages.sql"),
    migration!(9, "0009_push.sql"),
    migration!(10, "0010_push_settings.sql"),
    migration!(11, "0011_lighter_message_writes.sql"),
];

/// Applies what is missing; fails, changing nothing, when an applied migration's text
/// differs from the one embedded here.
pub(crate) fn migrate(conn: &Connection) -> Result<()> {
    migrate_with(conn, MIGRATIONS)
}

fn migrate_with(conn: &Connection, migrations: &[Migration]) -> Result<()> {
    let legacy_version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(internal)?;
    conn.execute_batch(
        "BEGIN IMMEDIATE;
         CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             digest     TEXT NOT NULL,
             applied_at INTEGER NOT NULL
         );",
    )
    .map_err(internal)?;
    let checked = check_and_adopt(conn, migrations, legacy_version);
    let end = if checked.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end).map_err(internal)?;
    checked?;

    for m in migrations {
        let applied: bool = conn
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [m.version],
                |_| Ok(()),
            )
            .optional()
            .map_err(internal)?
            .is_some();
        if applied {
            continue;
        }
        let tx = format!("BEGIN IMMEDIATE;\n{}", m.sql);
        conn.execute_batch(&tx)
            .and_then(|()| {
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, digest, applied_at) VALUES (?1, ?2, ?3, ?4)",
                    params![m.version, m.name, digest(m.sql), now()],
                )?;
                conn.execute_batch(&format!("PRAGMA user_version = {}; COMMIT;", m.version))
            })
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                StoreError::Internal(format!("migration {} failed: {e}", m.name))
            })?;
        tracing::info!(migration = m.name, "applied migration");
    }
    Ok(())
}

/// Records the digests of migrations a pre-checksum database applied, then compares
/// every recorded digest with the embedded text.
fn check_and_adopt(conn: &Connection, migrations: &[Migration], legacy_version: i64) -> Result<()> {
    let recorded: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
        .map_err(internal)?;
    if recorded == 0 {
        for m in migrations.iter().filter(|m| i64::from(m.version) <= legacy_version) {
            conn.execute(
                "INSERT INTO schema_migrations (version, name, digest, applied_at) VALUES (?1, ?2, ?3, ?4)",
                params![m.version, m.name, digest(m.sql), now()],
            )
            .map_err(internal)?;
        }
    }
    let mut s = conn
        .prepare("SELECT version, name, digest FROM schema_migrations ORDER BY version")
        .map_err(internal)?;
    let rows = s
        .query_map([], |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })
        .map_err(internal)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(internal)?;
    for (version, name, recorded) in rows {
        check_recorded(migrations, version, &name, &recorded)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    const V1: Migration = Migration {
        version: 1,
        name: "0001_a.sql",
        sql: "CREATE TABLE a (x INTEGER);",
    };
    const V3: Migration = Migration {
        version: 3,
        name: "0003_b.sql",
        sql: "CREATE TABLE b (x INTEGER);",
    };

    #[test]
    fn applies_missing_migrations_even_with_a_gap_and_only_once() {
        let c = mem();
        migrate_with(&c, &[V1]).unwrap();
        migrate_with(&c, &[V1, V3]).unwrap();
        migrate_with(&c, &[V1, V3]).unwrap();
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        c.execute("INSERT INTO b (x) VALUES (1)", []).unwrap();
    }

    #[test]
    fn an_edited_migration_is_refused_with_its_name() {
        let c = mem();
        migrate_with(&c, &[V1]).unwrap();
        let edited = Migration {
            sql: "CREATE TABLE a (x INTEGER, y TEXT);",
            ..V1
        };
        let err = migrate_with(&c, &[edited]).unwrap_err().to_string();
        assert!(err.contains("0001_a.sql was edited"), "{err}");
    }

    #[test]
    fn a_database_from_before_checksums_adopts_what_user_version_says() {
        let c = mem();
        c.execute_batch("CREATE TABLE a (x INTEGER); PRAGMA user_version = 1;")
            .unwrap();
        // 0001 is not run again (its table exists: running it would fail); 0003 is.
        migrate_with(&c, &[V1, V3]).unwrap();
        c.execute("INSERT INTO b (x) VALUES (1)", []).unwrap();
    }

    #[test]
    fn a_failing_migration_leaves_nothing_behind() {
        let c = mem();
        let bad = Migration {
            version: 2,
            name: "0002_bad.sql",
            sql: "CREATE TABLE c (x INTEGER); CREATE TABLE c (y INTEGER);",
        };
        let err = migrate_with(&c, &[V1, bad]).unwrap_err().to_string();
        assert!(err.contains("0002_bad.sql failed"), "{err}");
        let tables: i64 = c
            .query_row("SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
