//! R6's end of day: when the daily reset is due, once per local date.

use super::Calendar;
use crate::Micros;
use jiff::civil::Date;

/// The date whose end of day is due at `now` and has not been applied yet (it was last
/// applied on `last_done`), if any.
pub fn end_of_day_due(cal: &Calendar, end_of_day: u32, last_done: Option<Date>, now: Micros) -> Option<Date> {
    let today = cal.date_of(now)?;
    let due_at = cal.instant(today, end_of_day)?;
    (now >= due_at && last_done.is_none_or(|d| d < today)).then_some(today)
}

#[cfg(test)]
mod tests {
    use crate::timetable::end_of_day_due;
    use crate::timetable::test_support::*;
    use jiff::civil::date;

    #[test]
    fn end_of_day_is_due_once_per_day() {
        let c = cal("Asia/Shanghai");
        let eod = 22 * H + 30 * 60;
        let before = at(&c, monday(), 22 * H);
        let after = at(&c, monday(), 22 * H + 31 * 60);
        assert_eq!(end_of_day_due(&c, eod, None, before), None);
        assert_eq!(end_of_day_due(&c, eod, None, after), Some(monday()));
        assert_eq!(end_of_day_due(&c, eod, Some(monday()), after), None);
        assert_eq!(end_of_day_due(&c, eod, Some(date(2026, 11, 22)), after), Some(monday()));
    }
}
