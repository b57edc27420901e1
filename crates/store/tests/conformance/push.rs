//! Web Push: subscriptions per endpoint, a person's push settings, the queue's collapse,
//! rate gap, retries, a read receipt yielding to an unread message, and what a logout
//! removes.

use super::*;
use doorplate_store::{NewPush, NewPushSubscription, PushOutcome, PushSettings, StoreError};

fn sub(user_id: Id, endpoint: &str, token: Option<&[u8]>, now: Micros) -> NewPushSubscription {
    NewPushSubscription {
        user_id,
        endpoint: endpoint.into(),
        p256dh: vec![4; 65],
        auth: vec![7; 16],
        device_name: "Phone".into(),
        token_hash: token.map(<[u8]>::to_vec),
        now,
    }
}

fn push(user_id: Id, tag: &str, payload: &str, ready_at: Micros) -> NewPush {
    NewPush {
        user_id,
        tag: tag.into(),
        payload: payload.into(),
        message_id: None,
        ready_at,
        min_gap: 30,
        yields_to_message: false,
    }
}

pub async fn a_subscription_is_kept_per_endpoint_and_removed_by_its_owner_only(s: &dyn Store) {
    let a = user(s, Role::Guardian, "PushA").await;
    let b = user(s, Role::Teacher, "PushB").await;
    let first = s
        .save_push_subscription(sub(a, "https://push.example/1", None, 5))
        .await
        .unwrap();
    assert_eq!(
        (
            first.user_id,
            first.endpoint.as_str(),
            first.p256dh.len(),
            first.auth.len(),
            first.device_name.as_str()
        ),
        (a, "https://push.example/1", 65, 16, "Phone")
    );
    assert_eq!((first.created_at, first.last_used_at), (5, None));
    s.save_push_subscription(sub(a, "https://push.example/2", None, 6))
        .await
        .unwrap();
    let listed = s.push_subscriptions_of(a).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], first);

    // The same browser subscribing as someone else moves to them.
    let moved = s
        .save_push_subscription(sub(b, "https://push.example/1", None, 7))
        .await
        .unwrap();
    assert_eq!(s.push_subscriptions_of(a).await.unwrap().len(), 1);
    assert_eq!(s.push_subscriptions_of(b).await.unwrap(), vec![moved.clone()]);

    // Only its owner removes it.
    assert!(matches!(
        s.delete_push_subscription(a, moved.id).await,
        Err(StoreError::NotFound)
    ));
    s.delete_push_subscription(b, moved.id).await.unwrap();
    assert!(s.push_subscriptions_of(b).await.unwrap().is_empty());
    assert!(matches!(
        s.delete_push_subscription(b, moved.id).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn logout_and_deleting_the_user_remove_their_subscriptions(s: &dyn Store) {
    let a = user(s, Role::Guardian, "PushC").await;
    let b = user(s, Role::Guardian, "PushD").await;
    s.create_token(b"tok-1".to_vec(), a, 1, 1_000_000).await.unwrap();
    s.create_token(b"tok-2".to_vec(), a, 1, 1_000_000).await.unwrap();
    s.save_push_subscription(sub(a, "https://push.example/c1", Some(b"tok-1"), 1))
        .await
        .unwrap();
    let kept = s
        .save_push_subscription(sub(a, "https://push.example/c2", Some(b"tok-2"), 1))
        .await
        .unwrap();
    // One device logs out: its subscription goes, the other device's stays.
    s.delete_token(b"tok-1".to_vec()).await.unwrap();
    assert_eq!(s.push_subscriptions_of(a).await.unwrap(), vec![kept]);
    // Signed out everywhere: none stays.
    s.delete_tokens_of(a).await.unwrap();
    assert!(s.push_subscriptions_of(a).await.unwrap().is_empty());
    // A deleted user keeps none either.
    s.save_push_subscription(sub(b, "https://push.example/d1", None, 1))
        .await
        .unwrap();
    s.delete_user(b).await.unwrap();
    assert!(s.push_subscriptions_of(b).await.unwrap().is_empty());
}

pub async fn a_message_queues_its_push_in_the_same_write_and_only_once(s: &dyn Store) {
    let a = user(s, Role::Guardian, "PushE").await;
    let t = user(s, Role::Teacher, "PushF").await;
    let conv = s.open_conversation(a, t, 1).await.unwrap().id;
    let one = s
        .save_push_subscription(sub(t, "https://push.example/f1", None, 1))
        .await
        .unwrap();
    let two = s
        .save_push_subscription(sub(t, "https://push.example/f2", None, 1))
        .await
        .unwrap();
    let with_push = |client_id: &str| NewMessage {
        push: Some(push(t, &format!("c:{conv}"), r#"{"kind":"message"}"#, 100)),
        ..text(conv, a, t, client_id, 100)
    };
    assert_eq!(s.next_push_due().await.unwrap(), None);
    let (m, _) = s.insert_message(with_push("p1")).await.unwrap();
    assert_eq!(s.next_push_due().await.unwrap(), Some(100));
    let due = s.due_pushes(100, 10).await.unwrap();
    assert_eq!(due.len(), 2, "one per subscription");
    let mut subs: Vec<Id> = due.iter().map(|p| p.subscription.id).collect();
    subs.sort();
    assert_eq!(subs, vec![one.id, two.id]);
    for p in &due {
        assert_eq!(
            (p.tag.as_str(), p.payload.as_str()),
            (&*format!("c:{conv}"), r#"{"kind":"message"}"#)
        );
        assert_eq!((p.ready_at, p.attempts, p.message_read), (100, 0, false));
        assert!(p.subscription.endpoint.starts_with("https://push.example/f"));
    }
    assert!(
        s.due_pushes(99, 10).await.unwrap().is_empty(),
        "nothing before it is due"
    );
    // A retried send stores nothing new and queues nothing new.
    let version = due[0].version;
    let (again, created) = s.insert_message(with_push("p1")).await.unwrap();
    assert!(!created && again.id == m.id);
    assert_eq!(s.due_pushes(100, 10).await.unwrap()[0].version, version);
    // Nobody subscribed: nothing is queued, and the message is stored all the same.
    let (_, created) = s
        .insert_message(NewMessage {
            push: Some(push(a, &format!("c:{conv}"), "{}", 100)),
            ..text(conv, t, a, "p2", 100)
        })
        .await
        .unwrap();
    assert!(created);
    assert_eq!(s.due_pushes(100, 10).await.unwrap().len(), 2);
}

pub async fn pushes_collapse_per_tag_and_respect_the_gap_after_a_send(s: &dyn Store) {
    let t = user(s, Role::Teacher, "PushG").await;
    s.save_push_subscription(sub(t, "https://push.example/g", None, 1))
        .await
        .unwrap();
    s.enqueue_pushes(vec![push(t, "c:1", "first", 100), push(t, "c:2", "other", 100)])
        .await
        .unwrap();
    s.enqueue_pushes(vec![push(t, "c:1", "second", 110)]).await.unwrap();
    let due = s.due_pushes(200, 10).await.unwrap();
    assert_eq!(due.len(), 2, "one per tag");
    let c1 = due.iter().find(|p| p.tag == "c:1").unwrap().clone();
    assert_eq!(c1.payload, "second", "the newer text replaces the waiting one");
    assert_eq!(
        s.next_push_due().await.unwrap(),
        Some(100),
        "keeping the earlier due time"
    );

    s.settle_push(c1.id, c1.version, PushOutcome::Sent { at: 200, min_gap: 30 })
        .await
        .unwrap();
    let due = s.due_pushes(200, 10).await.unwrap();
    assert_eq!(due.iter().map(|p| p.tag.as_str()).collect::<Vec<_>>(), vec!["c:2"]);
    let used = s.push_subscriptions_of(t).await.unwrap()[0].last_used_at;
    assert_eq!(used, Some(200), "a send is the subscription's last use");

    // The next push in that conversation waits out the gap after the last send.
    s.enqueue_pushes(vec![push(t, "c:1", "third", 210)]).await.unwrap();
    let at = |now| async move {
        s.due_pushes(now, 10)
            .await
            .unwrap()
            .into_iter()
            .filter(|p| p.tag == "c:1")
            .count()
    };
    assert_eq!(at(229).await, 0);
    assert_eq!(at(230).await, 1);
}

pub async fn a_retry_waits_and_a_newer_payload_survives_a_send(s: &dyn Store) {
    let t = user(s, Role::Teacher, "PushH").await;
    s.save_push_subscription(sub(t, "https://push.example/h", None, 1))
        .await
        .unwrap();
    s.enqueue_pushes(vec![push(t, "c:1", "one", 100)]).await.unwrap();
    let p = s.due_pushes(100, 10).await.unwrap().remove(0);
    s.settle_push(p.id, p.version, PushOutcome::Retry { due_at: 160 })
        .await
        .unwrap();
    assert!(s.due_pushes(159, 10).await.unwrap().is_empty());
    let again = s.due_pushes(160, 10).await.unwrap().remove(0);
    assert_eq!(
        (again.attempts, again.payload.as_str(), again.ready_at),
        (1, "one", 100)
    );

    // While it is on its way, a newer one comes: sending the old version keeps the new.
    s.enqueue_pushes(vec![push(t, "c:1", "two", 170)]).await.unwrap();
    s.settle_push(again.id, again.version, PushOutcome::Sent { at: 171, min_gap: 30 })
        .await
        .unwrap();
    assert!(s.due_pushes(200, 10).await.unwrap().is_empty(), "the gap holds it");
    let newer = s.due_pushes(201, 10).await.unwrap().remove(0);
    assert_eq!(newer.payload, "two");
    // Dropping an old version changes nothing; dropping the current one forgets it.
    s.settle_push(newer.id, newer.version - 1, PushOutcome::Dropped)
        .await
        .unwrap();
    assert_eq!(s.due_pushes(201, 10).await.unwrap().len(), 1);
    s.settle_push(newer.id, newer.version, PushOutcome::Dropped)
        .await
        .unwrap();
    assert!(s.due_pushes(10_000, 10).await.unwrap().is_empty());
    assert_eq!(s.next_push_due().await.unwrap(), None);
}

pub async fn a_read_message_is_marked_and_a_dropped_subscription_takes_its_queue(s: &dyn Store) {
    let a = user(s, Role::Guardian, "PushI").await;
    let t = user(s, Role::Teacher, "PushJ").await;
    let conv = s.open_conversation(a, t, 1).await.unwrap().id;
    let gone = s
        .save_push_subscription(sub(t, "https://push.example/j", None, 1))
        .await
        .unwrap();
    let (m, _) = s
        .insert_message(NewMessage {
            push: Some(push(t, "c:x", "{}", 100)),
            ..text(conv, a, t, "r1", 100)
        })
        .await
        .unwrap();
    assert!(!s.due_pushes(100, 10).await.unwrap()[0].message_read);
    s.mark_read(conv, t, m.id).await.unwrap();
    assert!(s.due_pushes(100, 10).await.unwrap()[0].message_read);
    s.drop_push_subscription(gone.id).await.unwrap();
    assert!(s.push_subscriptions_of(t).await.unwrap().is_empty());
    assert!(s.due_pushes(100, 10).await.unwrap().is_empty());
    assert_eq!(s.next_push_due().await.unwrap(), None);
}

pub async fn push_settings_are_off_until_chosen_and_kept_per_person(s: &dyn Store) {
    let a = user(s, Role::Guardian, "PushK").await;
    let b = user(s, Role::Teacher, "PushL").await;
    let on = PushSettings { read_receipts: true };
    assert_eq!(s.push_settings(a).await.unwrap(), PushSettings::default());
    assert!(!s.push_settings(a).await.unwrap().read_receipts, "off until chosen");
    s.set_push_settings(a, on).await.unwrap();
    assert_eq!(s.push_settings(a).await.unwrap(), on);
    assert!(!s.push_settings(b).await.unwrap().read_receipts, "one person's only");
    // Choosing again is fine; off again is off.
    s.set_push_settings(a, on).await.unwrap();
    s.set_push_settings(a, PushSettings { read_receipts: false })
        .await
        .unwrap();
    assert!(!s.push_settings(a).await.unwrap().read_receipts);

    // Signing out everywhere keeps a person's choices; deleting the person forgets them.
    s.set_push_settings(b, on).await.unwrap();
    s.create_token(b"tok-l".to_vec(), b, 1, 1_000_000).await.unwrap();
    s.delete_tokens_of(b).await.unwrap();
    assert!(s.push_settings(b).await.unwrap().read_receipts);
    s.delete_user(b).await.unwrap();
    assert!(!s.push_settings(b).await.unwrap().read_receipts);

    // Nobody by that id: refused, and nothing kept.
    assert!(matches!(
        s.set_push_settings(a + b + 1000, on).await,
        Err(StoreError::BadReference(_))
    ));
    assert!(!s.push_settings(a + b + 1000).await.unwrap().read_receipts);
}

pub async fn a_read_receipt_never_replaces_a_waiting_unread_message(s: &dyn Store) {
    let a = user(s, Role::Guardian, "PushM").await;
    let t = user(s, Role::Teacher, "PushN").await;
    let conv = s.open_conversation(a, t, 1).await.unwrap().id;
    s.save_push_subscription(sub(a, "https://push.example/m", None, 1))
        .await
        .unwrap();
    let tag = format!("c:{conv}");
    let receipt = |payload: &str, at: Micros| NewPush {
        yields_to_message: true,
        ..push(a, &tag, payload, at)
    };
    let waiting = move || async move {
        let due = s.due_pushes(10_000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "one per tag");
        due.into_iter().next().unwrap()
    };

    // The teacher's message to the guardian waits to be pushed, unread: a read receipt
    // in the same conversation leaves it as it is.
    let (m, _) = s
        .insert_message(NewMessage {
            push: Some(push(a, &tag, "message", 100)),
            ..text(conv, t, a, "y1", 100)
        })
        .await
        .unwrap();
    let before = waiting().await;
    s.enqueue_pushes(vec![receipt("receipt", 110)]).await.unwrap();
    let after = waiting().await;
    assert_eq!(after.payload, "message");
    assert_eq!((after.version, after.ready_at), (before.version, 100));

    // Once that message is read (it would not be pushed), the receipt takes its place.
    s.mark_read(conv, a, m.id).await.unwrap();
    assert!(waiting().await.message_read);
    s.enqueue_pushes(vec![receipt("receipt 2", 120)]).await.unwrap();
    let now = waiting().await;
    assert_eq!((now.payload.as_str(), now.message_read), ("receipt 2", false));

    // A newer receipt replaces a waiting one, and a message replaces a receipt.
    s.enqueue_pushes(vec![receipt("receipt 3", 130)]).await.unwrap();
    assert_eq!(waiting().await.payload, "receipt 3");
    s.enqueue_pushes(vec![push(a, &tag, "message 2", 140)]).await.unwrap();
    let last = waiting().await;
    assert_eq!(last.payload, "message 2");

    // After a send, a receipt waits out the conversation's gap like any push.
    s.settle_push(last.id, last.version, PushOutcome::Sent { at: 150, min_gap: 30 })
        .await
        .unwrap();
    s.enqueue_pushes(vec![receipt("receipt 4", 160)]).await.unwrap();
    assert!(s.due_pushes(179, 10).await.unwrap().is_empty());
    assert_eq!(s.due_pushes(180, 10).await.unwrap()[0].payload, "receipt 4");
}
