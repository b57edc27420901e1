//! `doorplate serve` — the real server.

use anyhow::Context;
use doorplate_domain::uploads::UploadPolicy;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "DOORPLATE_LISTEN")]
    listen: Option<String>,
    /// A configuration file (see `doorplate default-config`); flags win over it.
    #[arg(long, env = "DOORPLATE_CONFIG")]
    config: Option<PathBuf>,
    /// Free space (MiB) the data folder must keep: below it uploads are refused (507)
    /// and /readyz answers 503.
    #[arg(long, env = "DOORPLATE_MIN_FREE_MB", default_value_t = doorplate_server::DEFAULT_MIN_FREE_BYTES >> 20)]
    min_free_mb: u64,
    /// Uploads one user may start per minute (more get 429) [default: 20].
    #[arg(long, env = "DOORPLATE_UPLOADS_PER_MINUTE")]
    uploads_per_minute: Option<u32>,
    /// MiB one user may keep in uploads that no message carries yet (more get 413);
    /// never less than one file of the school's largest size limit.
    /// [default: 128]
    #[arg(long, env = "DOORPLATE_UPLOAD_QUOTA_MB")]
    upload_quota_mb: Option<u64>,
    /// The URL people open, e.g. https://doorplate.example.org behind a TLS proxy:
    /// requests signed in by the session cookie must come from it (or from the address
    /// they were sent to), and https makes the cookie Secure.
    #[arg(long, env = "DOORPLATE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds a client may take to send a request head; an idle keep-alive connection
    /// is closed after as long [default: 15].
    #[arg(long, env = "DOORPLATE_HEADER_TIMEOUT")]
    header_timeout: Option<u64>,
    /// Seconds a request body may send nothing before the request is ended [default: 30].
    #[arg(long, env = "DOORPLATE_BODY_TIMEOUT")]
    body_timeout: Option<u64>,
    /// Open connections (event sockets included) one client address may hold; 0 turns
    /// the limit off, as behind a reverse proxy [default: 256].
    #[arg(long, env = "DOORPLATE_MAX_CONNECTIONS_PER_IP")]
    max_connections_per_ip: Option<usize>,
    /// Addresses of reverse proxies in front of the server (comma-separated): their
    /// connections are not capped, and their X-Forwarded-For names the client for
    /// throttles and the audit.
    #[arg(long, env = "DOORPLATE_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxy: Vec<std::net::IpAddr>,
    /// The school the root paths (/app, /kiosk, /admin, /api/v1) serve; every school is
    /// also at /s/SLUG/ [default: the data folder's own school].
    #[arg(long, env = "DOORPLATE_DEFAULT_SCHOOL")]
    default_school: Option<String>,
    /// A TURN relay for calls, e.g. turn:turn.example.org:3478 (repeat or separate with
    /// commas for several); needs --turn-secret-file.
    #[arg(long, env = "DOORPLATE_TURN_URL", value_delimiter = ',')]
    turn_url: Vec<String>,
    /// A file holding the relay's shared secret (coturn's static-auth-secret):
    /// short-lived credentials for calls are derived from it.
    #[arg(long, env = "DOORPLATE_TURN_SECRET_FILE")]
    turn_secret_file: Option<PathBuf>,
    /// Tell browsers to send call media through the relay only (never directly).
    #[arg(long, env = "DOORPLATE_TURN_RELAY_ONLY")]
    turn_relay_only: bool,
    /// Serve Prometheus metrics at /metrics on this address (a listener of its own, e.g.
    /// 127.0.0.1:9090; keep it off the public network) [default: off].
    #[arg(long, env = "DOORPLATE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Take a backup of every school daily into this folder (for operators with no
    /// backup of their own; see `doorplate backup`).
    #[arg(long, env = "DOORPLATE_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// The time of the daily backup, HH:MM on the default school's clock [default: 02:30].
    #[arg(long, env = "DOORPLATE_BACKUP_AT")]
    backup_at: Option<String>,
    /// How many daily backups to keep [default: 7].
    #[arg(long, env = "DOORPLATE_BACKUP_KEEP")]
    backup_keep: Option<u64>,
    /// A file holding a passphrase (its first line, 8 characters or more) that seals
    /// every daily backup, as `backup --passphrase-stdin` does [default: not encrypted].
    #[arg(long, env = "DOORPLATE_BACKUP_PASSPHRASE_FILE")]
    backup_passphrase_file: Option<PathBuf>,
    /// This server's name in the district, unique among the servers that share one
    /// database; every answer names it in Doorplate-Served-By [default: the host name].
    #[arg(long, env = "DOORPLATE_NAME")]
    name: Option<String>,
    /// The URL the other servers of the district reach this one at, e.g.
    /// http://10.0.0.2:8080 [default: http:// and the address it listens on].
    #[arg(long, env = "DOORPLATE_ADVERTISE")]
    advertise: Option<String>,
}

/// The TURN relay for calls from the flags: URLs and the secret go together.
fn ice_config(args: &Args) -> anyhow::Result<doorplate_server::school::IceConfig> {
    let secret = match &args.turn_secret_file {
        Some(p) => {
            let s = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let s = s.trim();
            if s.is_empty() {
                anyhow::bail!("{}: the TURN secret is empty", p.display());
            }
            Some(s.as_bytes().to_vec())
        }
        None => None,
    };
    for u in &args.turn_url {
        if !(u.starts_with("turn:") || u.starts_with("turns:")) {
            anyhow::bail!("--turn-url {u:?}: expected turn:host:port or turns:host:port");
        }
    }
    if secret.is_some() == args.turn_url.is_empty() {
        anyhow::bail!("--turn-url and --turn-secret-file go together");
    }
    Ok(doorplate_server::school::IceConfig {
        turn_urls: args.turn_url.clone(),
        turn_secret: secret,
        relay_only: args.turn_relay_only,
    })
}

/// The passphrase that seals the daily backups, from its file. A file others may read
/// is used, but the log says so: whoever reads it can open every backup.
fn backup_passphrase(path: &std::path::Path) -> anyhow::Result<doorplate_server::backup::Passphrase> {
    let passphrase = doorplate_server::backup::Passphrase::read_file(path).map_err(anyhow::Error::msg)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %path.display(), "the backup passphrase file can be read by others: make it 0600");
        }
    }
    Ok(passphrase)
}

pub const DEFAULT_CONFIG: &str = r#"# Doorplate configuration. Flags and DOORPLATE_* variables override these lines.

# What the log shows: a level (error, warn, info, debug, trace) or RUST_LOG-style
# directives such as "info,doorplate_server=debug". RUST_LOG, when set, wins. Changed by
# a reload (SIGHUP, `systemctl reload doorplate`) without a restart.
# log = "info"

# Where the embedded database, uploaded media and the secret key live.
data = "./doorplate-data"

# The school the root paths serve, when the data folder holds several (see
# `doorplate school list`); every school is also served at /s/<slug>/.
# default_school = "main"

# Address and port to serve the API, the kiosk (/kiosk), the family app (/app) and the
# console (/admin) on. Put a TLS-terminating proxy in front for anything but a lab.
listen = "127.0.0.1:8080"

# The URL people open, when it is not the listen address (a TLS proxy in front):
# cookie-signed requests must come from it, and https makes the cookie Secure.
# public_url = "https://doorplate.example.org"

# Seconds to receive a request head (also how long an idle connection stays open), and
# seconds a request body may stall before the request is ended.
# header_timeout = "15"
# body_timeout = "30"

# Open connections one client address may hold; "0" turns the limit off.
# max_connections_per_ip = "256"

# Reverse proxies in front of the server (comma-separated addresses): their
# X-Forwarded-For names the client for throttles, and their connections are not capped.
# trusted_proxies = "127.0.0.1"

# Per user: uploads started a minute (more get 429), and MiB kept in uploads no message
# carries yet (more get 413). A reload changes them without a restart.
# uploads_per_minute = "20"
# upload_quota_mb = "128"

# Prometheus metrics at /metrics on a listener of its own (off unless set). Names start
# with doorplate_; no label carries a message, a name or a token. Keep it private.
# metrics_listen = "127.0.0.1:9090"

# Daily backups of every school into a folder of their own, at a time on the default
# school's clock, keeping the newest few. An archive holds the key and every message:
# keep the folder as private as the data folder, or seal each archive with the
# passphrase in a file (its first line; mode 0600, and a copy kept apart from the
# backups: without it they cannot be restored). On PostgreSQL an archive holds the key
# and media only: back the database up with pg_dump.
# backup_dir = "/var/backups/doorplate"
# backup_at = "02:30"
# backup_keep = "7"
# backup_passphrase_file = "/etc/doorplate/backup.passphrase"
"#;

/// The settings a configuration file may hold.
const KNOWN: [&str; 18] = [
    "log",
    "uploads_per_minute",
    "upload_quota_mb",
    "data",
    "default_school",
    "listen",
    "public_url",
    "header_timeout",
    "body_timeout",
    "max_connections_per_ip",
    "trusted_proxies",
    "metrics_listen",
    "backup_dir",
    "backup_at",
    "backup_keep",
    "backup_passphrase_file",
    "name",
    "advertise",
];

/// Reads `key = "value"` lines (a subset of TOML: strings, comments).
fn read_config(path: &PathBuf) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .with_context(|| format!("{}:{}: expected key = \"value\"", path.display(), n + 1))?;
        let k = k.trim();
        if !KNOWN.contains(&k) {
            anyhow::bail!(
                "{}:{}: unknown setting {k:?} (known: {})",
                path.display(),
                n + 1,
                KNOWN.join(", ")
            );
        }
        out.push((k.to_string(), v.trim().trim_matches('"').to_string()));
    }
    Ok(out)
}

/// Checks every value of a configuration file, so a start and a reload refuse the same
/// files.
fn check_config(file: &[(String, String)]) -> anyhow::Result<()> {
    for (k, v) in file {
        match k.as_str() {
            "log" => {
                super::parse_log_filter(v)?;
            }
            "header_timeout"
            | "body_timeout"
            | "max_connections_per_ip"
            | "backup_keep"
            | "uploads_per_minute"
            | "upload_quota_mb" => {
                let n: u64 = v
                    .parse()
                    .with_context(|| format!("{k} = {v:?}: expected a whole number"))?;
                if (k == "backup_keep" || k == "uploads_per_minute") && n == 0 {
                    anyhow::bail!("{k} must be at least 1");
                }
                if k == "uploads_per_minute" && n > u32::MAX as u64 {
                    anyhow::bail!("{k} = {v:?}: too large");
                }
            }
            "trusted_proxies" => {
                for a in v.split(',') {
                    a.trim()
                        .parse::<std::net::IpAddr>()
                        .with_context(|| format!("trusted_proxies: {a:?} is not an address"))?;
                }
            }
            "public_url" => {
                doorplate_server::origin::origin_of(v).map_err(|e| anyhow::anyhow!("public_url: {e}"))?;
            }
            "backup_at" => {
                doorplate_server::backup::schedule::parse_at(v).map_err(|e| anyhow::anyhow!("backup_at: {e}"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Applies the file's `log` filter (`info` without one), unless `RUST_LOG` chose it.
fn apply_log(file: &[(String, String)]) -> anyhow::Result<()> {
    if super::log_from_env() {
        return Ok(());
    }
    let level = file
        .iter()
        .find(|(k, _)| k == "log")
        .map_or("info", |(_, v)| v.as_str());
    super::set_log_filter(super::parse_log_filter(level)?)
}

/// SIGHUP: reads the configuration file again. An invalid file changes nothing (the
/// log says why); a valid one applies what can change while serving (the log filter)
/// and names the settings that wait for a restart.
fn reload(
    path: &std::path::Path,
    running: &[(String, String)],
    flags: &UploadFlags,
    control: &doorplate_server::Control,
) {
    tracing::info!(file = %path.display(), "reloading the configuration");
    let file = match read_config(&path.to_path_buf()).and_then(|f| check_config(&f).map(|()| f)) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %format!("{e:#}"), "configuration not reloaded: keeping the running one");
            return;
        }
    };
    if let Err(e) = apply_log(&file) {
        tracing::error!(error = %format!("{e:#}"), "configuration not reloaded: keeping the running one");
        return;
    }
    let value = |f: &[(String, String)], key: &str| f.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    match upload_policy(flags, &file) {
        Ok(policy) => {
            control.set_upload_policy(policy);
            tracing::info!(
                uploads_per_minute = policy.per_minute,
                upload_quota_mb = policy.pending_bytes >> 20,
                "upload limits"
            );
        }
        Err(e) => tracing::error!(error = %format!("{e:#}"), "upload limits not changed"),
    }
    const LIVE: [&str; 3] = ["log", "uploads_per_minute", "upload_quota_mb"];
    for key in KNOWN.iter().filter(|k| !LIVE.contains(k)) {
        if value(&file, key) != value(running, key) {
            tracing::warn!(setting = *key, "changed in the file: takes effect at the next restart");
        }
    }
    let log = value(&file, "log").unwrap_or_else(|| "info".into());
    if super::log_from_env() {
        tracing::info!("configuration reloaded (RUST_LOG is set and keeps choosing the log filter)");
    } else {
        tracing::info!(log = %log, "configuration reloaded");
    }
}

/// The upload flags (or their variables); they win over the file, at start and reload.
#[derive(Clone, Copy, Debug)]
struct UploadFlags {
    per_minute: Option<u32>,
    quota_mb: Option<u64>,
}

/// The upload limits from the flags, else the file, else the defaults.
fn upload_policy(flags: &UploadFlags, file: &[(String, String)]) -> anyhow::Result<UploadPolicy> {
    let from_file = |k: &str| file.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let defaults = UploadPolicy::default();
    let per_minute = match (flags.per_minute, from_file("uploads_per_minute")) {
        (Some(n), _) => n,
        (None, Some(v)) => v.parse().with_context(|| format!("uploads_per_minute = {v:?}"))?,
        (None, None) => defaults.per_minute,
    };
    let quota_mb = match (flags.quota_mb, from_file("upload_quota_mb")) {
        (Some(n), _) => n,
        (None, Some(v)) => v.parse().with_context(|| format!("upload_quota_mb = {v:?}"))?,
        (None, None) => defaults.pending_bytes >> 20,
    };
    Ok(UploadPolicy {
        per_minute,
        pending_bytes: quota_mb.saturating_mul(1 << 20),
    })
}

pub async fn run(data: Option<PathBuf>, store: super::StoreArgs, args: Args) -> anyhow::Result<()> {
    let ice = ice_config(&args)?;
    let file = match &args.config {
        Some(p) => read_config(p)?,
        None => Vec::new(),
    };
    check_config(&file)?;
    apply_log(&file)?;
    let upload_flags = UploadFlags {
        per_minute: args.uploads_per_minute,
        quota_mb: args.upload_quota_mb,
    };
    let uploads = upload_policy(&upload_flags, &file)?;
    let from_file = |k: &str| file.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let data = data
        .or_else(|| from_file("data").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./doorplate-data"));
    let listen = args
        .listen
        .or_else(|| from_file("listen"))
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let number = |flag: Option<u64>, key: &str| -> anyhow::Result<Option<u64>> {
        match flag {
            Some(v) => Ok(Some(v)),
            None => from_file(key)
                .map(|v| {
                    v.parse()
                        .with_context(|| format!("{key} = {v:?}: expected a whole number"))
                })
                .transpose(),
        }
    };
    let mut http = doorplate_server::HttpConfig {
        public_url: args.public_url.or_else(|| from_file("public_url")),
        ..Default::default()
    };
    if let Some(url) = &http.public_url {
        // Refused before listening, so no script takes the server for started.
        doorplate_server::origin::origin_of(url).map_err(|e| anyhow::anyhow!("public_url: {e}"))?;
    }
    if let Some(s) = number(args.header_timeout, "header_timeout")? {
        http.header_timeout = std::time::Duration::from_secs(s.max(1));
    }
    if let Some(s) = number(args.body_timeout, "body_timeout")? {
        http.body_timeout = std::time::Duration::from_secs(s.max(1));
    }
    if let Some(n) = number(args.max_connections_per_ip.map(|n| n as u64), "max_connections_per_ip")? {
        http.max_connections_per_ip = n as usize;
    }
    http.trusted_proxies = if args.trusted_proxy.is_empty() {
        from_file("trusted_proxies")
            .map(|v| {
                v.split(',')
                    .map(|a| {
                        a.trim()
                            .parse()
                            .with_context(|| format!("trusted_proxies: {a:?} is not an address"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default()
    } else {
        args.trusted_proxy
    };
    let passphrase_file = args
        .backup_passphrase_file
        .clone()
        .or_else(|| from_file("backup_passphrase_file").map(PathBuf::from));
    let backups = match args.backup_dir.or_else(|| from_file("backup_dir").map(PathBuf::from)) {
        Some(dir) => {
            let at = args
                .backup_at
                .or_else(|| from_file("backup_at"))
                .unwrap_or_else(|| "02:30".into());
            let keep = number(args.backup_keep, "backup_keep")?.unwrap_or(7);
            if keep == 0 {
                anyhow::bail!("backup_keep must be at least 1");
            }
            let passphrase = match &passphrase_file {
                Some(path) => Some(backup_passphrase(path)?),
                None => None,
            };
            Some(doorplate_server::backup::schedule::Schedule {
                dir,
                at_minute: doorplate_server::backup::schedule::parse_at(&at).map_err(anyhow::Error::msg)?,
                keep: keep as usize,
                passphrase,
            })
        }
        None if args.backup_at.is_some() || args.backup_keep.is_some() || passphrase_file.is_some() => {
            anyhow::bail!("--backup-at, --backup-keep and --backup-passphrase-file need --backup-dir")
        }
        None => None,
    };
    if let Some(n) = super::raise_fd_limit() {
        tracing::info!(open_files = n, "open file limit");
    }
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let metrics_listener = match args.metrics_listen.or_else(|| from_file("metrics_listen")) {
        Some(addr) => {
            let l = std::net::TcpListener::bind(&addr).with_context(|| format!("metrics on {addr}"))?;
            tracing::info!(addr = %l.local_addr()?, "metrics at /metrics");
            Some(std::sync::Arc::new(l))
        }
        None => None,
    };
    let config = doorplate_server::Config {
        min_free_bytes: args.min_free_mb << 20,
        uploads,
        http,
        default_school: args.default_school.or_else(|| from_file("default_school")),
        ice,
        metrics_listener,
        backups,
        server: doorplate_server::ServerIdentity {
            name: args
                .name
                .or_else(|| from_file("name"))
                .unwrap_or_else(doorplate_server::host_name),
            advertise: args.advertise.or_else(|| from_file("advertise")),
        },
        ..store.config(data)
    };
    let on_hup: Option<super::OnHangup> = match args.config {
        Some(path) => Some(Box::new(move |control| reload(&path, &file, &upload_flags, control))),
        None => Some(Box::new(|_| {
            tracing::info!("SIGHUP: no configuration file (serve --config) to reload");
        })),
    };
    super::serve_until_signal(listener, config, on_hup).await
}
