//! `doorplate district status` — the servers sharing a PostgreSQL database, the schools
//! each hosts, and every school's lease (its epoch, how long it has been held, when it
//! runs out), as the lease tables say now. Read-only; needs `--database`.

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Servers (name, URL, state, last seen), the schools each hosts, and each school's
    /// lease age and epoch.
    Status {
        /// Print JSON (the same as GET /api/v1/district) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(store: super::StoreArgs, command: Command) -> anyhow::Result<()> {
    let Some(db) = store.database else {
        anyhow::bail!(
            "a district of several servers keeps its schools in PostgreSQL: give --database postgres://… (or DOORPLATE_DATABASE)"
        );
    };
    let district = doorplate_store::postgres::district::PgDistrict::connect(&db.url, &db.namespace).await?;
    let view = district.leases().read().await?;
    let status = doorplate_server::district::status::DistrictStatus::from_view(
        &view,
        doorplate_server::district::hosts::lease_micros(),
    );
    match command {
        Command::Status { json: true } => println!("{}", serde_json::to_string_pretty(&status)?),
        Command::Status { json: false } => print!("{}", status.to_text()),
    }
    Ok(())
}
