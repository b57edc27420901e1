//! The district on PostgreSQL: which schools the database holds (`<ns>district.schools`)
//! and the schema each keeps its tables in (`<ns>school_<slug>`, the slug's `-` as `_`).
//! The leases of several servers (`servers`, `hosts`) are in [`super::leases`].
//! `ns` is empty in production; tests give each server a namespace of its own so many
//! districts share one throwaway database.

use super::{PgPools, PgStore, SHARED_READERS, SHARED_WRITERS, internal};
use crate::{Result, StoreError};

/// One school row of the district.
#[derive(Clone, Debug, PartialEq)]
pub struct SchoolRow {
    pub slug: String,
    pub name: String,
    pub timezone: String,
}

/// The district's own tables, and the way to each school's store.
#[derive(Clone, Debug)]
pub struct PgDistrict {
    /// The connections every school of this process shares.
    pools: PgPools,
    /// For PostgreSQL's own tools (printed without its password).
    url: String,
    namespace: String,
    /// For connections of the district's own (the lease keeper's, kept apart from the
    /// pools so a busy school never delays a renewal).
    config: tokio_postgres::Config,
}

impl PgDistrict {
    /// Connects (a database that does not answer is an error naming it, within a few
    /// seconds) and makes the district's schema and table if they are missing.
    /// `namespace` is `[a-z0-9_]*`, at most 16 bytes.
    pub async fn connect(url: &str, namespace: &str) -> Result<PgDistrict> {
        let district = Self::configure(url, namespace).await?;
        let schema = district.district_schema();
        let leases = super::leases::tables(&schema);
        district
            .batch(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\";
                 CREATE TABLE IF NOT EXISTS \"{schema}\".schools (
                     slug       TEXT PRIMARY KEY,
                     name       TEXT NOT NULL,
                     timezone   TEXT NOT NULL,
                     created_at BIGINT NOT NULL
                 );
                 {leases}"
            ))
            .await?;
        Ok(district)
    }

    /// The district at `url` only if its database already has one (its schools' list),
    /// making nothing: `None` for a database with none, e.g. one not restored yet.
    pub async fn existing(url: &str, namespace: &str) -> Result<Option<PgDistrict>> {
        let district = Self::configure(url, namespace).await?;
        let client = district.client().await?;
        let table = format!("\"{}\".schools", district.district_schema());
        let found: Option<String> = client
            .query_one("SELECT to_regclass($1)::text", &[&table])
            .await
            .map_err(internal)?
            .get(0);
        Ok(found.map(|_| district))
    }

    /// Checks the namespace and connects (once, to prove the database answers).
    async fn configure(url: &str, namespace: &str) -> Result<PgDistrict> {
        if namespace.len() > 16
            || !namespace
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(StoreError::Internal(format!(
                "{namespace:?} is not a usable namespace: at most 16 of a-z, 0-9 and _"
            )));
        }
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Internal(format!("the database URL is not valid: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(super::CONNECT_TIMEOUT);
        }
        config.application_name("doorplate");
        Ok(PgDistrict {
            pools: PgPools::connect(url, SHARED_WRITERS, SHARED_READERS).await?,
            url: url.to_string(),
            namespace: namespace.to_string(),
            config,
        })
    }

    /// The lease tables, through a connection of their own.
    pub fn leases(&self) -> super::leases::Leases {
        super::leases::Leases::new(self.config.clone(), self.district_schema())
    }

    /// The district now, changing nothing: what `GET /api/v1/district` answers (the
    /// console's district page asks every few seconds). Read through one of the shared
    /// connections, like the list of schools: a connection of its own per read would
    /// cost PostgreSQL a new backend each time.
    pub async fn read_leases(&self) -> Result<super::leases::DistrictView> {
        let client = self.client().await?;
        super::leases::read_view(&client, &self.district_schema())
            .await
            .map_err(super::leases::unreachable)
    }

    /// The schema that lists the schools.
    pub fn district_schema(&self) -> String {
        format!("{}district", self.namespace)
    }

    /// The schema a school's tables live in.
    pub fn school_schema(&self, slug: &str) -> String {
        format!("{}school_{}", self.namespace, slug.replace('-', "_"))
    }

    /// A connection for the district's own statements (which name their schema): one of
    /// the shared write connections, so listing the schools every few seconds opens none.
    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pools.writers.get().await.map_err(|e| self.pools.unreachable(e))
    }

    async fn batch(&self, sql: &str) -> Result<()> {
        let client = self.client().await?;
        // Two servers starting at once may both create the schema: the loser retries
        // once the winner committed.
        for attempt in 0..3 {
            match client.batch_execute(sql).await {
                Ok(()) => return Ok(()),
                Err(e) if attempt < 2 && e.code().is_some_and(|c| c.code() == "23505" || c.code() == "42P06") => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => return Err(internal(e)),
            }
        }
        Ok(())
    }

    /// Every school, by slug.
    pub async fn schools(&self) -> Result<Vec<SchoolRow>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT slug, name, timezone FROM \"{}\".schools ORDER BY slug COLLATE \"C\"",
                    self.district_schema()
                ),
                &[],
            )
            .await
            .map_err(internal)?;
        Ok(rows
            .iter()
            .map(|r| SchoolRow {
                slug: r.get(0),
                name: r.get(1),
                timezone: r.get(2),
            })
            .collect())
    }

    /// Lists a school whose schema is ready (open it with [`PgDistrict::open_school`]
    /// and set it up first, so a school half made is never listed). `Conflict("slug")`
    /// when the slug is taken.
    pub async fn register_school(&self, row: SchoolRow, now: i64) -> Result<()> {
        let client = self.client().await?;
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO \"{}\".schools (slug, name, timezone, created_at) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (slug) DO NOTHING",
                    self.district_schema()
                ),
                &[&row.slug, &row.name, &row.timezone, &now],
            )
            .await
            .map_err(internal)?;
        if inserted == 0 {
            return Err(StoreError::Conflict("slug"));
        }
        Ok(())
    }

    /// Opens a school's store (making and migrating its schema when missing).
    pub async fn open_school(&self, slug: &str) -> Result<PgStore> {
        PgStore::open_in(&self.pools, &self.school_schema(slug)).await
    }

    /// The connections this process's schools share.
    pub fn pools(&self) -> &PgPools {
        &self.pools
    }

    /// Opens a school's store for the server that holds its lease at `epoch`: every
    /// write checks the lease first (see [`super::Fence`]); `on_fenced` is called once
    /// another server has taken the school over.
    pub async fn open_school_fenced(
        &self,
        slug: &str,
        epoch: i64,
        on_fenced: std::sync::Arc<dyn Fn() + Send + Sync>,
        observer: std::sync::Arc<dyn crate::WriterObserver>,
    ) -> Result<PgStore> {
        let fence = super::Fence {
            table: format!("\"{}\".hosts", self.district_schema()),
            slug: slug.to_string(),
            epoch,
            on_fenced,
        };
        PgStore::open_in_fenced(&self.pools, &self.school_schema(slug), observer, Some(fence)).await
    }

    /// [`PgDistrict::open_school`], its writer reporting to `observer` (the metrics).
    pub async fn open_school_observed(
        &self,
        slug: &str,
        observer: std::sync::Arc<dyn crate::WriterObserver>,
    ) -> Result<PgStore> {
        PgStore::open_in_observed(&self.pools, &self.school_schema(slug), observer).await
    }

    /// The database's address for PostgreSQL's own tools (`pg_dump`, `pg_restore`),
    /// without its password: a command printed for an operator must not carry it
    /// (`pg_dump` reads it from `PGPASSWORD` or `~/.pgpass`).
    pub fn url_without_password(&self) -> String {
        without_password(&self.url)
    }

    /// A listed school's media rows, and how many of them lack bytes of their size in
    /// its `media_chunks` (a restore checks the dump it put back).
    pub async fn media_without_bytes(&self, slug: &str) -> Result<(u64, u64)> {
        let client = self.client().await?;
        let schema = self.school_schema(slug);
        let row = client
            .query_one(
                &format!(
                    "SELECT COUNT(*), COUNT(*) FILTER (WHERE COALESCE(c.n, 0) <> m.size)
                       FROM \"{schema}\".media m
                       LEFT JOIN (SELECT file, SUM(length(bytes))::BIGINT AS n
                                    FROM \"{schema}\".media_chunks GROUP BY file) c ON c.file = m.file"
                ),
                &[],
            )
            .await
            .map_err(internal)?;
        Ok((row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64))
    }

    /// Drops the schema of a school that is not listed (what a failed import made);
    /// `Conflict("slug")`, dropping nothing, for a listed school.
    pub async fn discard_unlisted_school(&self, slug: &str) -> Result<()> {
        if self.schools().await?.iter().any(|s| s.slug == slug) {
            return Err(StoreError::Conflict("slug"));
        }
        self.batch(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.school_schema(slug)
        ))
        .await
    }
}

/// A connection string without its password: `postgres://user:secret@host/db` becomes
/// `postgres://user@host/db`, and a `key=value` string loses its `password=…`.
pub fn without_password(url: &str) -> String {
    for scheme in ["postgresql://", "postgres://"] {
        if let Some(rest) = url.strip_prefix(scheme) {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(end);
            let authority = match authority.rsplit_once('@') {
                Some((user, host)) => match user.split_once(':') {
                    Some((name, _)) => format!("{name}@{host}"),
                    None => authority.to_string(),
                },
                None => authority.to_string(),
            };
            // A password may also come as a query parameter.
            let tail = match tail.split_once('?') {
                Some((path, query)) => {
                    let kept: Vec<&str> = query.split('&').filter(|p| !p.starts_with("password=")).collect();
                    if kept.is_empty() {
                        path.to_string()
                    } else {
                        format!("{path}?{}", kept.join("&"))
                    }
                }
                None => tail.to_string(),
            };
            return format!("{scheme}{authority}{tail}");
        }
    }
    url.split_whitespace()
        .filter(|part| !part.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod url_tests {
    use super::without_password;

    #[test]
    fn a_printed_connection_string_carries_no_password() {
        assert_eq!(
            without_password("postgres://doorplate:s3cret@db.example.org:5433/doorplate"),
            "postgres://doorplate@db.example.org:5433/doorplate"
        );
        assert_eq!(
            without_password("postgresql://u@h/db?sslmode=require&password=x"),
            "postgresql://u@h/db?sslmode=require"
        );
        assert_eq!(without_password("postgres://h/db?password=x"), "postgres://h/db");
        assert_eq!(without_password("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            without_password("host=db user=doorplate password=s3cret dbname=dp"),
            "host=db user=doorplate dbname=dp"
        );
    }
}
