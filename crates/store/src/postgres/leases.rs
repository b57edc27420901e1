//! Which server hosts each school, when several servers share one PostgreSQL database:
//! the district's `servers` (one row per server name: its advertised URL, the instance
//! id of the process now using the name, when it was last seen, running or stopped) and
//! `hosts` (one lease row per school: the holder's name and instance, the `epoch` that
//! grows with every change of holder, and when the lease expires).
//!
//! Every time here is the database's clock (`clock_timestamp()`, in microseconds), never
//! a server's own: servers whose clocks disagree still agree on whether a lease expired.
//! A lease is renewed by its holder; one that expired (or was freed) is taken with
//! `epoch + 1` by a conditional `UPDATE`, so two servers racing for it cannot both win,
//! and the taker's `UPDATE` waits for the old holder's write in flight (which holds the
//! row `FOR SHARE`: see [`super::Fence`]). The policy — how many schools to take, which
//! to give up — is the server's (`district/hosts.rs`); this file is the SQL.

use super::internal;
use crate::{Result, StoreError};
use tokio_postgres::NoTls;

/// The database's clock in microseconds since the epoch.
const NOW: &str = "(extract(epoch from clock_timestamp()) * 1000000)::bigint";

/// The district's lease tables, for `CREATE` at connect (kept with the SQL that uses
/// them).
pub(super) fn tables(schema: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS \"{schema}\".servers (
             name       TEXT PRIMARY KEY,
             url        TEXT NOT NULL,
             instance   TEXT NOT NULL,
             started_at BIGINT NOT NULL,
             last_seen  BIGINT NOT NULL,
             state      TEXT NOT NULL CHECK (state IN ('running', 'stopped'))
         );
         CREATE TABLE IF NOT EXISTS \"{schema}\".hosts (
             slug       TEXT PRIMARY KEY,
             host       TEXT,
             instance   TEXT,
             epoch      BIGINT NOT NULL DEFAULT 0,
             expires_at BIGINT NOT NULL DEFAULT 0,
             taken_at   BIGINT NOT NULL DEFAULT 0
         );"
    )
}

/// One server of the district.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ServerRow {
    pub name: String,
    pub url: String,
    /// Which process uses the name now (a new one at every start).
    pub instance: String,
    pub started_at: i64,
    pub last_seen: i64,
    /// `running`, or `stopped` (it handed its schools over and exited).
    pub state: String,
}

/// One school's lease.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LeaseRow {
    pub slug: String,
    /// The school's name, as people know it (from the district's list of schools).
    pub name: String,
    /// The holder's name; `None` when the school is free.
    pub host: Option<String>,
    pub instance: Option<String>,
    /// Grows by one whenever the school changes hands (taken or freed).
    pub epoch: i64,
    pub expires_at: i64,
    /// When the holder took it (or when it was freed).
    pub taken_at: i64,
}

/// The whole district as the database sees it, at `now` (its clock).
#[derive(Clone, Debug, serde::Serialize)]
pub struct DistrictView {
    pub now: i64,
    pub servers: Vec<ServerRow>,
    /// One per school, by slug.
    pub leases: Vec<LeaseRow>,
}

impl DistrictView {
    /// Whether the server is running and was seen within `ttl` microseconds.
    pub fn is_live(&self, server: &ServerRow, ttl: i64) -> bool {
        server.state == "running" && server.last_seen >= self.now - ttl
    }

    /// The live holder of a school's lease, if its lease has not expired.
    pub fn live_holder(&self, lease: &LeaseRow, ttl: i64) -> Option<&ServerRow> {
        let host = lease.host.as_deref()?;
        if lease.expires_at <= self.now {
            return None;
        }
        self.servers
            .iter()
            .find(|s| s.name == host && Some(&s.instance) == lease.instance.as_ref() && self.is_live(s, ttl))
    }
}

/// A connection to the district's lease tables, kept open between passes (made again
/// when it breaks).
pub struct Leases {
    config: tokio_postgres::Config,
    schema: String,
    client: Option<tokio_postgres::Client>,
}

impl Leases {
    /// The lease tables in the district's `schema`, through a connection of their own
    /// (made on first use from `config`).
    pub(super) fn new(config: tokio_postgres::Config, schema: String) -> Leases {
        Leases {
            config,
            schema,
            client: None,
        }
    }
}

/// A failure reaching the database (not an error of ours).
pub(super) fn unreachable(e: tokio_postgres::Error) -> StoreError {
    if e.as_db_error().is_none() {
        StoreError::Unavailable(e.to_string())
    } else {
        internal(e)
    }
}

/// The district at the database's clock now — every server, and every school with its
/// lease (free schools too) — through `client`, from the tables in `schema`.
pub(super) async fn read_view(
    client: &tokio_postgres::Client,
    schema: &str,
) -> std::result::Result<DistrictView, tokio_postgres::Error> {
    let now: i64 = client.query_one(&format!("SELECT {NOW}"), &[]).await?.get(0);
    let servers = format!(
        "SELECT name, url, instance, started_at, last_seen, state FROM \"{schema}\".servers ORDER BY name COLLATE \"C\""
    );
    let servers = client.query(&servers, &[]).await?.iter().map(server_row).collect();
    let leases = format!(
        "SELECT s.slug, s.name, h.host, h.instance, COALESCE(h.epoch, 0), COALESCE(h.expires_at, 0), COALESCE(h.taken_at, 0)
         FROM \"{schema}\".schools s LEFT JOIN \"{schema}\".hosts h ON h.slug = s.slug ORDER BY s.slug COLLATE \"C\""
    );
    let leases = client
        .query(&leases, &[])
        .await?
        .iter()
        .map(|r| LeaseRow {
            slug: r.get(0),
            name: r.get(1),
            host: r.get(2),
            instance: r.get(3),
            epoch: r.get(4),
            expires_at: r.get(5),
            taken_at: r.get(6),
        })
        .collect();
    Ok(DistrictView { now, servers, leases })
}

impl Leases {
    async fn client(&mut self) -> Result<&tokio_postgres::Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            let (client, conn) = self.config.connect(NoTls).await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "cannot connect to the PostgreSQL database at {}: {e}",
                    super::describe(&self.config)
                ))
            })?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.client = Some(client);
        }
        Ok(self.client.as_ref().expect("just connected"))
    }

    /// Runs one statement; a broken connection is dropped (the next call reconnects).
    async fn query(&mut self, sql: &str, params: super::Params<'_>) -> Result<Vec<tokio_postgres::Row>> {
        let result = self.client().await?.query(sql, params).await;
        if let Err(e) = &result
            && e.as_db_error().is_none()
        {
            self.client = None;
        }
        result.map_err(unreachable)
    }

    fn t(&self, table: &str) -> String {
        format!("\"{}\".{table}", self.schema)
    }

    /// Claims the server name for this process (`instance`): it is free, stopped, or was
    /// last seen more than `ttl` µs ago. `Ok(None)` when claimed; `Ok(Some(row))` with the
    /// live server that holds it otherwise.
    pub async fn register(&mut self, name: &str, url: &str, instance: &str, ttl: i64) -> Result<Option<ServerRow>> {
        let sql = format!(
            "INSERT INTO {t} AS s (name, url, instance, started_at, last_seen, state)
             VALUES ($1, $2, $3, {NOW}, {NOW}, 'running')
             ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, instance = EXCLUDED.instance,
                 started_at = EXCLUDED.started_at, last_seen = EXCLUDED.last_seen, state = 'running'
             WHERE s.state <> 'running' OR s.last_seen < EXCLUDED.last_seen - $4 OR s.instance = EXCLUDED.instance
             RETURNING name",
            t = self.t("servers")
        );
        if !self.query(&sql, &[&name, &url, &instance, &ttl]).await?.is_empty() {
            return Ok(None);
        }
        self.server(name).await
    }

    /// One server's row.
    pub async fn server(&mut self, name: &str) -> Result<Option<ServerRow>> {
        let sql = format!(
            "SELECT name, url, instance, started_at, last_seen, state FROM {} WHERE name = $1",
            self.t("servers")
        );
        Ok(self.query(&sql, &[&name]).await?.first().map(server_row))
    }

    /// Says this process is alive. `false` when the name is no longer this process's
    /// (another process claimed it while this one was silent too long).
    pub async fn heartbeat(&mut self, name: &str, url: &str, instance: &str) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET last_seen = {NOW}, url = $3 WHERE name = $1 AND instance = $2 AND state = 'running'
             RETURNING name",
            self.t("servers")
        );
        Ok(!self.query(&sql, &[&name, &instance, &url]).await?.is_empty())
    }

    /// Renews every lease this process holds for `ttl` µs from now; returns them
    /// (slug, epoch). A lease that expired but was not taken is renewed too: no one else
    /// wrote meanwhile (a taker would have raised the epoch).
    pub async fn renew(&mut self, name: &str, instance: &str, ttl: i64) -> Result<Vec<(String, i64)>> {
        let sql = format!(
            "UPDATE {} SET expires_at = {NOW} + $3 WHERE host = $1 AND instance = $2 RETURNING slug, epoch",
            self.t("hosts")
        );
        let rows = self.query(&sql, &[&name, &instance, &ttl]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The district now: every server, and a lease row for every school (made for the
    /// schools that have none yet, free).
    pub async fn view(&mut self) -> Result<DistrictView> {
        let missing = format!(
            "INSERT INTO {} (slug) SELECT slug FROM {} ON CONFLICT (slug) DO NOTHING RETURNING slug",
            self.t("hosts"),
            self.t("schools")
        );
        self.query(&missing, &[]).await?;
        self.read().await
    }

    /// The district now, changing nothing (for `district status`).
    pub async fn read(&mut self) -> Result<DistrictView> {
        let schema = self.schema.clone();
        let result = read_view(self.client().await?, &schema).await;
        if let Err(e) = &result
            && e.as_db_error().is_none()
        {
            self.client = None;
        }
        result.map_err(unreachable)
    }

    /// Takes a school whose lease is free or expired: `epoch + 1`, held for `ttl` µs.
    /// `Some(epoch)` when this process won it; `None` when another holds it (or took it
    /// first).
    pub async fn take(&mut self, slug: &str, name: &str, instance: &str, ttl: i64) -> Result<Option<i64>> {
        let sql = format!(
            "UPDATE {} SET host = $2, instance = $3, epoch = epoch + 1, expires_at = {NOW} + $4, taken_at = {NOW}
             WHERE slug = $1 AND (host IS NULL OR expires_at < {NOW}) RETURNING epoch",
            self.t("hosts")
        );
        Ok(self
            .query(&sql, &[&slug, &name, &instance, &ttl])
            .await?
            .first()
            .map(|r| r.get(0)))
    }

    /// Frees a school this process holds, raising the epoch so nothing it still had in
    /// flight can write after. `false` when it did not hold it.
    pub async fn release(&mut self, slug: &str, name: &str, instance: &str) -> Result<bool> {
        let sql = format!(
            "UPDATE {} SET host = NULL, instance = NULL, epoch = epoch + 1, expires_at = {NOW}, taken_at = {NOW}
             WHERE slug = $1 AND host = $2 AND instance = $3 RETURNING slug",
            self.t("hosts")
        );
        Ok(!self.query(&sql, &[&slug, &name, &instance]).await?.is_empty())
    }

    /// Marks this process's server row stopped (after it freed its schools).
    pub async fn stopped(&mut self, name: &str, instance: &str) -> Result<()> {
        let sql = format!(
            "UPDATE {} SET state = 'stopped', last_seen = {NOW} WHERE name = $1 AND instance = $2 RETURNING name",
            self.t("servers")
        );
        self.query(&sql, &[&name, &instance]).await.map(drop)
    }
}

fn server_row(r: &tokio_postgres::Row) -> ServerRow {
    ServerRow {
        name: r.get(0),
        url: r.get(1),
        instance: r.get(2),
        started_at: r.get(3),
        last_seen: r.get(4),
        state: r.get(5),
    }
}
