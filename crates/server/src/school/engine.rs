//! The timetable engine at run time: once a second (and at every boundary, edit or
//! clock jump) it asks the pure rules in `doorplate_domain::timetable` what should be
//! true now and applies only the difference — arrivals with source `timetable` /
//! `teacher_advance`, departures when the window ends — holds hints during exams (R7),
//! and clears what people placed at end of day (R6).

use super::arrivals::{Arrivals, LeaveReason};
use super::core::Core;
use super::delivery::Delivery;
use super::schedule::{Loaded, calendar};
use doorplate_domain::timetable::{self, Calendar, Desired, PeriodKind};
use doorplate_domain::{Id, Micros, PresenceSource};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// The timetable engine.
pub struct Engine {
    core: Arc<Core>,
    arrivals: Arc<Arrivals>,
    delivery: Arc<Delivery>,
}

impl Engine {
    pub fn new(core: Arc<Core>, arrivals: Arc<Arrivals>, delivery: Arc<Delivery>) -> Engine {
        Engine {
            core,
            arrivals,
            delivery,
        }
    }

    /// Reloads the timetable and its surroundings and recomputes at once.
    pub async fn reload(&self) {
        match self.load().await {
            Ok(l) => *self.core.schedule.loaded.write().expect("schedule poisoned") = Some(l),
            Err(e) => tracing::error!(error = %e, "could not load the schedule"),
        }
        self.core.schedule.dirty.store(true, Ordering::SeqCst);
        self.core.schedule.wake.notify_one();
    }

    async fn load(&self) -> Result<Loaded, doorplate_store::StoreError> {
        let settings = self.core.settings();
        let now = self.core.now();
        let mut plates_of_room: HashMap<Id, Vec<Id>> = HashMap::new();
        let mut room_of_plate = HashMap::new();
        for d in self.core.store.list_doorplates().await? {
            plates_of_room.entry(d.room_id).or_default().push(d.id);
            room_of_plate.insert(d.id, d.room_id);
        }
        let groups = self.core.store.list_groups().await?;
        let mut teachers: HashMap<Id, Vec<Id>> = HashMap::new();
        for g in &groups {
            if let Some(t) = g.teacher_id {
                for m in &g.member_ids {
                    teachers.entry(*m).or_default().push(t);
                }
            }
        }
        Ok(Loaded {
            slots: self.core.store.slots().await?,
            arrangements: self.core.store.arrangements(now - 86_400_000_000).await?,
            calendar: calendar(&settings),
            end_of_day: doorplate_domain::settings::parse_hhmm(&settings.end_of_day).unwrap_or(22 * 3600 + 1800),
            members: groups.iter().map(|g| (g.id, g.member_ids.clone())).collect(),
            teachers,
            plates_of_room,
            room_of_plate,
        })
    }

    /// One pass of the engine; returns when it should look again.
    pub async fn tick(&self) -> Micros {
        let now = self.core.now();
        let (running, desired, exam_rooms, next, calendar, eod) = {
            let guard = self.core.schedule.loaded.read().expect("schedule poisoned");
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
        *self.core.schedule.desired.write().expect("schedule poisoned") = desired
            .iter()
            .map(|d| ((d.student_id, d.doorplate_id), d.until))
            .collect();
        let suppressed: HashSet<(Id, Id)> = {
            let mut s = self.core.schedule.suppressed.lock().expect("schedule poisoned");
            s.retain(|_, until| *until > now);
            s.keys().copied().collect()
        };
        let held: Vec<(Id, Id, bool)> = self
            .core
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
        // One arrival per student and room: it makes them present at all its doorplates.
        let mut moves = Vec::with_capacity(plan.arrive.len());
        let mut rooms_arriving = HashSet::new();
        for d in plan.arrive {
            if rooms_arriving.insert((d.student_id, self.core.schedule.room_of(d.doorplate_id))) {
                moves.push((d, leaving.remove(&d.student_id).unwrap_or_default()));
            }
        }
        // Many students at once: run them side by side so group commit batches their
        // writes, each student still in order under its own lock.
        futures_util::stream::iter(leaving)
            .for_each_concurrent(512, |(s, plates)| async move {
                for d in plates {
                    if let Err(e) = self.arrivals.leave(s, d, LeaveReason::PeriodEnded, None).await {
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
                    .arrivals
                    .move_student(d.student_id, &from, d.doorplate_id, source, Some(d.until), None)
                    .await
                {
                    tracing::warn!(error = %e, "timetable arrival failed");
                }
            })
            .await;
        self.restore_displaced().await;
        self.release_held_hints(exams_ended).await;
        self.end_of_day_if_due(&calendar, eod, now).await;
        next
    }

    /// Presences people made that a scheduled window pushed out come back once the
    /// student is no longer in the room of that window (R2): "what should be true now"
    /// includes them.
    async fn restore_displaced(&self) {
        let due = self.core.schedule.take_displaced_due(|student, room| {
            self.core
                .presence
                .of_student(student)
                .iter()
                .any(|p| self.core.schedule.room_of(p.doorplate_id) == room)
        });
        for (student, d) in due {
            if let Err(e) = self.arrivals.restore(student, d).await {
                tracing::warn!(error = %e, student, "could not bring back a displaced presence");
            }
        }
    }

    /// Records the rooms in an exam now; returns those whose exam just ended.
    fn set_exam_rooms(&self, now_in_exam: HashSet<Id>) -> Vec<Id> {
        let mut rooms = self.core.schedule.exam_rooms.write().expect("schedule poisoned");
        let ended = rooms.difference(&now_in_exam).copied().collect();
        *rooms = now_in_exam;
        ended
    }

    /// Rooms that left an exam show the hints they held.
    async fn release_held_hints(&self, ended: Vec<Id>) {
        for room in ended {
            for plate in self.core.schedule.plates_of_room(room) {
                for p in self.core.presence.at_doorplate(plate) {
                    if self.core.unread.get(p.student_id) == 0 {
                        continue;
                    }
                    let _guard = self.core.student_turn(p.student_id).await;
                    if let Ok(u) = self.core.directory.user(p.student_id).await {
                        self.delivery.hint_waiting(p.student_id, &u.display_name, plate).await;
                    }
                }
            }
        }
    }

    /// At the school's end of day the presences people made (active, teacher now) end.
    async fn end_of_day_if_due(&self, calendar: &Calendar, end_of_day: u32, now: Micros) {
        let last = self
            .core
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
            .core
            .presence
            .all()
            .into_iter()
            .filter(|p| matches!(p.source, PresenceSource::Active | PresenceSource::TeacherNow))
            .collect();
        tracing::info!(count = remaining.len(), %today, "end of day");
        self.core.schedule.forget_all_displaced();
        futures_util::stream::iter(remaining)
            .for_each_concurrent(512, |p| async move {
                if let Err(e) = self
                    .arrivals
                    .leave(p.student_id, p.doorplate_id, LeaveReason::EndOfDay, None)
                    .await
                {
                    tracing::error!(error = %e, student = p.student_id, "end of day could not end a presence");
                }
            })
            .await;
        // If this is not recorded, the next pass does the end of day again: harmless
        // (nothing is left to end), so it is logged rather than retried.
        if let Err(e) = self
            .core
            .store
            .kv_put("end_of_day_done".into(), today.to_string())
            .await
        {
            tracing::error!(error = %e, "could not record that end of day is done");
        }
    }
}

/// The engine's loop: a pass at start (what should be true after a restart), then at
/// every boundary, after every edit and after a clock jump — checked every second —
/// until the server shuts down.
pub async fn run(app: Arc<Engine>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    match app.core.store.suppressions().await {
        Ok(list) => {
            let now = app.core.now();
            let mut s = app.core.schedule.suppressed.lock().expect("schedule poisoned");
            s.extend(
                list.into_iter()
                    .filter(|(_, _, u)| *u > now)
                    .map(|(a, b, u)| ((a, b), u)),
            );
        }
        Err(e) => tracing::error!(error = %e, "could not load suppressed presences"),
    }
    app.reload().await;
    let mut next = 0;
    let mut last_seen = app.core.now();
    loop {
        // Armed before the pass, so a move of the clock during it is not missed.
        let moved = crate::clock::moved(app.core.clock.as_ref());
        tokio::pin!(moved);
        let now = app.core.now();
        // The wall clock moved more than the monotonic sleep explains: look again.
        if now < last_seen || now - last_seen > 5_000_000 {
            tracing::warn!(jump_micros = now - last_seen, "clock jump: recomputing the schedule");
            app.core.schedule.dirty.store(true, Ordering::SeqCst);
        }
        last_seen = now;
        if app.core.schedule.dirty.swap(false, Ordering::SeqCst) || now >= next {
            next = app.tick().await;
            if let Err(e) = app.core.store.drop_suppressions_before(now).await {
                tracing::warn!(error = %e, "could not forget old suppressions (tried again next pass)");
            }
        }
        let until_next = Duration::from_micros((next - app.core.now()).clamp(1_000, 1_000_000) as u64);
        tokio::select! {
            _ = tokio::time::sleep(until_next) => {}
            _ = app.core.schedule.wake.notified() => {}
            _ = &mut moved => {}
            // Between passes: a pass in progress finishes first.
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // An end of day falls between boundaries: make sure it is checked each minute.
        if now / 60_000_000 != app.core.now() / 60_000_000 {
            app.core.schedule.dirty.store(true, Ordering::SeqCst);
        }
    }
}
