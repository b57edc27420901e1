//! What every keeper of uploads' bytes must do (files of a media folder, pieces in a
//! PostgreSQL schema): store an upload whole across many pieces, read any range of it a
//! piece at a time, remove what was not kept, and tidy what a crash left.

use super::user;
use doorplate_domain::Role;
use doorplate_store::media_bytes::{MediaBytes, read_all, write_all};
use doorplate_store::{Store, StoreError};
use futures_util::StreamExt;

/// Bytes that differ at every offset a piece boundary could fall on.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn read(bytes: &dyn MediaBytes, name: &str, start: u64, end: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = bytes.read(name, start, end);
    while let Some(piece) = s.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    out
}

/// Waits (briefly) until `name` has no bytes: a PostgreSQL sink removes its pieces in
/// a task of its own when dropped.
async fn gone(bytes: &dyn MediaBytes, name: &str) -> bool {
    for _ in 0..100 {
        if matches!(bytes.stored_len(name).await, Err(StoreError::NotFound)) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    false
}

pub async fn an_upload_is_stored_whole_and_read_by_any_range(_s: &dyn Store, bytes: &dyn MediaBytes) {
    let data = pattern(700 * 1024 + 13);
    let mut sink = bytes.create("m_whole", 1).await.unwrap();
    // Writes of odd sizes, across the pieces' boundaries.
    for part in [
        &data[..1000],
        &data[1000..300_000],
        &data[300_000..300_001],
        &data[300_001..],
    ] {
        sink.write(part).await.unwrap();
    }
    sink.finish().await.unwrap();
    sink.keep();
    let len = data.len() as u64;
    assert_eq!(bytes.stored_len("m_whole").await.unwrap(), len);
    assert!(read_all(bytes, "m_whole").await.unwrap() == data, "read whole");
    for (start, end) in [
        (0, 1),
        (1000, 600_000),
        (262_000, 263_000),
        (262_144, 524_288),
        (len - 5, len),
        (0, len),
    ] {
        let got = read(bytes, "m_whole", start, end).await;
        assert!(
            got == data[start as usize..end as usize],
            "bytes {start}..{end}: {} bytes",
            got.len()
        );
    }
    assert!(read(bytes, "m_whole", len, len).await.is_empty());
    assert!(matches!(bytes.stored_len("m_none").await, Err(StoreError::NotFound)));
    assert!(bytes.names().await.unwrap().contains(&"m_whole".to_string()));

    // A small one, and one of no bytes at all.
    write_all(bytes, "m_small", b"hello", 2).await.unwrap();
    assert_eq!(read_all(bytes, "m_small").await.unwrap(), b"hello");
    write_all(bytes, "m_empty", b"", 2).await.unwrap();
    assert_eq!(bytes.stored_len("m_empty").await.unwrap(), 0);
}

pub async fn an_upload_not_kept_or_removed_leaves_nothing(_s: &dyn Store, bytes: &dyn MediaBytes) {
    // Refused half-way (dropped before finishing), and refused after (its row failed).
    let mut half = bytes.create("m_half", 1).await.unwrap();
    half.write(&pattern(600 * 1024)).await.unwrap();
    drop(half);
    let mut whole = bytes.create("m_unkept", 1).await.unwrap();
    whole.write(&pattern(300 * 1024)).await.unwrap();
    whole.finish().await.unwrap();
    drop(whole);
    assert!(gone(bytes, "m_half").await, "a sink dropped half-way leaves nothing");
    assert!(gone(bytes, "m_unkept").await, "a sink dropped unkept leaves nothing");

    write_all(bytes, "m_a", &pattern(400 * 1024), 1).await.unwrap();
    write_all(bytes, "m_b", b"bytes of b", 1).await.unwrap();
    bytes.remove(vec!["m_a".into(), "m_never_was".into()]).await.unwrap();
    assert!(matches!(bytes.stored_len("m_a").await, Err(StoreError::NotFound)));
    assert_eq!(read_all(bytes, "m_b").await.unwrap(), b"bytes of b");
    let mut names = bytes.names().await.unwrap();
    names.sort();
    assert_eq!(names, ["m_b"]);
}

pub async fn tidy_removes_what_a_crash_left_and_nothing_a_row_names(s: &dyn Store, bytes: &dyn MediaBytes) {
    let owner = user(s, Role::Guardian, "Owner").await;
    write_all(bytes, "m_kept", &pattern(300 * 1024), 1).await.unwrap();
    s.insert_media(owner, "image/png".into(), 300 * 1024, "m_kept".into(), 1)
        .await
        .unwrap();
    // A crash in the middle of an upload: the sink is never dropped.
    let mut cut = bytes.create("m_cut", 1).await.unwrap();
    cut.write(&pattern(300 * 1024)).await.unwrap();
    std::mem::forget(cut);

    assert_eq!(bytes.tidy(i64::MAX).await.unwrap(), 1, "the cut upload");
    assert!(matches!(bytes.stored_len("m_cut").await, Err(StoreError::NotFound)));
    assert!(read_all(bytes, "m_kept").await.unwrap() == pattern(300 * 1024));
    assert_eq!(bytes.tidy(i64::MAX).await.unwrap(), 0);
}
