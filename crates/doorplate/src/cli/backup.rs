//! `doorplate backup` and `doorplate restore` — a whole data folder into one archive
//! while the server runs, and back into an empty folder.

use anyhow::{Context, bail};
use doorplate_server::backup;
use std::io::Read;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// The archive to write (it must not exist yet); written as FILE.part and renamed
    /// when complete.
    #[arg(long)]
    out: PathBuf,
    /// Encrypt the archive with a passphrase read from standard input.
    #[arg(long)]
    passphrase_stdin: bool,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    /// The archive `doorplate backup` wrote.
    file: PathBuf,
    /// The archive is encrypted: read its passphrase from standard input.
    #[arg(long)]
    passphrase_stdin: bool,
}

fn read_passphrase(wanted: bool, min: usize) -> anyhow::Result<Option<String>> {
    if !wanted {
        return Ok(None);
    }
    let mut p = String::new();
    std::io::stdin()
        .read_to_string(&mut p)
        .context("reading the passphrase")?;
    let p = p.trim_end_matches(['\r', '\n']).to_string();
    if p.chars().count() < min {
        bail!("the passphrase needs at least {min} characters");
    }
    Ok(Some(p))
}

fn data_dir(data: Option<PathBuf>) -> PathBuf {
    data.unwrap_or_else(|| PathBuf::from("./doorplate-data"))
}

pub async fn backup(data: Option<PathBuf>, store: super::StoreArgs, args: BackupArgs) -> anyhow::Result<()> {
    let data = data_dir(data);
    let passphrase = read_passphrase(args.passphrase_stdin, 8)?;
    let now = doorplate_server::school::clock::wall_clock_micros();
    let out = args.out.clone();
    let key_file = store.key_file.clone().unwrap_or_else(|| data.join("secret.key"));
    let started = std::time::Instant::now();
    // On PostgreSQL the databases are backed up with its own tools: this archive holds
    // what the database does not (the key, media, schools' own keys).
    let outside = match &store.database {
        Some(db) => {
            // Only a database that has schools: a backup makes nothing.
            if doorplate_store::postgres::district::PgDistrict::existing(&db.url, &db.namespace)
                .await?
                .is_none()
            {
                bail!("the database has no Doorplate schools: there is nothing to back up");
            }
            let catalog = doorplate_server::district::catalog::Catalog::open(&data, Some(db)).await?;
            Some(backup::postgres::outside(&catalog, &key_file).await?)
        }
        None => None,
    };
    let plan = outside.clone();
    let taken = tokio::task::spawn_blocking(move || match &plan {
        Some(o) => backup::postgres::take(o, &out, passphrase.as_deref(), now),
        None => backup::take_folder(&data, &key_file, &out, passphrase.as_deref(), now),
    })
    .await??;
    println!(
        "backup written: {} ({} bytes, {} school(s), {} files, {}{}) in {:.1} s",
        taken.file.display(),
        taken.size,
        taken.schools,
        taken.files,
        if taken.sealed { "encrypted" } else { "not encrypted" },
        if taken.database_included {
            ""
        } else {
            ", keys and media only"
        },
        started.elapsed().as_secs_f64()
    );
    if let Some(o) = &outside {
        println!("{}", backup::postgres::backup_advice(&o.database, &taken.file));
    }
    if !taken.sealed {
        eprintln!(
            "note: the archive holds the key{}; keep it only where the data folder itself may be, or take it with --passphrase-stdin",
            if taken.database_included {
                " and every message"
            } else {
                ""
            }
        );
    }
    Ok(())
}

pub async fn restore(data: Option<PathBuf>, store: super::StoreArgs, args: RestoreArgs) -> anyhow::Result<()> {
    let Some(target) = data else {
        bail!("name the (empty) data folder to restore into with --data DIR");
    };
    let passphrase = read_passphrase(args.passphrase_stdin, 1)?;
    let file = args.file.clone();
    let into = target.clone();
    let key_file = store.key_file.clone();
    let restored =
        tokio::task::spawn_blocking(move || backup::restore(&file, &into, key_file.as_deref(), passphrase.as_deref()))
            .await??;
    println!(
        "restored {} into {} (backup of {}, {} files, {} bytes); the key file is at {}:",
        args.file.display(),
        target.display(),
        restored.created_at,
        restored.files,
        restored.bytes,
        restored.key_file.display()
    );
    for s in &restored.schools {
        match &s.contents {
            Some(c) => println!(
                "  school {}: {} people, {} messages, {} media files ({} bytes)",
                s.slug, c.people, c.messages, c.media, c.media_bytes
            ),
            None => println!("  school {}: {} media files ({} bytes)", s.slug, s.media, s.media_bytes),
        }
    }
    let Some(db) = &restored.database else {
        if store.database.is_some() {
            println!(
                "note: this archive holds a data folder's own databases (SQLite): serve the restored folder without --database"
            );
        }
        return Ok(());
    };
    let c = backup::postgres::commands(db, "DUMP");
    println!(
        "This archive holds no database: the schools' database ({}, schemas {}) is restored from its pg_dump, into an empty database, with\n  {}\nthen serve with --database and the restored folder{}.",
        db.url,
        db.schemas.join(", "),
        c.restore,
        if store.key_file.is_some() {
            " and the same --key-file"
        } else {
            ""
        }
    );
    match &store.database {
        Some(database) => check_against_database(&target, database, &restored).await,
        None => {
            println!("(Give --database to check the media against a database already restored.)");
            Ok(())
        }
    }
}

/// After a restore of keys and media: does the database (restored already, or not yet)
/// name the same schools, and has every media row its file, of its size?
async fn check_against_database(
    target: &std::path::Path,
    database: &doorplate_server::district::catalog::Database,
    restored: &backup::Restored,
) -> anyhow::Result<()> {
    use doorplate_store::postgres::district::PgDistrict;
    let Some(district) = PgDistrict::existing(&database.url, &database.namespace).await? else {
        println!("The database has no Doorplate schools yet: restore its dump (above) before starting the server.");
        return Ok(());
    };
    let listed: Vec<String> = district.schools().await?.into_iter().map(|r| r.slug).collect();
    let mut problems = 0;
    for slug in &listed {
        if !restored.schools.iter().any(|s| &s.slug == slug) {
            problems += 1;
            println!(
                "warning: school {slug} is in the database but not in this archive (its media and own key are elsewhere)"
            );
            continue;
        }
        let media = target.join("schools").join(slug).join("media");
        let rows = district.media_files(slug).await?;
        let missing = rows
            .iter()
            .filter(|(file, size)| std::fs::metadata(media.join(file)).map(|m| m.len()).ok() != Some(*size))
            .count();
        if missing == 0 {
            println!(
                "  school {slug}: every one of its {} media rows has its file",
                rows.len()
            );
        } else {
            problems += 1;
            println!(
                "warning: school {slug}: {missing} of its {} media rows have no file of their size in this archive (was the archive taken before the dump?)",
                rows.len()
            );
        }
    }
    for s in &restored.schools {
        if !listed.contains(&s.slug) {
            problems += 1;
            println!("warning: school {} is in this archive but not in the database", s.slug);
        }
    }
    if problems == 0 {
        println!("The database and this archive pair: start the server.");
    }
    Ok(())
}
