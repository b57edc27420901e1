//! The timetable as loaded in memory (slots, arrangements, classes, the doorplates of each
//! room) and what the engine decided at its last pass: who the schedule wants where,
//! which presences people ended during a window (suppressed), which rooms sit an exam.
//! Read by routing (exams hold hints, R7) and arrivals; written by `engine`.

use doorplate_domain::timetable::{self, Arrangement, Calendar, Occurrence, Slot};
use doorplate_domain::{Id, Micros, Settings};
use doorplate_store::PresenceRow;
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
    /// Presences people made that a scheduled window pushed out (R2), by student: they
    /// come back when that window is over for the student (see [`Displaced`]).
    pub(super) displaced: Mutex<HashMap<Id, Vec<Displaced>>>,
}

/// A room's presence that a scheduled window pushed out. It comes back once the student
/// is no longer in the room that pushed it out (the window ended, or they were dismissed
/// from it), unless it ended otherwise meanwhile: its own `until`, a dismissal from the
/// room, a new arrival there, or the end of the day. Memory only: a restart forgets it.
#[derive(Clone, Debug)]
pub struct Displaced {
    /// The room's rows as they were (one per doorplate; they share source and end).
    pub rows: Vec<PresenceRow>,
    pub room: Id,
    /// The room whose scheduled window pushed it out.
    pub by_room: Id,
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
            displaced: Mutex::default(),
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

    /// The room a doorplate hangs in. A doorplate the loaded schedule does not know yet
    /// counts as a room of its own, named by its negated id (ids are positive, so that
    /// names no real room).
    pub fn room_of(&self, doorplate: Id) -> Id {
        self.loaded
            .read()
            .expect("schedule poisoned")
            .as_ref()
            .and_then(|l| l.room_of_plate.get(&doorplate).copied())
            .unwrap_or(-doorplate)
    }

    /// The doorplates that share one presence with this one (R2 counts rooms): every
    /// doorplate of its room, this one first.
    pub fn doorplates_with(&self, doorplate: Id) -> Vec<Id> {
        let mut plates = vec![doorplate];
        plates.extend(
            self.plates_of_room(self.room_of(doorplate))
                .into_iter()
                .filter(|d| *d != doorplate),
        );
        plates
    }

    /// Remembers a room's presence that a scheduled window in `by_room` pushed out.
    pub fn displace(&self, student: Id, rows: Vec<PresenceRow>, room: Id, by_room: Id) {
        let mut all = self.displaced.lock().expect("schedule poisoned");
        let list = all.entry(student).or_default();
        list.retain(|d| d.room != room);
        list.push(Displaced { rows, room, by_room });
    }

    /// The student's presence in `room` ended or began otherwise: it no longer comes back.
    pub fn forget_displaced(&self, student: Id, room: Id) {
        let mut all = self.displaced.lock().expect("schedule poisoned");
        if let Some(list) = all.get_mut(&student) {
            list.retain(|d| d.room != room);
            if list.is_empty() {
                all.remove(&student);
            }
        }
    }

    /// End of day: what people made ends, displaced or not.
    pub fn forget_all_displaced(&self) {
        self.displaced.lock().expect("schedule poisoned").clear();
    }

    /// Takes the displaced presences whose displacing window is over for their student:
    /// `in_room(student, room)` says whether the student is still in that room.
    pub fn take_displaced_due(&self, in_room: impl Fn(Id, Id) -> bool) -> Vec<(Id, Displaced)> {
        let mut all = self.displaced.lock().expect("schedule poisoned");
        let mut due = Vec::new();
        for (student, list) in all.iter_mut() {
            let (gone, stay): (Vec<Displaced>, Vec<Displaced>) =
                list.drain(..).partition(|d| !in_room(*student, d.by_room));
            *list = stay;
            due.extend(gone.into_iter().map(|d| (*student, d)));
        }
        all.retain(|_, l| !l.is_empty());
        due
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

    /// A person ended this presence (or a scheduled window that ends at `cap` pushed it
    /// out): if the schedule wants it, it stays ended until the window it was wanted for
    /// is over, or until `cap`. Returns that end, for the store to remember.
    pub fn suppress(&self, student: Id, doorplate: Id, cap: Option<Micros>) -> Option<Micros> {
        let wanted = self.wanted_until(student, doorplate)?;
        let until = cap.map_or(wanted, |c| c.min(wanted));
        self.suppressed
            .lock()
            .expect("schedule poisoned")
            .insert((student, doorplate), until);
        Some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorplate_domain::PresenceSource;

    fn row(student: Id, doorplate: Id) -> PresenceRow {
        PresenceRow {
            student_id: student,
            doorplate_id: doorplate,
            source: PresenceSource::TeacherNow,
            since: 10,
            until: None,
        }
    }

    #[test]
    fn a_displaced_presence_is_due_once_the_student_left_the_displacing_room() {
        let s = Schedule::default();
        // Student 1's room 3 and student 2's room 6 were pushed out by an exam in room 4.
        s.displace(1, vec![row(1, 31)], 3, 4);
        s.displace(2, vec![row(2, 61)], 6, 4);
        // Both still sit the exam: nothing is due.
        assert!(s.take_displaced_due(|_, room| room == 4).is_empty());
        // Student 1 left room 4 (the window ended, or a dismissal): only theirs is due, once.
        let due = s.take_displaced_due(|student, room| student == 2 && room == 4);
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].0, due[0].1.room, due[0].1.rows[0].doorplate_id), (1, 3, 31));
        assert!(
            s.take_displaced_due(|student, room| student == 2 && room == 4)
                .is_empty()
        );
    }

    #[test]
    fn a_displaced_presence_ended_otherwise_is_forgotten() {
        let s = Schedule::default();
        s.displace(1, vec![row(1, 31)], 3, 4);
        s.displace(1, vec![row(1, 51)], 5, 4);
        // Dismissed from room 3 (or back in it): it does not come back; room 5's does.
        s.forget_displaced(1, 3);
        let due = s.take_displaced_due(|_, _| false);
        assert_eq!(due.iter().map(|(_, d)| d.room).collect::<Vec<_>>(), vec![5]);
        // End of day forgets everything.
        s.displace(1, vec![row(1, 31)], 3, 4);
        s.forget_all_displaced();
        assert!(s.take_displaced_due(|_, _| false).is_empty());
    }

    #[test]
    fn a_suppression_caused_by_a_window_ends_with_that_window() {
        let s = Schedule::default();
        s.desired.write().unwrap().insert((1, 31), 500);
        // Ended by a person: suppressed for the whole window the schedule wants it.
        assert_eq!(s.suppress(1, 31, None), Some(500));
        // Pushed out by an exam ending at 300: only until then.
        assert_eq!(s.suppress(1, 31, Some(300)), Some(300));
        // Not wanted by the schedule: nothing to suppress.
        assert_eq!(s.suppress(1, 99, Some(300)), None);
    }
}
