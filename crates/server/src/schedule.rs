//! The timetable engine at run time: it keeps the timetable, arrangements, classes and
//! doorplates in memory, and once a second asks the pure rules in
//! `doorplate_domain::timetable` what should be true now, applying only the difference
//! (arrivals with source `timetable` / `teacher_advance`, departures when the window
//! ends), holding hints during exams (R7), and clearing what remains at end of day.

use crate::presence::LeaveReason;
use crate::state::App;
use doorplate_domain::timetable::{self, Arrangement, Calendar, Desired, Occurrence, PeriodKind, Slot};
use doorplate_domain::{Id, Micros, PresenceSource, Settings};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

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
    loaded: RwLock<Option<Loaded>>,
    /// Set when something changed (an edit, a clock jump): the next tick recomputes.
    dirty: AtomicBool,
    wake: tokio::sync::Notify,
    /// What the schedule wanted at the last tick: (student, doorplate) → until.
    desired: RwLock<HashMap<(Id, Id), Micros>>,
    /// Presences a person ended during a window that still runs: not re-added until then.
    suppressed: Mutex<HashMap<(Id, Id), Micros>>,
    /// Rooms in an exam now: their doorplates hold hints.
    exam_rooms: RwLock<HashSet<Id>>,
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
}

impl App {
    /// Reloads the timetable and its surroundings and recomputes at once.
    pub async fn reload_schedule(&self) {
        match self.load_schedule().await {
            Ok(l) => *self.schedule.loaded.write().expect("schedule poisoned") = Some(l),
            Err(e) => tracing::error!(error = %e, "could not load the schedule"),
        }
        self.schedule.dirty.store(true, Ordering::SeqCst);
        self.schedule.wake.notify_one();
    }

    async fn load_schedule(&self) -> Result<Loaded, doorplate_store::StoreError> {
        let settings = self.settings();
        let now = self.now();
        let mut plates_of_room: HashMap<Id, Vec<Id>> = HashMap::new();
        let mut room_of_plate = HashMap::new();
        for d in self.store.list_doorplates().await? {
            plates_of_room.entry(d.room_id).or_default().push(d.id);
            room_of_plate.insert(d.id, d.room_id);
        }
        let groups = self.store.list_groups().await?;
        let mut teachers: HashMap<Id, Vec<Id>> = HashMap::new();
        for g in &groups {
            if let Some(t) = g.teacher_id {
                for m in &g.member_ids {
                    teachers.entry(*m).or_default().push(t);
                }
            }
        }
        Ok(Loaded {
            slots: self.store.slots().await?,
            arrangements: self.store.arrangements(now - 86_400_000_000).await?,
            calendar: calendar(&settings),
            end_of_day: doorplate_domain::settings::parse_hhmm(&settings.end_of_day).unwrap_or(22 * 3600 + 1800),
            members: groups.iter().map(|g| (g.id, g.member_ids.clone())).collect(),
            teachers,
            plates_of_room,
            room_of_plate,
        })
    }

    /// Called when a person ends a presence: if the schedule wants it, it stays ended
    /// until the window the schedule wanted it for is over (no flapping back).
    pub async fn suppress_if_scheduled(&self, student: Id, doorplate: Id) {
        if let Some(until) = self.schedule.wanted_until(student, doorplate) {
            self.schedule
                .suppressed
                .lock()
                .expect("schedule poisoned")
                .insert((student, doorplate), until);
            if let Err(e) = self.store.suppress(student, doorplate, until).await {
                tracing::error!(error = %e, "could not record a suppressed presence");
            }
        }
    }

    /// One pass of the engine; returns when it should look again.
    pub async fn schedule_tick(&self) -> Micros {
        let now = self.now();
        let (running, desired, exam_rooms, next, calendar, eod) = {
            let guard = self.schedule.loaded.read().expect("schedule poisoned");
            let Some(l) = guard.as_ref() else {
                return now + 1_000_000;
            };
            let running = timetable::running_at(&l.slots, &l.arrangements, &l.calendar, now);
            let desired = timetable::desired_presences(&running, &l.members, &l.plates_of_room);
            let rooms: HashSet<Id> = running.iter().map(|o| o.room_id).collect();
            let exam_rooms: HashSet<Id> = rooms
                .into_iter()
                .filter(|r| {
                    timetable::room_periods(&l.slots, &l.arrangements, &l.calendar, *r, now)
                        .0
                        .is_some_and(|c| c.kind == PeriodKind::Exam)
                })
                .collect();
            let next = timetable::next_boundary(&l.slots, &l.arrangements, &l.calendar, now).unwrap_or(i64::MAX);
            (running, desired, exam_rooms, next, l.calendar.clone(), l.end_of_day)
        };
        drop(running);
        *self.schedule.desired.write().expect("schedule poisoned") = desired
            .iter()
            .map(|d| ((d.student_id, d.doorplate_id), d.until))
            .collect();
        let suppressed: HashSet<(Id, Id)> = {
            let mut s = self.schedule.suppressed.lock().expect("schedule poisoned");
            s.retain(|_, until| *until > now);
            s.keys().copied().collect()
        };
        let held: Vec<(Id, Id, bool)> = self
            .presence
            .all()
            .iter()
            .map(|p| {
                (
                    p.student_id,
                    p.doorplate_id,
                    matches!(p.source, PresenceSource::Timetable | PresenceSource::TeacherAdvance),
                )
            })
            .collect();
        // Exams begin before anyone arrives (hints are held from the first instant); the
        // hints of exams that ended are shown after the departures.
        let exams_ended = self.set_exam_rooms(exam_rooms);
        let plan = timetable::plan(&held, &desired, &suppressed);
        if !plan.leave.is_empty() || !plan.arrive.is_empty() {
            tracing::info!(
                arrive = plan.arrive.len(),
                leave = plan.leave.len(),
                "timetable transition"
            );
        }
        // Many students at once: run them side by side so group commit batches their
        // writes, each student still in order under its own lock.
        // A student who leaves one room and arrives in another moves in one step.
        let mut leaving: HashMap<Id, Vec<Id>> = HashMap::new();
        for (s, d) in plan.leave {
            leaving.entry(s).or_default().push(d);
        }
        let mut moves = Vec::with_capacity(plan.arrive.len());
        for d in plan.arrive {
            moves.push((d, leaving.remove(&d.student_id).unwrap_or_default()));
        }
        // Many students at once: run them side by side so group commit batches their
        // writes, each student still in order under its own lock.
        futures_util::stream::iter(leaving)
            .for_each_concurrent(512, |(s, plates)| async move {
                for d in plates {
                    if let Err(e) = self.leave(s, d, LeaveReason::PeriodEnded, None).await {
                        tracing::warn!(error = %e, "timetable departure failed");
                    }
                }
            })
            .await;
        futures_util::stream::iter(moves)
            .for_each_concurrent(512, |(d, from): (Desired, Vec<Id>)| async move {
                let source = if d.from_arrangement {
                    PresenceSource::TeacherAdvance
                } else {
                    PresenceSource::Timetable
                };
                if let Err(e) = self
                    .move_student(d.student_id, &from, d.doorplate_id, source, Some(d.until), None)
                    .await
                {
                    tracing::warn!(error = %e, "timetable arrival failed");
                }
            })
            .await;
        self.release_held_hints(exams_ended).await;
        self.end_of_day_if_due(&calendar, eod, now).await;
        next
    }

    /// Records the rooms in an exam now; returns those whose exam just ended.
    fn set_exam_rooms(&self, now_in_exam: HashSet<Id>) -> Vec<Id> {
        let mut rooms = self.schedule.exam_rooms.write().expect("schedule poisoned");
        let ended = rooms.difference(&now_in_exam).copied().collect();
        *rooms = now_in_exam;
        ended
    }

    /// Rooms that left an exam show the hints they held.
    async fn release_held_hints(&self, ended: Vec<Id>) {
        for room in ended {
            for plate in self.schedule.plates_of_room(room) {
                for p in self.presence.at_doorplate(plate) {
                    if self.unread.get(p.student_id) == 0 {
                        continue;
                    }
                    let _guard = self.student_lock(p.student_id).lock().await;
                    if let Ok(u) = self.user(p.student_id).await {
                        self.hint_waiting(p.student_id, &u.display_name, plate).await;
                    }
                }
            }
        }
    }

    /// At the school's end of day the presences people made (active, teacher now) end.
    async fn end_of_day_if_due(&self, calendar: &Calendar, end_of_day: u32, now: Micros) {
        let last = self
            .store
            .kv_get("end_of_day_done".into())
            .await
            .ok()
            .flatten()
            .and_then(|d| d.parse().ok());
        let Some(today) = timetable::end_of_day_due(calendar, end_of_day, last, now) else {
            return;
        };
        let remaining: Vec<_> = self
            .presence
            .all()
            .into_iter()
            .filter(|p| matches!(p.source, PresenceSource::Active | PresenceSource::TeacherNow))
            .collect();
        tracing::info!(count = remaining.len(), %today, "end of day");
        futures_util::stream::iter(remaining)
            .for_each_concurrent(512, |p| async move {
                let _ = self
                    .leave(p.student_id, p.doorplate_id, LeaveReason::EndOfDay, None)
                    .await;
            })
            .await;
        let _ = self.store.kv_put("end_of_day_done".into(), today.to_string()).await;
    }
}

/// The engine's loop: a pass at start (what should be true after a restart), then at
/// every boundary, after every edit and after a clock jump — checked every second.
pub async fn run_engine(app: crate::state::AppState) {
    match app.store.suppressions().await {
        Ok(list) => {
            let now = app.now();
            let mut s = app.schedule.suppressed.lock().expect("schedule poisoned");
            s.extend(
                list.into_iter()
                    .filter(|(_, _, u)| *u > now)
                    .map(|(a, b, u)| ((a, b), u)),
            );
        }
        Err(e) => tracing::error!(error = %e, "could not load suppressed presences"),
    }
    app.reload_schedule().await;
    let mut next = 0;
    let mut last_seen = app.now();
    loop {
        // Armed before the pass, so a move of the clock during it is not missed.
        let moved = crate::clock::moved(app.clock.as_ref());
        tokio::pin!(moved);
        let now = app.now();
        // The wall clock moved more than the monotonic sleep explains: look again.
        if now < last_seen || now - last_seen > 5_000_000 {
            tracing::warn!(jump_micros = now - last_seen, "clock jump: recomputing the schedule");
            app.schedule.dirty.store(true, Ordering::SeqCst);
        }
        last_seen = now;
        if app.schedule.dirty.swap(false, Ordering::SeqCst) || now >= next {
            next = app.schedule_tick().await;
            let _ = app.store.drop_suppressions_before(now).await;
        }
        let until_next = Duration::from_micros((next - app.now()).clamp(1_000, 1_000_000) as u64);
        tokio::select! {
            _ = tokio::time::sleep(until_next) => {}
            _ = app.schedule.wake.notified() => {}
            _ = &mut moved => {}
        }
        // An end of day falls between boundaries: make sure it is checked each minute.
        if now / 60_000_000 != app.now() / 60_000_000 {
            app.schedule.dirty.store(true, Ordering::SeqCst);
        }
    }
}
