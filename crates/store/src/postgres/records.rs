//! The PostgreSQL adapter's audit log and settings.

use super::rows::*;
use super::{PgStore, internal};
use crate::*;
use doorplate_domain::Settings;
use tokio_postgres::types::ToSql;

#[async_trait]
impl AuditStore for PgStore {
    async fn audit(&self, e: AuditEntry) -> Result<()> {
        self.write(move |c| Box::pin(async move { insert_audit(c, &e).await }))
            .await
    }

    async fn audit_log(&self, f: AuditFilter) -> Result<Vec<AuditEntry>> {
        let c = self.reader().await?;
        // Only the filters given go into the query, so each can use its index.
        let mut conds = vec!["TRUE".to_string()];
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        if let Some(a) = &f.action {
            params.push(a);
            conds.push(format!("action = ${}", params.len()));
        }
        if let Some(a) = &f.actor_id {
            params.push(a);
            conds.push(format!("actor_id = ${}", params.len()));
        }
        if let Some(s) = &f.subject_id {
            params.push(s);
            conds.push(format!("subject_id = ${}", params.len()));
        }
        let limit = i64::from(f.limit);
        params.push(&limit);
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit WHERE {} ORDER BY id DESC LIMIT ${}",
            conds.join(" AND "),
            params.len()
        );
        Ok(query(&c, &sql, &params).await?.iter().map(audit_row).collect())
    }

    async fn purge_audit_before(&self, cutoff: Micros) -> Result<u64> {
        // In chunks, each its own write: a first purge of a year of rollovers must not
        // hold the writer (and every send behind it) for one long delete.
        const CHUNK: i64 = 5_000;
        let mut total = 0u64;
        loop {
            let n = self
                .write(move |c| {
                    Box::pin(async move {
                        exec(
                            c,
                            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at < $1 ORDER BY at LIMIT $2)",
                            &[&cutoff, &CHUNK],
                        )
                        .await
                    })
                })
                .await?;
            total += n;
            if n < CHUNK as u64 {
                return Ok(total);
            }
        }
    }
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn settings(&self) -> Result<Settings> {
        let c = self.reader().await?;
        let row = opt(&c, "SELECT json::text FROM settings WHERE id = 1", &[]).await?;
        Ok(row
            .and_then(|r| serde_json::from_str(r.get(0)).ok())
            .unwrap_or_default())
    }

    async fn save_settings(&self, settings: Settings) -> Result<()> {
        let json = serde_json::to_string(&settings).map_err(internal)?;
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO settings (id, json) VALUES (1, $1::text::jsonb)
                     ON CONFLICT (id) DO UPDATE SET json = excluded.json",
                    &[&json],
                )
                .await
                .map(drop)
            })
        })
        .await
    }
}
