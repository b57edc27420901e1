//! What arrivals and departures do (R1, R2, R3, R6): a student arrives at a doorplate
//! (ending the oldest presence beyond the school's limit, `domain::presence`), moves, or
//! leaves; the doorplate is told at once, waiting messages are hinted, and a departure
//! purges the student from that doorplate and ends their session there.
//!
//! Every change for one student runs under that student's lock, and hints for that
//! student are routed under the same lock: once a departure is published, no later hint
//! about the student can reach that doorplate.

use super::core::Core;
use super::delivery::Delivery;
use super::schedule::Displaced;
use crate::hub::Principal;
use doorplate_domain::presence::{Held, plan_arrival};
use doorplate_domain::{Id, Micros, PresenceSource, Role};
use doorplate_store::{AuditEntry, PresenceChange, PresenceRow, User};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The audit entry of a departure.
fn left_entry(at: Micros, actor: Option<Id>, student: Id, doorplate: Id, reason: LeaveReason) -> AuditEntry {
    AuditEntry {
        at,
        actor_id: actor,
        action: "presence.left".into(),
        subject_id: Some(student),
        detail: json!({"doorplate_id": doorplate, "reason": reason.as_str()}),
    }
}

/// Why a presence ended, for the audit log and the `presence.left` event.
#[derive(Clone, Copy, Debug)]
pub enum LeaveReason {
    CheckedOut,
    Dismissed,
    /// A newer presence elsewhere pushed this one out (R2).
    Replaced,
    Expired,
    /// The timetable period or arrangement window ended.
    PeriodEnded,
    EndOfDay,
    /// The doorplate was deleted or moved to another room.
    DoorplateRemoved,
}

impl LeaveReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaveReason::CheckedOut => "checked_out",
            LeaveReason::Dismissed => "dismissed",
            LeaveReason::Replaced => "replaced",
            LeaveReason::Expired => "expired",
            LeaveReason::PeriodEnded => "period_ended",
            LeaveReason::EndOfDay => "end_of_day",
            LeaveReason::DoorplateRemoved => "doorplate_removed",
        }
    }
}

/// How a student comes into a room: the source and end of the presence, its start if
/// it is not now (a presence that comes back), and who did it.
struct Entry {
    source: PresenceSource,
    until: Option<Micros>,
    since: Option<Micros>,
    actor: Option<Id>,
}

/// Arrivals and departures of students.
pub struct Arrivals {
    core: Arc<Core>,
    delivery: Arc<Delivery>,
}

impl Arrivals {
    pub fn new(core: Arc<Core>, delivery: Arc<Delivery>) -> Arrivals {
        Arrivals { core, delivery }
    }

    /// Makes a student present at a doorplate (R1), ending the oldest presence beyond
    /// the school's limit (R2), then tells the doorplate and hints waiting messages (R3).
    /// The presence rows and their audit entries are written in one step.
    pub async fn arrive(
        &self,
        student: Id,
        doorplate: Id,
        source: PresenceSource,
        until: Option<Micros>,
        actor: Option<Id>,
    ) -> Result<PresenceRow, crate::error::ApiError> {
        self.move_student(student, &[], doorplate, source, until, actor).await
    }

    /// [`Arrivals::arrive`] that also ends the student's presences at `leaving` (their
    /// period ended) in the same step: a timetable rollover moves each student with
    /// one write.
    ///
    /// R2 counts rooms: arriving at one doorplate makes the student present at every
    /// doorplate of its room, with one source, start and end. A scheduled arrival
    /// (timetable, teacher in advance) that pushes a room out remembers it: a person's
    /// placement comes back when the window is over, the schedule's own when its
    /// suppression ends with that window.
    pub async fn move_student(
        &self,
        student: Id,
        leaving: &[Id],
        doorplate: Id,
        source: PresenceSource,
        until: Option<Micros>,
        actor: Option<Id>,
    ) -> Result<PresenceRow, crate::error::ApiError> {
        let entry = Entry {
            source,
            until,
            since: None,
            actor,
        };
        self.enter(student, leaving, doorplate, entry).await
    }

    /// [`Arrivals::move_student`], with the start of a presence that comes back.
    async fn enter(
        &self,
        student: Id,
        leaving: &[Id],
        doorplate: Id,
        entry: Entry,
    ) -> Result<PresenceRow, crate::error::ApiError> {
        let Entry {
            source,
            until,
            since,
            actor,
        } = entry;
        let max = self.core.settings().max_doorplates_per_student as usize;
        let user = self.core.directory.user(student).await?;
        let _guard = self.core.student_turn(student).await;
        let now = self.core.now();
        let schedule = &self.core.schedule;
        let room = schedule.room_of(doorplate);
        let plates = schedule.doorplates_with(doorplate);
        let all = self.core.presence.of_student(student);
        let leaving: Vec<Id> = all
            .iter()
            .map(|p| p.doorplate_id)
            .filter(|d| leaving.contains(d) && !plates.contains(d))
            .collect();
        let held: Vec<PresenceRow> = all.into_iter().filter(|p| !leaving.contains(&p.doorplate_id)).collect();
        let holds: Vec<Held> = held
            .iter()
            .map(|p| Held {
                doorplate_id: p.doorplate_id,
                room_id: schedule.room_of(p.doorplate_id),
                since: p.since,
            })
            .collect();
        let plan = plan_arrival(&holds, room, max);
        let engine_made = |s: PresenceSource| matches!(s, PresenceSource::Timetable | PresenceSource::TeacherAdvance);
        // The room's one presence: what it was (any of its rows) or a new one.
        let existing = held
            .iter()
            .find(|p| p.doorplate_id == doorplate)
            .or_else(|| held.iter().find(|p| plates.contains(&p.doorplate_id)))
            .copied();
        let shared = match existing {
            // Already here: a person's proof or placement leaves the presence as it is
            // (a timetable window still ends it); the engine may extend its own.
            Some(e) if !(engine_made(e.source) && engine_made(source)) => e,
            Some(e) => PresenceRow { source, until, ..e },
            None => PresenceRow {
                student_id: student,
                doorplate_id: doorplate,
                source,
                since: since.unwrap_or(now),
                until,
            },
        };
        let rows: Vec<PresenceRow> = plates
            .iter()
            .map(|d| PresenceRow {
                doorplate_id: *d,
                ..shared
            })
            .collect();
        let joined: Vec<Id> = plates
            .iter()
            .copied()
            .filter(|d| !held.iter().any(|p| p.doorplate_id == *d))
            .collect();
        let mut audit: Vec<AuditEntry> = leaving
            .iter()
            .map(|d| left_entry(now, None, student, *d, LeaveReason::PeriodEnded))
            .chain(
                plan.evict
                    .iter()
                    .map(|d| left_entry(now, actor, student, *d, LeaveReason::Replaced)),
            )
            .collect();
        for d in &joined {
            audit.push(AuditEntry {
                at: now,
                actor_id: actor.or(Some(student)),
                action: "presence.joined".into(),
                subject_id: Some(student),
                detail: json!({"doorplate_id": d, "source": shared.source.as_str()}),
            });
        }
        let remove: Vec<Id> = leaving.iter().chain(&plan.evict).copied().collect();
        self.core
            .store
            .apply_presence(PresenceChange {
                student_id: student,
                remove,
                upsert: rows.clone(),
                audit,
            })
            .await?;
        if !leaving.is_empty() {
            for d in &leaving {
                self.after_leave(student, *d, LeaveReason::PeriodEnded);
            }
            self.announce_presence(student, &leaving, false, LeaveReason::PeriodEnded.as_str())
                .await;
        }
        let evicted: Vec<PresenceRow> = held
            .iter()
            .filter(|p| plan.evict.contains(&p.doorplate_id))
            .copied()
            .collect();
        for d in &plan.evict {
            self.after_leave(student, *d, LeaveReason::Replaced);
        }
        self.displaced_by(student, evicted, room, source, until).await;
        // A new arrival in the room supersedes whatever was remembered about it.
        schedule.forget_displaced(student, room);
        for r in &rows {
            self.core.presence.insert(*r);
        }
        let unread = self.core.unread.get(student);
        for d in &joined {
            self.core.hub.publish(
                Principal::Device(*d),
                "presence.joined",
                &json!({"user_id": student.to_string(), "display_name": user.display_name, "source": shared.source.as_str(),
                        "since": crate::time::rfc3339(shared.since), "unread": unread}),
            );
        }
        if !joined.is_empty() {
            self.announce_presence(student, &joined, true, shared.source.as_str())
                .await;
            // A check-in is the student's own proof at the door; the timetable moving a
            // class or a teacher's placement is not one.
            if source == PresenceSource::Active {
                self.notify_arrival(&user, doorplate, now).await;
            }
        }
        // Messages that waited while the student was nowhere present are hinted here.
        if unread > 0 {
            for d in &plates {
                self.delivery.hint_waiting(student, &user.display_name, *d).await;
            }
        }
        Ok(PresenceRow {
            doorplate_id: doorplate,
            ..shared
        })
    }

    /// What a room's presence pushed out by an arrival in `room` becomes. Pushed out by
    /// a person (a tap, a placement), it simply ended, and the schedule does not bring it
    /// back during its window. Pushed out by a scheduled window (ending at `window_end`),
    /// it comes back when the window is over: a person's presence is remembered and
    /// restored by the engine; the schedule's own is suppressed only until then.
    async fn displaced_by(
        &self,
        student: Id,
        evicted: Vec<PresenceRow>,
        room: Id,
        source: PresenceSource,
        window_end: Option<Micros>,
    ) {
        let scheduled = matches!(source, PresenceSource::Timetable | PresenceSource::TeacherAdvance);
        let mut people: HashMap<Id, Vec<PresenceRow>> = HashMap::new();
        for p in evicted {
            let engine_made = matches!(p.source, PresenceSource::Timetable | PresenceSource::TeacherAdvance);
            if scheduled && !engine_made {
                people
                    .entry(self.core.schedule.room_of(p.doorplate_id))
                    .or_default()
                    .push(p);
            } else {
                let cap = if scheduled { window_end } else { None };
                self.core.suppress_if_scheduled(student, p.doorplate_id, cap).await;
            }
        }
        for (was, rows) in people {
            self.core.schedule.displace(student, rows, was, room);
        }
    }

    /// Brings back a presence a scheduled window pushed out, now that the window is over
    /// for the student — unless its own end has passed or the student is in that room
    /// again already.
    pub async fn restore(&self, student: Id, d: Displaced) -> Result<(), crate::error::ApiError> {
        let Some(first) = d.rows.first().copied() else {
            return Ok(());
        };
        if doorplate_domain::presence::expired(first.until, self.core.now()) {
            return Ok(());
        }
        let schedule = &self.core.schedule;
        let back_already = self
            .core
            .presence
            .of_student(student)
            .iter()
            .any(|p| schedule.room_of(p.doorplate_id) == d.room);
        if back_already {
            return Ok(());
        }
        // It comes back as it was: its source, end and start (its age counts for R2).
        let entry = Entry {
            source: first.source,
            until: first.until,
            since: Some(first.since),
            actor: None,
        };
        self.enter(student, &[], first.doorplate_id, entry).await.map(|_| ())
    }

    /// Ends a presence (R6): the student leaves the doorplate's room, so every doorplate
    /// of it. `false` if the student was not present there. A person ending it (a
    /// check-out, a dismissal) also means a placement a scheduled window pushed out of
    /// that room does not come back.
    pub async fn leave(
        &self,
        student: Id,
        doorplate: Id,
        reason: LeaveReason,
        actor: Option<Id>,
    ) -> Result<bool, crate::error::ApiError> {
        let _guard = self.core.student_turn(student).await;
        let by_person = matches!(reason, LeaveReason::CheckedOut | LeaveReason::Dismissed);
        if by_person {
            self.core
                .schedule
                .forget_displaced(student, self.core.schedule.room_of(doorplate));
        }
        let plates: Vec<Id> = self
            .core
            .schedule
            .doorplates_with(doorplate)
            .into_iter()
            .filter(|d| self.core.presence.is_present(student, *d))
            .collect();
        if plates.is_empty() {
            return Ok(false);
        }
        let now = self.core.now();
        let audit = plates
            .iter()
            .map(|d| left_entry(now, actor, student, *d, reason))
            .collect();
        self.core
            .store
            .apply_presence(PresenceChange {
                student_id: student,
                remove: plates.clone(),
                upsert: Vec::new(),
                audit,
            })
            .await?;
        for d in &plates {
            self.after_leave(student, *d, reason);
        }
        self.announce_presence(student, &plates, false, reason.as_str()).await;
        if by_person {
            for d in &plates {
                self.core.suppress_if_scheduled(student, *d, None).await;
            }
        }
        Ok(true)
    }

    /// Ends every presence on this one doorplate (it is deleted or moved away), each
    /// under its student's lock: the rows go, the student's session there ends, and
    /// teachers and guardians hear of it. A presence in the same room through another
    /// doorplate stays: the room did not go. Returns the students who were there.
    pub async fn vacate(&self, doorplate: Id) -> Result<Vec<Id>, crate::error::ApiError> {
        let reason = LeaveReason::DoorplateRemoved;
        let mut gone = Vec::new();
        for row in self.core.presence.at_doorplate(doorplate) {
            let student = row.student_id;
            let _guard = self.core.student_turn(student).await;
            if !self.core.presence.is_present(student, doorplate) {
                continue;
            }
            let now = self.core.now();
            self.core
                .store
                .apply_presence(PresenceChange {
                    student_id: student,
                    remove: vec![doorplate],
                    upsert: Vec::new(),
                    audit: vec![left_entry(now, None, student, doorplate, reason)],
                })
                .await?;
            self.after_leave(student, doorplate, reason);
            self.announce_presence(student, &[doorplate], false, reason.as_str())
                .await;
            gone.push(student);
        }
        Ok(gone)
    }

    /// The in-memory part of a departure, under the student's lock: drop the index entry,
    /// revoke the student's session there, and tell the doorplate to purge at once.
    fn after_leave(&self, student: Id, doorplate: Id, reason: LeaveReason) {
        self.core.presence.remove(student, doorplate);
        self.core
            .calls_after_leave(student, doorplate, matches!(reason, LeaveReason::Dismissed));
        if let Some(ended) = self.core.sessions.end_for_user_at(student, doorplate) {
            self.core.session_ended(ended, "left");
        }
        self.core.hub.publish(
            Principal::Device(doorplate),
            "presence.left",
            &json!({"user_id": student.to_string(), "reason": reason.as_str()}),
        );
    }

    /// `child.arrived` to each guardian who chose arrival notices for this child, if the
    /// school offers them: when, on the school's wall clock, and the room only where the
    /// school shows rooms to guardians (`views::sees_rooms`) — otherwise "at school".
    async fn notify_arrival(&self, student: &User, doorplate: Id, at: Micros) {
        let settings = self.core.settings();
        if !settings.arrival_notices {
            return;
        }
        let guardians = match self.core.store.arrival_notice_guardians(student.id).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "could not read who wants arrival notices");
                return;
            }
        };
        if guardians.is_empty() {
            return;
        }
        let local = jiff::Timestamp::from_microsecond(at)
            .map(|t| t.to_zoned_datetime(self.core.zone()).strftime("%H:%M").to_string())
            .unwrap_or_default();
        let mut data = json!({"student_id": student.id.to_string(), "student_name": student.display_name,
                              "at": crate::time::rfc3339(at), "time": local});
        if crate::views::sees_rooms(Role::Guardian, &settings) {
            data["room"] = json!(self.core.directory.room_name_of(doorplate).await);
        }
        let data = data.to_string();
        for g in guardians {
            self.core.hub.publish_raw(Principal::User(g), "child.arrived", &data);
        }
    }

    /// `presence.changed` to the student's class teachers (one per doorplate, with the
    /// doorplate) and guardians (one for the room, with the room only where the school
    /// allows it), so the console's board and the family app's child card move live.
    /// Memory only: caches and the schedule's class lists.
    async fn announce_presence(&self, student: Id, doorplates: &[Id], present: bool, why: &str) {
        let Some(first) = doorplates.first().copied() else {
            return;
        };
        let at = crate::time::rfc3339(self.core.now());
        let admins = self.core.admins.read().expect("admins poisoned").clone();
        let staff: Vec<Id> = self
            .core
            .schedule
            .teachers_of(student)
            .into_iter()
            .chain(admins)
            .collect();
        for d in doorplates {
            let data = json!({"user_id": student.to_string(), "doorplate_id": d.to_string(),
                              "present": present, "why": why, "at": at})
            .to_string();
            for t in &staff {
                self.core
                    .hub
                    .publish_raw(Principal::User(*t), "presence.changed", &data);
            }
        }
        let guardians = self.core.directory.guardians_of(student).await.unwrap_or_default();
        if guardians.is_empty() {
            return;
        }
        let mut data = json!({"user_id": student.to_string(), "present": present, "why": why, "at": at});
        if present && crate::views::sees_rooms(Role::Guardian, &self.core.settings()) {
            data["room"] = json!(self.core.directory.room_name_of(first).await);
        }
        let data = data.to_string();
        for g in guardians {
            self.core.hub.publish_raw(Principal::User(g), "presence.changed", &data);
        }
    }

    /// Ends the placements by staff whose `until` has passed; run every second by the
    /// sweeper. Timetable and arrangement presences are the engine's to end, at their
    /// boundary (with reason `period_ended`).
    pub async fn expire_presences(&self) {
        let expired = self.core.presence.expired(self.core.now());
        for p in expired
            .into_iter()
            .filter(|p| p.source == PresenceSource::TeacherNow || p.source == PresenceSource::Active)
        {
            if let Err(e) = self
                .leave(p.student_id, p.doorplate_id, LeaveReason::Expired, None)
                .await
            {
                tracing::warn!(error = %e, "could not end an expired presence");
            }
        }
    }
}
