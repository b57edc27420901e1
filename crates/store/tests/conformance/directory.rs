//! People, tokens, guardianships, rooms, groups, doorplates and presence.

use super::user;
use doorplate_domain::quiet::{QuietHours, QuietSpan};
use doorplate_domain::{PresenceSource, Role};
use doorplate_store::{AuditEntry, AuditFilter, NewUser, PresenceChange, PresenceRow, Store, StoreError, UserPatch};
use serde_json::json;

pub async fn users_are_created_and_found_by_each_credential(s: &dyn Store) {
    let ann = s
        .create_user(NewUser {
            role: Some(Role::Teacher),
            display_name: "Ann".into(),
            username: Some("ann".into()),
            password_hash: Some("$argon2id$x".into()),
            card_hash: Some(vec![1, 2, 3]),
            now: 42,
        })
        .await
        .unwrap();
    assert_eq!(
        (
            ann.role,
            ann.display_name.as_str(),
            ann.username.as_deref(),
            ann.created_at
        ),
        (Role::Teacher, "Ann", Some("ann"), 42)
    );
    assert!(ann.has_card && !ann.has_badge && !ann.disabled);
    assert_eq!(ann.password_hash.as_deref(), Some("$argon2id$x"));

    assert_eq!(s.user(ann.id).await.unwrap(), ann);
    assert_eq!(s.user_by_username("ann".into()).await.unwrap().id, ann.id);
    assert_eq!(s.user_by_card(vec![1, 2, 3]).await.unwrap().id, ann.id);
    assert!(matches!(s.user_by_qr(vec![9]).await, Err(StoreError::NotFound)));
    s.set_badge(ann.id, vec![9]).await.unwrap();
    let with_badge = s.user_by_qr(vec![9]).await.unwrap();
    assert!(with_badge.id == ann.id && with_badge.has_badge);

    let bob = user(s, Role::Student, "Bob").await;
    let cat = user(s, Role::Student, "Cat").await;
    let mut found: Vec<_> = s
        .users_by_ids(vec![cat, 999_999, bob])
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    found.sort_unstable();
    assert_eq!(found, vec![bob, cat], "unknown ids are skipped");

    // Listing: by role, by a part of the name, sorted by display name, limited.
    let names = |v: Vec<doorplate_store::User>| v.into_iter().map(|u| u.display_name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_users(Some(Role::Student), None, 10).await.unwrap()),
        ["Bob", "Cat"]
    );
    assert_eq!(
        names(s.list_users(None, Some("a".into()), 10).await.unwrap()),
        ["Ann", "Cat"]
    );
    assert_eq!(names(s.list_users(None, None, 2).await.unwrap()), ["Ann", "Bob"]);

    // A patch changes what it names; `Some(None)` clears.
    let patched = s
        .update_user(
            bob,
            UserPatch {
                display_name: Some("Bobby".into()),
                username: Some(None),
                card_hash: Some(Some(vec![7])),
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            patched.display_name.as_str(),
            patched.username,
            patched.has_card,
            patched.disabled
        ),
        ("Bobby", None, true, true)
    );
    assert_eq!(s.user_by_card(vec![7]).await.unwrap().id, bob);
}

pub async fn users_conflict_on_taken_names_and_cards_and_are_not_found_when_gone(s: &dyn Store) {
    let ann = s
        .create_user(NewUser {
            role: Some(Role::Teacher),
            display_name: "Ann".into(),
            username: Some("ann".into()),
            card_hash: Some(vec![1]),
            ..Default::default()
        })
        .await
        .unwrap();
    let again = |username: &str, card: Option<Vec<u8>>| NewUser {
        role: Some(Role::Teacher),
        display_name: "Other".into(),
        username: Some(username.into()),
        card_hash: card,
        ..Default::default()
    };
    assert!(matches!(
        s.create_user(again("ann", None)).await,
        Err(StoreError::Conflict("username"))
    ));
    assert!(matches!(
        s.create_user(again("other", Some(vec![1]))).await,
        Err(StoreError::Conflict("card"))
    ));
    // Nothing of a refused create stays.
    assert!(matches!(
        s.user_by_username("other".into()).await,
        Err(StoreError::NotFound)
    ));

    let bob = user(s, Role::Teacher, "Bob").await;
    let taken = UserPatch {
        username: Some(Some("ann".into())),
        ..Default::default()
    };
    assert!(matches!(
        s.update_user(bob, taken).await,
        Err(StoreError::Conflict("username"))
    ));
    let card = UserPatch {
        card_hash: Some(Some(vec![1])),
        ..Default::default()
    };
    assert!(matches!(
        s.update_user(bob, card).await,
        Err(StoreError::Conflict("card"))
    ));
    assert_eq!(s.user(bob).await.unwrap().username.as_deref(), Some("bob"));

    for missing in [
        s.user(999_999).await,
        s.user_by_username("nobody".into()).await,
        s.user_by_card(vec![42]).await,
        s.update_user(999_999, UserPatch::default()).await,
    ] {
        assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
    }
    assert!(matches!(s.set_badge(999_999, vec![5]).await, Err(StoreError::NotFound)));

    // A deleted user is gone from every lookup, their name and card are free again,
    // and deleting twice is NotFound.
    s.create_token(vec![8], ann.id, 0, i64::MAX).await.unwrap();
    s.delete_user(ann.id).await.unwrap();
    assert!(matches!(s.user(ann.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.user_by_username("ann".into()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(s.token_user(vec![8], 1).await, Err(StoreError::NotFound)));
    assert!(
        s.list_users(None, None, 10)
            .await
            .unwrap()
            .iter()
            .all(|u| u.id != ann.id)
    );
    assert!(matches!(s.delete_user(ann.id).await, Err(StoreError::NotFound)));
    s.create_user(again("ann", Some(vec![1]))).await.unwrap();
}

pub async fn tokens_work_until_they_expire_or_are_deleted(s: &dyn Store) {
    let ann = user(s, Role::Teacher, "Ann").await;
    s.create_token(vec![1], ann, 100, 200).await.unwrap();
    s.create_token(vec![2], ann, 100, 300).await.unwrap();
    assert_eq!(s.token_user(vec![1], 199).await.unwrap(), ann);
    assert!(
        matches!(s.token_user(vec![1], 200).await, Err(StoreError::NotFound)),
        "expired at its instant"
    );
    assert!(matches!(s.token_user(vec![3], 150).await, Err(StoreError::NotFound)));
    s.delete_token(vec![2]).await.unwrap();
    assert!(matches!(s.token_user(vec![2], 150).await, Err(StoreError::NotFound)));
    s.delete_token(vec![2]).await.unwrap(); // deleting what is gone is fine

    s.create_token(vec![4], ann, 100, 300).await.unwrap();
    s.create_token(vec![5], ann, 100, 300).await.unwrap();
    s.delete_tokens_of(ann).await.unwrap();
    for t in [4, 5] {
        assert!(matches!(s.token_user(vec![t], 150).await, Err(StoreError::NotFound)));
    }
}

pub async fn guardianships_are_added_once_and_removed(s: &dyn Store) {
    let g = user(s, Role::Guardian, "G").await;
    let h = user(s, Role::Guardian, "H").await;
    let kid = user(s, Role::Student, "Kid").await;
    s.add_guardianship(g, kid).await.unwrap();
    s.add_guardianship(g, kid).await.unwrap(); // again: no error, no second row
    s.add_guardianship(h, kid).await.unwrap();
    assert!(s.is_guardian_of(g, kid).await.unwrap());
    assert!(!s.is_guardian_of(kid, g).await.unwrap());
    let mut gs = s.guardians_of(kid).await.unwrap();
    gs.sort_unstable();
    assert_eq!(gs, vec![g, h]);
    assert_eq!(s.children_of(g).await.unwrap(), vec![kid]);
    s.remove_guardianship(g, kid).await.unwrap();
    assert!(!s.is_guardian_of(g, kid).await.unwrap());
    assert!(matches!(s.remove_guardianship(g, kid).await, Err(StoreError::NotFound)));
    assert_eq!(s.guardians_of(kid).await.unwrap(), vec![h]);
}

pub async fn arrival_notices_are_off_until_chosen_and_end_with_the_guardianship(s: &dyn Store) {
    let g = user(s, Role::Guardian, "G").await;
    let h = user(s, Role::Guardian, "H").await;
    let kid = user(s, Role::Student, "Kid").await;
    let other = user(s, Role::Student, "Other").await;
    s.add_guardianship(g, kid).await.unwrap();
    s.add_guardianship(h, kid).await.unwrap();
    s.add_guardianship(g, other).await.unwrap();
    assert!(s.arrival_notice_children(g).await.unwrap().is_empty(), "off by default");
    assert!(s.arrival_notice_guardians(kid).await.unwrap().is_empty());
    s.set_arrival_notices(g, kid, true).await.unwrap();
    s.set_arrival_notices(g, kid, true).await.unwrap(); // again is fine
    assert_eq!(s.arrival_notice_children(g).await.unwrap(), vec![kid]);
    assert_eq!(s.arrival_notice_guardians(kid).await.unwrap(), vec![g]);
    assert!(s.arrival_notice_guardians(other).await.unwrap().is_empty());
    assert!(
        matches!(s.set_arrival_notices(h, other, true).await, Err(StoreError::NotFound)),
        "only for one's own child"
    );
    s.set_arrival_notices(g, kid, false).await.unwrap();
    assert!(s.arrival_notice_guardians(kid).await.unwrap().is_empty());
    s.set_arrival_notices(g, kid, true).await.unwrap();
    s.remove_guardianship(g, kid).await.unwrap();
    s.add_guardianship(g, kid).await.unwrap();
    assert!(
        s.arrival_notice_guardians(kid).await.unwrap().is_empty(),
        "a new guardianship starts off"
    );
}

pub async fn quiet_hours_are_kept_replaced_and_cleared(s: &dyn Store) {
    let t = user(s, Role::Teacher, "T").await;
    let u = user(s, Role::Teacher, "U").await;
    assert_eq!(s.quiet_hours(t).await.unwrap(), None);
    let mut q = QuietHours::default();
    q.days[0] = Some(QuietSpan {
        from: "18:00".into(),
        to: "07:00".into(),
    });
    s.set_quiet_hours(t, Some(q.clone())).await.unwrap();
    assert_eq!(s.quiet_hours(t).await.unwrap(), Some(q.clone()));
    assert_eq!(s.quiet_hours(u).await.unwrap(), None, "one person's only");
    q.days[5] = Some(QuietSpan {
        from: "00:00".into(),
        to: "00:00".into(),
    });
    s.set_quiet_hours(t, Some(q.clone())).await.unwrap();
    assert_eq!(s.quiet_hours(t).await.unwrap(), Some(q));
    s.set_quiet_hours(t, None).await.unwrap();
    assert_eq!(s.quiet_hours(t).await.unwrap(), None);
}

pub async fn rooms_and_groups_are_kept_and_edited(s: &dyn Store) {
    let lab = s.create_room("Lab".into(), "lab".into()).await.unwrap();
    let a101 = s.create_room("A101".into(), "classroom".into()).await.unwrap();
    assert_eq!(s.room(lab.id).await.unwrap(), lab);
    assert_eq!(
        s.list_rooms().await.unwrap(),
        vec![a101.clone(), lab.clone()],
        "by name"
    );
    assert!(matches!(s.room(999_999).await, Err(StoreError::NotFound)));
    assert!(
        s.create_room("Garage".into(), "garage".into()).await.is_err(),
        "unknown kind"
    );
    assert_eq!(s.list_rooms().await.unwrap().len(), 2);

    let t = user(s, Role::Teacher, "T").await;
    let a = user(s, Role::Student, "A").await;
    let b = user(s, Role::Student, "B").await;
    let g = s.create_group("1A".into(), vec![b, a, a], Some(t)).await.unwrap();
    assert_eq!(
        (g.name.as_str(), g.teacher_id, g.member_ids.clone()),
        ("1A", Some(t), vec![a, b])
    );
    assert_eq!(s.group(g.id).await.unwrap(), g);
    assert!(matches!(s.group(999_999).await, Err(StoreError::NotFound)));
    assert!(matches!(
        s.create_group("1A".into(), vec![], None).await,
        Err(StoreError::Conflict("name"))
    ));
    assert_eq!(s.groups_of(a).await.unwrap(), vec![g.clone()], "as a member");
    assert_eq!(s.groups_of(t).await.unwrap(), vec![g.clone()], "as the class teacher");

    let g2 = s.create_group("0Z".into(), vec![], None).await.unwrap();
    assert_eq!(
        s.list_groups().await.unwrap().iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![g2.id, g.id],
        "by name"
    );
    assert!(matches!(
        s.update_group(g2.id, Some("1A".into()), None, None).await,
        Err(StoreError::Conflict("name"))
    ));
    let edited = s
        .update_group(g.id, Some("1B".into()), Some(vec![b]), Some(None))
        .await
        .unwrap();
    assert_eq!(
        (edited.name.as_str(), edited.teacher_id, edited.member_ids.clone()),
        ("1B", None, vec![b])
    );
    assert_eq!(s.group(g.id).await.unwrap(), edited);
    assert!(s.groups_of(a).await.unwrap().is_empty());
    assert!(matches!(
        s.update_group(999_999, Some("x".into()), None, None).await,
        Err(StoreError::NotFound)
    ));
    s.delete_group(g.id).await.unwrap();
    assert!(matches!(s.group(g.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_group(g.id).await, Err(StoreError::NotFound)));
}

pub async fn a_pairing_code_pairs_once_and_not_after_it_expires(s: &dyn Store) {
    assert!(matches!(
        s.create_doorplate(999_999, "Nowhere".into(), vec![1], 1_000, 0).await,
        Err(StoreError::BadReference(_))
    ));
    let room = s.create_room("A101".into(), "classroom".into()).await.unwrap();
    let d = s
        .create_doorplate(room.id, "Door".into(), vec![1], 1_000, 0)
        .await
        .unwrap();
    assert_eq!(
        (d.room_id, d.name.as_str(), d.paired, d.last_seen),
        (room.id, "Door", false, None)
    );
    assert_eq!(s.doorplate(d.id).await.unwrap(), d);

    assert!(
        matches!(
            s.pair_doorplate(vec![2], vec![10], 500).await,
            Err(StoreError::NotFound)
        ),
        "wrong code"
    );
    assert!(
        matches!(
            s.pair_doorplate(vec![1], vec![10], 1_000).await,
            Err(StoreError::NotFound)
        ),
        "expired"
    );
    s.renew_pairing(d.id, vec![3], 2_000).await.unwrap();
    assert!(
        matches!(
            s.pair_doorplate(vec![1], vec![10], 500).await,
            Err(StoreError::NotFound)
        ),
        "replaced code"
    );
    let paired = s.pair_doorplate(vec![3], vec![10], 1_500).await.unwrap();
    assert!(paired.id == d.id && paired.paired && paired.last_seen == Some(1_500));
    assert_eq!(s.doorplate_by_token(vec![10]).await.unwrap().id, d.id);
    assert!(
        matches!(
            s.pair_doorplate(vec![3], vec![11], 1_600).await,
            Err(StoreError::NotFound)
        ),
        "single use"
    );

    // A replaced screen: a new code, a new token; the old token stops working.
    s.renew_pairing(d.id, vec![4], 5_000).await.unwrap();
    s.pair_doorplate(vec![4], vec![12], 3_000).await.unwrap();
    assert!(matches!(
        s.doorplate_by_token(vec![10]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.doorplate_by_token(vec![12]).await.unwrap().id, d.id);
    assert!(matches!(
        s.renew_pairing(999_999, vec![5], 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(s.doorplate(999_999).await, Err(StoreError::NotFound)));

    s.touch_doorplate(d.id, 9_000).await.unwrap();
    assert_eq!(s.doorplate(d.id).await.unwrap().last_seen, Some(9_000));
    let other = s
        .create_doorplate(room.id, "Back".into(), vec![6], 1_000, 0)
        .await
        .unwrap();
    assert_eq!(
        s.list_doorplates()
            .await
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![other.id, d.id],
        "by name"
    );
}

pub async fn presence_changes_apply_removals_upserts_and_audit_together(s: &dyn Store) {
    let room = s.create_room("A101".into(), "classroom".into()).await.unwrap();
    let d1 = s
        .create_doorplate(room.id, "One".into(), vec![1], 9, 0)
        .await
        .unwrap()
        .id;
    let d2 = s
        .create_doorplate(room.id, "Two".into(), vec![2], 9, 0)
        .await
        .unwrap()
        .id;
    let kid = user(s, Role::Student, "Kid").await;
    let row = |doorplate_id, source, since| PresenceRow {
        student_id: kid,
        doorplate_id,
        source,
        since,
        until: Some(since + 100),
    };
    let entry = |action: &str| AuditEntry {
        at: 1,
        actor_id: None,
        action: action.into(),
        subject_id: Some(kid),
        detail: json!({"n": 1}),
    };
    s.apply_presence(PresenceChange {
        student_id: kid,
        remove: vec![],
        upsert: vec![row(d1, PresenceSource::Active, 10)],
        audit: vec![entry("presence.arrived")],
    })
    .await
    .unwrap();
    assert_eq!(s.presences().await.unwrap(), vec![row(d1, PresenceSource::Active, 10)]);

    // The same doorplate again replaces the row.
    s.apply_presence(PresenceChange {
        student_id: kid,
        upsert: vec![row(d1, PresenceSource::Timetable, 20)],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        s.presences().await.unwrap(),
        vec![row(d1, PresenceSource::Timetable, 20)]
    );

    // Moving: the removal and the arrival in one step.
    s.apply_presence(PresenceChange {
        student_id: kid,
        remove: vec![d1],
        upsert: vec![row(d2, PresenceSource::TeacherNow, 30)],
        audit: vec![entry("presence.moved")],
    })
    .await
    .unwrap();
    assert_eq!(
        s.presences().await.unwrap(),
        vec![row(d2, PresenceSource::TeacherNow, 30)]
    );
    s.apply_presence(PresenceChange {
        student_id: kid,
        remove: vec![d2],
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(s.presences().await.unwrap().is_empty());

    let log = s
        .audit_log(AuditFilter {
            subject_id: Some(kid),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["presence.moved", "presence.arrived"]);
    assert_eq!(log[0].detail, json!({"n": 1}));
}

pub async fn the_last_active_admin_can_be_neither_disabled_nor_deleted(s: &dyn Store) {
    let first = user(s, Role::Admin, "First").await;
    let disable = UserPatch {
        disabled: Some(true),
        ..Default::default()
    };
    assert!(matches!(
        s.update_user(first, disable.clone()).await,
        Err(StoreError::Conflict("last_admin"))
    ));
    assert!(matches!(
        s.delete_user(first).await,
        Err(StoreError::Conflict("last_admin"))
    ));
    assert!(
        !s.user(first).await.unwrap().disabled,
        "a refused change changes nothing"
    );
    // With a second admin, either may go, but not both.
    let second = user(s, Role::Admin, "Second").await;
    s.update_user(first, disable).await.unwrap();
    assert!(matches!(
        s.delete_user(second).await,
        Err(StoreError::Conflict("last_admin"))
    ));
}

pub async fn a_doorplate_is_renamed_moved_unpaired_and_deleted(s: &dyn Store) {
    let a = s.create_room("A101".into(), "classroom".into()).await.unwrap().id;
    let b = s.create_room("B202".into(), "classroom".into()).await.unwrap().id;
    let d = s.create_doorplate(a, "Front".into(), vec![1], 1_000, 0).await.unwrap();
    let other = s.create_doorplate(a, "Back".into(), vec![2], 1_000, 0).await.unwrap();
    s.pair_doorplate(vec![1], vec![10], 500).await.unwrap();

    let renamed = s.update_doorplate(d.id, Some("Front door".into()), None).await.unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.room_id, renamed.paired),
        ("Front door", a, true)
    );
    let moved = s.update_doorplate(d.id, None, Some(b)).await.unwrap();
    assert_eq!((moved.name.as_str(), moved.room_id), ("Front door", b));
    assert_eq!(s.doorplate(d.id).await.unwrap(), moved);
    assert!(matches!(
        s.update_doorplate(d.id, None, Some(999_999)).await,
        Err(StoreError::BadReference(_))
    ));
    assert!(matches!(
        s.update_doorplate(999_999, Some("x".into()), None).await,
        Err(StoreError::NotFound)
    ));

    // Unpaired: the token finds nothing and no old code pairs it again.
    let unpaired = s.unpair_doorplate(d.id).await.unwrap();
    assert!(!unpaired.paired);
    assert!(matches!(
        s.doorplate_by_token(vec![10]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.pair_doorplate(vec![1], vec![11], 600).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(s.unpair_doorplate(999_999).await, Err(StoreError::NotFound)));

    // Deleted with the presence rows and suppressions that named it; the other stays.
    let kid = user(s, Role::Student, "Kid").await;
    let row = |doorplate_id| PresenceRow {
        student_id: kid,
        doorplate_id,
        source: PresenceSource::Active,
        since: 10,
        until: None,
    };
    s.apply_presence(PresenceChange {
        student_id: kid,
        remove: vec![],
        upsert: vec![row(d.id), row(other.id)],
        audit: vec![],
    })
    .await
    .unwrap();
    s.suppress(kid, d.id, 5_000).await.unwrap();
    s.delete_doorplate(d.id).await.unwrap();
    assert!(matches!(s.doorplate(d.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.presences().await.unwrap(), vec![row(other.id)]);
    assert!(s.suppressions().await.unwrap().iter().all(|x| x.1 != d.id));
    assert_eq!(
        s.list_doorplates()
            .await
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![other.id]
    );
    assert!(matches!(s.delete_doorplate(d.id).await, Err(StoreError::NotFound)));
}
