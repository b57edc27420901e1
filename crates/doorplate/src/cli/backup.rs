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

pub async fn backup(data: Option<PathBuf>, args: BackupArgs) -> anyhow::Result<()> {
    let data = data_dir(data);
    let passphrase = read_passphrase(args.passphrase_stdin, 8)?;
    let now = doorplate_server::school::clock::wall_clock_micros();
    let out = args.out.clone();
    let started = std::time::Instant::now();
    let taken = tokio::task::spawn_blocking(move || backup::take(&data, &out, passphrase.as_deref(), now)).await??;
    println!(
        "backup written: {} ({} bytes, {} school(s), {} files, {}) in {:.1} s",
        taken.file.display(),
        taken.size,
        taken.schools,
        taken.files,
        if taken.sealed { "encrypted" } else { "not encrypted" },
        started.elapsed().as_secs_f64()
    );
    if !taken.sealed {
        eprintln!(
            "note: the archive holds the key and every message; keep it only where the data folder itself may be, or take it with --passphrase-stdin"
        );
    }
    Ok(())
}

pub async fn restore(data: Option<PathBuf>, args: RestoreArgs) -> anyhow::Result<()> {
    let Some(target) = data else {
        bail!("name the (empty) data folder to restore into with --data DIR");
    };
    let passphrase = read_passphrase(args.passphrase_stdin, 1)?;
    let file = args.file.clone();
    let into = target.clone();
    let restored = tokio::task::spawn_blocking(move || backup::restore(&file, &into, passphrase.as_deref())).await??;
    println!(
        "restored {} into {} (backup of {}, {} files, {} bytes):",
        args.file.display(),
        target.display(),
        restored.created_at,
        restored.files,
        restored.bytes
    );
    for s in &restored.schools {
        let c = &s.contents;
        println!(
            "  school {}: {} people, {} messages, {} media files ({} bytes)",
            s.slug, c.people, c.messages, c.media, c.media_bytes
        );
    }
    Ok(())
}
