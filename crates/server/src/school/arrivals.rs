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
use crate::hub::Principal;
use doorplate_domain::presence::{Held, plan_arrival};
use doorplate_domain::{Id, Micros, PresenceSource};
use doorplate_store::{AuditEntry, PresenceChange, PresenceRow};
use serde_json::json;
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
        }
    }
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
    pub async fn move_student(
        &self,
        student: Id,
        leaving: &[Id],
        doorplate: Id,
        source: PresenceSource,
        until: Option<Micros>,
        actor: Option<Id>,
    ) -> Result<PresenceRow, crate::error::ApiError> {
        let max = self.core.settings().max_doorplates_per_student as usize;
        let user = self.core.directory.user(student).await?;
        let _guard = self.core.student_lock(student).lock().await;
        let now = self.core.now();
        let all = self.core.presence.of_student(student);
        let leaving: Vec<Id> = all
            .iter()
            .map(|p| p.doorplate_id)
            .filter(|d| leaving.contains(d) && *d != doorplate)
            .collect();
        let held: Vec<PresenceRow> = all.into_iter().filter(|p| !leaving.contains(&p.doorplate_id)).collect();
        let holds: Vec<Held> = held
            .iter()
            .map(|p| Held {
                doorplate_id: p.doorplate_id,
                since: p.since,
            })
            .collect();
        let plan = plan_arrival(&holds, doorplate, max);
        let existing = held.iter().find(|p| p.doorplate_id == doorplate).copied();
        let engine_made = |s: PresenceSource| matches!(s, PresenceSource::Timetable | PresenceSource::TeacherAdvance);
        let row = match existing {
            // Already here: a person's proof or placement leaves the presence as it is
            // (a timetable window still ends it); the engine may extend its own.
            Some(e) if !(engine_made(e.source) && engine_made(source)) => e,
            Some(e) => PresenceRow { source, until, ..e },
            None => PresenceRow {
                student_id: student,
                doorplate_id: doorplate,
                source,
                since: now,
                until,
            },
        };
        let mut audit: Vec<AuditEntry> = leaving
            .iter()
            .map(|d| left_entry(now, None, student, *d, LeaveReason::PeriodEnded))
            .chain(
                plan.evict
                    .iter()
                    .map(|d| left_entry(now, actor, student, *d, LeaveReason::Replaced)),
            )
            .collect();
        if !plan.already_here {
            audit.push(AuditEntry {
                at: now,
                actor_id: actor.or(Some(student)),
                action: "presence.joined".into(),
                subject_id: Some(student),
                detail: json!({"doorplate_id": doorplate, "source": source.as_str()}),
            });
        }
        let remove: Vec<Id> = leaving.iter().chain(&plan.evict).copied().collect();
        self.core
            .store
            .apply_presence(PresenceChange {
                student_id: student,
                remove,
                upsert: Some(row),
                audit,
            })
            .await?;
        for d in &leaving {
            self.after_leave(student, *d, LeaveReason::PeriodEnded);
            self.announce_presence(student, *d, false, LeaveReason::PeriodEnded.as_str())
                .await;
        }
        for d in &plan.evict {
            self.after_leave(student, *d, LeaveReason::Replaced);
            self.core.suppress_if_scheduled(student, *d).await;
        }
        self.core.presence.insert(row);
        let unread = self.core.unread.get(student);
        if !plan.already_here {
            self.core.hub.publish(
                Principal::Device(doorplate),
                "presence.joined",
                &json!({"user_id": student.to_string(), "display_name": user.display_name, "source": source.as_str(),
                        "since": crate::time::rfc3339(row.since), "unread": unread}),
            );
            self.announce_presence(student, doorplate, true, source.as_str()).await;
        }
        // Messages that waited while the student was nowhere present are hinted here.
        if unread > 0 {
            self.delivery.hint_waiting(student, &user.display_name, doorplate).await;
        }
        Ok(row)
    }

    /// Ends a presence (R6). `false` if the student was not present there.
    pub async fn leave(
        &self,
        student: Id,
        doorplate: Id,
        reason: LeaveReason,
        actor: Option<Id>,
    ) -> Result<bool, crate::error::ApiError> {
        let _guard = self.core.student_lock(student).lock().await;
        if !self.core.presence.is_present(student, doorplate) {
            return Ok(false);
        }
        let audit = vec![left_entry(self.core.now(), actor, student, doorplate, reason)];
        self.core
            .store
            .apply_presence(PresenceChange {
                student_id: student,
                remove: vec![doorplate],
                upsert: None,
                audit,
            })
            .await?;
        self.after_leave(student, doorplate, reason);
        self.announce_presence(student, doorplate, false, reason.as_str()).await;
        if matches!(reason, LeaveReason::CheckedOut | LeaveReason::Dismissed) {
            self.core.suppress_if_scheduled(student, doorplate).await;
        }
        Ok(true)
    }

    /// The in-memory part of a departure, under the student's lock: drop the index entry,
    /// revoke the student's session there, and tell the doorplate to purge at once.
    fn after_leave(&self, student: Id, doorplate: Id, reason: LeaveReason) {
        self.core.presence.remove(student, doorplate);
        if let Some(ended) = self.core.sessions.end_for_user_at(student, doorplate) {
            self.core.session_ended(ended, "left");
        }
        self.core.hub.publish(
            Principal::Device(doorplate),
            "presence.left",
            &json!({"user_id": student.to_string(), "reason": reason.as_str()}),
        );
    }

    /// `presence.changed` to the student's class teachers (with the doorplate) and
    /// guardians (with the room only where the school allows it), so the console's
    /// board and the family app's child card move live. Memory only: caches and the
    /// schedule's class lists.
    async fn announce_presence(&self, student: Id, doorplate: Id, present: bool, why: &str) {
        let mut data = json!({"user_id": student.to_string(), "doorplate_id": doorplate.to_string(),
                              "present": present, "why": why, "at": crate::time::rfc3339(self.core.now())});
        let admins = self.core.admins.read().expect("admins poisoned").clone();
        let staff = data.to_string();
        for t in self.core.schedule.teachers_of(student).into_iter().chain(admins) {
            self.core
                .hub
                .publish_raw(Principal::User(t), "presence.changed", &staff);
        }
        let guardians = self.core.directory.guardians_of(student).await.unwrap_or_default();
        if guardians.is_empty() {
            return;
        }
        if let Some(o) = data.as_object_mut() {
            o.remove("doorplate_id");
        }
        if present && self.core.settings().show_room_to_guardians {
            data["room"] = json!(self.core.directory.room_name_of(doorplate).await);
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
