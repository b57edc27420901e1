//! The live presence table (R1) and what arrivals and departures do (R2, R3, R6).
//!
//! The store is the record; this in-memory index answers "where is student X" and "who
//! is at doorplate D" without touching the disk, so routing a hint is an index lookup,
//! never a scan. Every change for one student runs under that student's lock, and hints
//! for that student are routed under the same lock: once a departure is published, no
//! later hint about the student can reach that doorplate.

use crate::hub::Principal;
use crate::sharded::Sharded;
use crate::state::App;
use doorplate_domain::presence::{Held, plan_arrival};
use doorplate_domain::{Id, Micros, PresenceSource};
use doorplate_store::{AuditEntry, PresenceChange, PresenceRow};
use serde_json::json;

/// The index, both ways.
#[derive(Default)]
pub struct PresenceTable {
    by_student: Sharded<Id, Vec<PresenceRow>>,
    by_doorplate: Sharded<Id, Vec<PresenceRow>>,
}

impl PresenceTable {
    pub fn load(rows: &[PresenceRow]) -> PresenceTable {
        let t = PresenceTable::default();
        for r in rows {
            t.insert(*r);
        }
        t
    }

    pub fn of_student(&self, student: Id) -> Vec<PresenceRow> {
        self.by_student.read(&student, |v| v.cloned().unwrap_or_default())
    }

    pub fn at_doorplate(&self, doorplate: Id) -> Vec<PresenceRow> {
        self.by_doorplate.read(&doorplate, |v| v.cloned().unwrap_or_default())
    }

    pub fn is_present(&self, student: Id, doorplate: Id) -> bool {
        self.by_student.read(&student, |v| {
            v.is_some_and(|v| v.iter().any(|p| p.doorplate_id == doorplate))
        })
    }

    fn insert(&self, row: PresenceRow) {
        self.remove(row.student_id, row.doorplate_id);
        self.by_student
            .write(row.student_id, |m, k| m.entry(k).or_default().push(row));
        self.by_doorplate
            .write(row.doorplate_id, |m, k| m.entry(k).or_default().push(row));
    }

    fn remove(&self, student: Id, doorplate: Id) -> Option<PresenceRow> {
        let removed = self.by_student.write(student, |m, k| {
            let v = m.get_mut(&k)?;
            let i = v.iter().position(|p| p.doorplate_id == doorplate)?;
            let r = v.remove(i);
            if v.is_empty() {
                m.remove(&k);
            }
            Some(r)
        });
        self.by_doorplate.write(doorplate, |m, k| {
            if let Some(v) = m.get_mut(&k) {
                v.retain(|p| p.student_id != student);
                if v.is_empty() {
                    m.remove(&k);
                }
            }
        });
        removed
    }

    /// Presences whose `until` has passed.
    pub fn expired(&self, now: Micros) -> Vec<PresenceRow> {
        let mut out = Vec::new();
        self.by_student.for_each(|_, v| {
            out.extend(
                v.iter()
                    .filter(|p| doorplate_domain::presence::expired(p.until, now))
                    .copied(),
            )
        });
        out
    }

    /// Every presence (for end of day).
    pub fn all(&self) -> Vec<PresenceRow> {
        let mut out = Vec::new();
        self.by_student.for_each(|_, v| out.extend(v.iter().copied()));
        out
    }
}

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
    fn as_str(self) -> &'static str {
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

impl App {
    /// The lock that serialises everything about one student's presence and hints.
    pub fn student_lock(&self, student: Id) -> &tokio::sync::Mutex<()> {
        &self.student_locks[(student as u64 as usize) % self.student_locks.len()]
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

    /// [`App::arrive`] that also ends the student's presences at `leaving` (their
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
        let max = self.settings().max_doorplates_per_student as usize;
        let user = self.user(student).await?;
        let _guard = self.student_lock(student).lock().await;
        let now = self.now();
        let all = self.presence.of_student(student);
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
        self.store
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
            self.suppress_if_scheduled(student, *d).await;
        }
        self.presence.insert(row);
        let unread = self.unread.get(student);
        if !plan.already_here {
            self.hub.publish(
                Principal::Device(doorplate),
                "presence.joined",
                &json!({"user_id": student.to_string(), "display_name": user.display_name, "source": source.as_str(),
                        "since": crate::time::rfc3339(row.since), "unread": unread}),
            );
            self.announce_presence(student, doorplate, true, source.as_str()).await;
        }
        // Messages that waited while the student was nowhere present are hinted here.
        if unread > 0 {
            self.hint_waiting(student, &user.display_name, doorplate).await;
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
        let _guard = self.student_lock(student).lock().await;
        if !self.presence.is_present(student, doorplate) {
            return Ok(false);
        }
        let audit = vec![left_entry(self.now(), actor, student, doorplate, reason)];
        self.store
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
            self.suppress_if_scheduled(student, doorplate).await;
        }
        Ok(true)
    }

    /// The in-memory part of a departure, under the student's lock: drop the index entry,
    /// revoke the student's session there, and tell the doorplate to purge at once.
    fn after_leave(&self, student: Id, doorplate: Id, reason: LeaveReason) {
        self.presence.remove(student, doorplate);
        if let Some(ended) = self.sessions.end_for_user_at(student, doorplate) {
            self.session_ended(ended, "left");
        }
        self.hub.publish(
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
                              "present": present, "why": why, "at": crate::time::rfc3339(self.now())});
        let admins = self.admins.read().expect("admins poisoned").clone();
        let staff = data.to_string();
        for t in self.schedule.teachers_of(student).into_iter().chain(admins) {
            self.hub.publish_raw(Principal::User(t), "presence.changed", &staff);
        }
        let guardians = self.guardians_of(student).await.unwrap_or_default();
        if guardians.is_empty() {
            return;
        }
        if let Some(o) = data.as_object_mut() {
            o.remove("doorplate_id");
        }
        if present && self.settings().show_room_to_guardians {
            data["room"] = json!(self.room_name_of(doorplate).await);
        }
        let data = data.to_string();
        for g in guardians {
            self.hub.publish_raw(Principal::User(g), "presence.changed", &data);
        }
    }

    /// Ends the placements by staff whose `until` has passed; run every second by the
    /// sweeper. Timetable and arrangement presences are the engine's to end, at their
    /// boundary (with reason `period_ended`).
    pub async fn expire_presences(&self) {
        let expired = self.presence.expired(self.now());
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

    /// Appends to the audit log; a failure is logged, never shown to the caller whose
    /// action already happened.
    pub async fn audit(&self, actor: Option<Id>, action: &str, subject: Option<Id>, detail: serde_json::Value) {
        let entry = AuditEntry {
            at: self.now(),
            actor_id: actor,
            action: action.into(),
            subject_id: subject,
            detail,
        };
        if let Err(e) = self.store.audit(entry).await {
            tracing::error!(error = %e, action, "could not write the audit log");
        }
    }
}
