//! Running under systemd: the unit passes `systemd-analyze verify`; the real binary
//! tells a notify socket READY=1 once serving, feeds the watchdog (WATCHDOG=1) only while
//! its stores write (not while another process holds the database's write lock), and
//! says STOPPING=1 at SIGTERM; SIGHUP re-reads the configuration file, keeps the running
//! one when the new file is invalid (the log says why), and applies a valid change.

mod common;

use common::TempDir;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_doorplate");
const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/doorplate.service");

/// The server with its stderr collected; killed when dropped.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["--data", dir.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("doorplate listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; log: {}", log.lock().unwrap()))
            .to_string();
        Server { child, url, log }
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, sig) }, 0);
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log holds `text` `times` times (or panics with the log).
    fn wait_log(&self, text: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.log().matches(text).count() < times {
            assert!(
                Instant::now() < deadline,
                "no {text:?} (x{times}) in the log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    async fn healthy(&self) -> bool {
        match reqwest::get(format!("{}/healthz", self.url)).await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        }
    }
}

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let Ok(out) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("SKIPPED: systemd-analyze is not installed (apt-get install systemd)");
        return;
    };
    assert!(out.status.success());
    // The unit names /usr/bin/doorplate; verify checks the program exists, so point it
    // at the binary just built (nothing else changes).
    let dir = TempDir::new();
    let unit = std::fs::read_to_string(UNIT).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/doorplate "));
    let path = dir.0.join("doorplate.service");
    std::fs::write(&path, unit.replace("/usr/bin/doorplate", BIN)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify failed:\n{stderr}");
    // Unknown keys and bad values are only warnings: none may appear.
    let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("doorplate")).collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify warns:\n{stderr}");
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "User=doorplate",
        "StateDirectory=doorplate",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "LimitNOFILE=",
    ] {
        assert!(unit.contains(key), "the unit lacks {key:?}");
    }
}

/// Reads notify datagrams until one holds `line` (or panics with what came).
fn expect_notify(sock: &UnixDatagram, line: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {line:?} from the server; got {seen:?}");
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).to_string();
                let found = msg.lines().any(|l| l == line);
                seen.push(msg);
                if found {
                    return seen;
                }
            }
            Err(e) => panic!("no {line:?} from the server ({e}); got {seen:?}"),
        }
    }
}

/// Throws away the datagrams already queued.
fn drain(sock: &UnixDatagram) {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    while sock.recv(&mut buf).is_ok() {}
    sock.set_nonblocking(false).unwrap();
}

/// Every datagram that arrives within `d`.
fn collect(sock: &UnixDatagram, d: Duration) -> Vec<String> {
    let deadline = Instant::now() + d;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return seen;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        match sock.recv(&mut buf) {
            Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).to_string()),
            Err(_) => return seen,
        }
    }
}

#[tokio::test]
async fn it_tells_systemd_ready_feeds_the_watchdog_and_says_stopping() {
    let dir = TempDir::new();
    let socket = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&socket).unwrap();
    let data = dir.0.join("data");
    let server = Server::start(
        &data,
        &[],
        &[
            ("NOTIFY_SOCKET", socket.to_str().unwrap()),
            // A 0.6 s watchdog: fed every 0.3 s.
            ("WATCHDOG_USEC", "600000"),
        ],
    );
    let seen = expect_notify(&sock, "READY=1", Duration::from_secs(10));
    assert!(
        server.healthy().await,
        "READY=1 came before the server answered: {seen:?}"
    );
    // Several feeds, each after a heartbeat through the writer.
    for _ in 0..3 {
        expect_notify(&sock, "WATCHDOG=1", Duration::from_secs(3));
    }

    // Another process holds the database's write lock: heartbeats cannot commit, so the
    // watchdog goes hungry (systemd would restart the server); once the lock goes, the
    // feeding resumes.
    let db = rusqlite::Connection::open(data.join("doorplate.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drain(&sock);
    let hungry = collect(&sock, Duration::from_millis(1800));
    assert!(
        !hungry.iter().any(|m| m.lines().any(|l| l == "WATCHDOG=1")),
        "fed while the store could not write: {hungry:?}"
    );
    db.execute_batch("COMMIT").unwrap();
    expect_notify(&sock, "WATCHDOG=1", Duration::from_secs(6));

    server.signal(libc::SIGTERM);
    expect_notify(&sock, "STOPPING=1", Duration::from_secs(5));
    let mut server = server;
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit {status:?}; log:\n{}", server.log());
}

async fn upload(base: &str, token: &str) -> reqwest::StatusCode {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.resize(2_000, 0);
    reqwest::Client::new()
        .post(format!("{base}/api/v1/media"))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn sighup_keeps_the_running_configuration_when_the_file_is_invalid_and_applies_a_valid_one() {
    let dir = TempDir::new();
    let conf = dir.0.join("doorplate.conf");
    std::fs::write(
        &conf,
        "log = \"info\"\nheader_timeout = \"15\"\nuploads_per_minute = \"2\"\n",
    )
    .unwrap();
    let data = dir.0.join("data");
    std::fs::create_dir_all(&data).unwrap();
    common::create_admin(&data).await;
    // On PostgreSQL test runs, the binary opens the store the admin was made in.
    let store = common::store_env(&data).await;
    let env: Vec<(&str, &str)> = store.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start(&data, &["--config", conf.to_str().unwrap()], &env);
    server.wait_log("doorplate serving", 1);
    let api = common::Api {
        base: server.url.clone(),
        http: reqwest::Client::new(),
    };
    let admin = api.login("admin", common::ADMIN_PASSWORD).await;
    // The file's upload rate applies from the start: two a minute.
    assert_eq!(upload(&server.url, &admin).await, reqwest::StatusCode::CREATED);

    // A broken file: nothing changes, the server still answers, and the log says why.
    std::fs::write(
        &conf,
        "log = \"info\"\nheader_timeout = \"soon\"\nuploads_per_minute = \"50\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("configuration not reloaded", 1);
    assert!(
        server
            .log()
            .contains("header_timeout = \\\"soon\\\": expected a whole number")
            || server
                .log()
                .contains("header_timeout = \"soon\": expected a whole number"),
        "the log does not say why:\n{}",
        server.log()
    );
    assert!(
        server.healthy().await,
        "the server stopped answering after a bad reload"
    );
    // The upload rate of the refused file did not apply: the third upload is refused.
    assert_eq!(upload(&server.url, &admin).await, reqwest::StatusCode::CREATED);
    assert_eq!(
        upload(&server.url, &admin).await,
        reqwest::StatusCode::TOO_MANY_REQUESTS
    );

    // An unknown setting and a bad log filter are refused the same way.
    std::fs::write(&conf, "log = \"info\"\nlisten_to = \"me\"\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("configuration not reloaded", 2);
    assert!(server.log().contains("unknown setting"), "{}", server.log());
    std::fs::write(&conf, "log = \"info,doorplate=loud\"\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("configuration not reloaded", 3);
    assert!(server.healthy().await);

    // A valid change: more uploads a minute, at once.
    std::fs::write(
        &conf,
        "log = \"info\"\nheader_timeout = \"15\"\nuploads_per_minute = \"5\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("configuration reloaded", 1);
    assert_eq!(upload(&server.url, &admin).await, reqwest::StatusCode::CREATED);

    // Another: the log filter goes to warn. Its own reload line is still written under
    // the old filter; after it, info lines are gone, but the warning about a setting
    // that waits for a restart shows.
    std::fs::write(
        &conf,
        "log = \"warn\"\nheader_timeout = \"15\"\nuploads_per_minute = \"5\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("reloading the configuration", 5);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        &conf,
        "log = \"warn\"\nheader_timeout = \"20\"\nuploads_per_minute = \"5\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.wait_log("takes effect at the next restart", 1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.log().matches("reloading the configuration").count(),
        5,
        "info lines still logged after log = \"warn\":\n{}",
        server.log()
    );
    assert!(server.healthy().await);
}

#[test]
fn the_packaged_and_the_printed_default_configurations_are_accepted() {
    let dir = TempDir::new();
    let printed = Command::new(BIN).arg("default-config").output().unwrap();
    assert!(printed.status.success());
    let printed_path = dir.0.join("printed.conf");
    std::fs::write(&printed_path, &printed.stdout).unwrap();
    let packaged = concat!(env!("CARGO_MANIFEST_DIR"), "/../../packaging/doorplate.conf");
    for (n, conf) in [printed_path.to_str().unwrap(), packaged].into_iter().enumerate() {
        let data = dir.0.join(format!("data-{n}"));
        let server = Server::start(&data, &["--config", conf], &[]);
        server.wait_log("doorplate serving", 1);
    }
}
