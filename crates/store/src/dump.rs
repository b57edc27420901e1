//! A school's whole database as plain data, the same whatever the adapter: every table
//! of the schema (the two adapters' migrations reach the same logical tables), each row
//! a list of typed values. An adapter exports its school into a [`SchoolDump`] and
//! imports one into an EMPTY school in one transaction, keeping every id — so a school
//! moves between SQLite and PostgreSQL (`doorplate school export` / `import`).
//!
//! [`TABLES`] is the one list of what moves: a table or column missing here is caught by
//! the adapters' tests, which compare it with the live schemas.

use crate::{Result, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The dump's own version (a change of [`TABLES`] or of the encoding bumps it).
pub const FORMAT: u32 = 1;

/// How a column's values are kept. SQLite keeps booleans as 0/1, JSON, lists and dates
/// as text; PostgreSQL as BOOLEAN, JSONB, arrays and DATE — the dump is neither.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Int,
    Bool,
    Text,
    Bytes,
    Json,
    /// A list of ids (SQLite: a JSON array; PostgreSQL: BIGINT[]).
    Ints,
    /// A list of strings (SQLite: a JSON array; PostgreSQL: TEXT[]).
    Texts,
    /// A calendar date, `YYYY-MM-DD` (SQLite: TEXT; PostgreSQL: DATE).
    Date,
}

/// One table: its name, its columns in order, and whether `id` is an identity column
/// (PostgreSQL's sequence moves past the imported ids).
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [(&'static str, Kind)],
    pub identity: bool,
}

use Kind::*;

const fn t(name: &'static str, columns: &'static [(&'static str, Kind)], identity: bool) -> Table {
    Table {
        name,
        columns,
        identity,
    }
}

/// Every table that holds a school's data, parents before children (the order rows are
/// inserted in). Left out: `heartbeat` (a probe's scratch row) and the migration log.
pub const TABLES: &[Table] = &[
    t(
        "users",
        &[
            ("id", Int),
            ("role", Text),
            ("display_name", Text),
            ("username", Text),
            ("password_hash", Text),
            ("card_hash", Bytes),
            ("qr_hash", Bytes),
            ("disabled", Bool),
            ("deleted", Bool),
            ("created_at", Int),
        ],
        true,
    ),
    t(
        "guardianships",
        &[("guardian_id", Int), ("student_id", Int), ("arrival_notices", Bool)],
        false,
    ),
    t(
        "tokens",
        &[
            ("hash", Bytes),
            ("user_id", Int),
            ("created_at", Int),
            ("expires_at", Int),
        ],
        false,
    ),
    t("rooms", &[("id", Int), ("name", Text), ("kind", Text)], true),
    t("groups", &[("id", Int), ("name", Text), ("teacher_id", Int)], true),
    t("group_members", &[("group_id", Int), ("user_id", Int)], false),
    t(
        "doorplates",
        &[
            ("id", Int),
            ("room_id", Int),
            ("name", Text),
            ("token_hash", Bytes),
            ("pairing_hash", Bytes),
            ("pairing_expires", Int),
            ("last_seen", Int),
            ("created_at", Int),
        ],
        true,
    ),
    t(
        "presences",
        &[
            ("student_id", Int),
            ("doorplate_id", Int),
            ("source", Text),
            ("since", Int),
            ("until", Int),
        ],
        false,
    ),
    t(
        "conversations",
        &[("id", Int), ("a_id", Int), ("b_id", Int), ("created_at", Int)],
        true,
    ),
    t(
        "media",
        &[
            ("id", Int),
            ("owner_id", Int),
            ("mime", Text),
            ("size", Int),
            ("file", Text),
            ("created_at", Int),
        ],
        true,
    ),
    t(
        "messages",
        &[
            ("id", Int),
            ("conversation_id", Int),
            ("sender_id", Int),
            ("recipient_id", Int),
            ("client_id", Text),
            ("kind", Text),
            ("text", Text),
            ("media_id", Int),
            ("urgent", Bool),
            ("created_at", Int),
            ("status", Text),
            ("notified_rooms", Texts),
        ],
        true,
    ),
    t("settings", &[("id", Int), ("json", Json)], false),
    t(
        "audit",
        &[
            ("id", Int),
            ("at", Int),
            ("actor_id", Int),
            ("action", Text),
            ("subject_id", Int),
            ("detail", Json),
        ],
        true,
    ),
    t(
        "timetable_slots",
        &[
            ("id", Int),
            ("room_id", Int),
            ("weekday", Int),
            ("start_secs", Int),
            ("end_secs", Int),
            ("kind", Text),
            ("title", Text),
            ("group_id", Int),
            ("teacher_id", Int),
            ("valid_from", Date),
            ("valid_until", Date),
        ],
        true,
    ),
    t(
        "arrangements",
        &[
            ("id", Int),
            ("room_id", Int),
            ("kind", Text),
            ("title", Text),
            ("starts_at", Int),
            ("ends_at", Int),
            ("group_ids", Ints),
            ("user_ids", Ints),
            ("teacher_id", Int),
            ("created_by", Int),
        ],
        true,
    ),
    t(
        "notices",
        &[
            ("id", Int),
            ("kind", Text),
            ("title", Text),
            ("body", Text),
            ("room_ids", Ints),
            ("group_ids", Ints),
            ("starts_on", Text),
            ("ends_on", Text),
            ("image_media_id", Int),
            ("created_at", Int),
        ],
        true,
    ),
    t(
        "suppressions",
        &[("student_id", Int), ("doorplate_id", Int), ("until", Int)],
        false,
    ),
    t("kv", &[("key", Text), ("value", Text)], false),
    t(
        "alerts",
        &[
            ("id", Int),
            ("teacher_id", Int),
            ("message_id", Int),
            ("student_id", Int),
            ("from_id", Int),
            ("at", Int),
            ("acknowledged_at", Int),
        ],
        true,
    ),
    t("quiet_hours", &[("user_id", Int), ("days", Json)], false),
    t(
        "push_subscriptions",
        &[
            ("id", Int),
            ("user_id", Int),
            ("endpoint", Text),
            ("p256dh", Bytes),
            ("auth", Bytes),
            ("device_name", Text),
            ("token_hash", Bytes),
            ("created_at", Int),
            ("last_used_at", Int),
        ],
        true,
    ),
    t(
        "push_queue",
        &[
            ("id", Int),
            ("subscription_id", Int),
            ("tag", Text),
            ("payload", Text),
            ("message_id", Int),
            ("ready_at", Int),
            ("due_at", Int),
            ("attempts", Int),
            ("version", Int),
            ("last_sent_at", Int),
        ],
        true,
    ),
    t("push_settings", &[("user_id", Int), ("read_receipts", Bool)], false),
];

/// Tables in a school's schema that are not rows of the dump: `heartbeat` holds nothing
/// to move, and `media_chunks` (PostgreSQL) holds the bytes of uploads, which move as
/// files beside the dump (`MediaBytes`, the server's `district::moving`).
pub const NOT_MOVED: &[&str] = &["heartbeat", "media_chunks"];

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
    Json(Json),
    Ints(Vec<i64>),
    Texts(Vec<String>),
}

/// One table's rows, each with one value per column of its [`Table`], in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TableRows {
    pub name: String,
    pub rows: Vec<Vec<Value>>,
}

/// A school's whole database.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SchoolDump {
    /// One entry per table of [`TABLES`], in its order.
    pub tables: Vec<TableRows>,
}

impl SchoolDump {
    /// The rows of one table (none when it is empty or unknown).
    pub fn rows(&self, table: &str) -> &[Vec<Value>] {
        self.tables
            .iter()
            .find(|t| t.name == table)
            .map(|t| t.rows.as_slice())
            .unwrap_or(&[])
    }

    /// Checks the dump has exactly the tables of [`TABLES`], in order, each row with one
    /// value of its column's kind (or null) per column.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(StoreError::Internal(format!("the school's data does not fit: {m}")));
        if self.tables.len() != TABLES.len() {
            return bad(format!("{} tables, expected {}", self.tables.len(), TABLES.len()));
        }
        for (rows, table) in self.tables.iter().zip(TABLES) {
            if rows.name != table.name {
                return bad(format!("table {:?} where {:?} belongs", rows.name, table.name));
            }
            for row in &rows.rows {
                if row.len() != table.columns.len() {
                    return bad(format!("a row of {} has {} values", table.name, row.len()));
                }
                for (v, (col, kind)) in row.iter().zip(table.columns) {
                    let fits = matches!(
                        (kind, v),
                        (_, Value::Null)
                            | (Int, Value::Int(_))
                            | (Bool, Value::Bool(_))
                            | (Text | Date, Value::Text(_))
                            | (Bytes, Value::Bytes(_))
                            | (Json, Value::Json(_))
                            | (Ints, Value::Ints(_))
                            | (Texts, Value::Texts(_))
                    );
                    if !fits {
                        return bad(format!("{}.{col} holds a value of another kind", table.name));
                    }
                }
            }
        }
        Ok(())
    }

    /// How many rows in all.
    pub fn row_count(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// The dump as JSON: `{"format": 1, "tables": {"users": [[…], …], …}}`, bytes as
    /// lowercase hex, every other value as JSON has it.
    pub fn to_json(&self) -> Json {
        let mut tables = serde_json::Map::new();
        for t in &self.tables {
            let rows: Vec<Json> = t
                .rows
                .iter()
                .map(|r| Json::Array(r.iter().map(value_to_json).collect()))
                .collect();
            tables.insert(t.name.clone(), Json::Array(rows));
        }
        serde_json::json!({ "format": FORMAT, "tables": tables })
    }

    /// Reads [`SchoolDump::to_json`]'s form back, checking every value's kind.
    pub fn from_json(json: &Json) -> Result<SchoolDump> {
        let bad = |m: String| StoreError::Internal(format!("the school's data does not fit: {m}"));
        if json.get("format").and_then(Json::as_u64) != Some(FORMAT as u64) {
            return Err(bad(format!("it is not of format {FORMAT}")));
        }
        let tables = json
            .get("tables")
            .and_then(Json::as_object)
            .ok_or_else(|| bad("no tables".into()))?;
        if let Some(extra) = tables.keys().find(|k| !TABLES.iter().any(|t| t.name == k.as_str())) {
            return Err(bad(format!("unknown table {extra:?}")));
        }
        let mut dump = SchoolDump::default();
        for table in TABLES {
            let mut out = TableRows {
                name: table.name.into(),
                rows: Vec::new(),
            };
            let rows = match tables.get(table.name) {
                None => &Vec::new(),
                Some(Json::Array(rows)) => rows,
                Some(_) => return Err(bad(format!("{} is not a list of rows", table.name))),
            };
            for row in rows {
                let cells = row
                    .as_array()
                    .filter(|c| c.len() == table.columns.len())
                    .ok_or_else(|| bad(format!("a row of {} has the wrong shape", table.name)))?;
                let mut values = Vec::with_capacity(cells.len());
                for (cell, (col, kind)) in cells.iter().zip(table.columns) {
                    values.push(value_from_json(*kind, cell).ok_or_else(|| bad(format!("{}.{col}", table.name)))?);
                }
                out.rows.push(values);
            }
            dump.tables.push(out);
        }
        Ok(dump)
    }
}

/// Serialises the dump as [`SchoolDump::to_json`] does.
impl Serialize for SchoolDump {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SchoolDump {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let json = Json::deserialize(d)?;
        SchoolDump::from_json(&json).map_err(serde::de::Error::custom)
    }
}

fn value_to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Int(i) => (*i).into(),
        Value::Bool(b) => (*b).into(),
        Value::Text(s) => s.clone().into(),
        Value::Bytes(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>().into(),
        Value::Json(j) => j.clone(),
        Value::Ints(v) => v.clone().into(),
        Value::Texts(v) => v.clone().into(),
    }
}

fn value_from_json(kind: Kind, j: &Json) -> Option<Value> {
    if j.is_null() && kind != Json {
        return Some(Value::Null);
    }
    Some(match kind {
        Int => Value::Int(j.as_i64()?),
        Bool => Value::Bool(j.as_bool()?),
        Text | Date => Value::Text(j.as_str()?.to_string()),
        Bytes => {
            let s = j.as_str()?;
            if !s.len().is_multiple_of(2) || !s.is_ascii() {
                return None;
            }
            Value::Bytes(
                (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()?,
            )
        }
        Json => Value::Json(j.clone()),
        Ints => Value::Ints(j.as_array()?.iter().map(Json::as_i64).collect::<Option<_>>()?),
        Texts => Value::Texts(
            j.as_array()?
                .iter()
                .map(|x| x.as_str().map(str::to_string))
                .collect::<Option<_>>()?,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_reads_back_from_its_json() {
        let mut dump = SchoolDump {
            tables: TABLES
                .iter()
                .map(|t| TableRows {
                    name: t.name.into(),
                    rows: vec![],
                })
                .collect(),
        };
        dump.tables[0].rows.push(vec![
            Value::Int(1),
            Value::Text("admin".into()),
            Value::Text("Ada".into()),
            Value::Null,
            Value::Null,
            Value::Bytes(vec![0, 1, 255]),
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Int(-5),
        ]);
        dump.check().unwrap();
        let text = serde_json::to_string(&dump).unwrap();
        let back: SchoolDump = serde_json::from_str(&text).unwrap();
        assert_eq!(back, dump);
        let mut bad = dump.to_json();
        bad["tables"]["users"][0][5] = "zz".into();
        assert!(SchoolDump::from_json(&bad).is_err());
    }
}
