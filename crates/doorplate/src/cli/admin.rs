//! `doorplate admin …` — account work without a running server.

use anyhow::{Context, bail};
use doorplate_domain::Role;
use doorplate_store::NewUser;
use std::io::Read;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Create an admin account (the first one, or another).
    Create {
        #[arg(long)]
        username: String,
        /// Read the password from standard input (so it stays out of the shell history).
        #[arg(long)]
        password_stdin: bool,
        /// The name shown in the console.
        #[arg(long, default_value = "Administrator")]
        display_name: String,
        /// The school (its slug) [default: the data folder's own school].
        #[arg(long)]
        school: Option<String>,
    },
}

pub async fn run(data: Option<PathBuf>, store_args: super::StoreArgs, command: Command) -> anyhow::Result<()> {
    let data = data.unwrap_or_else(|| PathBuf::from("./doorplate-data"));
    match command {
        Command::Create {
            username,
            password_stdin,
            display_name,
            school,
        } => {
            if !password_stdin {
                bail!("give the password on standard input with --password-stdin");
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password")?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            if password.chars().count() < 6 {
                bail!("the password needs at least 6 characters");
            }
            // The key is made here too, so the server later hashes with the same one.
            let (_, catalog) = store_args.open(&data).await?;
            let entry = catalog.get(school.as_deref()).await?;
            let store = catalog.open_store(&entry).await?;
            let hash = tokio::task::spawn_blocking(move || doorplate_server::crypto::hash_password(&password)).await?;
            let user = store
                .create_user(NewUser {
                    role: Some(Role::Admin),
                    display_name,
                    username: Some(username.clone()),
                    password_hash: Some(hash),
                    card_hash: None,
                    now: doorplate_server::school::now_micros(),
                })
                .await
                .map_err(|e| anyhow::anyhow!("creating {username}: {e}"))?;
            println!(
                "created admin {username} (id {}) in school {}",
                user.id, entry.info.slug
            );
            Ok(())
        }
    }
}
