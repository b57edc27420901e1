//! The timetable as loaded in memory (slots, arrangements, classes, the doorplates of each
//! room) and what the engine decided at its last pass: who the schedule wants where,
//! which presences people ended during a window (suppressed), which rooms sit an exam.
//! Read by routing (exams hold hints, R7) and arrivals; written by `engine`.

use doorplate_domain::timetable::{self, Arrangement, Calendar, Occurrence, Slot};
use doorplate_domain::{Id, Micros, Settings};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, RwLock};

/// Everything the engine reads, loaded from the store and reloaded on every change.
pub struct Loaded {
    pub slots: Vec<Slot>,
    pub arrangements: Vec<Arrangement>,
    pub calendar: Calendar,
    pub end_of_day: u32,
    /// Class → its students.
    pub members: HashMap<Id, Vec<Id>>,
    /// Student → the class teachers of their classes.
    pub teachers: HashMap<Id, Vec<Id>>,
    /// Room → its doorplates, and back.
    pub plates_of_room: HashMap<Id, Vec<Id>>,
    pub room_of_plate: HashMap<Id, Id>,
}

/// The engine's state. Std locks: every critical section is in-memory work only.
pub struct Schedule {
    pub(super) loaded: RwLock<Option<Loaded>>,
    /// Set when something changed (an edit, a clock jump): the next tick recomputes.
    pub(super) dirty: AtomicBool,
    pub(super) wake: tokio::sync::Notify,
    /// What the schedule wanted at the last tick: (student, doorplate) → until.
    pub(super) desired: RwLock<HashMap<(Id, Id), Micros>>,
    /// Presences a person ended during a window that still runs: not re-added until then.
    pub(super) suppressed: Mutex<HashMap<(Id, Id), Micros>>,
    /// Rooms in an exam now: their doorplates hold hints.
    pub(super) exam_rooms: RwLock<HashSet<Id>>,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            loaded: RwLock::new(None),
            dirty: AtomicBool::new(true),
            wake: tokio::sync::Notify::new(),
            desired: RwLock::default(),
            suppressed: Mutex::default(),
            exam_rooms: RwLock::default(),
        }
    }
}

pub fn calendar(s: &Settings) -> Calendar {
    Calendar {
        tz: jiff::tz::TimeZone::get(&s.timezone).unwrap_or(jiff::tz::TimeZone::UTC),
        term_start: s.term_start.as_deref().and_then(|d| d.parse().ok()),
        term_end: s.term_end.as_deref().and_then(|d| d.parse().ok()),
        holidays: s.holidays.iter().filter_map(|d| d.parse().ok()).collect(),
    }
}

impl Schedule {
    /// Whether a doorplate's room is sitting an exam: its hints wait (R7).
    pub fn in_exam(&self, doorplate: Id) -> bool {
        let room = self
            .loaded
            .read()
            .expect("schedule poisoned")
            .as_ref()
            .and_then(|l| l.room_of_plate.get(&doorplate).copied());
        room.is_some_and(|r| self.exam_rooms.read().expect("schedule poisoned").contains(&r))
    }

    /// The current and next period of a room.
    pub fn periods(&self, room: Id, now: Micros) -> (Option<Occurrence>, Option<Occurrence>) {
        match self.loaded.read().expect("schedule poisoned").as_ref() {
            Some(l) => timetable::room_periods(&l.slots, &l.arrangements, &l.calendar, room, now),
            None => (None, None),
        }
    }

    /// The school's calendar as loaded.
    pub fn calendar(&self) -> Option<Calendar> {
        self.loaded
            .read()
            .expect("schedule poisoned")
            .as_ref()
            .map(|l| l.calendar.clone())
    }

    /// The class teachers of a student.
    pub fn teachers_of(&self, student: Id) -> Vec<Id> {
        self.loaded
            .read()
            .expect("schedule poisoned")
            .as_ref()
            .and_then(|l| l.teachers.get(&student).cloned())
            .unwrap_or_default()
    }

    /// The doorplates of a room.
    pub fn plates_of_room(&self, room: Id) -> Vec<Id> {
        self.loaded
            .read()
            .expect("schedule poisoned")
            .as_ref()
            .and_then(|l| l.plates_of_room.get(&room).cloned())
            .unwrap_or_default()
    }

    /// Every doorplate.
    pub fn all_plates(&self) -> Vec<Id> {
        self.loaded
            .read()
            .expect("schedule poisoned")
            .as_ref()
            .map(|l| l.room_of_plate.keys().copied().collect())
            .unwrap_or_default()
    }

    fn wanted_until(&self, student: Id, doorplate: Id) -> Option<Micros> {
        self.desired
            .read()
            .expect("schedule poisoned")
            .get(&(student, doorplate))
            .copied()
    }

    /// A person ended this presence: if the schedule wants it, it stays ended until the
    /// window it was wanted for is over. Returns that end, for the store to remember.
    pub fn suppress(&self, student: Id, doorplate: Id) -> Option<Micros> {
        let until = self.wanted_until(student, doorplate)?;
        self.suppressed
            .lock()
            .expect("schedule poisoned")
            .insert((student, doorplate), until);
        Some(until)
    }
}
