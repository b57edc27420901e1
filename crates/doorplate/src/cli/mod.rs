//! One subcommand per file, each with a `run` function.

pub mod admin;
pub mod backup;
pub mod demo;
pub mod district;
pub mod school;
pub mod serve;
pub mod systemd;

use anyhow::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Registry, fmt, reload};

/// Where the schools are kept, from the global flags: a database, and the key file.
#[derive(Clone, Debug, Default)]
pub struct StoreArgs {
    pub database: Option<doorplate_server::district::catalog::Database>,
    pub key_file: Option<std::path::PathBuf>,
}

impl StoreArgs {
    /// The server configuration's view of them, for a data folder.
    pub fn config(&self, data: std::path::PathBuf) -> doorplate_server::Config {
        doorplate_server::Config {
            database: self.database.clone(),
            key_file: self.key_file.clone(),
            ..doorplate_server::Config::new(data)
        }
    }

    /// The deployment's key (made on first use) and the catalog of schools.
    pub async fn open(
        &self,
        data: &std::path::Path,
    ) -> anyhow::Result<(
        doorplate_server::crypto::Secrets,
        doorplate_server::district::catalog::Catalog,
    )> {
        std::fs::create_dir_all(data).map_err(|e| anyhow::anyhow!("creating {}: {e}", data.display()))?;
        let config = self.config(data.to_path_buf());
        let master = doorplate_server::open_data_dir(&config)?;
        let catalog = doorplate_server::district::catalog::Catalog::open(data, self.database.as_ref()).await?;
        Ok((master, catalog))
    }
}

/// The log filter, replaceable while the server runs (a reload of the configuration).
static LOG_FILTER: std::sync::OnceLock<reload::Handle<EnvFilter, Registry>> = std::sync::OnceLock::new();

/// Structured logs on stderr; `RUST_LOG` filters (default `info`; `serve --config` may
/// set `log`).
pub fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let _ = LOG_FILTER.set(handle);
    let (text, json) = if format == "json" {
        (None, Some(fmt::layer().json().with_writer(std::io::stderr)))
    } else {
        (Some(fmt::layer().with_writer(std::io::stderr)), None)
    };
    tracing_subscriber::registry().with(filter).with(text).with(json).init();
}

/// Whether `RUST_LOG` chose the filter: it then wins over the configuration file.
pub fn log_from_env() -> bool {
    std::env::var_os("RUST_LOG").is_some()
}

/// Checks a log filter (`info`, `doorplate_server=debug,warn` …) without applying it.
pub fn parse_log_filter(directives: &str) -> anyhow::Result<EnvFilter> {
    EnvFilter::try_new(directives).map_err(|e| anyhow::anyhow!("log = {directives:?}: {e}"))
}

/// Replaces the log filter of the running process.
pub fn set_log_filter(filter: EnvFilter) -> anyhow::Result<()> {
    let handle = LOG_FILTER.get().context("logging is not set up")?;
    handle
        .reload(filter)
        .map_err(|e| anyhow::anyhow!("changing the log filter: {e}"))
}

/// Raises the soft limit of open files to the hard limit: every live socket is a file.
pub fn raise_fd_limit() -> Option<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return None;
            }
        }
        Some(lim.rlim_cur)
    }
}

/// What to do when SIGHUP arrives (`systemctl reload`): re-read the configuration.
pub type OnHangup = Box<dyn FnMut(&doorplate_server::Control) + Send + 'static>;

/// Serves on a bound listener until Ctrl-C or SIGTERM, printing the address first.
/// Tells systemd when it is ready and stopping, feeds its watchdog while every store
/// writes, and runs `on_hup` at each SIGHUP (without one, SIGHUP keeps its default).
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    config: doorplate_server::Config,
    on_hup: Option<OnHangup>,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    // Scripts and tests wait for this exact line.
    println!("doorplate listening on http://{addr}");
    // The server's handle, once every school is open: a reload acts through it.
    let running = std::sync::Arc::new(std::sync::OnceLock::new());
    let hangups = on_hup.map(|f| tokio::spawn(on_hangup(f, running.clone())));
    let started = |control: doorplate_server::Control| {
        let _ = running.set(control.clone());
        systemd::notify(&[sd_notify::NotifyState::Ready, sd_notify::NotifyState::Status("serving")]);
        if let Some(period) = systemd::watchdog_period() {
            tracing::info!(every_ms = period.as_millis() as u64, "feeding the systemd watchdog");
            tokio::spawn(systemd::feed_watchdog(control, period));
        }
    };
    let clock = std::sync::Arc::new(doorplate_server::school::clock::SystemClock);
    let result = doorplate_server::run_with(listener, config, clock, shutdown_signal(), started).await;
    if let Some(h) = hangups {
        h.abort();
    }
    result?;
    Ok(())
}

#[cfg(unix)]
async fn on_hangup(mut f: OnHangup, running: std::sync::Arc<std::sync::OnceLock<doorplate_server::Control>>) {
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: no configuration reload");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match running.get() {
            Some(control) => f(control),
            None => tracing::warn!("SIGHUP while the schools are still opening: nothing reloaded"),
        }
    }
}

#[cfg(not(unix))]
async fn on_hangup(_: OnHangup, _: std::sync::Arc<std::sync::OnceLock<doorplate_server::Control>>) {}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    systemd::notify(&[sd_notify::NotifyState::Stopping]);
}
