//! The store conformance suite: what every adapter of [`Store`] must do, tested through
//! the trait alone (no SQL), so the PostgreSQL adapter runs the very same cases.
//!
//! An adapter's test file gives a factory that makes a fresh, empty store and expands
//! [`conformance_suite!`] with it: one test per case, each on its own store.
//! [`run_all`] runs every case in sequence for an adapter that wants one test.

#![allow(dead_code)] // each adapter's test binary uses the suite through the macro

pub mod directory;
pub mod media_bytes;
pub mod messages;
pub mod push;
pub mod records;
pub mod schedule;

use doorplate_domain::{Id, MessageKind, MessageStatus, Micros, Role};
use doorplate_store::media_bytes::MediaBytes;
use doorplate_store::{NewMessage, NewUser, Store};
use std::any::Any;
use std::sync::Arc;

/// A fresh store and whatever must live as long as it (a temporary folder, a
/// database to drop).
pub struct Fixture {
    pub store: Arc<dyn Store>,
    /// Where the adapter keeps the bytes of uploads.
    pub media: Arc<dyn MediaBytes>,
    pub guard: Box<dyn Any + Send>,
}

/// Every case, by name, for [`run_all`]; the macro's list below must match.
macro_rules! each_case {
    ($($callback:ident)::+ ! ($($args:tt)*)) => {
        $($callback)::+!($($args)*;
            directory::users_are_created_and_found_by_each_credential,
            directory::users_conflict_on_taken_names_and_cards_and_are_not_found_when_gone,
            directory::the_last_active_admin_can_be_neither_disabled_nor_deleted,
            directory::tokens_work_until_they_expire_or_are_deleted,
            directory::guardianships_are_added_once_and_removed,
            directory::arrival_notices_are_off_until_chosen_and_end_with_the_guardianship,
            directory::quiet_hours_are_kept_replaced_and_cleared,
            directory::rooms_and_groups_are_kept_and_edited,
            directory::a_pairing_code_pairs_once_and_not_after_it_expires,
            directory::presence_changes_apply_removals_upserts_and_audit_together,
            directory::a_doorplate_is_renamed_moved_unpaired_and_deleted,
            messages::a_conversation_is_one_per_pair,
            messages::a_client_id_stores_a_message_once_per_sender,
            messages::a_queued_message_commits_before_any_later_write,
            messages::messages_page_before_and_after,
            messages::mark_read_moves_only_the_readers_messages_once,
            messages::mark_notified_raises_status_and_records_each_room_once,
            messages::concurrent_mark_notified_keeps_every_room,
            messages::unnotified_unread_counts_and_summary_follow_statuses,
            messages::conversations_of_counts_unread_and_shows_the_last_message,
            messages::media_is_readable_by_its_owner_and_the_conversation,
            messages::purge_before_removes_old_messages_and_orphaned_media,
            messages::alerts_are_kept_until_their_teacher_acknowledges_them,
            push::a_subscription_is_kept_per_endpoint_and_removed_by_its_owner_only,
            push::logout_and_deleting_the_user_remove_their_subscriptions,
            push::a_message_queues_its_push_in_the_same_write_and_only_once,
            push::pushes_collapse_per_tag_and_respect_the_gap_after_a_send,
            push::a_retry_waits_and_a_newer_payload_survives_a_send,
            push::a_read_message_is_marked_and_a_dropped_subscription_takes_its_queue,
            push::push_settings_are_off_until_chosen_and_kept_per_person,
            push::a_read_receipt_never_replaces_a_waiting_unread_message,
            records::settings_round_trip,
            records::audit_is_filtered_newest_first_and_purged_by_age,
            records::kv_and_suppressions_round_trip,
            records::ping_answers,
            schedule::slots_are_created_read_updated_and_deleted,
            schedule::arrangements_are_created_read_and_deleted,
            schedule::notices_are_created_read_updated_and_deleted,
            schedule::an_import_is_all_or_nothing_and_a_dry_run_keeps_nothing,
            schedule::an_import_resolves_names_created_above_and_updates_on_rerun,
        );
    };
}
pub(crate) use each_case;

/// Expands to one `#[tokio::test]` per case; `$make` is an async fn returning a
/// [`Fixture`] with a fresh store.
macro_rules! conformance_suite {
    ($make:path) => {
        conformance::each_case!(conformance::conformance_suite!(@cases $make));
    };
    (@cases $make:path; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $make().await;
                conformance::$module::$case(&*fixture.store).await;
            }
        )*
    };
}
pub(crate) use conformance_suite;

/// Expands to one `#[tokio::test]` per case of the bytes of uploads ([`media_bytes`]).
macro_rules! media_bytes_suite {
    ($make:path) => {
        conformance::media_bytes_suite!(@cases $make;
            an_upload_is_stored_whole_and_read_by_any_range,
            an_upload_not_kept_or_removed_leaves_nothing,
            tidy_removes_what_a_crash_left_and_nothing_a_row_names,
        );
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $make().await;
                conformance::media_bytes::$case(&*fixture.store, &*fixture.media).await;
            }
        )*
    };
}
pub(crate) use media_bytes_suite;

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Fixture>,
{
    macro_rules! run {
        ($make:ident; $($module:ident :: $case:ident),* $(,)?) => {
            $(
                let fixture = $make().await;
                $module::$case(&*fixture.store).await;
            )*
        };
    }
    each_case!(run!(make));
}

// --- helpers the cases share ------------------------------------------------------------

/// A user with this role and a username equal to the display name, lowercased.
pub async fn user(s: &dyn Store, role: Role, name: &str) -> Id {
    s.create_user(NewUser {
        role: Some(role),
        display_name: name.into(),
        username: Some(name.to_lowercase()),
        ..Default::default()
    })
    .await
    .unwrap()
    .id
}

/// A text message from `from` to `to`, status `sent`.
pub fn text(conversation_id: Id, from: Id, to: Id, client_id: &str, now: Micros) -> NewMessage {
    NewMessage {
        conversation_id,
        sender_id: from,
        recipient_id: to,
        client_id: client_id.into(),
        kind: MessageKind::Text,
        text: Some(format!("text {client_id}")),
        media_id: None,
        urgent: false,
        now,
        status: MessageStatus::Sent,
        notified_rooms: vec![],
        push: None,
    }
}

/// Stores a message and returns its id.
pub async fn send(s: &dyn Store, m: NewMessage) -> Id {
    s.insert_message(m).await.unwrap().0.id
}
