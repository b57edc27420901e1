//! What only the adapter's insides can show: every unique rule of the schema names a
//! field, and a write job that panics fails alone while the writer lives on.

use super::*;

async fn store() -> (pgtest::TestSchema, PgStore) {
    let schema = tokio::task::spawn_blocking(pgtest::TestSchema::new).await.unwrap();
    let store = PgStore::open(&schema.url, &schema.name).await.unwrap();
    (schema, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_unique_rule_in_the_schema_has_a_field() {
    let (schema, store) = store().await;
    let c = store.reader().await.unwrap();
    // Every unique index (and so every UNIQUE and PRIMARY KEY constraint), but the
    // single-column keys of rows that are only ever upserted or numbered. This schema's
    // indexes are picked first (a materialized CTE): `pg_indexes` may describe another
    // schema's index with pg_get_indexdef before its filter, and fails with "could not
    // open relation" when a test running beside this one drops that schema meanwhile.
    let rows = c
        .query(
            "WITH mine AS MATERIALIZED (
                SELECT i.oid, i.relname AS indexname, t.relname AS tablename
                  FROM pg_index x
                  JOIN pg_class i ON i.oid = x.indexrelid
                  JOIN pg_class t ON t.oid = x.indrelid
                  JOIN pg_namespace n ON n.oid = i.relnamespace
                 WHERE n.nspname = $1 AND x.indisunique)
             SELECT indexname::text FROM mine
              WHERE tablename NOT IN ('schema_migrations', 'settings', 'heartbeat', 'quiet_hours', 'push_settings')
                AND NOT (indexname = tablename || '_pkey' AND pg_get_indexdef(oid) LIKE '%(id)')",
            &[&schema.name],
        )
        .await
        .unwrap();
    assert!(rows.len() > 10, "{}", rows.len());
    for r in rows {
        let name: &str = r.get(0);
        assert!(
            errors::conflict_field(name).is_some(),
            "{name} has no field in conflict_field"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_write_job_fails_alone_and_the_writer_lives_on() {
    let (_schema, store) = store().await;
    store.heartbeat(1).await.unwrap();
    let crashed = store
        .write(|c| {
            Box::pin(async move {
                rows::exec(c, "INSERT INTO kv (key, value) VALUES ('half', 'done')", &[]).await?;
                if c.is_closed() {
                    return Ok(());
                }
                panic!("a bug inside a write job")
            })
        })
        .await;
    assert!(
        matches!(&crashed, Err(StoreError::Internal(m)) if m.contains("panicked")),
        "{crashed:?}"
    );
    // Its half-done change is gone; the writer still commits.
    assert_eq!(store.kv_get("half".into()).await.unwrap(), None);
    store.heartbeat(2).await.expect("the writer lives on");
    store.kv_put("after".into(), "yes".into()).await.unwrap();
    assert_eq!(store.kv_get("after".into()).await.unwrap().as_deref(), Some("yes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unique_violation_names_its_field_whatever_the_case() {
    let (_schema, store) = store().await;
    let add = |name: &'static str| {
        store.create_user(NewUser {
            role: Some(Role::Admin),
            display_name: "A".into(),
            username: Some(name.into()),
            ..Default::default()
        })
    };
    add("ann").await.unwrap();
    let err = add("ANN").await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("username")), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dump_names_every_table_and_column_of_the_schema() {
    let (schema, store) = store().await;
    let c = store.reader().await.unwrap();
    let rows = c
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
              WHERE table_schema = $1 AND table_name NOT IN ('schema_migrations')
              ORDER BY 1, ordinal_position",
            &[&schema.name],
        )
        .await
        .unwrap();
    let mut live: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    live.retain(|(t, _)| !crate::dump::NOT_MOVED.contains(&t.as_str()));
    let mut dumped: Vec<(String, String)> = crate::dump::TABLES
        .iter()
        .flat_map(|t| t.columns.iter().map(|(c, _)| (t.name.to_string(), c.to_string())))
        .collect();
    live.sort();
    dumped.sort();
    assert_eq!(live, dumped);
}
