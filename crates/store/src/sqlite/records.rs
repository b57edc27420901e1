//! The SQLite adapter's audit log and settings.

use super::rows::*;
use super::{SqliteStore, db, internal};
use crate::*;
use doorplate_domain::Settings;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit(&self, e: AuditEntry) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached("INSERT INTO audit (at, actor_id, action, subject_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
                .and_then(|mut s| s.execute(params![e.at, e.actor_id, e.action, e.subject_id, e.detail.to_string()]))
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn audit_log(&self, f: AuditFilter) -> Result<Vec<AuditEntry>> {
        self.read(move |c| {
            // Only the filters given go into the query, so each can use its index
            // (`?1 IS NULL OR action = ?1` would scan the whole log).
            let mut conds = vec!["1 = 1"];
            let mut values: Vec<rusqlite::types::Value> = Vec::new();
            if let Some(a) = f.action {
                conds.push("action = ?");
                values.push(a.into());
            }
            if let Some(a) = f.actor_id {
                conds.push("actor_id = ?");
                values.push(a.into());
            }
            if let Some(s) = f.subject_id {
                conds.push("subject_id = ?");
                values.push(s.into());
            }
            values.push(i64::from(f.limit).into());
            let sql = format!(
                "SELECT at, actor_id, action, subject_id, detail FROM audit WHERE {} ORDER BY id DESC LIMIT ?",
                conds.join(" AND ")
            );
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s.query_map(rusqlite::params_from_iter(values), audit_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn purge_audit_before(&self, cutoff: Micros) -> Result<u64> {
        // In chunks, each its own write: a first purge of a year of rollovers must not
        // hold the writer (and every send behind it) for one long delete.
        const CHUNK: usize = 5_000;
        let mut total = 0u64;
        loop {
            let n = self
                .write(move |c| {
                    c.prepare_cached(
                        "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < ?1 ORDER BY at LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![cutoff, CHUNK as i64]))
                    .map_err(db)
                })
                .await?;
            total += n as u64;
            if n < CHUNK {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn settings(&self) -> Result<Settings> {
        self.read(|c| {
            let json: Option<String> = c
                .query_row("SELECT json FROM settings WHERE id = 1", [], |r| r.get(0))
                .optional()
                .map_err(db)?;
            Ok(json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_default())
        })
        .await
    }

    async fn save_settings(&self, settings: Settings) -> Result<()> {
        let json = serde_json::to_string(&settings).map_err(internal)?;
        self.write(move |c| {
            c.execute(
                "INSERT INTO settings (id, json) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET json = ?1",
                [json],
            )
            .map(drop)
            .map_err(db)
        })
        .await
    }
}
