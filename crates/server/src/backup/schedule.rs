//! Daily backups taken by the server itself, for operators who have nothing else: at
//! `HH:MM` on the default school's wall clock (its zone, on the server's clock, so tests
//! move time by hand), into a folder of their own, keeping the newest N, sealed with the
//! passphrase of a file when one is set. A setting of the deployment, not of a school:
//! one backup holds every school. On PostgreSQL it holds what the database does not
//! (the keys and media, as `doorplate backup` there: see [`super::postgres`]), and its
//! name says so (`…-no-database.dpbk`).

use super::{Passphrase, Taken};
use crate::district::catalog::Catalog;
use crate::school::clock::{self, Clock};
use doorplate_domain::Micros;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// When and where the server backs itself up.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub dir: PathBuf,
    /// Minutes after local midnight.
    pub at_minute: u32,
    /// How many backups to keep (at least one).
    pub keep: usize,
    /// Seals each archive (`--backup-passphrase-file`); `None`: not encrypted.
    pub passphrase: Option<Passphrase>,
}

/// Reads `HH:MM` into minutes after midnight.
pub fn parse_at(s: &str) -> Result<u32, String> {
    let bad = || format!("backup time {s:?}: expected HH:MM, e.g. 02:30");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 || s.trim().len() != 5 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// The next instant after `now` at which the local time in `zone` is `at_minute` (a
/// time skipped by a daylight-saving change moves forward).
pub fn next_run(now: Micros, at_minute: u32, zone: &jiff::tz::TimeZone) -> Option<Micros> {
    let local = jiff::Timestamp::from_microsecond(now)
        .ok()?
        .to_zoned_datetime(zone.clone());
    let time = jiff::civil::Time::new((at_minute / 60) as i8, (at_minute % 60) as i8, 0, 0).ok()?;
    let mut day = local.date();
    for _ in 0..3 {
        let at = day
            .to_datetime(time)
            .to_zoned_datetime(zone.clone())
            .ok()?
            .timestamp()
            .as_microsecond();
        if at > now {
            return Some(at);
        }
        day = day.tomorrow().ok()?;
    }
    None
}

const PREFIX: &str = "doorplate-";
const SUFFIX: &str = ".dpbk";
/// Before the suffix of an archive that holds no database (PostgreSQL's is elsewhere).
const NO_DATABASE: &str = "-no-database";

/// The file name of a backup taken at `now`: its UTC time, so names sort by age, and
/// whether the databases are in it.
pub fn file_name(now: Micros, database_included: bool) -> String {
    let t = jiff::Timestamp::from_microsecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let kind = if database_included { "" } else { NO_DATABASE };
    format!("{PREFIX}{}{kind}{SUFFIX}", t.strftime("%Y%m%dT%H%M%SZ"))
}

/// The time a backup's file name says it was taken, and whether it holds the databases.
fn taken_at(name: &str) -> Option<(jiff::Timestamp, bool)> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (stamp, database_included) = match stamp.strip_suffix(NO_DATABASE) {
        Some(s) => (s, false),
        None => (stamp, true),
    };
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
        .ok()?
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| (z.timestamp(), database_included))
}

/// The backups in `dir`, newest first (name, size).
fn backups(dir: &Path) -> Vec<(String, u64)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<(jiff::Timestamp, String, u64)> = read
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (at, _) = taken_at(&name)?;
            Some((at, name, e.metadata().ok()?.len()))
        })
        .collect();
    all.sort_by(|a, b| b.cmp(a));
    all.into_iter().map(|(_, name, size)| (name, size)).collect()
}

/// The newest backup in the folder, as the console shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct LastBackup {
    /// When it was taken (RFC 3339).
    pub at: String,
    pub size_bytes: u64,
    /// Its file name in the backup folder.
    pub file: String,
    /// Sealed with the passphrase file's passphrase.
    pub encrypted: bool,
    /// Whether the schools' databases are in it: not on PostgreSQL, whose database the
    /// operator backs up with `pg_dump` (the archive then holds the keys and media).
    pub database_included: bool,
}

pub fn last(dir: &Path) -> Option<LastBackup> {
    let (file, size_bytes) = backups(dir).into_iter().next()?;
    let (at, database_included) = taken_at(&file)?;
    let encrypted = super::crypt::is_sealed(&dir.join(&file)).unwrap_or(false);
    Some(LastBackup {
        at: at.to_string(),
        size_bytes,
        file,
        encrypted,
        database_included,
    })
}

/// Removes all but the newest `keep` backups.
fn prune(dir: &Path, keep: usize) {
    for (name, _) in backups(dir).into_iter().skip(keep.max(1)) {
        match std::fs::remove_file(dir.join(&name)) {
            Ok(()) => tracing::info!(file = %name, "old backup removed"),
            Err(e) => tracing::warn!(file = %name, error = %e, "removing an old backup failed"),
        }
    }
}

/// Takes one backup now into the schedule's folder and prunes old ones: the whole data
/// folder, or on PostgreSQL what is outside the database.
pub async fn take_now(
    catalog: &Catalog,
    key_file: &Path,
    schedule: &Schedule,
    now: Micros,
) -> Result<Taken, super::BackupError> {
    let outside = match catalog {
        Catalog::Folder(_) => None,
        Catalog::Postgres { .. } => Some(super::postgres::outside(catalog, key_file).await?),
    };
    let data = match catalog {
        Catalog::Folder(f) => f.data_dir.clone(),
        Catalog::Postgres { data_dir, .. } => data_dir.clone(),
    };
    let (dir, keep, key) = (schedule.dir.clone(), schedule.keep, key_file.to_path_buf());
    let passphrase = schedule.passphrase.clone();
    tokio::task::spawn_blocking(move || {
        crate::storage::private_dir(&dir)?;
        let pass = passphrase.as_ref().map(Passphrase::expose);
        let taken = match &outside {
            Some(o) => super::postgres::take(o, &dir.join(file_name(now, false)), pass, now)?,
            None => super::take_folder(&data, &key, &dir.join(file_name(now, true)), pass, now)?,
        };
        prune(&dir, keep);
        Ok(taken)
    })
    .await
    .map_err(|e| super::BackupError::Source(format!("the backup task failed: {e}")))?
}

/// Runs the schedule until `stop`: sleeps until the next run on `clock` (waking at least
/// every few seconds, and at once when a test moves the clock), then backs up. The zone
/// is asked anew each time (an admin may change the school's zone).
pub async fn run(
    catalog: Catalog,
    key_file: std::path::PathBuf,
    schedule: Schedule,
    clock: Arc<dyn Clock>,
    zone: impl Fn() -> jiff::tz::TimeZone + Send + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(
        dir = %schedule.dir.display(),
        at = format!("{:02}:{:02}", schedule.at_minute / 60, schedule.at_minute % 60),
        keep = schedule.keep,
        encrypted = schedule.passphrase.is_some(),
        "daily backups on"
    );
    if let Catalog::Postgres { .. } = &catalog
        && let Ok(o) = super::postgres::outside(&catalog, &key_file).await
    {
        tracing::warn!(
            pg_dump = %super::postgres::commands(&o.database, "doorplate-db.dump").dump_schemas,
            "the daily backups hold the key and media only: the schools' database is in PostgreSQL, back it up with pg_dump (before the daily backup)"
        );
    }
    let mut due = match next_run(clock.now(), schedule.at_minute, &zone()) {
        Some(t) => t,
        None => return,
    };
    loop {
        let moved = clock::moved(clock.as_ref());
        tokio::pin!(moved);
        let now = clock.now();
        if now >= due {
            match take_now(&catalog, &key_file, &schedule, now).await {
                Ok(t) if t.database_included => {
                    tracing::info!(file = %t.file.display(), bytes = t.size, schools = t.schools, encrypted = t.sealed, "backup taken")
                }
                Ok(t) => tracing::info!(
                    file = %t.file.display(),
                    bytes = t.size,
                    schools = t.schools,
                    encrypted = t.sealed,
                    "backup taken: the key and media only, not the database (PostgreSQL's: back it up with pg_dump)"
                ),
                Err(e) => tracing::error!(error = %e, "the daily backup failed"),
            }
            due = next_run(clock.now(), schedule.at_minute, &zone()).unwrap_or(due + 86_400_000_000);
            continue;
        }
        let wait = Duration::from_micros((due - now).clamp(0, 5_000_000) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut moved => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_is_today_if_still_ahead_else_tomorrow_in_the_zone() {
        let zone = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let at = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_microsecond();
        // 01:00 in Shanghai is 17:00 UTC the day before.
        let now = at("2025-03-03T16:00:00Z");
        assert_eq!(next_run(now, 60, &zone), Some(at("2025-03-03T17:00:00Z")));
        assert_eq!(
            next_run(at("2025-03-03T17:00:00Z"), 60, &zone),
            Some(at("2025-03-04T17:00:00Z"))
        );
        assert_eq!(parse_at("02:30"), Ok(150));
        for bad in ["2:30", "24:00", "12:60", "noon", "12-30"] {
            assert!(parse_at(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_carry_their_time_and_sort_by_it() {
        let t = "2025-03-03T16:05:09Z".parse::<jiff::Timestamp>().unwrap();
        let name = file_name(t.as_microsecond(), true);
        assert_eq!(name, "doorplate-20250303T160509Z.dpbk");
        assert_eq!(taken_at(&name), Some((t, true)));
        let keys_only = file_name(t.as_microsecond(), false);
        assert_eq!(keys_only, "doorplate-20250303T160509Z-no-database.dpbk");
        assert_eq!(taken_at(&keys_only), Some((t, false)));
        assert_eq!(taken_at("doorplate-x.dpbk"), None);
    }
}
