//! Timetable arithmetic (R1 timetable and teacher-in-advance sources, R6 windows, R7
//! periods): which periods are running at an instant, who should therefore be present
//! where, and what to change to get there.
//!
//! The engine is level-triggered: it never remembers "a slot started", it asks "what
//! should be true now" and applies the difference. So a restart in the middle of a slot,
//! a clock jump or an edited timetable all converge without missed, doubled or flapping
//! transitions. Local times are read in the school's zone (daylight saving included).
//!
//! The parts: `calendar` (school days and local times), `occurrences` (periods
//! placed in time: what runs now, a room's current and next period, the next
//! boundary), `presences` (who the running periods want where, and the plan to get
//! there) and `end_of_day` (when R6's end of day is due).

mod calendar;
mod end_of_day;
mod occurrences;
mod presences;
#[cfg(test)]
mod test_support;

pub use calendar::Calendar;
pub use end_of_day::end_of_day_due;
pub use occurrences::{Occurrence, Origin, next_boundary, occurrences_between, room_periods, running_at};
pub use presences::{Desired, Plan, desired_presences, plan};

use crate::{Id, Micros};
use jiff::civil::Date;

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
