//! Timetable arithmetic (R1 timetable and teacher-in-advance sources, R6 windows, R7
//! periods): which periods are running at an instant, who should therefore be present
//! where, and what to change to get there.
//!
//! The engine is level-triggered: it never remembers "a slot started", it asks "what
//! should be true now" and applies the difference. So a restart in the middle of a slot,
//! a clock jump or an edited timetable all converge without missed, doubled or flapping
//! transitions. Local times are read in the school's zone (daylight saving included).

use crate::{Id, Micros};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use std::collections::{HashMap, HashSet};

/// What a period is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    Lesson,
    Exam,
    Meeting,
    Dorm,
    Activity,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lesson => "lesson",
            Self::Exam => "exam",
            Self::Meeting => "meeting",
            Self::Dorm => "dorm",
            Self::Activity => "activity",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "lesson" => Self::Lesson,
            "exam" => Self::Exam,
            "meeting" => Self::Meeting,
            "dorm" => Self::Dorm,
            "activity" => Self::Activity,
            _ => return None,
        })
    }
}

/// A weekly slot of a room's timetable.
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub id: Id,
    pub room_id: Id,
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    /// Seconds after local midnight. An `end` not after `start` runs past midnight
    /// (a dormitory night).
    pub start: u32,
    pub end: u32,
    pub kind: PeriodKind,
    pub title: String,
    pub group_id: Option<Id>,
    pub teacher_id: Option<Id>,
    pub valid_from: Option<Date>,
    pub valid_until: Option<Date>,
}

/// A one-off period a teacher arranged in advance.
#[derive(Clone, Debug, PartialEq)]
pub struct Arrangement {
    pub id: Id,
    pub room_id: Id,
    pub kind: PeriodKind,
    pub title: String,
    pub starts_at: Micros,
    pub ends_at: Micros,
    pub group_ids: Vec<Id>,
    pub user_ids: Vec<Id>,
    pub teacher_id: Option<Id>,
}

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

/// A presence the schedule wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desired {
    pub student_id: Id,
    pub doorplate_id: Id,
    /// Timetable for a slot, teacher-in-advance for an arrangement.
    pub from_arrangement: bool,
    pub until: Micros,
}

/// Who the running periods put where: each member of each group (and each listed
/// student) at every doorplate of the period's room. A student wanted at one doorplate
/// by two periods keeps the later end.
pub fn desired_presences(
    running: &[Occurrence],
    members: &HashMap<Id, Vec<Id>>,
    doorplates_of_room: &HashMap<Id, Vec<Id>>,
) -> Vec<Desired> {
    let mut want: HashMap<(Id, Id), Desired> = HashMap::new();
    for o in running {
        let Some(plates) = doorplates_of_room.get(&o.room_id) else {
            continue;
        };
        let students = o
            .group_ids
            .iter()
            .flat_map(|g| members.get(g).into_iter().flatten())
            .chain(o.user_ids.iter());
        for s in students {
            for d in plates {
                let e = want.entry((*s, *d)).or_insert(Desired {
                    student_id: *s,
                    doorplate_id: *d,
                    from_arrangement: matches!(o.origin, Origin::Arrangement(_)),
                    until: o.ends,
                });
                if o.ends > e.until {
                    e.until = o.ends;
                    e.from_arrangement = matches!(o.origin, Origin::Arrangement(_));
                }
            }
        }
    }
    let mut v: Vec<Desired> = want.into_values().collect();
    v.sort_by_key(|d| (d.student_id, d.doorplate_id));
    v
}

/// What the engine changes: arrivals for wanted presences that are missing (unless a
/// person ended them during this window), departures for presences the engine made
/// that nothing wants any more.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub arrive: Vec<Desired>,
    pub leave: Vec<(Id, Id)>,
}

/// `held` are the presences that exist now, with whether the engine made them
/// (timetable / teacher in advance) — presences people made (active, teacher now) are
/// never ended by the engine. `suppressed` are (student, doorplate) pairs a person ended
/// during a window that still runs.
pub fn plan(held: &[(Id, Id, bool)], desired: &[Desired], suppressed: &HashSet<(Id, Id)>) -> Plan {
    let wanted: HashSet<(Id, Id)> = desired.iter().map(|d| (d.student_id, d.doorplate_id)).collect();
    let present: HashSet<(Id, Id)> = held.iter().map(|(s, d, _)| (*s, *d)).collect();
    Plan {
        arrive: desired
            .iter()
            .filter(|d| {
                !present.contains(&(d.student_id, d.doorplate_id))
                    && !suppressed.contains(&(d.student_id, d.doorplate_id))
            })
            .copied()
            .collect(),
        leave: held
            .iter()
            .filter(|(s, d, engine)| *engine && !wanted.contains(&(*s, *d)))
            .map(|(s, d, _)| (*s, *d))
            .collect(),
    }
}

/// The date whose end of day is due at `now` and has not been applied yet (it was last
/// applied on `last_done`), if any.
pub fn end_of_day_due(cal: &Calendar, end_of_day: u32, last_done: Option<Date>, now: Micros) -> Option<Date> {
    let today = cal.date_of(now)?;
    let due_at = cal.instant(today, end_of_day)?;
    (now >= due_at && last_done.is_none_or(|d| d < today)).then_some(today)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const H: u32 = 3600;
    const US: i64 = 1_000_000;

    fn cal(zone: &str) -> Calendar {
        Calendar {
            tz: TimeZone::get(zone).unwrap(),
            term_start: None,
            term_end: None,
            holidays: HashSet::new(),
        }
    }

    fn slot(id: Id, room: Id, weekday: u8, start: u32, end: u32, group: Id) -> Slot {
        Slot {
            id,
            room_id: room,
            weekday,
            start,
            end,
            kind: PeriodKind::Lesson,
            title: format!("slot {id}"),
            group_id: Some(group),
            teacher_id: None,
            valid_from: None,
            valid_until: None,
        }
    }

    fn at(c: &Calendar, d: Date, secs: u32) -> Micros {
        c.instant(d, secs).unwrap()
    }

    /// 2026-11-23 is a Monday.
    fn monday() -> Date {
        date(2026, 11, 23)
    }

    fn school() -> (HashMap<Id, Vec<Id>>, HashMap<Id, Vec<Id>>) {
        let members = HashMap::from([(10, vec![100, 101]), (11, vec![200])]);
        let plates = HashMap::from([(1, vec![1001]), (2, vec![2001, 2002])]);
        (members, plates)
    }

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
    fn the_class_is_wanted_at_every_doorplate_of_the_room_until_the_end() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 2, 1, 9 * H, 10 * H, 10)];
        let now = at(&c, monday(), 9 * H + 5);
        let want = desired_presences(&running_at(&slots, &[], &c, now), &members, &plates);
        let pairs: Vec<_> = want.iter().map(|d| (d.student_id, d.doorplate_id)).collect();
        assert_eq!(pairs, vec![(100, 2001), (100, 2002), (101, 2001), (101, 2002)]);
        assert!(
            want.iter()
                .all(|d| d.until == at(&c, monday(), 10 * H) && !d.from_arrangement)
        );
    }

    #[test]
    fn the_plan_adds_what_is_missing_and_ends_only_what_the_engine_made() {
        let want = vec![
            Desired {
                student_id: 1,
                doorplate_id: 9,
                from_arrangement: false,
                until: 100,
            },
            Desired {
                student_id: 2,
                doorplate_id: 9,
                from_arrangement: false,
                until: 100,
            },
            Desired {
                student_id: 3,
                doorplate_id: 9,
                from_arrangement: false,
                until: 100,
            },
        ];
        // 1 is already there; 4 was put there by the engine and is no longer wanted; 5
        // checked in by themselves (not the engine's to end); 3 was dismissed this window.
        let held = [(1, 9, true), (4, 9, true), (5, 9, false)];
        let p = plan(&held, &want, &HashSet::from([(3, 9)]));
        assert_eq!(p.arrive.iter().map(|d| d.student_id).collect::<Vec<_>>(), vec![2]);
        assert_eq!(p.leave, vec![(4, 9)]);
        // Applying the plan and asking again changes nothing: no flapping.
        let held = [(1, 9, true), (2, 9, true), (5, 9, false)];
        assert_eq!(plan(&held, &want, &HashSet::from([(3, 9)])), Plan::default());
    }

    #[test]
    fn a_restart_in_the_middle_of_a_slot_converges_on_the_same_state() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 1, 1, 8 * H, 9 * H, 10), slot(2, 1, 1, 9 * H, 10 * H, 11)];
        // Whatever happened before the restart, what should be true at 09:30 is class 11.
        for held in [
            vec![],
            vec![(100, 1001, true), (101, 1001, true)],
            vec![(200, 1001, true)],
        ] {
            let now = at(&c, monday(), 9 * H + 30 * 60);
            let want = desired_presences(&running_at(&slots, &[], &c, now), &members, &plates);
            let p = plan(&held, &want, &HashSet::new());
            let mut after: HashSet<(Id, Id)> = held.iter().map(|(s, d, _)| (*s, *d)).collect();
            for (s, d) in &p.leave {
                after.remove(&(*s, *d));
            }
            after.extend(p.arrive.iter().map(|d| (d.student_id, d.doorplate_id)));
            assert_eq!(after, HashSet::from([(200, 1001)]), "from {held:?}");
        }
    }

    #[test]
    fn a_clock_jump_lands_on_what_is_true_at_the_new_time() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 1, 1, 8 * H, 9 * H, 10)];
        let before = at(&c, monday(), 8 * H + 10);
        let want = desired_presences(&running_at(&slots, &[], &c, before), &members, &plates);
        let held: Vec<(Id, Id, bool)> = want.iter().map(|d| (d.student_id, d.doorplate_id, true)).collect();
        // The clock jumps past the end: everyone the slot placed leaves, once.
        let jumped = at(&c, monday(), 11 * H);
        let want = desired_presences(&running_at(&slots, &[], &c, jumped), &members, &plates);
        let p = plan(&held, &want, &HashSet::new());
        assert_eq!(p.leave.len(), 2);
        assert!(p.arrive.is_empty());
        // And back: they return.
        let p = plan(
            &[],
            &desired_presences(&running_at(&slots, &[], &c, before), &members, &plates),
            &HashSet::new(),
        );
        assert_eq!(p.arrive.len(), 2);
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
