//! PostgreSQL's errors as the store's, in one place, so no handler reads database
//! messages. The same meanings as the SQLite adapter's (`sqlite/errors.rs`): a broken
//! unique rule is `Conflict(field)` by the rule's name (SQLSTATE 23505), a foreign key
//! `BadReference` (23503), a full disk `Full` (53100), a database
//! that does not answer or is shutting down `Unavailable`, anything else `Internal`. A failed
//! CHECK is a bug of ours (the API validates first), so it is `Internal` too.

use crate::StoreError;
use tokio_postgres::error::SqlState;

/// The field a unique rule protects, by the constraint's (or unique index's) name in
/// `migrations/`. The one table of these: a new unique rule gets its line here, with
/// the field name the SQLite adapter gives the same rule.
pub(crate) fn conflict_field(constraint: &str) -> Option<&'static str> {
    Some(match constraint {
        "users_username_key" => "username",
        "users_card_hash_key" => "card",
        "users_qr_hash_key" => "badge",
        "groups_name_key" => "name",
        "tokens_pkey" | "doorplates_token_hash_key" => "token",
        "doorplates_pairing_hash_key" => "pairing_code",
        "conversations_a_id_b_id_key" => "conversation",
        "messages_sender_id_client_id_key" => "client_id",
        "guardianships_pkey" => "guardianship",
        "group_members_pkey" => "member",
        "presences_pkey" => "presence",
        "suppressions_pkey" => "suppression",
        "kv_pkey" => "key",
        "alerts_teacher_id_message_id_key" => "alert",
        "media_chunks_pkey" => "media_chunk",
        "push_subscriptions_endpoint_key" => "endpoint",
        "push_queue_subscription_id_tag_key" => "push",
        _ => return None,
    })
}

/// Maps one error of the driver.
pub(crate) fn db(e: tokio_postgres::Error) -> StoreError {
    let Some(d) = e.as_db_error() else {
        // No answer from the database at all: the connection was refused or lost.
        return StoreError::Unavailable(e.to_string());
    };
    let code = d.code();
    if *code == SqlState::ADMIN_SHUTDOWN || *code == SqlState::CRASH_SHUTDOWN || *code == SqlState::CANNOT_CONNECT_NOW {
        StoreError::Unavailable(d.message().to_string())
    } else if *code == SqlState::UNIQUE_VIOLATION {
        let constraint = d.constraint().unwrap_or("");
        StoreError::Conflict(conflict_field(constraint).unwrap_or_else(|| {
            tracing::warn!(constraint, "a unique rule with no field name: add it to conflict_field");
            "unique"
        }))
    } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
        StoreError::BadReference("id")
    } else if *code == SqlState::DISK_FULL {
        StoreError::Full
    } else {
        StoreError::Internal(format!(
            "{} ({}{})",
            d.message(),
            code.code(),
            d.constraint().map(|c| format!(", {c}")).unwrap_or_default()
        ))
    }
}

/// Whether the error is PostgreSQL's "the disk is full".
pub(crate) fn is_disk_full(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::DISK_FULL)
}
