//! Staff quiet hours: when a message to a teacher waits silently instead of alerting.
//!
//! A teacher sets, per weekday, the part of that day that is quiet. A day's span runs
//! in the school's zone, read on the wall clock (so a DST change moves nothing a person
//! would notice): `from` < `to` is quiet from `from` to `to` (a lunch break);
//! `from` > `to` is quiet before `to` and from `from` on ("18:00–07:00": the evening
//! and the early morning of that day); `from` = `to` is quiet all day. Pure: the instant
//! and the zone are passed in.

use crate::hhmm::parse_hhmm;
use crate::{Micros, Role};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// One weekday's quiet span ("HH:MM" both; see the module's doc for how they read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuietSpan {
    pub from: String,
    pub to: String,
}

/// A teacher's quiet hours: `days[0]` is Monday … `days[6]` Sunday; `None`, no quiet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub days: [Option<QuietSpan>; 7],
}

/// When a quiet stretch ends, on the school's wall clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuietUntil {
    /// The instant it ends (UTC microseconds).
    pub at: Micros,
    /// "HH:MM" in the school's zone.
    pub time: String,
    /// ISO weekday of that end, 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Calendar days after today (in the school's zone) the end falls on: 0 today,
    /// 1 tomorrow …
    pub days_ahead: u8,
}

impl QuietHours {
    /// Checks every span; the error names the first bad field.
    pub fn validate(&self) -> Result<(), &'static str> {
        for span in self.days.iter().flatten() {
            if parse_hhmm(&span.from).is_none() || parse_hhmm(&span.to).is_none() {
                return Err("times must be HH:MM");
            }
        }
        Ok(())
    }

    /// Whether no day has a span.
    pub fn is_empty(&self) -> bool {
        self.days.iter().all(Option::is_none)
    }

    /// The quiet parts of one weekday (0 = Monday) as [start, end) seconds after
    /// midnight, end at most 86 400.
    fn parts(&self, weekday0: usize) -> Vec<(u32, u32)> {
        let Some(span) = &self.days[weekday0] else {
            return Vec::new();
        };
        let (Some(from), Some(to)) = (parse_hhmm(&span.from), parse_hhmm(&span.to)) else {
            return Vec::new();
        };
        use std::cmp::Ordering::*;
        match from.cmp(&to) {
            Equal => vec![(0, DAY)],
            Less => vec![(from, to)],
            Greater => vec![(0, to), (from, DAY)],
        }
    }

    /// Whether `now` is quiet and, if so, when this quiet stretch ends (a stretch runs on
    /// across midnight into the next day's quiet). `None` when `now` is not quiet. A week
    /// that is quiet throughout ends "in a week": the answer is capped at seven days.
    pub fn quiet_until(&self, now: Micros, zone: &TimeZone) -> Option<QuietUntil> {
        let local = jiff::Timestamp::from_microsecond(now)
            .ok()?
            .to_zoned_datetime(zone.clone());
        let today = local.date();
        let secs = local.time().hour() as u32 * 3600 + local.time().minute() as u32 * 60 + local.time().second() as u32;
        let inside = |day: Date, s: u32| self.parts(weekday0(day)).into_iter().find(|&(a, b)| a <= s && s < b);
        let (_, mut end) = inside(today, secs)?;
        let mut day = today;
        let mut days_ahead = 0u8;
        // Follow the stretch over midnights while the next day is quiet from 00:00.
        while end == DAY && days_ahead < 7 {
            let next = day.tomorrow().ok()?;
            match inside(next, 0) {
                Some((_, e)) => {
                    day = next;
                    end = e;
                    days_ahead += 1;
                }
                None => {
                    day = next;
                    end = 0;
                    days_ahead += 1;
                }
            }
        }
        let wall = Time::new((end / 3600 % 24) as i8, (end / 60 % 60) as i8, 0, 0).ok()?;
        Some(QuietUntil {
            at: wall_instant(zone, day, wall)?,
            time: format!("{:02}:{:02}", wall.hour(), wall.minute()),
            weekday: day.weekday().to_monday_one_offset() as u8,
            days_ahead,
        })
    }

    /// Whether `now` is inside these quiet hours in `zone`.
    pub fn is_quiet(&self, now: Micros, zone: &TimeZone) -> bool {
        self.quiet_until(now, zone).is_some()
    }
}

const DAY: u32 = 86_400;

/// Whether a message to someone inside their quiet hours waits silently: it does,
/// except an urgent one from a guardian, which alerts anyway (a child may need help).
pub fn holds(recipient_quiet: bool, urgent: bool, sender: Role) -> bool {
    recipient_quiet && !(urgent && sender == Role::Guardian)
}

/// Whether a person of this role may set quiet hours: staff (teachers and admins).
pub fn may_have_quiet_hours(role: Role) -> bool {
    matches!(role, Role::Teacher | Role::Admin)
}

/// The first instant the wall clock shows `time` on `day` or later. A time a DST change
/// skips (02:30 on a spring-forward night) is over when the clock jumps past it, at the
/// transition; a repeated one is reached the first time.
fn wall_instant(zone: &TimeZone, day: Date, time: Time) -> Option<Micros> {
    use jiff::tz::AmbiguousOffset;
    let dt = day.to_datetime(time);
    let ambiguous = zone.to_ambiguous_timestamp(dt);
    let ts = match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => {
            // `later` lies past the gap by its length; the transition just before it is
            // the jump itself.
            let later = ambiguous.later().ok()?;
            zone.preceding(later).next().map(|t| t.timestamp()).unwrap_or(later)
        }
        _ => ambiguous.compatible().ok()?,
    };
    Some(ts.as_microsecond())
}

fn weekday0(d: Date) -> usize {
    d.weekday().to_monday_zero_offset() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn span(from: &str, to: &str) -> Option<QuietSpan> {
        Some(QuietSpan {
            from: from.into(),
            to: to.into(),
        })
    }

    /// Mon–Fri 18:00–07:00, weekends all day: the issue's example.
    fn evenings_and_weekends() -> QuietHours {
        let wd = span("18:00", "07:00");
        QuietHours {
            days: [
                wd.clone(),
                wd.clone(),
                wd.clone(),
                wd.clone(),
                wd,
                span("00:00", "00:00"),
                span("00:00", "00:00"),
            ],
        }
    }

    fn at(zone: &TimeZone, y: i16, m: i8, d: i8, h: i8, min: i8) -> Micros {
        date(y, m, d)
            .at(h, min, 0, 0)
            .to_zoned_datetime(zone.clone())
            .unwrap()
            .timestamp()
            .as_microsecond()
    }

    #[test]
    fn weekday_evenings_and_mornings() {
        let z = TimeZone::get("Asia/Shanghai").unwrap();
        let q = evenings_and_weekends();
        // 2026-11-30 is a Monday.
        assert!(!q.is_quiet(at(&z, 2026, 11, 30, 12, 0), &z));
        assert!(
            !q.is_quiet(at(&z, 2026, 11, 30, 7, 0), &z),
            "07:00 is the end: not quiet"
        );
        assert!(!q.is_quiet(at(&z, 2026, 11, 30, 17, 59), &z));
        let u = q.quiet_until(at(&z, 2026, 11, 30, 18, 0), &z).unwrap();
        assert_eq!((u.time.as_str(), u.weekday, u.days_ahead), ("07:00", 2, 1));
        assert_eq!(u.at, at(&z, 2026, 12, 1, 7, 0));
        let u = q.quiet_until(at(&z, 2026, 12, 1, 6, 59), &z).unwrap();
        assert_eq!((u.time.as_str(), u.days_ahead), ("07:00", 0));
    }

    #[test]
    fn a_weekend_runs_from_friday_evening_to_monday_morning() {
        let z = TimeZone::get("Asia/Shanghai").unwrap();
        let q = evenings_and_weekends();
        // Friday 2026-12-04 at 20:00 → Monday 07:00.
        let u = q.quiet_until(at(&z, 2026, 12, 4, 20, 0), &z).unwrap();
        assert_eq!((u.time.as_str(), u.weekday, u.days_ahead), ("07:00", 1, 3));
        assert_eq!(u.at, at(&z, 2026, 12, 7, 7, 0));
        assert!(q.is_quiet(at(&z, 2026, 12, 6, 12, 0), &z), "Sunday noon");
    }

    #[test]
    fn a_day_span_and_no_span() {
        let z = TimeZone::UTC;
        let mut q = QuietHours::default();
        assert!(q.is_empty());
        assert!(!q.is_quiet(at(&z, 2026, 11, 30, 3, 0), &z));
        q.days[0] = span("12:00", "13:30");
        assert!(!q.is_quiet(at(&z, 2026, 11, 30, 11, 59), &z));
        let u = q.quiet_until(at(&z, 2026, 11, 30, 12, 0), &z).unwrap();
        assert_eq!((u.time.as_str(), u.days_ahead), ("13:30", 0));
        assert!(!q.is_quiet(at(&z, 2026, 12, 1, 12, 30), &z), "Tuesday has none");
        // A stretch that reaches midnight ends there when the next day is not quiet.
        q.days[0] = span("20:00", "00:00");
        let u = q.quiet_until(at(&z, 2026, 11, 30, 22, 0), &z).unwrap();
        assert_eq!((u.time.as_str(), u.weekday, u.days_ahead), ("00:00", 2, 1));
    }

    #[test]
    fn always_quiet_is_capped_at_a_week() {
        let z = TimeZone::UTC;
        let q = QuietHours {
            days: std::array::from_fn(|_| span("00:00", "00:00")),
        };
        let u = q.quiet_until(at(&z, 2026, 11, 30, 9, 0), &z).unwrap();
        assert_eq!(u.days_ahead, 7);
    }

    #[test]
    fn wall_clock_across_daylight_saving_changes() {
        // Europe/Berlin springs forward on 2026-03-29 (02:00 → 03:00) and falls back on
        // 2026-10-25 (03:00 → 02:00); both are Sundays.
        let z = TimeZone::get("Europe/Berlin").unwrap();
        let mut q = QuietHours::default();
        q.days[5] = span("22:00", "22:00"); // Saturday all day
        q.days[6] = span("22:00", "07:00"); // Sunday: before 07:00 and from 22:00
        // Saturday 12:00 → Sunday 07:00 wall time, whatever the day's length.
        let u = q.quiet_until(at(&z, 2026, 3, 28, 12, 0), &z).unwrap();
        assert_eq!(u.at, at(&z, 2026, 3, 29, 7, 0));
        assert_eq!(u.at - at(&z, 2026, 3, 28, 12, 0), 18 * 3_600_000_000, "a short night");
        let u = q.quiet_until(at(&z, 2026, 10, 24, 12, 0), &z).unwrap();
        assert_eq!(u.at - at(&z, 2026, 10, 24, 12, 0), 20 * 3_600_000_000, "a long night");
        // Inside the repeated hour of the fall-back night it is still quiet.
        let second_0230 = at(&z, 2026, 10, 25, 1, 30) + 2 * 3_600_000_000;
        assert!(q.is_quiet(second_0230, &z));
        assert!(!q.is_quiet(at(&z, 2026, 10, 25, 7, 0), &z));
        // An end that falls in the skipped hour resolves to the first instant after it.
        q.days[6] = span("22:00", "02:30");
        let u = q.quiet_until(at(&z, 2026, 3, 28, 12, 0), &z).unwrap();
        assert_eq!(u.at, at(&z, 2026, 3, 29, 3, 0));
    }

    #[test]
    fn urgent_from_a_guardian_still_alerts() {
        assert!(holds(true, false, Role::Guardian));
        assert!(holds(true, true, Role::Teacher), "urgent only counts from a guardian");
        assert!(!holds(true, true, Role::Guardian));
        assert!(!holds(false, false, Role::Guardian));
        assert!(may_have_quiet_hours(Role::Teacher) && !may_have_quiet_hours(Role::Guardian));
    }

    #[test]
    fn validation_and_json() {
        let mut q = evenings_and_weekends();
        assert_eq!(q.validate(), Ok(()));
        let json = serde_json::to_value(&q).unwrap();
        assert_eq!(json["days"][0], serde_json::json!({"from": "18:00", "to": "07:00"}));
        assert_eq!(json["days"].as_array().unwrap().len(), 7);
        q.days[2] = span("25:00", "07:00");
        assert!(q.validate().is_err());
        assert!(
            serde_json::from_str::<QuietHours>(r#"{"days":[null]}"#).is_err(),
            "seven days"
        );
    }
}
