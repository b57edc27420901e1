//! Settings, the audit log, the engine's memory (suppressions, kv) and ping.

use super::user;
use doorplate_domain::{Role, Settings};
use doorplate_store::{AuditEntry, AuditFilter, Store};
use serde_json::json;

pub async fn settings_round_trip(s: &dyn Store) {
    assert_eq!(
        s.settings().await.unwrap(),
        Settings::default(),
        "a new school has the defaults"
    );
    let changed = Settings {
        timezone: "Asia/Shanghai".into(),
        retention_days: 30,
        holidays: vec!["2026-10-01".into()],
        term_start: Some("2026-09-01".into()),
        ..Settings::default()
    };
    s.save_settings(changed.clone()).await.unwrap();
    assert_eq!(s.settings().await.unwrap(), changed);
    let again = Settings {
        language: "en".into(),
        ..changed
    };
    s.save_settings(again.clone()).await.unwrap();
    assert_eq!(s.settings().await.unwrap(), again);
}

pub async fn audit_is_filtered_newest_first_and_purged_by_age(s: &dyn Store) {
    let admin = user(s, Role::Admin, "Admin").await;
    let kid = user(s, Role::Student, "Kid").await;
    let entry = |at, actor, action: &str, subject| AuditEntry {
        at,
        actor_id: actor,
        action: action.into(),
        subject_id: subject,
        detail: json!({"at": at}),
    };
    let all = [
        entry(10, Some(admin), "user.created", Some(kid)),
        entry(20, None, "presence.arrived", Some(kid)),
        entry(30, Some(admin), "settings.changed", None),
        entry(40, Some(kid), "message.read", Some(admin)),
        entry(50, Some(admin), "user.created", Some(admin)),
    ];
    for e in &all {
        s.audit(e.clone()).await.unwrap();
    }
    let ats = |f: AuditFilter| async move {
        s.audit_log(f)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.at)
            .collect::<Vec<_>>()
    };
    let limit = |limit| AuditFilter {
        limit,
        ..Default::default()
    };
    assert_eq!(ats(limit(10)).await, [50, 40, 30, 20, 10], "newest first");
    assert_eq!(ats(limit(2)).await, [50, 40]);
    assert_eq!(
        ats(AuditFilter {
            action: Some("user.created".into()),
            ..limit(10)
        })
        .await,
        [50, 10]
    );
    assert_eq!(
        ats(AuditFilter {
            actor_id: Some(admin),
            ..limit(10)
        })
        .await,
        [50, 30, 10]
    );
    assert_eq!(
        ats(AuditFilter {
            subject_id: Some(kid),
            ..limit(10)
        })
        .await,
        [20, 10]
    );
    assert_eq!(
        ats(AuditFilter {
            actor_id: Some(admin),
            subject_id: Some(kid),
            action: Some("user.created".into()),
            limit: 10
        })
        .await,
        [10]
    );
    let full = s.audit_log(limit(1)).await.unwrap().remove(0);
    assert_eq!(full, all[4]);

    // Retention of the audit: strictly older than the cutoff goes.
    assert_eq!(s.purge_audit_before(30).await.unwrap(), 2);
    assert_eq!(ats(limit(10)).await, [50, 40, 30]);
    assert_eq!(s.purge_audit_before(30).await.unwrap(), 0);
}

pub async fn kv_and_suppressions_round_trip(s: &dyn Store) {
    assert_eq!(s.kv_get("end_of_day".into()).await.unwrap(), None);
    s.kv_put("end_of_day".into(), "2026-11-29".into()).await.unwrap();
    s.kv_put("end_of_day".into(), "2026-11-30".into()).await.unwrap();
    assert_eq!(
        s.kv_get("end_of_day".into()).await.unwrap().as_deref(),
        Some("2026-11-30")
    );

    assert!(s.suppressions().await.unwrap().is_empty());
    s.suppress(1, 2, 100).await.unwrap();
    s.suppress(1, 2, 300).await.unwrap(); // the same pair again: its end is replaced
    s.suppress(3, 4, 200).await.unwrap();
    let mut all = s.suppressions().await.unwrap();
    all.sort();
    assert_eq!(all, vec![(1, 2, 300), (3, 4, 200)]);
    s.drop_suppressions_before(200).await.unwrap();
    assert_eq!(
        s.suppressions().await.unwrap(),
        vec![(1, 2, 300)],
        "ended at or before now"
    );
}

pub async fn ping_answers(s: &dyn Store) {
    s.ping().await.unwrap();
}
