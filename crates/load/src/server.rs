//! The server under test: one this run starts on a fresh data folder with its own admin
//! (`--spawn`, pinned to `--server-cpus` if given), or one or several already running
//! (`--url`, with `--pid` to weigh the first one's memory and their CPU).

use crate::options::Args;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// The server a run drives, and what to clean up after it.
pub struct Server {
    /// Its base URL, `http://host:port` (the first of `bases`).
    pub base: String,
    /// Every server the clients spread over (one unless several `--url`s).
    pub bases: Vec<String>,
    /// Its process id, when known: the memory figures read `/proc/<pid>/status`.
    pub pid: Option<u32>,
    /// Every server process whose CPU the messaging phase counts (`--pid`, or the one
    /// spawned); none when unknown, and then no server CPU is reported.
    pub pids: Vec<u32>,
    /// The process this run started, if it started one.
    child: Option<std::process::Child>,
    /// The data folder this run made for it, if any.
    dir: Option<PathBuf>,
}

impl Server {
    /// Starts the `--spawn` binary, or takes the `--url` server as it is.
    pub fn start(args: &Args) -> Result<Server> {
        match (&args.spawn, args.url.first()) {
            (Some(bin), _) => {
                let cpus = args.server_cpus.as_deref().map(crate::cpu::parse_cpus).transpose()?;
                spawn(bin, &args.admin_password, cpus)
            }
            (None, Some(url)) => Ok(Server {
                base: url.clone(),
                bases: args.url.clone(),
                pid: args.pid.first().copied(),
                pids: args.pid.clone(),
                child: None,
                dir: None,
            }),
            (None, None) => bail!("give --spawn PATH_TO_DOORPLATE or --url URL[,URL…]"),
        }
    }

    /// Stops the server this run started and removes its data folder; a server that
    /// was already running is left alone.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Creates the admin in a fresh data folder, starts the server on a free port and reads
/// its address from the first line it prints.
fn spawn(bin: &Path, password: &str, cpus: Option<Vec<usize>>) -> Result<Server> {
    let dir = std::env::temp_dir().join(format!("doorplate-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut admin = std::process::Command::new(bin)
        .args([
            "--data",
            dir.to_str().context("utf-8 path")?,
            "admin",
            "create",
            "--username",
            "admin",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    admin.stdin.take().context("stdin")?.write_all(password.as_bytes())?;
    if !admin.wait()?.success() {
        bail!("creating the admin failed");
    }
    let mut command = std::process::Command::new(bin);
    if let Some(cpus) = cpus {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec the closure makes one syscall
        // (sched_setaffinity) and allocates nothing; the server and every thread it
        // starts inherit the set.
        unsafe {
            command.pre_exec(move || crate::cpu::pin_current(&cpus));
        }
    }
    let mut child = command
        .args([
            "--data",
            dir.to_str().context("utf-8 path")?,
            "serve",
            "--listen",
            "127.0.0.1:0",
            // The whole school comes from this one address.
            "--max-connections-per-ip",
            "0",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let base = line
        .trim()
        .strip_prefix("doorplate listening on ")
        .context("the server's first line")?
        .to_string();
    Ok(Server {
        bases: vec![base.clone()],
        base,
        pid: Some(child.id()),
        pids: vec![child.id()],
        child: Some(child),
        dir: Some(dir),
    })
}
