//! What the timetable's unit tests share: a calendar in a zone, a weekly slot, a
//! Monday and a small school of two classes and three doorplates.

use super::{Calendar, PeriodKind, Slot};
use crate::{Id, Micros};
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use std::collections::{HashMap, HashSet};

pub(super) const H: u32 = 3600;
pub(super) const US: i64 = 1_000_000;

pub(super) fn cal(zone: &str) -> Calendar {
    Calendar {
        tz: TimeZone::get(zone).unwrap(),
        term_start: None,
        term_end: None,
        holidays: HashSet::new(),
    }
}

pub(super) fn slot(id: Id, room: Id, weekday: u8, start: u32, end: u32, group: Id) -> Slot {
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

pub(super) fn at(c: &Calendar, d: Date, secs: u32) -> Micros {
    c.instant(d, secs).unwrap()
}

/// 2026-11-23 is a Monday.
pub(super) fn monday() -> Date {
    date(2026, 11, 23)
}

pub(super) fn school() -> (HashMap<Id, Vec<Id>>, HashMap<Id, Vec<Id>>) {
    let members = HashMap::from([(10, vec![100, 101]), (11, vec![200])]);
    let plates = HashMap::from([(1, vec![1001]), (2, vec![2001, 2002])]);
    (members, plates)
}
