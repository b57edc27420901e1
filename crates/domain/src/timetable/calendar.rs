//! The school's calendar: which days are school days, and local dates and times of
//! day turned into instants in the school's zone (daylight saving included).

use crate::Micros;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use std::collections::HashSet;

/// The school's calendar: its zone, its term and its holidays. Timetable slots run
/// only on school days; arrangements run whenever they were set.
#[derive(Clone, Debug)]
pub struct Calendar {
    pub tz: TimeZone,
    pub term_start: Option<Date>,
    pub term_end: Option<Date>,
    pub holidays: HashSet<Date>,
}

impl Calendar {
    pub fn school_day(&self, d: Date) -> bool {
        self.term_start.is_none_or(|s| d >= s) && self.term_end.is_none_or(|e| d <= e) && !self.holidays.contains(&d)
    }

    /// The local date at an instant.
    pub fn date_of(&self, t: Micros) -> Option<Date> {
        Some(
            jiff::Timestamp::from_microsecond(t)
                .ok()?
                .to_zoned_datetime(self.tz.clone())
                .date(),
        )
    }

    /// The instant of a local date and time of day (a time skipped by a daylight-saving
    /// change moves forward, a repeated one takes the first).
    pub fn instant(&self, d: Date, secs: u32) -> Option<Micros> {
        let t = Time::new((secs / 3600) as i8, ((secs / 60) % 60) as i8, (secs % 60) as i8, 0).ok()?;
        let zdt = d.to_datetime(t).to_zoned_datetime(self.tz.clone()).ok()?;
        Some(zdt.timestamp().as_microsecond())
    }
}

#[cfg(test)]
mod tests {
    use crate::timetable::test_support::*;
    use crate::timetable::{Arrangement, Calendar, PeriodKind, occurrences_between, running_at};
    use jiff::civil::date;
    use std::collections::HashSet;

    #[test]
    fn daylight_saving_days_keep_local_times() {
        // Europe/London leaves summer time on Sunday 2026-10-25: 01:00–02:00 repeats.
        let c = cal("Europe/London");
        let sunday = date(2026, 10, 25);
        let slots = [slot(1, 1, 7, 0, 3 * H, 10)];
        let o = &occurrences_between(&slots, &[], &c, at(&c, sunday, 0), at(&c, sunday, 12 * H))[0];
        assert_eq!(
            o.ends - o.starts,
            4 * 3600 * US,
            "00:00–03:00 lasts four hours that night"
        );
        // And a lesson at 09:00 is at 09:00 local time on both sides of the change.
        let slots = [slot(2, 1, 5, 9 * H, 10 * H, 10)];
        for friday in [date(2026, 10, 23), date(2026, 10, 30)] {
            let o = &occurrences_between(&slots, &[], &c, at(&c, friday, 0), at(&c, friday, 23 * H))[0];
            let local = jiff::Timestamp::from_microsecond(o.starts)
                .unwrap()
                .to_zoned_datetime(c.tz.clone());
            assert_eq!((local.hour(), local.minute()), (9, 0), "{friday}");
        }
        // Spring forward (2026-03-29): 01:30 does not exist and moves to 02:30.
        let skipped = c.instant(date(2026, 3, 29), H + 30 * 60).unwrap();
        let local = jiff::Timestamp::from_microsecond(skipped)
            .unwrap()
            .to_zoned_datetime(c.tz.clone());
        assert_eq!((local.hour(), local.minute()), (2, 30));
    }

    #[test]
    fn holidays_and_term_dates_silence_the_timetable_but_not_arrangements() {
        let mut c = cal("UTC");
        c.holidays.insert(monday());
        let slots = [slot(1, 1, 1, 8 * H, 9 * H, 10)];
        let now = at(&c, monday(), 8 * H + 1);
        assert!(running_at(&slots, &[], &c, now).is_empty());
        let arr = Arrangement {
            id: 1,
            room_id: 1,
            kind: PeriodKind::Meeting,
            title: "Parents' day".into(),
            starts_at: now - 1,
            ends_at: now + 1000,
            group_ids: vec![],
            user_ids: vec![1],
            teacher_id: None,
        };
        assert_eq!(running_at(&slots, &[arr], &c, now).len(), 1);
        let c = Calendar {
            holidays: HashSet::new(),
            term_end: Some(date(2026, 11, 20)),
            ..c
        };
        assert!(running_at(&slots, &[], &c, now).is_empty(), "after the term");
    }
}
