//! Daily backups taken by the server itself, for operators who have nothing else: at
//! `HH:MM` on the default school's wall clock (its zone, on the server's clock, so tests
//! move time by hand), into a folder of their own, keeping the newest N. A setting of
//! the deployment, not of a school: one backup holds every school.

use super::Taken;
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

/// The file name of a backup taken at `now`: its UTC time, so names sort by age.
pub fn file_name(now: Micros) -> String {
    let t = jiff::Timestamp::from_microsecond(now).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{PREFIX}{}{SUFFIX}", t.strftime("%Y%m%dT%H%M%SZ"))
}

/// The time a backup's file name says it was taken.
fn taken_at(name: &str) -> Option<jiff::Timestamp> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", stamp)
        .ok()?
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// The backups in `dir`, newest first (name, size).
fn backups(dir: &Path) -> Vec<(String, u64)> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<(String, u64)> = read
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            taken_at(&name)?;
            Some((name, e.metadata().ok()?.len()))
        })
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0));
    all
}

/// The newest backup in the folder, as the console shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema, PartialEq)]
pub struct LastBackup {
    /// When it was taken (RFC 3339).
    pub at: String,
    pub size_bytes: u64,
    /// Its file name in the backup folder.
    pub file: String,
}

pub fn last(dir: &Path) -> Option<LastBackup> {
    let (file, size_bytes) = backups(dir).into_iter().next()?;
    let at = taken_at(&file)?.to_string();
    Some(LastBackup { at, size_bytes, file })
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

/// Takes one backup now into the schedule's folder and prunes old ones.
pub async fn take_now(data: &Path, schedule: &Schedule, now: Micros) -> Result<Taken, super::BackupError> {
    let (data, dir, keep) = (data.to_path_buf(), schedule.dir.clone(), schedule.keep);
    tokio::task::spawn_blocking(move || {
        crate::storage::private_dir(&dir)?;
        let taken = super::take(&data, &dir.join(file_name(now)), None, now)?;
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
    data: PathBuf,
    schedule: Schedule,
    clock: Arc<dyn Clock>,
    zone: impl Fn() -> jiff::tz::TimeZone + Send + 'static,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(dir = %schedule.dir.display(), at = format!("{:02}:{:02}", schedule.at_minute / 60, schedule.at_minute % 60), keep = schedule.keep, "daily backups on");
    let mut due = match next_run(clock.now(), schedule.at_minute, &zone()) {
        Some(t) => t,
        None => return,
    };
    loop {
        let moved = clock::moved(clock.as_ref());
        tokio::pin!(moved);
        let now = clock.now();
        if now >= due {
            match take_now(&data, &schedule, now).await {
                Ok(t) => tracing::info!(file = %t.file.display(), bytes = t.size, schools = t.schools, "backup taken"),
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
        let name = file_name(t.as_microsecond());
        assert_eq!(name, "doorplate-20250303T160509Z.dpbk");
        assert_eq!(taken_at(&name), Some(t));
        assert_eq!(taken_at("doorplate-x.dpbk"), None);
    }
}
