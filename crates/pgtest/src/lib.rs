//! A throwaway PostgreSQL for tests, for any crate (a dev-dependency only).
//!
//! [`database_url`] answers `DOORPLATE_TEST_DATABASE` when it is set. Otherwise it starts
//! a cluster of its own with the machine's `initdb` and `pg_ctl` (found on `PATH`, then
//! in `/usr/lib/postgresql/*/bin`, as Debian's `postgresql` package puts them) in
//! `$TMPDIR/doorplate-pgtest-<uid>`: trust authentication, listening on 127.0.0.1 only
//! (on a free port) and on a unix socket in that folder, `fsync` and
//! `synchronous_commit` left on. Every test process of a run shares it: the first one
//! starts it under a file lock, the others (and later runs) find it running and reuse
//! it. Run as root, the cluster belongs to the `postgres` user (PostgreSQL refuses to
//! run as root). Stop it with `scripts/pg-throwaway.sh stop`, or
//! `pg_ctl -D $TMPDIR/doorplate-pgtest-<uid>/data stop`. The browser tests start (or find)
//! the same cluster with `scripts/pg-throwaway.sh start`, which takes the same lock file:
//! keep the two in step.
//!
//! Each test takes a schema of its own ([`fresh_schema_name`], [`TestSchema`]), so tests
//! run side by side in one database.

use std::fs::{self, File};
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The environment variable that names a database to use instead of a throwaway one.
pub const ENV: &str = "DOORPLATE_TEST_DATABASE";

/// A `postgresql://` URL of a database the tests may create schemas in.
///
/// Blocking: the first call of a process may wait some seconds while the cluster is
/// made and started (later calls return at once). Call it from sync code, or from
/// async code through `tokio::task::spawn_blocking` (calling it straight from an async
/// test also works — it only blocks that test's thread — but holds a runtime worker).
/// Panics, saying why, when no cluster can be started.
pub fn database_url() -> String {
    if let Ok(url) = std::env::var(ENV)
        && !url.trim().is_empty()
    {
        return url;
    }
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        Cluster::here()
            .and_then(|c| c.start_or_reuse())
            .unwrap_or_else(|e| panic!("pgtest: cannot start a throwaway PostgreSQL: {e}"))
    })
    .clone()
}

/// A schema name no other call (in this or any other process) returns: `t_<pid>_<n>_<ns>`.
pub fn fresh_schema_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000_000
    )
}

/// A database URL and a fresh schema name, whose schema (if anything made it) is dropped
/// with everything in it when this is dropped.
#[derive(Debug)]
pub struct TestSchema {
    pub url: String,
    pub name: String,
}

impl TestSchema {
    /// Blocking, like [`database_url`].
    pub fn new() -> TestSchema {
        TestSchema {
            url: database_url(),
            name: fresh_schema_name(),
        }
    }
}

impl Default for TestSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        drop_schema(&self.url, &self.name);
    }
}

/// Drops the schema and everything in it (nothing when there is no such schema).
/// Blocking; callable inside a tokio runtime or outside one (it runs on a thread of
/// its own). Failures are printed, not raised: it runs in test clean-up.
pub fn drop_schema(url: &str, schema: &str) {
    run_cleanup(
        url,
        format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            schema.replace('"', "\"\"")
        ),
    );
}

/// Drops every schema whose name starts with `prefix` (a test server's namespace: its
/// district and its schools). `prefix` is `[a-z0-9_]+`. Blocking, like [`drop_schema`].
pub fn drop_schemas_with_prefix(url: &str, prefix: &str) {
    if prefix.is_empty()
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        eprintln!("pgtest: refusing to drop schemas with prefix {prefix:?}");
        return;
    }
    run_cleanup(
        url,
        format!(
            "SET lock_timeout = '10s';
             DO $$ DECLARE s text; BEGIN
               FOR s IN SELECT nspname FROM pg_namespace WHERE starts_with(nspname, '{prefix}') LOOP
                 EXECUTE format('DROP SCHEMA %I CASCADE', s);
               END LOOP;
             END $$;"
        ),
    );
}

/// Runs `sql` on the database at `url` (on a thread of its own, so callable inside a
/// tokio runtime too): e.g. `CREATE DATABASE` for a test that restores into a new one.
pub fn execute(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the SQL thread panicked".to_string())?
}

/// The folder of the PostgreSQL programs (`pg_dump`, `pg_restore`, `psql` …) of the
/// version that runs the throwaway cluster: put it first on `PATH` to run a command an
/// operator would.
pub fn programs_dir() -> Result<PathBuf, String> {
    find_bin()
}

/// Runs clean-up SQL on a thread of its own; failures are printed.
fn run_cleanup(url: &str, sql: String) {
    let url = url.to_owned();
    let done = std::thread::spawn(move || -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        })
    })
    .join();
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("pgtest: could not drop test schemas: {e}"),
        Err(_) => eprintln!("pgtest: dropping test schemas panicked"),
    }
}

/// The folder of this user's throwaway cluster.
pub fn cluster_dir() -> PathBuf {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("doorplate-pgtest-{uid}"))
}

/// The throwaway cluster: its folder, the binaries, and whom they run as.
struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    /// When we are root: the `postgres` user's uid and gid, to run the server as.
    run_as: Option<(u32, u32)>,
}

impl Cluster {
    fn here() -> Result<Cluster, String> {
        let bin = find_bin()?;
        // SAFETY: getuid cannot fail.
        let run_as = if unsafe { libc::getuid() } == 0 {
            Some(postgres_user()?)
        } else {
            None
        };
        Ok(Cluster {
            dir: cluster_dir(),
            bin,
            run_as,
        })
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn url(port: u16) -> String {
        format!("postgresql://postgres@127.0.0.1:{port}/postgres")
    }

    /// The cluster's URL, starting it (and making it first) unless it already runs.
    fn start_or_reuse(&self) -> Result<String, String> {
        fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", self.dir.display()))?;
        }
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())?;
        // One process at a time from here: the others wait, then find it running.
        let _lock = Lock::take(&self.dir.join("lock"))?;

        if let Some(port) = self.running_port() {
            return Ok(Self::url(port));
        }
        if self.data().join("postmaster.pid").exists() {
            // Left by a server that died or does not answer: stop what may be left.
            let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w", "-t", "10"]);
        }
        let mut last = String::new();
        for attempt in 0..3 {
            if !self.data().join("PG_VERSION").exists() || (attempt > 0 && last.contains("incompatible")) {
                self.initdb()?;
            }
            let port = free_port()?;
            match self.start(port) {
                Ok(()) => {
                    fs::write(self.dir.join("port"), port.to_string()).map_err(|e| e.to_string())?;
                    return Ok(Self::url(port));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The port of a cluster of ours that runs and answers.
    fn running_port(&self) -> Option<u16> {
        let pid_file = fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        let pid: i32 = pid_file.lines().next()?.trim().parse().ok()?;
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive =
            unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        let port: u16 = fs::read_to_string(self.dir.join("port")).ok()?.trim().parse().ok()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        (alive && TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()).then_some(port)
    }

    fn initdb(&self) -> Result<(), String> {
        let data = self.data();
        let _ = fs::remove_dir_all(&data);
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    fn start(&self, port: u16) -> Result<(), String> {
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}' \
             -c fsync=on -c synchronous_commit=on -c max_connections=200",
            self.dir.display()
        );
        let log = self.dir.join("log");
        let log_arg = log.display().to_string();
        match self.pg_ctl(&["start", "-w", "-t", "60", "-l", &log_arg, "-o", &options]) {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut tail = String::new();
                if let Ok(mut f) = File::open(&log) {
                    let _ = f.read_to_string(&mut tail);
                }
                let tail: String = tail
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                Err(format!("{e}\nserver log ({}):\n{tail}", log.display()))
            }
        }
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(args)
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl {} failed: {}{}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// One of the binaries, run in the cluster's folder, as `postgres` when we are root.
    fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(name));
        cmd.current_dir(&self.dir).env("LC_ALL", "C").env_remove("PGDATA");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid).gid(gid).env("HOME", &self.dir).env("USER", "postgres");
        }
        cmd
    }
}

/// The folder with `initdb` and `pg_ctl`: where `initdb` is on `PATH`, else the newest
/// `/usr/lib/postgresql/<version>/bin`.
fn find_bin() -> Result<PathBuf, String> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has_both(&d) {
                return Ok(d);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d).ok_or_else(|| {
        "no initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL \
         (apt-get install postgresql) or set DOORPLATE_TEST_DATABASE"
            .to_string()
    })
}

/// The `postgres` user's uid and gid (Debian's package makes it).
fn postgres_user() -> Result<(u32, u32), String> {
    let name = std::ffi::CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy the two
    // numbers out at once, and only this code calls it (under the OnceLock).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err("running as root, and there is no postgres user to run PostgreSQL as \
                    (apt-get install postgresql makes one)"
            .into());
    }
    // SAFETY: pw is not null.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// A free TCP port on 127.0.0.1 (free when asked; the server takes it right after).
fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// An exclusive `flock` on a file, released when dropped (or when the process ends).
struct Lock(File);

impl Lock {
    fn take(path: &Path) -> Result<Lock, String> {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the descriptor is open for the call's duration.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!("flock {}: {}", path.display(), std::io::Error::last_os_error()));
        }
        Ok(Lock(f))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: the descriptor is still open.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_names_are_unique_lower_case_identifiers() {
        let a = super::fresh_schema_name();
        let b = super::fresh_schema_name();
        assert_ne!(a, b);
        for n in [a, b] {
            assert!(
                n.len() <= 63
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            );
        }
    }

    /// Starts (or finds) the cluster and talks to it.
    #[test]
    fn the_throwaway_cluster_answers() {
        let url = super::database_url();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer: i32 = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(conn);
            client.query_one("SELECT 1 + 1", &[]).await.unwrap().get(0)
        });
        assert_eq!(answer, 2);
        // A second call answers the same without starting anything.
        assert_eq!(super::database_url(), url);
    }
}
