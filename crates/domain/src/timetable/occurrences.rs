//! Periods placed in time: the weekly slots on the school days of the calendar and the
//! arrangements, which of them run at an instant, a room's current and next period
//! (R7), and the next instant at which the engine must look again.

use super::{Arrangement, Calendar, PeriodKind, Slot};
use crate::{Id, Micros};
use jiff::civil::Date;

/// Where a period comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    Slot(Id),
    Arrangement(Id),
}

/// One period, placed in time.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    pub origin: Origin,
    pub room_id: Id,
    pub kind: PeriodKind,
    pub title: String,
    pub starts: Micros,
    pub ends: Micros,
    pub teacher_id: Option<Id>,
    pub group_ids: Vec<Id>,
    pub user_ids: Vec<Id>,
}

impl Occurrence {
    pub fn running_at(&self, now: Micros) -> bool {
        self.starts <= now && now < self.ends
    }
}

fn slot_on(slot: &Slot, d: Date, cal: &Calendar) -> Option<Occurrence> {
    if d.weekday().to_monday_one_offset() as u8 != slot.weekday || !cal.school_day(d) {
        return None;
    }
    if slot.valid_from.is_some_and(|f| d < f) || slot.valid_until.is_some_and(|u| d > u) {
        return None;
    }
    let starts = cal.instant(d, slot.start)?;
    let ends = if slot.end > slot.start {
        cal.instant(d, slot.end)?
    } else {
        cal.instant(d.tomorrow().ok()?, slot.end)?
    };
    Some(Occurrence {
        origin: Origin::Slot(slot.id),
        room_id: slot.room_id,
        kind: slot.kind,
        title: slot.title.clone(),
        starts,
        ends,
        teacher_id: slot.teacher_id,
        group_ids: slot.group_id.into_iter().collect(),
        user_ids: Vec::new(),
    })
}

fn arrangement_occurrence(a: &Arrangement) -> Occurrence {
    Occurrence {
        origin: Origin::Arrangement(a.id),
        room_id: a.room_id,
        kind: a.kind,
        title: a.title.clone(),
        starts: a.starts_at,
        ends: a.ends_at,
        teacher_id: a.teacher_id,
        group_ids: a.group_ids.clone(),
        user_ids: a.user_ids.clone(),
    }
}

/// Every period that overlaps `[from, to)`, slots and arrangements alike, by start.
pub fn occurrences_between(
    slots: &[Slot],
    arrangements: &[Arrangement],
    cal: &Calendar,
    from: Micros,
    to: Micros,
) -> Vec<Occurrence> {
    let mut out = Vec::new();
    if let (Some(first), Some(last)) = (cal.date_of(from), cal.date_of(to)) {
        // Start a day early: a slot of yesterday may run past midnight.
        let mut d = first.yesterday().unwrap_or(first);
        while d <= last {
            out.extend(
                slots
                    .iter()
                    .filter_map(|s| slot_on(s, d, cal))
                    .filter(|o| o.starts < to && o.ends > from),
            );
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
    }
    out.extend(
        arrangements
            .iter()
            .filter(|a| a.starts_at < to && a.ends_at > from)
            .map(arrangement_occurrence),
    );
    out.sort_by_key(|o| (o.starts, o.room_id));
    out
}

/// The periods running at `now`.
pub fn running_at(slots: &[Slot], arrangements: &[Arrangement], cal: &Calendar, now: Micros) -> Vec<Occurrence> {
    occurrences_between(slots, arrangements, cal, now, now + 1)
}

/// The current and next period of a room (R7). An arrangement in the room wins over a
/// timetable slot at the same time.
pub fn room_periods(
    slots: &[Slot],
    arrangements: &[Arrangement],
    cal: &Calendar,
    room: Id,
    now: Micros,
) -> (Option<Occurrence>, Option<Occurrence>) {
    let week = 8 * 86_400_000_000;
    let slots: Vec<Slot> = slots.iter().filter(|s| s.room_id == room).cloned().collect();
    let arrs: Vec<Arrangement> = arrangements.iter().filter(|a| a.room_id == room).cloned().collect();
    let all = occurrences_between(&slots, &arrs, cal, now, now + week);
    let current = all
        .iter()
        .filter(|o| o.running_at(now))
        .max_by_key(|o| (matches!(o.origin, Origin::Arrangement(_)), o.starts))
        .cloned();
    let after = current.as_ref().map_or(now, |c| c.ends.max(now));
    let next = all
        .iter()
        .find(|o| o.starts >= after && Some(*o) != current.as_ref())
        .cloned();
    (current, next)
}

/// The next instant after `now` at which some period starts or ends: when the engine
/// must look again (at most a week ahead).
pub fn next_boundary(slots: &[Slot], arrangements: &[Arrangement], cal: &Calendar, now: Micros) -> Option<Micros> {
    let week = 8 * 86_400_000_000;
    occurrences_between(slots, arrangements, cal, now, now + week)
        .iter()
        .flat_map(|o| [o.starts, o.ends])
        .filter(|t| *t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use crate::timetable::test_support::*;
    use crate::timetable::{Arrangement, PeriodKind, Slot, desired_presences, next_boundary, room_periods, running_at};
    use jiff::civil::date;

    #[test]
    fn a_slot_runs_from_its_start_to_just_before_its_end() {
        let c = cal("Asia/Shanghai");
        let slots = [slot(1, 1, 1, 8 * H, 8 * H + 45 * 60, 10)];
        let start = at(&c, monday(), 8 * H);
        let end = at(&c, monday(), 8 * H + 45 * 60);
        assert!(running_at(&slots, &[], &c, start - 1).is_empty());
        assert_eq!(running_at(&slots, &[], &c, start).len(), 1);
        assert_eq!(running_at(&slots, &[], &c, end - 1).len(), 1);
        assert!(running_at(&slots, &[], &c, end).is_empty());
        // Tuesday has no such slot.
        assert!(running_at(&slots, &[], &c, at(&c, date(2026, 11, 24), 8 * H + 60)).is_empty());
        assert_eq!(next_boundary(&slots, &[], &c, start - 10), Some(start));
        assert_eq!(next_boundary(&slots, &[], &c, start), Some(end));
    }

    #[test]
    fn overlapping_periods_keep_the_later_end_and_arrangements_win_the_room() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 1, 1, 8 * H, 9 * H, 10)];
        let arr = Arrangement {
            id: 7,
            room_id: 1,
            kind: PeriodKind::Exam,
            title: "Maths exam".into(),
            starts_at: at(&c, monday(), 8 * H + 30 * 60),
            ends_at: at(&c, monday(), 10 * H),
            group_ids: vec![10],
            user_ids: vec![300],
            teacher_id: Some(5),
        };
        let now = at(&c, monday(), 8 * H + 40 * 60);
        let running = running_at(&slots, std::slice::from_ref(&arr), &c, now);
        assert_eq!(running.len(), 2);
        let want = desired_presences(&running, &members, &plates);
        let d100 = want.iter().find(|d| d.student_id == 100).unwrap();
        assert_eq!((d100.until, d100.from_arrangement), (arr.ends_at, true));
        assert!(want.iter().any(|d| d.student_id == 300), "listed students come too");
        let (current, next) = room_periods(&slots, std::slice::from_ref(&arr), &c, 1, now);
        assert_eq!(current.unwrap().kind, PeriodKind::Exam);
        // The next period is next Monday's slot (after the exam ends at 10:00).
        assert_eq!(next.unwrap().starts, at(&c, date(2026, 11, 30), 8 * H));
    }

    #[test]
    fn a_dormitory_night_runs_past_midnight() {
        let c = cal("Asia/Shanghai");
        let slots = [Slot {
            kind: PeriodKind::Dorm,
            ..slot(1, 1, 1, 21 * H, 7 * H, 10)
        }];
        let tuesday_3am = at(&c, date(2026, 11, 24), 3 * H);
        let running = running_at(&slots, &[], &c, tuesday_3am);
        assert_eq!(running.len(), 1);
        assert_eq!(running[0].ends, at(&c, date(2026, 11, 24), 7 * H));
    }
}
