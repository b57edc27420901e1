//! The `doorplate` command: `serve`, `demo`, `admin create`, `school create|list`,
//! `district status`, `backup`, `restore`, `default-config`.

mod cli;

/// mimalloc instead of glibc's allocator: under load glibc's malloc and free took a
/// quarter of the server's CPU (perf, 20k msg/s offered), and its per-thread arenas
/// kept freed argon2 buffers resident.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Doorplate: students and their families in touch through the touch screens at every
/// classroom and dormitory door.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The data folder (database, media, secret key).
    #[arg(long, global = true, env = "DOORPLATE_DATA")]
    data: Option<PathBuf>,
    /// Keep the schools in PostgreSQL (postgres://USER@HOST:PORT/DB), a schema each; the
    /// data folder then keeps media (and the key, unless --key-file says where).
    #[arg(long, global = true, env = "DOORPLATE_DATABASE")]
    database: Option<String>,
    /// Prefix of the schemas in --database, for several districts in one database.
    #[arg(
        long,
        global = true,
        env = "DOORPLATE_DATABASE_NAMESPACE",
        default_value = "",
        hide = true
    )]
    database_namespace: String,
    /// The deployment's key file [default: DATA/secret.key]; give every server the same.
    #[arg(long, global = true, env = "DOORPLATE_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, global = true, env = "DOORPLATE_LOG_FORMAT", default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(Box<cli::serve::Args>),
    /// Run the server on 127.0.0.1:8080 with a throw-away demo school.
    Demo(cli::demo::Args),
    /// Manage accounts from the command line.
    Admin {
        #[command(subcommand)]
        command: cli::admin::Command,
    },
    /// Manage the schools of a data folder.
    School {
        #[command(subcommand)]
        command: cli::school::Command,
    },
    /// The servers sharing a PostgreSQL database and the schools each hosts.
    District {
        #[command(subcommand)]
        command: cli::district::Command,
    },
    /// Back up every school (databases, media, key) into one archive, while the server
    /// runs; on PostgreSQL the key and media only (the database: pg_dump, printed).
    Backup(cli::backup::BackupArgs),
    /// Restore an archive into an empty (or new) data folder.
    Restore(cli::backup::RestoreArgs),
    /// Print a commented example configuration file.
    DefaultConfig,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cli::init_logging(&cli.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let store = cli::StoreArgs {
        database: cli.database.map(|url| doorplate_server::district::catalog::Database {
            url,
            namespace: cli.database_namespace,
        }),
        key_file: cli.key_file,
    };
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => cli::serve::run(cli.data, store, *args).await,
            Command::Demo(args) => cli::demo::run(cli.data, args).await,
            Command::Admin { command } => cli::admin::run(cli.data, store, command).await,
            Command::School { command } => cli::school::run(cli.data, store, command).await,
            Command::District { command } => cli::district::run(store.clone(), command).await,
            Command::Backup(args) => cli::backup::backup(cli.data, store, args).await,
            Command::Restore(args) => cli::backup::restore(cli.data, store, args).await,
            Command::DefaultConfig => {
                print!("{}", cli::serve::DEFAULT_CONFIG);
                Ok(())
            }
        }
    })
}
