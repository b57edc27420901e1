//! The data folder under attack or trouble (issue 10, items 4, 16, 19): an upload the
//! disk could not hold is never acknowledged; the data folder is private; `/readyz`
//! proves the store can write and says when the disk is full. (These are of a data
//! folder's disk and SQLite file, so the PostgreSQL pass leaves them out; what uploads
//! do on either store — quotas, the sweep, damage — is tests/uploads.rs.)

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_doorplate");

/// A PNG signature followed by zeros: sniffed as a picture, `size` bytes long.
fn png(size: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    v.resize(size, 0);
    v
}

/// The names in the media folder, sorted.
fn media_files(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The server binary with a per-process file-size limit of `limit` bytes (and SIGXFSZ
/// ignored, so a write past it fails with EFBIG instead of killing the process): the
/// disk is "full" for any file that would grow past `limit`, with no root and no mount.
fn spawn_with_file_limit(dir: &Path, limit: u64) -> (Child, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(BIN);
    cmd.args(["--data", dir.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls (signal, setrlimit).
    unsafe {
        cmd.pre_exec(move || {
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            let lim = libc::rlimit {
                rlim_cur: limit as libc::rlim_t,
                rlim_max: limit as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("doorplate listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url)
}

/// Item 4: with the disk full for the upload (any write past 3 MiB fails), the server
/// answers 507 — never `201 {size}` for a file that is not on disk — and leaves no file
/// and no media row; a file that fits is stored whole and downloads whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_the_disk_cannot_hold_is_507_with_no_file_and_no_row() {
    const LIMIT: u64 = 3 << 20;
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let (mut child, url) = spawn_with_file_limit(&dir.0, LIMIT);
    let api = Api {
        base: url,
        http: reqwest::Client::new(),
    };
    let s = School::with_api(api.clone()).await;

    // One byte past the limit: only the last write fails, the one the old code lost.
    // Then twice the limit: a write in the middle fails.
    for size in [LIMIT as usize + 1, 2 * LIMIT as usize] {
        let (st, v) = upload_bytes(&api, &s.gwen_token, png(size)).await;
        assert_eq!(
            (st, error_code(&v).as_str()),
            (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage"),
            "an upload of {size} bytes: {v}"
        );
        assert_eq!(media_files(&dir.0), Vec::<String>::new(), "nothing left on disk");
    }

    let good = png(100_000);
    let (st, v) = upload_bytes(&api, &s.gwen_token, good.clone()).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["size"], 100_000);
    let id = v["media_id"].as_str().unwrap().to_string();
    let (st, bytes) = download_media(&api, &s.gwen_token, &id).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        bytes == good,
        "the stored file is the uploaded one ({} bytes)",
        bytes.len()
    );
    assert_eq!(media_files(&dir.0).len(), 1);

    child.kill().unwrap();
    child.wait().unwrap();
    // The store holds exactly one upload: the refused ones left no row.
    let store = doorplate_store::sqlite::SqliteStore::open(&dir.0.join("doorplate.db")).unwrap();
    use doorplate_store::MediaStore;
    let rows = store.unattached_media_before(i64::MAX).await.unwrap();
    assert_eq!(rows.iter().map(|m| m.size).collect::<Vec<_>>(), vec![100_000]);
}

/// Items 4 and 19: below the free-space floor, `/readyz` is 503 and says the disk is
/// the problem, and uploads are refused (507) before a byte is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_free_space_floor_readyz_is_503_and_uploads_507() {
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let config = doorplate_server::Config {
        // More than any disk has: the data folder is always "nearly full".
        min_free_bytes: u64::MAX / 2,
        ..doorplate_server::Config::new(dir.0.clone())
    };
    let server = TestServer::start_with(dir, config).await;
    let s = School::new(&server).await;
    let (st, v) = server.api().call("GET", "/readyz", None, None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "not_ready");
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("disk:") && problems.contains("below the floor"),
        "{v}"
    );
    assert!(!problems.contains("store:"), "the store itself is fine: {v}");

    let (st, v) = upload_bytes(&s.api, &s.gwen_token, png(1000)).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
    );
    assert_eq!(media_files(&server.dir.0), Vec::<String>::new());
    // Text messages still go: only uploads wait for room.
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let (st, _) = s.send_text(&s.gwen_token, &conv, "t1", "hello").await;
    assert_eq!(st, StatusCode::CREATED);
}

/// Item 19: `/readyz` writes. With another process holding the database's write lock,
/// every read still answers but no write can commit: readyz says so (503) within its
/// timeout, and is ready again once the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_store_cannot_write_though_it_can_read() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let api = server.api();
    let (st, v) = api.call("GET", "/readyz", None, None).await;
    assert_eq!((st, &v), (StatusCode::OK, &json!({"status": "ready"})));

    let lock = rusqlite::Connection::open(server.dir.0.join("doorplate.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (st, _) = api.get("/api/v1/settings", &s.gwen_token).await;
    assert_eq!(st, StatusCode::OK, "reads still work");
    let (st, v) = api.call("GET", "/readyz", None, None).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(
        v["problems"].to_string().contains("store: a write did not complete"),
        "{v}"
    );

    lock.execute_batch("ROLLBACK").unwrap();
    let (st, v) = api.call("GET", "/readyz", None, None).await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

/// Item 16: after a start and an upload, the data folder and the media folder are 0700
/// and the database, its WAL and SHM, the key and the media files 0600 — also when an
/// older version left them readable by others. An upload a crash interrupted is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_folder_and_everything_in_it_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    create_admin(&dir.0).await;
    let loosen = |p: &Path, mode: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    std::fs::create_dir_all(dir.0.join("media")).unwrap();
    std::fs::write(dir.0.join("media").join("m_from_before"), png(100)).unwrap();
    std::fs::write(dir.0.join("media").join("m_interrupted.part"), png(100)).unwrap();
    loosen(&dir.0.join("media").join("m_from_before"), 0o644);
    loosen(&dir.0, 0o755);
    loosen(&dir.0.join("media"), 0o755);
    loosen(&dir.0.join("doorplate.db"), 0o644);
    loosen(&dir.0.join("secret.key"), 0o644);

    let server = TestServer::start_in(dir).await;
    let s = School::new(&server).await;
    let (st, v) = upload_bytes(&s.api, &s.gwen_token, png(1_000)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");

    let data = &server.dir.0;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let media = media_files(data);
    assert_eq!(
        media.len(),
        2,
        "the new upload and the one from before; the interrupted one is gone: {media:?}"
    );
    assert!(media.contains(&"m_from_before".to_string()));
    let expected = [
        (data.clone(), 0o700),
        (data.join("media"), 0o700),
        (data.join("media").join(&media[0]), 0o600),
        (data.join("media").join(&media[1]), 0o600),
        (data.join("doorplate.db"), 0o600),
        (data.join("doorplate.db-wal"), 0o600),
        (data.join("doorplate.db-shm"), 0o600),
        (data.join("secret.key"), 0o600),
    ];
    for (path, want) in expected {
        assert_eq!(mode(&path), want, "{} is {:o}", path.display(), mode(&path));
    }
}
