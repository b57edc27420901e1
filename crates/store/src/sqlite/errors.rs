//! SQLite's errors as the store's, in one place, so no handler reads database messages.
//!
//! A broken uniqueness rule becomes `Conflict(field)` by the identity of the rule that
//! broke: SQLite reports a unique index on columns as `table.column[, table.column]`
//! (and one on expressions as `index 'name'`); [`conflict_field`] maps each of those,
//! exactly, to the field the API names. A PostgreSQL adapter maps its constraint names
//! the same way.

use super::internal;
use crate::StoreError;
use rusqlite::ffi;

/// The field a unique rule protects, by the rule as SQLite names it. The one table of
/// these: a new unique index gets its line here.
pub(crate) fn conflict_field(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "users.username" => "username",
        "users.card_hash" => "card",
        "users.qr_hash" => "badge",
        "groups.name" => "name",
        "tokens.hash" | "doorplates.token_hash" => "token",
        "doorplates.pairing_hash" => "pairing_code",
        "conversations.a_id, conversations.b_id" => "conversation",
        "messages.sender_id, messages.client_id" => "client_id",
        "guardianships.guardian_id, guardianships.student_id" => "guardianship",
        "group_members.group_id, group_members.user_id" => "member",
        "presences.student_id, presences.doorplate_id" => "presence",
        "suppressions.student_id, suppressions.doorplate_id" => "suppression",
        "kv.key" => "key",
        "alerts.teacher_id, alerts.message_id" => "alert",
        "push_subscriptions.endpoint" => "endpoint",
        "push_queue.subscription_id, push_queue.tag" => "push",
        _ => return None,
    })
}

/// What SQLite says broke, after its fixed prefix ("UNIQUE constraint failed: ").
fn constraint_of(message: &str) -> &str {
    message.split_once(": ").map_or("", |(_, rest)| rest.trim())
}

/// Maps one SQLite error: no row is `NotFound`, a unique rule `Conflict`, a foreign key
/// `BadReference`; a failed CHECK or check trigger is a bug of ours (the API validates
/// first), so it is `Internal` with the rule's name for the log.
pub(crate) fn db(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
        rusqlite::Error::SqliteFailure(err, msg) => match err.extended_code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                let constraint = constraint_of(msg.as_deref().unwrap_or(""));
                StoreError::Conflict(conflict_field(constraint).unwrap_or_else(|| {
                    tracing::warn!(constraint, "a unique rule with no field name: add it to conflict_field");
                    "unique"
                }))
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => StoreError::BadReference("id"),
            _ if err.code == rusqlite::ErrorCode::DiskFull => StoreError::Full,
            _ => internal(&e),
        },
        _ => internal(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unique_rule_in_the_schema_has_a_field() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&c).unwrap();
        // Every unique index SQLite keeps (autoindexes of UNIQUE and PRIMARY KEY
        // columns of WITHOUT ROWID tables, and named unique indexes), as SQLite would
        // name it in an error.
        let mut s = c
            .prepare(
                "SELECT m.name, il.name FROM sqlite_master m, pragma_index_list(m.name) il
                  WHERE m.type = 'table' AND il.[unique] = 1 AND m.name NOT IN ('schema_migrations', 'settings')",
            )
            .unwrap();
        let indexes: Vec<(String, String)> = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(!indexes.is_empty());
        for (table, index) in indexes {
            let mut cols = c
                .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                .unwrap();
            let cols: Vec<String> = cols
                .query_map([&index], |r| r.get::<_, String>(0))
                .unwrap()
                .map(|c| format!("{table}.{}", c.unwrap()))
                .collect();
            let constraint = cols.join(", ");
            assert!(
                conflict_field(&constraint).is_some(),
                "{index} ({constraint}) has no field in conflict_field"
            );
        }
    }

    #[test]
    fn a_unique_violation_names_its_field() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        super::super::migrate::migrate(&c).unwrap();
        let add = |name: &str| {
            c.execute(
                "INSERT INTO users (role, display_name, username, created_at) VALUES ('admin', 'A', ?1, 0)",
                [name],
            )
        };
        add("ann").unwrap();
        let err = db(add("ANN").unwrap_err());
        assert!(matches!(err, StoreError::Conflict("username")), "{err:?}");
    }
}
