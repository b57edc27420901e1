//! The PostgreSQL side of [`crate::dump`]: a school's tables out as typed values, and in
//! (into an empty school) with their ids, the identity sequences moved past them.

use super::errors::db;
use super::{Conn, internal};
use crate::dump::{Kind, SchoolDump, TABLES, TableRows, Value};
use crate::{Result, StoreError};
use tokio_postgres::types::ToSql;

/// How a column is read: as the dump's kind, whatever PostgreSQL's own type.
fn select(col: &str, kind: Kind) -> String {
    match kind {
        Kind::Int => format!("{col}::bigint"),
        Kind::Json => format!("{col}::text"),
        Kind::Date => format!("to_char({col}, 'YYYY-MM-DD')"),
        _ => col.to_string(),
    }
}

/// How a parameter is written (assignment casts bring it to the column's own type).
fn param(i: usize, kind: Kind) -> String {
    match kind {
        Kind::Int => format!("${i}::bigint"),
        Kind::Bool => format!("${i}::boolean"),
        Kind::Text => format!("${i}::text"),
        Kind::Bytes => format!("${i}::bytea"),
        Kind::Json => format!("${i}::text::jsonb"),
        Kind::Ints => format!("${i}::bigint[]"),
        Kind::Texts => format!("${i}::text[]"),
        Kind::Date => format!("${i}::text::date"),
    }
}

/// Reads every table (the caller holds a repeatable-read transaction).
pub(super) async fn export(c: &tokio_postgres::Client) -> Result<SchoolDump> {
    let mut dump = SchoolDump::default();
    for table in TABLES {
        let cols: Vec<String> = table.columns.iter().map(|(n, k)| select(n, *k)).collect();
        let sql = format!("SELECT {} FROM {} ORDER BY 1, 2", cols.join(", "), table.name);
        let rows = c.query(&sql, &[]).await.map_err(db)?;
        let mut out = TableRows {
            name: table.name.into(),
            rows: Vec::with_capacity(rows.len()),
        };
        for r in &rows {
            let mut values = Vec::with_capacity(cols.len());
            for (i, (col, kind)) in table.columns.iter().enumerate() {
                let bad = |e: tokio_postgres::Error| internal(format!("{}.{col}: {e}", table.name));
                let v = match kind {
                    Kind::Int => r.try_get::<_, Option<i64>>(i).map_err(bad)?.map(Value::Int),
                    Kind::Bool => r.try_get::<_, Option<bool>>(i).map_err(bad)?.map(Value::Bool),
                    Kind::Text | Kind::Date => r.try_get::<_, Option<String>>(i).map_err(bad)?.map(Value::Text),
                    Kind::Bytes => r.try_get::<_, Option<Vec<u8>>>(i).map_err(bad)?.map(Value::Bytes),
                    Kind::Json => match r.try_get::<_, Option<String>>(i).map_err(bad)? {
                        Some(s) => Some(Value::Json(serde_json::from_str(&s).map_err(internal)?)),
                        None => None,
                    },
                    Kind::Ints => r.try_get::<_, Option<Vec<i64>>>(i).map_err(bad)?.map(Value::Ints),
                    Kind::Texts => r.try_get::<_, Option<Vec<String>>>(i).map_err(bad)?.map(Value::Texts),
                };
                values.push(v.unwrap_or(Value::Null));
            }
            out.rows.push(values);
        }
        dump.tables.push(out);
    }
    Ok(dump)
}

type Param = Box<dyn ToSql + Sync + Send>;

fn to_param(kind: Kind, v: &Value) -> Param {
    match (kind, v) {
        (Kind::Int, Value::Int(i)) => Box::new(Some(*i)),
        (Kind::Bool, Value::Bool(b)) => Box::new(Some(*b)),
        (_, Value::Text(s)) => Box::new(Some(s.clone())),
        (_, Value::Bytes(b)) => Box::new(Some(b.clone())),
        (_, Value::Json(j)) => Box::new(Some(j.to_string())),
        (_, Value::Ints(v)) => Box::new(Some(v.clone())),
        (_, Value::Texts(v)) => Box::new(Some(v.clone())),
        // Null (check() made sure every other value fits its column), typed as the
        // parameter's cast wants.
        (Kind::Int, _) => Box::new(None::<i64>),
        (Kind::Bool, _) => Box::new(None::<bool>),
        (Kind::Bytes, _) => Box::new(None::<Vec<u8>>),
        (Kind::Ints, _) => Box::new(None::<Vec<i64>>),
        (Kind::Texts, _) => Box::new(None::<Vec<String>>),
        (Kind::Text | Kind::Json | Kind::Date, _) => Box::new(None::<String>),
    }
}

/// Writes the dump into an empty school (inside the writer's transaction).
pub(super) async fn import(c: &Conn, dump: &SchoolDump) -> Result<()> {
    dump.check()?;
    for table in TABLES {
        let any: bool = c
            .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {})", table.name), &[])
            .await
            .map_err(db)?
            .get(0);
        if any {
            return Err(StoreError::Conflict("school"));
        }
    }
    for (table, rows) in TABLES.iter().zip(&dump.tables) {
        let cols: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let params: Vec<String> = table
            .columns
            .iter()
            .enumerate()
            .map(|(i, (_, k))| param(i + 1, *k))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            cols.join(", "),
            params.join(", ")
        );
        let st = c.prepare(&sql).await.map_err(db)?;
        for row in &rows.rows {
            let values: Vec<Param> = row
                .iter()
                .zip(table.columns)
                .map(|(v, (_, k))| to_param(*k, v))
                .collect();
            let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)).collect();
            c.execute(&st, &refs).await.map_err(db)?;
        }
        if table.identity && !rows.rows.is_empty() {
            // The next id a school makes comes after the ones it brought.
            c.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{0}', 'id'), (SELECT max(id) FROM {0}))",
                    table.name
                ),
                &[],
            )
            .await
            .map_err(db)?;
        }
    }
    Ok(())
}
