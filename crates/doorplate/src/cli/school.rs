//! `doorplate school …` — the schools of a data folder, without a running server (a
//! running server hosts a new or imported school within seconds); `export` and `import`
//! move one between deployments (see `doorplate_server::district::moving`).

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
    /// Write one school — every table, its media files and its key — to a file that
    /// `school import` reads on another deployment (a data folder or a database).
    Export {
        /// The school to export.
        #[arg(long)]
        slug: String,
        /// The file to write (it must not exist; made readable by you alone: it holds
        /// every message and the school's key).
        #[arg(long)]
        out: PathBuf,
    },
    /// Make a school from a file written by `school export`, with all its people,
    /// messages, media, settings and history. A slug that is taken is refused.
    Import {
        /// The file `school export` wrote.
        file: PathBuf,
        /// Import under this slug instead of the one it had.
        #[arg(long)]
        slug: Option<String>,
    },
}

pub async fn run(data: Option<PathBuf>, store: super::StoreArgs, command: Command) -> anyhow::Result<()> {
    let data = data.unwrap_or_else(|| PathBuf::from("./doorplate-data"));
    // The key is made here too, so the server later derives the same school keys.
    let (master, catalog) = store.open(&data).await?;
    match command {
        Command::Create { slug, name, timezone } => {
            let entry = catalog.create(SchoolInfo { slug, name, timezone }).await?;
            println!(
                "created school {} ({}, {}): served at /s/{}/ — add its first admin with `doorplate admin create --school {}`",
                entry.info.slug, entry.info.name, entry.info.timezone, entry.info.slug, entry.info.slug
            );
        }
        Command::Export { slug, out } => {
            let moved = doorplate_server::district::moving::export(&catalog, &master, &slug, &out).await?;
            println!(
                "exported school {} ({} rows, {} media files) to {}\nthe file holds every message and the school's key: keep it private, and delete it once imported",
                moved.info.slug,
                moved.rows,
                moved.media,
                out.display()
            );
        }
        Command::Import { file, slug } => {
            let moved = doorplate_server::district::moving::import(&catalog, &master, &file, slug).await?;
            println!(
                "imported school {} ({}, {}): {} rows, {} media files; served at /s/{}/",
                moved.info.slug, moved.info.name, moved.info.timezone, moved.rows, moved.media, moved.info.slug
            );
            if moved.own_key {
                println!(
                    "it keeps the key it came with (schools/{}/school.key): cards, badges, paired doorplates and sign-ins work as before; back up that file with the school",
                    moved.info.slug
                );
            } else {
                println!(
                    "its key is this deployment's own for its slug: cards, badges, paired doorplates and sign-ins work as before"
                );
            }
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
