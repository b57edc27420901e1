//! The `doorplate` command: `serve`, `demo`, `admin create`, `school create|list`,
//! `backup`, `restore`, `default-config`.

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
    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, global = true, env = "DOORPLATE_LOG_FORMAT", default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server.
    Serve(cli::serve::Args),
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
    /// Back up every school (databases, media, key) into one archive, while the server
    /// runs.
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
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => cli::serve::run(cli.data, args).await,
            Command::Demo(args) => cli::demo::run(cli.data, args).await,
            Command::Admin { command } => cli::admin::run(cli.data, command).await,
            Command::School { command } => cli::school::run(cli.data, command).await,
            Command::Backup(args) => cli::backup::backup(cli.data, args).await,
            Command::Restore(args) => cli::backup::restore(cli.data, args).await,
            Command::DefaultConfig => {
                print!("{}", cli::serve::DEFAULT_CONFIG);
                Ok(())
            }
        }
    })
}
