//! Timetable slots, arrangements, notices and CSV imports.

use super::user;
use doorplate_domain::Role;
use doorplate_domain::timetable::{Arrangement, PeriodKind, Slot};
use doorplate_store::{ImportOp, Notice, Store, StoreError};

fn slot(room_id: i64, weekday: u8, title: &str) -> Slot {
    Slot {
        id: 0,
        room_id,
        weekday,
        start: 8 * 3600,
        end: 8 * 3600 + 45 * 60,
        kind: PeriodKind::Lesson,
        title: title.into(),
        group_id: None,
        teacher_id: None,
        valid_from: None,
        valid_until: None,
    }
}

pub async fn slots_are_created_read_updated_and_deleted(s: &dyn Store) {
    let room = s.create_room("A101".into(), "classroom".into()).await.unwrap().id;
    let t = user(s, Role::Teacher, "T").await;
    let g = s.create_group("1A".into(), vec![], Some(t)).await.unwrap().id;
    let first = s
        .create_slot(Slot {
            id: 12345, // ignored
            group_id: Some(g),
            teacher_id: Some(t),
            valid_from: Some("2026-09-01".parse().unwrap()),
            valid_until: Some("2027-01-31".parse().unwrap()),
            ..slot(room, 1, "Maths")
        })
        .await
        .unwrap();
    assert_ne!(first.id, 12345);
    assert_eq!(s.slot(first.id).await.unwrap(), first);
    let night = s
        .create_slot(Slot {
            start: 21 * 3600,
            end: 7 * 3600,
            kind: PeriodKind::Dorm,
            ..slot(room, 7, "Night")
        })
        .await
        .unwrap();
    assert_eq!(s.slots().await.unwrap(), vec![first.clone(), night.clone()]);

    let moved = Slot {
        weekday: 2,
        kind: PeriodKind::Exam,
        title: "Maths exam".into(),
        valid_until: None,
        ..first.clone()
    };
    assert_eq!(s.update_slot(moved.clone()).await.unwrap(), moved);
    assert_eq!(s.slot(first.id).await.unwrap(), moved);
    assert!(matches!(
        s.update_slot(Slot {
            id: 999_999,
            ..moved.clone()
        })
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.create_slot(slot(999_999, 1, "Nowhere")).await,
        Err(StoreError::BadReference(_))
    ));

    // Deleting a class leaves its slots without one.
    s.delete_group(g).await.unwrap();
    assert_eq!(s.slot(first.id).await.unwrap().group_id, None);

    s.delete_slot(first.id).await.unwrap();
    assert!(matches!(s.slot(first.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_slot(first.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.slots().await.unwrap(), vec![night]);
}

pub async fn arrangements_are_created_read_and_deleted(s: &dyn Store) {
    let room = s.create_room("Hall".into(), "other".into()).await.unwrap().id;
    let t = user(s, Role::Teacher, "T").await;
    let kid = user(s, Role::Student, "Kid").await;
    let g = s.create_group("1A".into(), vec![kid], None).await.unwrap().id;
    let make = |title: &str, starts_at, ends_at| Arrangement {
        id: 0,
        room_id: room,
        kind: PeriodKind::Exam,
        title: title.into(),
        starts_at,
        ends_at,
        group_ids: vec![g],
        user_ids: vec![kid],
        teacher_id: Some(t),
    };
    let past = s.create_arrangement(make("Past", 100, 200), t).await.unwrap();
    let later = s.create_arrangement(make("Later", 500, 600), t).await.unwrap();
    let soon = s.create_arrangement(make("Soon", 300, 400), t).await.unwrap();
    assert_eq!(
        later,
        Arrangement {
            id: later.id,
            ..make("Later", 500, 600)
        }
    );
    assert_eq!(
        s.arrangement(past.id).await.unwrap(),
        past,
        "an ended one is still found by id"
    );
    assert_eq!(
        s.arrangements(200).await.unwrap(),
        vec![soon.clone(), later.clone()],
        "not ended, by start"
    );
    assert_eq!(s.arrangements(i64::MIN).await.unwrap().len(), 3);
    assert!(matches!(s.arrangement(999_999).await, Err(StoreError::NotFound)));
    s.delete_arrangement(soon.id).await.unwrap();
    assert!(matches!(s.arrangement(soon.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_arrangement(soon.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.arrangements(200).await.unwrap(), vec![later]);
}

pub async fn notices_are_created_read_updated_and_deleted(s: &dyn Store) {
    let room = s.create_room("A101".into(), "classroom".into()).await.unwrap().id;
    let blank = Notice {
        id: 0,
        kind: "notice".into(),
        title: "Fire drill".into(),
        body: "At ten".into(),
        room_ids: vec![room],
        group_ids: vec![],
        starts_on: Some("2026-12-01".into()),
        ends_on: Some("2026-12-02".into()),
        image_media_id: None,
        created_at: 77,
    };
    let n = s.create_notice(blank.clone()).await.unwrap();
    assert_eq!(
        n,
        Notice {
            id: n.id,
            ..blank.clone()
        }
    );
    assert_eq!(s.notice(n.id).await.unwrap(), n);
    let n2 = s
        .create_notice(Notice {
            kind: "honour".into(),
            room_ids: vec![],
            ..blank.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        s.notices().await.unwrap().iter().map(|n| n.id).collect::<Vec<_>>(),
        vec![n2.id, n.id],
        "newest first"
    );
    let class = s.create_group("3-2".into(), vec![], None).await.unwrap().id;
    let edited = Notice {
        title: "Fire drill moved".into(),
        group_ids: vec![class, 12],
        kind: "announcement".into(),
        ends_on: None,
        ..n.clone()
    };
    assert_eq!(s.update_notice(edited.clone()).await.unwrap(), edited);
    assert_eq!(s.notice(n.id).await.unwrap(), edited);
    assert!(matches!(
        s.update_notice(Notice {
            id: 999_999,
            ..edited.clone()
        })
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        s.create_notice(Notice {
            kind: "poster".into(),
            ..blank.clone()
        })
        .await
        .is_err(),
        "unknown kind"
    );
    assert!(
        s.update_notice(Notice {
            kind: "poster".into(),
            ..edited.clone()
        })
        .await
        .is_err(),
        "unknown kind"
    );
    assert_eq!(s.notice(n.id).await.unwrap(), edited);
    s.delete_notice(n.id).await.unwrap();
    assert!(matches!(s.notice(n.id).await, Err(StoreError::NotFound)));
    assert!(matches!(s.delete_notice(n.id).await, Err(StoreError::NotFound)));
    assert_eq!(s.notices().await.unwrap(), vec![n2]);
}

fn user_op(role: Role, username: &str) -> ImportOp {
    ImportOp::User {
        role,
        display_name: username.to_uppercase(),
        username: username.into(),
        password_hash: None,
        card_hash: None,
    }
}

pub async fn an_import_is_all_or_nothing_and_a_dry_run_keeps_nothing(s: &dyn Store) {
    let good = vec![
        user_op(Role::Teacher, "tina"),
        user_op(Role::Student, "sam"),
        ImportOp::Room {
            name: "A101".into(),
            kind: "classroom".into(),
        },
    ];
    // A dry run reports what would happen and keeps nothing.
    let dry = s.import(good.clone(), true).await.unwrap();
    assert_eq!((dry.created, dry.updated, dry.errors.len()), (3, 0, 0));
    assert!(matches!(
        s.user_by_username("tina".into()).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.list_rooms().await.unwrap().is_empty());

    // One bad row: every error is reported with its row's index, and nothing stays.
    let mut bad = good.clone();
    bad.push(ImportOp::Guardianship {
        guardian_username: "nobody".into(),
        student_username: "sam".into(),
    });
    bad.push(ImportOp::Group {
        name: "1A".into(),
        teacher_username: Some("sam".into()), // a student cannot teach
        member_usernames: vec![],
    });
    let report = s.import(bad, false).await.unwrap();
    let failed: Vec<_> = report.errors.iter().map(|e| e.0).collect();
    assert_eq!(failed, vec![3, 4]);
    assert!(report.errors.iter().all(|e| !e.1.is_empty()));
    assert!(matches!(
        s.user_by_username("tina".into()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.user_by_username("sam".into()).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.list_rooms().await.unwrap().is_empty());
    assert!(s.list_groups().await.unwrap().is_empty());

    // The good rows alone go in.
    let done = s.import(good, false).await.unwrap();
    assert_eq!((done.created, done.errors.len()), (3, 0));
    s.user_by_username("tina".into()).await.unwrap();
    assert_eq!(s.list_rooms().await.unwrap().len(), 1);
}

pub async fn an_import_resolves_names_created_above_and_updates_on_rerun(s: &dyn Store) {
    let ops = vec![
        user_op(Role::Teacher, "tina"),
        user_op(Role::Student, "sam"),
        user_op(Role::Guardian, "gus"),
        ImportOp::Guardianship {
            guardian_username: "gus".into(),
            student_username: "sam".into(),
        },
        ImportOp::Group {
            name: "1A".into(),
            teacher_username: Some("tina".into()),
            member_usernames: vec!["sam".into()],
        },
        ImportOp::Room {
            name: "A101".into(),
            kind: "classroom".into(),
        },
        ImportOp::Slot {
            room_name: "A101".into(),
            group_name: "1A".into(),
            teacher_username: Some("tina".into()),
            slot: slot(0, 3, "Maths"),
        },
    ];
    let report = s.import(ops.clone(), false).await.unwrap();
    assert_eq!((report.created, report.updated, report.errors), (7, 0, vec![]));
    let sam = s.user_by_username("sam".into()).await.unwrap();
    let gus = s.user_by_username("gus".into()).await.unwrap();
    let tina = s.user_by_username("tina".into()).await.unwrap();
    assert_eq!((sam.role, sam.display_name.as_str()), (Role::Student, "SAM"));
    assert!(s.is_guardian_of(gus.id, sam.id).await.unwrap());
    let group = s.list_groups().await.unwrap().remove(0);
    assert_eq!(
        (group.teacher_id, group.member_ids.clone()),
        (Some(tina.id), vec![sam.id])
    );
    let room = s.list_rooms().await.unwrap().remove(0);
    let slots = s.slots().await.unwrap();
    assert_eq!(slots.len(), 1);
    assert_eq!(
        (
            slots[0].room_id,
            slots[0].group_id,
            slots[0].teacher_id,
            slots[0].title.as_str()
        ),
        (room.id, Some(group.id), Some(tina.id), "Maths")
    );

    // Again, changed: users, the group and the room update in place.
    let rerun = vec![
        ImportOp::User {
            role: Role::Student,
            display_name: "Samuel".into(),
            username: "sam".into(),
            password_hash: None,
            card_hash: Some(vec![9]),
        },
        ImportOp::Group {
            name: "1A".into(),
            teacher_username: None,
            member_usernames: vec![],
        },
        ImportOp::Room {
            name: "A101".into(),
            kind: "lab".into(),
        },
        user_op(Role::Teacher, "sam"), // exists as a student: an error
    ];
    let report = s.import(rerun.clone(), false).await.unwrap();
    assert_eq!(report.errors.iter().map(|e| e.0).collect::<Vec<_>>(), vec![3]);
    let report = s.import(rerun[..3].to_vec(), false).await.unwrap();
    assert_eq!((report.created, report.updated, report.errors.len()), (0, 3, 0));
    let sam = s.user(sam.id).await.unwrap();
    assert!(sam.display_name == "Samuel" && sam.has_card);
    assert_eq!(s.group(group.id).await.unwrap().member_ids, Vec::<i64>::new());
    assert_eq!(s.room(room.id).await.unwrap().kind, "lab");
}
