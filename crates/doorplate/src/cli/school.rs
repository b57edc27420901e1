//! `doorplate school …` — the schools of a data folder, without a running server (a
//! running server hosts a new school within seconds).

use doorplate_server::district::SchoolInfo;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Add a school: its own database, media, key and settings, served at /s/SLUG/.
    Create {
        /// The school's address: 2 to 32 characters of a-z, 0-9 and -.
        #[arg(long)]
        slug: String,
        /// The school's name, as people know it.
        #[arg(long)]
        name: String,
        /// IANA time zone of the school's timetable and end of day.
        #[arg(long, default_value = "Asia/Shanghai")]
        timezone: String,
    },
    /// List the schools: slug, name, time zone.
    List,
}

pub async fn run(data: Option<PathBuf>, store: super::StoreArgs, command: Command) -> anyhow::Result<()> {
    let data = data.unwrap_or_else(|| PathBuf::from("./doorplate-data"));
    // The key is made here too, so the server later derives the same school keys.
    let (_, catalog) = store.open(&data).await?;
    match command {
        Command::Create { slug, name, timezone } => {
            let entry = catalog.create(SchoolInfo { slug, name, timezone }).await?;
            println!(
                "created school {} ({}, {}): served at /s/{}/ — add its first admin with `doorplate admin create --school {}`",
                entry.info.slug, entry.info.name, entry.info.timezone, entry.info.slug, entry.info.slug
            );
        }
        Command::List => {
            for entry in catalog.list().await? {
                let root = if entry.root {
                    "  (the data folder's own school)"
                } else {
                    ""
                };
                println!(
                    "{:<32} {:<32} {}{root}",
                    entry.info.slug, entry.info.name, entry.info.timezone
                );
            }
        }
    }
    Ok(())
}
