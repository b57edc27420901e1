//! One subcommand per file, each with a `run` function.

pub mod admin;
pub mod backup;
pub mod demo;
pub mod school;
pub mod serve;

use tracing_subscriber::EnvFilter;

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

/// Structured logs on stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
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

/// Serves on a bound listener until Ctrl-C or SIGTERM, printing the address first.
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    config: doorplate_server::Config,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    // Scripts and tests wait for this exact line.
    println!("doorplate listening on http://{addr}");
    doorplate_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

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
}
