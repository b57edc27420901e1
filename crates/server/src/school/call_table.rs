//! The calls going on in one school, in memory: at most one per person and one per
//! doorplate. A leaf part of the core, so that wherever a personal session or a presence
//! ends (`Core::session_ended`, a departure) the call it carried ends at once, with its
//! `call.ended` frames. What follows an end and needs the store (the audit entry, the
//! trace message of a call that never connected) is queued here and done by the calls
//! service (`calls.rs`) — right away on the API's paths, and by the sweeper otherwise.
//!
//! Calls are never recorded, and a restart forgets the calls going on: both browsers
//! lose their peer connection anyway.

use crate::hub::{Hub, Principal};
use crate::sessions::Sessions;
use crate::time::rfc3339;
use doorplate_domain::calls::{Call, CallState, EndReason};
use doorplate_domain::{Id, Micros, Role};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// One side of a call, as the faces show it.
#[derive(Clone, Debug)]
pub struct Person {
    pub id: Id,
    pub display_name: String,
    pub role: Role,
}

/// A call and what the server needs to carry it.
#[derive(Clone, Debug)]
pub struct LiveCall {
    pub call: Call,
    pub caller: Person,
    pub callee: Person,
    /// Where the student's side is: the doorplates a guardian's call rings at (all the
    /// places the child is present and free), then the one it was answered at; the
    /// session's doorplate for a call the student placed.
    pub doorplates: Vec<Id>,
    /// The room of the student's doorplate, for the console (set once it is known).
    pub room: String,
    /// Who watches it live: the student's class teachers and the admins.
    pub watchers: Vec<Id>,
    /// Who ended it (a party or a member of staff; `None` for the clock or a departure).
    pub ended_by: Option<Id>,
}

impl LiveCall {
    pub fn student(&self) -> &Person {
        if self.caller.role == Role::Student {
            &self.caller
        } else {
            &self.callee
        }
    }

    /// The call as the API shows it.
    pub fn json(&self) -> Value {
        let c = &self.call;
        let person =
            |p: &Person| json!({"id": p.id.to_string(), "display_name": p.display_name, "role": p.role.as_str()});
        let mut v = json!({
            "id": c.id.to_string(),
            "caller": person(&self.caller),
            "callee": person(&self.callee),
            "state": c.state,
            "video": c.video,
            "started_at": rfc3339(c.started_at),
            "max_seconds": c.max_seconds,
        });
        if let Some(a) = c.answered_at {
            v["answered_at"] = json!(rfc3339(a));
        }
        if let Some(d) = c.deadline() {
            v["ends_at"] = json!(rfc3339(d));
        }
        if let Some(e) = c.ended_at {
            v["ended_at"] = json!(rfc3339(e));
            v["duration_seconds"] = json!(c.duration_seconds());
        }
        if let Some(r) = c.end_reason {
            v["end_reason"] = json!(r.as_str());
        }
        if let Some(by) = self.ended_by {
            v["ended_by"] = json!(by.to_string());
        }
        if c.state != CallState::Ringing && self.doorplates.len() == 1 {
            v["doorplate_id"] = json!(self.doorplates[0].to_string());
            if !self.room.is_empty() {
                v["room"] = json!(self.room);
            }
        }
        v
    }
}

/// Why a new call cannot start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// One of the two people is in a call already.
    Person(Id),
    /// Every doorplate it would ring at is in a call already.
    Doorplate,
}

/// A std `Mutex`: each critical section is a few map operations, never an await.
#[derive(Default)]
pub struct CallTable {
    inner: Mutex<Inner>,
    /// Calls that ended and still owe their audit entry and trace (see the module doc).
    finished: Mutex<Vec<LiveCall>>,
    /// The last calls that ended, (id, caller, callee): a party's late step on one is a
    /// conflict (409), not an unknown call.
    recent: Mutex<VecDeque<(Id, Id, Id)>>,
}

/// How many ended calls [`CallTable::ended_recently`] remembers.
const RECENT: usize = 1024;

#[derive(Default)]
struct Inner {
    calls: HashMap<Id, LiveCall>,
    by_person: HashMap<Id, Id>,
    by_doorplate: HashMap<Id, Id>,
}

impl Inner {
    fn unlink(&mut self, live: &LiveCall) {
        for p in [live.call.caller, live.call.callee] {
            if self.by_person.get(&p) == Some(&live.call.id) {
                self.by_person.remove(&p);
            }
        }
        for d in &live.doorplates {
            if self.by_doorplate.get(d) == Some(&live.call.id) {
                self.by_doorplate.remove(d);
            }
        }
    }
}

/// What a step on a call did, for the caller to announce.
pub struct Stepped<R> {
    pub result: R,
    /// The call after the step.
    pub live: LiveCall,
    /// Doorplates that rang and no longer do.
    pub stopped_ringing: Vec<Id>,
}

impl CallTable {
    /// Whether a doorplate is ringing or in a call.
    pub fn doorplate_busy(&self, doorplate: Id) -> bool {
        self.inner
            .lock()
            .expect("calls poisoned")
            .by_doorplate
            .contains_key(&doorplate)
    }

    /// Whether a person is in a call (ringing or active).
    pub fn person_busy(&self, person: Id) -> bool {
        self.inner
            .lock()
            .expect("calls poisoned")
            .by_person
            .contains_key(&person)
    }

    /// Starts a call unless one of its people or doorplates is taken (checked and
    /// claimed in one step, so two calls cannot both start).
    pub fn insert(&self, live: LiveCall) -> Result<(), Busy> {
        let mut inner = self.inner.lock().expect("calls poisoned");
        for p in [live.call.caller, live.call.callee] {
            if inner.by_person.contains_key(&p) {
                return Err(Busy::Person(p));
            }
        }
        if live.doorplates.is_empty() || live.doorplates.iter().any(|d| inner.by_doorplate.contains_key(d)) {
            return Err(Busy::Doorplate);
        }
        for p in [live.call.caller, live.call.callee] {
            inner.by_person.insert(p, live.call.id);
        }
        for d in &live.doorplates {
            inner.by_doorplate.insert(*d, live.call.id);
        }
        inner.calls.insert(live.call.id, live);
        Ok(())
    }

    /// The call with this id, if it is going on.
    pub fn get(&self, id: Id) -> Option<LiveCall> {
        self.inner.lock().expect("calls poisoned").calls.get(&id).cloned()
    }

    /// Every call going on.
    pub fn all(&self) -> Vec<LiveCall> {
        let mut v: Vec<LiveCall> = self
            .inner
            .lock()
            .expect("calls poisoned")
            .calls
            .values()
            .cloned()
            .collect();
        v.sort_by_key(|l| l.call.started_at);
        v
    }

    /// Runs one step on a call (`None` if it is not going on). `step` gets the call and
    /// which doorplate should remain (for an accept: the one it was answered at). A call
    /// the step ended leaves the table and is queued as finished.
    pub fn step<R>(&self, id: Id, step: impl FnOnce(&mut LiveCall) -> R) -> Option<Stepped<R>> {
        let mut inner = self.inner.lock().expect("calls poisoned");
        let before = inner.calls.get(&id)?.doorplates.clone();
        let live = inner.calls.get_mut(&id)?;
        let was_ringing = live.call.state == CallState::Ringing;
        let result = step(live);
        let live = live.clone();
        // A ring stops where the call no longer rings, and everywhere once it is
        // answered or over.
        let stopped: Vec<Id> = if was_ringing && live.call.state != CallState::Ringing {
            before.clone()
        } else {
            before
                .iter()
                .filter(|d| !live.doorplates.contains(d))
                .copied()
                .collect()
        };
        if live.call.state == CallState::Ended {
            inner.unlink(&LiveCall {
                doorplates: before.clone(),
                ..live.clone()
            });
            inner.calls.remove(&id);
            drop(inner);
            self.finished.lock().expect("calls poisoned").push(live.clone());
            let mut recent = self.recent.lock().expect("calls poisoned");
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back((id, live.call.caller, live.call.callee));
        } else {
            for d in &stopped {
                if inner.by_doorplate.get(d) == Some(&id) {
                    inner.by_doorplate.remove(d);
                }
            }
        }
        Some(Stepped {
            result,
            live,
            stopped_ringing: stopped,
        })
    }

    /// Ends every call `which` picks, for `reason`; returns them (already queued as
    /// finished) with the doorplates that stop ringing.
    pub fn end_where(&self, now: Micros, reason: EndReason, which: impl Fn(&LiveCall) -> bool) -> Vec<Stepped<()>> {
        let ids: Vec<Id> = {
            let inner = self.inner.lock().expect("calls poisoned");
            inner.calls.values().filter(|l| which(l)).map(|l| l.call.id).collect()
        };
        ids.into_iter()
            .filter_map(|id| self.step(id, |l| l.call.finish(reason, now)))
            .collect()
    }

    /// A student's presence at a doorplate ended (R6): a call ringing there stops ringing
    /// there (and ends if it rang nowhere else), a call carried there ends.
    pub fn student_left(&self, student: Id, doorplate: Id, reason: EndReason, now: Micros) -> Vec<Stepped<()>> {
        let id = {
            let inner = self.inner.lock().expect("calls poisoned");
            match inner.by_person.get(&student) {
                Some(id) if inner.calls.get(id).is_some_and(|l| l.doorplates.contains(&doorplate)) => *id,
                _ => return Vec::new(),
            }
        };
        self.step(id, |l| {
            if l.call.state == CallState::Ringing && l.doorplates.len() > 1 && l.call.student == student {
                l.doorplates.retain(|d| *d != doorplate);
            } else {
                l.call.finish(reason, now);
            }
        })
        .into_iter()
        .collect()
    }

    /// The parties of a call that ended lately.
    pub fn ended_recently(&self, id: Id) -> Option<(Id, Id)> {
        let recent = self.recent.lock().expect("calls poisoned");
        recent.iter().rev().find(|r| r.0 == id).map(|r| (r.1, r.2))
    }

    /// The calls that ended and still owe their follow-up.
    pub fn take_finished(&self) -> Vec<LiveCall> {
        std::mem::take(&mut *self.finished.lock().expect("calls poisoned"))
    }
}

/// Tells everyone concerned about a step: the doorplates that stop ringing, and — for a
/// call that ended — both parties and its watchers (`call.ended`); a student's session
/// that the call held lives by idle time again.
pub fn announce_stepped<R>(hub: &Hub, sessions: &Sessions, now: Micros, s: &Stepped<R>) {
    let student = s.live.call.student;
    for d in &s.stopped_ringing {
        hub.publish(
            Principal::Device(*d),
            "call.ring_ended",
            &json!({"call_id": s.live.call.id.to_string(), "user_id": student.to_string()}),
        );
    }
    if s.live.call.state == CallState::Ended {
        let data = json!({"call": s.live.json()}).to_string();
        hub.publish_raw(Principal::User(s.live.call.caller), "call.ended", &data);
        hub.publish_raw(Principal::User(s.live.call.callee), "call.ended", &data);
        if s.live.call.answered_at.is_some() {
            for w in &s.live.watchers {
                hub.publish_raw(Principal::User(*w), "call.ended", &data);
            }
        }
        for d in &s.live.doorplates {
            sessions.hold(*d, student, false, now);
        }
    }
}
