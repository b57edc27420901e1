//! The SQLite side of [`crate::dump`]: a school's tables out as typed values, and in
//! (into an empty school) with their ids.

use super::errors::db;
use super::internal;
use crate::dump::{Kind, SchoolDump, TABLES, TableRows, Value};
use crate::{Result, StoreError};
use rusqlite::Connection;
use rusqlite::types::{Value as Sql, ValueRef};

/// Reads every table (the caller holds a read transaction, so they agree).
pub(super) fn export(c: &Connection) -> Result<SchoolDump> {
    let mut dump = SchoolDump::default();
    for table in TABLES {
        let cols: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let sql = format!("SELECT {} FROM {} ORDER BY 1, 2", cols.join(", "), table.name);
        let mut st = c.prepare(&sql).map_err(db)?;
        let mut rows = st.query([]).map_err(db)?;
        let mut out = TableRows {
            name: table.name.into(),
            rows: Vec::new(),
        };
        while let Some(r) = rows.next().map_err(db)? {
            let mut values = Vec::with_capacity(cols.len());
            for (i, (col, kind)) in table.columns.iter().enumerate() {
                let raw = r.get_ref(i).map_err(db)?;
                values.push(
                    read(*kind, raw)
                        .ok_or_else(|| internal(format!("{}.{col} holds a value that is not {kind:?}", table.name)))?,
                );
            }
            out.rows.push(values);
        }
        dump.tables.push(out);
    }
    Ok(dump)
}

fn read(kind: Kind, raw: ValueRef<'_>) -> Option<Value> {
    let text = |raw: ValueRef<'_>| raw.as_str().ok().map(str::to_string);
    Some(match (kind, raw) {
        (_, ValueRef::Null) => Value::Null,
        (Kind::Int, ValueRef::Integer(i)) => Value::Int(i),
        (Kind::Bool, ValueRef::Integer(i)) => Value::Bool(i != 0),
        (Kind::Text | Kind::Date, _) => Value::Text(text(raw)?),
        (Kind::Bytes, ValueRef::Blob(b)) => Value::Bytes(b.to_vec()),
        (Kind::Json, _) => Value::Json(serde_json::from_str(&text(raw)?).ok()?),
        (Kind::Ints, _) => Value::Ints(serde_json::from_str(&text(raw)?).ok()?),
        (Kind::Texts, _) => Value::Texts(serde_json::from_str(&text(raw)?).ok()?),
        _ => return None,
    })
}

fn write(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Int(i) => Sql::Integer(*i),
        Value::Bool(b) => Sql::Integer(*b as i64),
        Value::Text(s) => Sql::Text(s.clone()),
        Value::Bytes(b) => Sql::Blob(b.clone()),
        Value::Json(j) => Sql::Text(j.to_string()),
        Value::Ints(v) => Sql::Text(serde_json::to_string(v).unwrap_or_default()),
        Value::Texts(v) => Sql::Text(serde_json::to_string(v).unwrap_or_default()),
    }
}

/// Writes the dump into an empty school (the writer's savepoint makes it all or
/// nothing).
pub(super) fn import(c: &Connection, dump: &SchoolDump) -> Result<()> {
    dump.check()?;
    for table in TABLES {
        let any: bool = c
            .query_row(&format!("SELECT EXISTS (SELECT 1 FROM {})", table.name), [], |r| {
                r.get(0)
            })
            .map_err(db)?;
        if any {
            return Err(StoreError::Conflict("school"));
        }
    }
    for (table, rows) in TABLES.iter().zip(&dump.tables) {
        let cols: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
        let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            cols.join(", "),
            marks.join(", ")
        );
        let mut st = c.prepare(&sql).map_err(db)?;
        for row in &rows.rows {
            let params: Vec<Sql> = row.iter().map(write).collect();
            st.execute(rusqlite::params_from_iter(params.iter())).map_err(db)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::dump::{NOT_MOVED, TABLES};

    #[test]
    fn the_dump_names_every_table_and_column_of_the_schema() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&c).unwrap();
        let mut live = Vec::new();
        let tables: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .filter(|t: &String| !NOT_MOVED.contains(&t.as_str()))
            .collect();
        for t in tables {
            let cols: Vec<String> = c
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            live.extend(cols.into_iter().map(|col| (t.clone(), col)));
        }
        let mut dumped: Vec<(String, String)> = TABLES
            .iter()
            .flat_map(|t| t.columns.iter().map(|(c, _)| (t.name.to_string(), c.to_string())))
            .collect();
        live.sort();
        dumped.sort();
        assert_eq!(live, dumped);
    }
}
