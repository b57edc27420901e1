//! Conversations, messages and their statuses, media, and message retention.

use super::{send, text, user};
use doorplate_domain::{MessageKind, MessageStatus, Role};
use doorplate_store::{NewMessage, Notice, Store, StoreError};

pub async fn a_conversation_is_one_per_pair(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let c1 = s.open_conversation(b, a, 5).await.unwrap();
    let c2 = s.open_conversation(a, b, 9).await.unwrap();
    assert_eq!(c1, c2, "either order opens the same one, created once");
    assert!(c1.has(a) && c1.has(b) && c1.peer_of(a) == b && c1.created_at == 5);
    assert_eq!(s.conversation(c1.id).await.unwrap(), c1);
    assert!(matches!(s.conversation(999_999).await, Err(StoreError::NotFound)));
}

pub async fn a_client_id_stores_a_message_once_per_sender(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let (first, created) = s.insert_message(text(conv, a, b, "c1", 10)).await.unwrap();
    assert!(created);
    assert_eq!(
        (
            first.sender_id,
            first.recipient_id,
            first.kind,
            first.text.as_deref(),
            first.created_at,
            first.status
        ),
        (a, b, MessageKind::Text, Some("text c1"), 10, MessageStatus::Sent)
    );
    let (again, created) = s
        .insert_message(NewMessage {
            text: Some("different".into()),
            ..text(conv, a, b, "c1", 99)
        })
        .await
        .unwrap();
    assert!(!created);
    assert_eq!(again, first, "the retry returns the stored message unchanged");
    // Another sender may use the same client id.
    let (theirs, created) = s.insert_message(text(conv, b, a, "c1", 11)).await.unwrap();
    assert!(created && theirs.id != first.id);
    assert_eq!(s.messages(conv, None, None, 10).await.unwrap().len(), 2);

    // A message stored as notified keeps its rooms.
    let (n, _) = s
        .insert_message(NewMessage {
            status: MessageStatus::Notified,
            notified_rooms: vec!["A101".into()],
            urgent: true,
            ..text(conv, a, b, "c2", 12)
        })
        .await
        .unwrap();
    let stored = s.messages(conv, None, Some(theirs.id), 10).await.unwrap();
    assert_eq!(stored, vec![n.clone()]);
    assert!(n.urgent && n.notified_rooms == ["A101"]);
}

/// `insert_message` is queued when it returns: a write asked for afterwards commits with
/// it or after it, so once that later write is done the message is stored — though its
/// own answer was never awaited. (The server relies on this to route a message under the
/// recipient's lock without holding the lock until the message is on disk.)
pub async fn a_queued_message_commits_before_any_later_write(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let queued: Vec<_> = (0..20)
        .map(|i| s.insert_message(text(conv, a, b, &format!("q{i}"), i)))
        .collect();
    s.kv_put("after".into(), "the messages".into()).await.unwrap();
    let stored = s.messages(conv, None, None, 50).await.unwrap();
    let clients: Vec<&str> = stored.iter().map(|m| m.client_id.as_str()).collect();
    let expected: Vec<String> = (0..20).map(|i| format!("q{i}")).collect();
    let mut sorted = clients.clone();
    sorted.sort_by_key(|c| c[1..].parse::<u32>().unwrap());
    assert_eq!(
        sorted, expected,
        "every queued message is stored once the later write is done"
    );
    // In the order they were queued.
    let mut by_id = stored.clone();
    by_id.sort_by_key(|m| m.id);
    let order: Vec<&str> = by_id.iter().map(|m| m.client_id.as_str()).collect();
    assert_eq!(order, expected.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, q) in queued.into_iter().enumerate() {
        let (m, created) = q.await.unwrap();
        assert!(created && m.client_id == format!("q{i}"));
    }
}

pub async fn messages_page_before_and_after(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let other = s
        .open_conversation(a, user(s, Role::Student, "C").await, 0)
        .await
        .unwrap()
        .id;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(send(s, text(conv, a, b, &format!("m{i}"), i)).await);
        send(s, text(other, a, b, &format!("o{i}"), i)).await;
    }
    let page = |v: Vec<doorplate_store::Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    // Newest `limit`, oldest first.
    assert_eq!(page(s.messages(conv, None, None, 3).await.unwrap()), ids[7..10]);
    assert_eq!(page(s.messages(conv, Some(ids[7]), None, 3).await.unwrap()), ids[4..7]);
    assert_eq!(page(s.messages(conv, Some(ids[2]), None, 3).await.unwrap()), ids[0..2]);
    // After: the oldest `limit` after it.
    assert_eq!(page(s.messages(conv, None, Some(ids[2]), 3).await.unwrap()), ids[3..6]);
    assert_eq!(page(s.messages(conv, None, Some(0), 100).await.unwrap()), ids);
    // Both: the window between them.
    assert_eq!(
        page(s.messages(conv, Some(ids[6]), Some(ids[2]), 100).await.unwrap()),
        ids[3..6]
    );
    assert!(s.messages(conv, None, Some(ids[9]), 3).await.unwrap().is_empty());
    assert!(s.messages(999_999, None, None, 3).await.unwrap().is_empty());
}

pub async fn mark_read_moves_only_the_readers_messages_once(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let m1 = send(s, text(conv, a, b, "1", 1)).await;
    let reply = send(s, text(conv, b, a, "2", 2)).await;
    let m3 = send(s, text(conv, a, b, "3", 3)).await;
    let m4 = send(s, text(conv, a, b, "4", 4)).await;

    let changed = s.mark_read(conv, b, m3).await.unwrap();
    let mut ids: Vec<_> = changed.iter().map(|c| c.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![m1, m3], "up to m3, only messages to the reader");
    assert!(
        changed
            .iter()
            .all(|c| c.sender_id == a && c.status == MessageStatus::Read)
    );
    assert!(s.mark_read(conv, b, m3).await.unwrap().is_empty(), "already read");
    let status = |id| async move {
        s.messages(conv, None, Some(0), 10)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.id == id)
            .unwrap()
            .status
    };
    assert_eq!(status(reply).await, MessageStatus::Sent);
    assert_eq!(status(m4).await, MessageStatus::Sent);
    assert_eq!(s.mark_read(conv, b, m4).await.unwrap().len(), 1);
}

pub async fn mark_notified_raises_status_and_records_each_room_once(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let m1 = send(s, text(conv, a, b, "1", 1)).await;
    let m2 = send(s, text(conv, a, b, "2", 2)).await;

    let changed = s.mark_notified(vec![m2, m1, 999_999], "A101".into()).await.unwrap();
    assert_eq!(changed.len(), 2, "unknown ids are skipped");
    assert_eq!(changed[0].id, m2, "in the order asked");
    for c in &changed {
        assert_eq!(
            (c.sender_id, c.status, c.notified_rooms.clone()),
            (a, MessageStatus::Notified, vec!["A101".to_string()])
        );
    }
    assert!(
        s.mark_notified(vec![m1, m2], "A101".into()).await.unwrap().is_empty(),
        "nothing new"
    );
    let second = s.mark_notified(vec![m1], "B202".into()).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].notified_rooms, ["A101", "B202"]);
    assert_eq!(second[0].status, MessageStatus::Notified);

    // No room: only the status rises.
    let m3 = send(s, text(conv, a, b, "3", 3)).await;
    let plain = s.mark_notified(vec![m3], String::new()).await.unwrap();
    assert_eq!(
        (plain[0].status, plain[0].notified_rooms.len()),
        (MessageStatus::Notified, 0)
    );
    assert!(s.mark_notified(vec![m3], String::new()).await.unwrap().is_empty());

    // A read message stays read, but a new room is still recorded.
    s.mark_read(conv, b, m1).await.unwrap();
    let late = s.mark_notified(vec![m1], "C303".into()).await.unwrap();
    assert_eq!(late[0].status, MessageStatus::Read);
    assert_eq!(late[0].notified_rooms, ["A101", "B202", "C303"]);
    let stored = s.messages(conv, None, Some(0), 1).await.unwrap().remove(0);
    assert_eq!(
        (stored.status, stored.notified_rooms),
        (MessageStatus::Read, late[0].notified_rooms.clone())
    );
}

/// Many writers marking one message from different rooms: every room is kept (a
/// read-modify-write of the room list would lose some under concurrent writers).
pub async fn concurrent_mark_notified_keeps_every_room(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let m = send(s, text(conv, a, b, "1", 1)).await;
    // `&dyn Store` is not 'static, so the calls run side by side on this task.
    let calls = (0..32).map(|i| s.mark_notified(vec![m], format!("R{i:02}")));
    let results = futures_join_all(calls).await;
    let mut changed = 0;
    for r in results {
        changed += r.unwrap().len();
    }
    assert_eq!(changed, 32, "every room was new to the message");
    let stored = s.messages(conv, None, None, 1).await.unwrap().remove(0);
    let mut rooms = stored.notified_rooms.clone();
    rooms.sort();
    let want: Vec<_> = (0..32).map(|i| format!("R{i:02}")).collect();
    assert_eq!(rooms, want);
    assert_eq!(stored.status, MessageStatus::Notified);
}

/// Polls every future together until all are done (no extra dependency for join_all).
async fn futures_join_all<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futs: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

pub async fn unnotified_unread_counts_and_summary_follow_statuses(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let c = user(s, Role::Student, "C").await;
    let ab = s.open_conversation(a, b, 0).await.unwrap().id;
    let ac = s.open_conversation(a, c, 0).await.unwrap().id;
    let b1 = send(s, text(ab, a, b, "b1", 10)).await;
    let b2 = send(
        s,
        NewMessage {
            urgent: true,
            ..text(ab, a, b, "b2", 20)
        },
    )
    .await;
    let b3 = send(s, text(ab, a, b, "b3", 30)).await;
    send(s, text(ac, a, c, "c1", 15)).await;
    send(s, text(ab, b, a, "to-a", 40)).await;

    let ids = |v: Vec<doorplate_store::Message>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.unnotified_for(b).await.unwrap()),
        vec![b1, b2, b3],
        "oldest first"
    );
    s.mark_notified(vec![b2], "A101".into()).await.unwrap();
    assert_eq!(ids(s.unnotified_for(b).await.unwrap()), vec![b1, b3]);

    let count = |v: &[(i64, u32)], u| v.iter().find(|x| x.0 == u).map_or(0, |x| x.1);
    let counts = s.unread_counts().await.unwrap();
    assert_eq!(
        (count(&counts, a), count(&counts, b), count(&counts, c)),
        (1, 3, 1),
        "notified is still unread"
    );

    let mut summary = s.unread_summary(vec![b, c, 999_999]).await.unwrap();
    summary.sort();
    assert_eq!(summary, vec![(b, 10, true), (c, 15, false)]);
    s.mark_read(ab, b, b2).await.unwrap();
    assert_eq!(s.unread_summary(vec![b]).await.unwrap(), vec![(b, 30, false)]);
    assert!(s.unread_summary(vec![]).await.unwrap().is_empty());
    s.mark_read(ab, b, b3).await.unwrap();
    assert!(s.unread_summary(vec![b]).await.unwrap().is_empty());
    assert_eq!(count(&s.unread_counts().await.unwrap(), b), 0);
}

pub async fn conversations_of_counts_unread_and_shows_the_last_message(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let c = user(s, Role::Student, "C").await;
    let d = user(s, Role::Teacher, "D").await;
    let ab = s.open_conversation(a, b, 1).await.unwrap().id;
    let ca = s.open_conversation(c, a, 2).await.unwrap().id;
    let ad = s.open_conversation(a, d, 50).await.unwrap().id; // no messages yet
    send(s, text(ab, b, a, "1", 10)).await;
    send(s, text(ab, b, a, "2", 11)).await;
    let last_ab = send(s, text(ab, a, b, "3", 12)).await;
    let last_ca = send(s, text(ca, c, a, "4", 30)).await;

    let list = s.conversations_of(a).await.unwrap();
    let order: Vec<_> = list.iter().map(|x| x.conversation.id).collect();
    assert_eq!(order, vec![ad, ca, ab], "most recent activity first");
    let by = |id| list.iter().find(|x| x.conversation.id == id).unwrap();
    assert_eq!((by(ab).unread, by(ab).last.as_ref().map(|m| m.id)), (2, Some(last_ab)));
    assert_eq!((by(ca).unread, by(ca).last.as_ref().map(|m| m.id)), (1, Some(last_ca)));
    assert_eq!((by(ad).unread, by(ad).last.is_none()), (0, true));
    assert_eq!(s.unread_in(ab, a).await.unwrap(), 2);
    assert_eq!(s.unread_in(ab, b).await.unwrap(), 1);
    assert_eq!(s.unread_in(ad, a).await.unwrap(), 0);

    let for_b = s.conversations_of(b).await.unwrap();
    assert_eq!(for_b.len(), 1);
    assert_eq!(for_b[0].unread, 1);
    assert!(s.conversations_of(999_999).await.unwrap().is_empty());
}

pub async fn media_is_readable_by_its_owner_and_the_conversation(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let stranger = user(s, Role::Student, "S").await;
    let m = s
        .insert_media(a, "image/png".into(), 1234, "f1.png".into(), 7)
        .await
        .unwrap();
    assert_eq!(
        (m.owner_id, m.mime.as_str(), m.size, m.file.as_str(), m.created_at),
        (a, "image/png", 1234, "f1.png", 7)
    );
    assert_eq!(s.media(m.id).await.unwrap(), m);
    assert!(matches!(s.media(999_999).await, Err(StoreError::NotFound)));
    assert!(s.may_read_media(m.id, a).await.unwrap());
    assert!(!s.may_read_media(m.id, b).await.unwrap());

    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let (msg, _) = s
        .insert_message(NewMessage {
            kind: MessageKind::Image,
            text: None,
            media_id: Some(m.id),
            ..text(conv, a, b, "img", 8)
        })
        .await
        .unwrap();
    assert_eq!(msg.media.as_ref(), Some(&m));
    assert_eq!(
        s.messages(conv, None, None, 1).await.unwrap()[0].media.as_ref(),
        Some(&m)
    );
    assert!(s.may_read_media(m.id, b).await.unwrap(), "the recipient may");
    assert!(!s.may_read_media(m.id, stranger).await.unwrap());
    assert!(!s.may_read_media(999_999, a).await.unwrap());
}

pub async fn purge_before_removes_old_messages_and_orphaned_media(s: &dyn Store) {
    let a = user(s, Role::Guardian, "A").await;
    let b = user(s, Role::Student, "B").await;
    let conv = s.open_conversation(a, b, 0).await.unwrap().id;
    let old_media = s
        .insert_media(a, "image/png".into(), 1, "old.png".into(), 10)
        .await
        .unwrap();
    let kept_media = s
        .insert_media(a, "image/png".into(), 1, "kept.png".into(), 10)
        .await
        .unwrap();
    let notice_media = s
        .insert_media(a, "image/png".into(), 1, "notice.png".into(), 10)
        .await
        .unwrap();
    let loose_new = s
        .insert_media(a, "image/png".into(), 1, "new.png".into(), 500)
        .await
        .unwrap();
    let with = |media: i64, id: &str, now| NewMessage {
        kind: MessageKind::Image,
        media_id: Some(media),
        ..text(conv, a, b, id, now)
    };
    send(s, with(old_media.id, "old", 100)).await;
    send(s, with(kept_media.id, "kept-old", 100)).await;
    let kept = send(s, with(kept_media.id, "kept", 300)).await;
    s.create_notice(Notice {
        id: 0,
        kind: "notice".into(),
        title: "t".into(),
        body: String::new(),
        room_ids: vec![],
        group_ids: vec![],
        starts_on: None,
        ends_on: None,
        image_media_id: Some(notice_media.id),
        created_at: 1,
    })
    .await
    .unwrap();

    let mut files = s.purge_before(200).await.unwrap();
    files.sort();
    assert_eq!(files, vec!["old.png"], "only old uploads nothing refers to");
    let left: Vec<_> = s
        .messages(conv, None, Some(0), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![kept]);
    assert!(matches!(s.media(old_media.id).await, Err(StoreError::NotFound)));
    for m in [&kept_media, &notice_media, &loose_new] {
        s.media(m.id).await.unwrap();
    }
    assert_eq!(s.unread_counts().await.unwrap(), vec![(b, 1)]);
}

pub async fn alerts_are_kept_until_their_teacher_acknowledges_them(s: &dyn Store) {
    use doorplate_store::NewAlert;
    let g = user(s, Role::Guardian, "G").await;
    let kid = user(s, Role::Student, "K").await;
    let t1 = user(s, Role::Teacher, "T1").await;
    let t2 = user(s, Role::Teacher, "T2").await;
    let conv = s.open_conversation(g, kid, 0).await.unwrap().id;
    let m1 = send(s, text(conv, g, kid, "u1", 10)).await;
    let m2 = send(s, text(conv, g, kid, "u2", 20)).await;
    let alert = |teacher_id, message_id, at| NewAlert {
        teacher_id,
        message_id,
        student_id: kid,
        from_id: g,
        at,
    };
    let stored = s
        .insert_alerts(vec![alert(t1, m1, 10), alert(t2, m1, 10)])
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[0].id != stored[1].id);
    assert_eq!(
        (
            stored[0].teacher_id,
            stored[0].message_id,
            stored[0].student_id,
            stored[0].from_id,
            stored[0].at
        ),
        (t1, m1, kid, g, 10)
    );
    assert_eq!(stored[0].acknowledged_at, None);
    // The same teacher and message again: kept once, the stored one returned.
    let again = s.insert_alerts(vec![alert(t1, m1, 99)]).await.unwrap();
    assert_eq!(again, vec![stored[0]]);
    let newer = s.insert_alerts(vec![alert(t1, m2, 20)]).await.unwrap()[0];

    // Newest first, only the teacher's own.
    assert_eq!(s.open_alerts(t1).await.unwrap(), vec![newer, stored[0]]);
    assert_eq!(s.open_alerts(t2).await.unwrap(), vec![stored[1]]);
    assert!(s.open_alerts(g).await.unwrap().is_empty());

    // Another teacher's alert, or an unknown one, is not found and stays open.
    assert!(matches!(
        s.acknowledge_alert(stored[0].id, t2, 30).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.acknowledge_alert(999_999, t1, 30).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.open_alerts(t1).await.unwrap().len(), 2);

    let acked = s.acknowledge_alert(stored[0].id, t1, 30).await.unwrap();
    assert_eq!(acked.acknowledged_at, Some(30));
    // Again: fine, and the first time is kept.
    assert_eq!(
        s.acknowledge_alert(stored[0].id, t1, 40).await.unwrap().acknowledged_at,
        Some(30)
    );
    assert_eq!(s.open_alerts(t1).await.unwrap(), vec![newer]);
    assert_eq!(
        s.open_alerts(t2).await.unwrap(),
        vec![stored[1]],
        "t2's copy is its own"
    );

    // Retention takes the alerts with their messages.
    s.purge_before(15).await.unwrap();
    assert!(s.open_alerts(t2).await.unwrap().is_empty());
    assert_eq!(s.open_alerts(t1).await.unwrap(), vec![newer]);
}
