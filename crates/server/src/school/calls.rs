//! Live calls between a student at a doorplate and a guardian's phone: placing one (who
//! may call whom and the school's policy are `domain::calls`), answering, declining,
//! hanging up, relaying WebRTC signalling (checked by `domain::signal`), and what the
//! school's clock does (a ring ends as missed after 45 s, an answered call ends at the
//! school's maximum length). The calls themselves are in `call_table` (memory only).
//!
//! Events: `call.ringing` to both people (a doorplate a guardian's call rings at gets the
//! child's name only, like a hint), `call.accepted`, `call.signal` to the other side,
//! `call.ended` to both; the student's class teachers and the admins get `call.started`
//! and `call.ended` of an answered call. A call that never connected leaves a `call`
//! message in the conversation (the trace both sides see); start and end are audited.

use super::call_table::{Busy, LiveCall, Person, announce_stepped};
use super::core::Core;
use super::delivery::Delivery;
use crate::error::{ApiError, ApiResult};
use crate::hub::Principal;
use doorplate_domain::calls::{
    Call, CallDenied, CallError, CallState, EndReason, RingPlace, may_call, ring_targets, start_of_day,
};
use doorplate_domain::permissions::Party;
use doorplate_domain::{Id, MessageKind, MessageStatus, Role};
use doorplate_store::{AuditFilter, NewMessage, User};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Signalling to relay, already checked.
pub enum Signal {
    Sdp {
        kind: String,
        sdp: String,
    },
    Candidate {
        candidate: String,
        sdp_mid: Option<String>,
        sdp_mline_index: Option<u32>,
    },
}

/// The calls service of one school.
pub struct Calls {
    core: Arc<Core>,
    delivery: Arc<Delivery>,
    /// Call ids: unique within a run and beyond it (they start at the wall clock's
    /// microseconds; calls are not stored, so they need no row id).
    next_id: AtomicI64,
}

fn refused(d: CallDenied) -> ApiError {
    ApiError::Forbidden(d.code(), d.message().into())
}

fn step_error(e: CallError) -> ApiError {
    match e {
        CallError::NotAParty => ApiError::Forbidden("not_in_call", "you are not part of this call".into()),
        CallError::NotTheCallee => ApiError::Forbidden("not_callee", "only the person called may answer".into()),
        CallError::AlreadyActive => ApiError::Conflict("call_answered", "the call was answered already".into()),
        CallError::Ended => ApiError::Conflict("call_ended", "the call has ended".into()),
        CallError::NotActive => ApiError::Conflict("call_not_active", "the call has not been answered yet".into()),
    }
}

fn person(u: &User) -> Person {
    Person {
        id: u.id,
        display_name: u.display_name.clone(),
        role: u.role,
    }
}

impl Calls {
    pub fn new(core: Arc<Core>, delivery: Arc<Delivery>) -> Calls {
        Calls {
            core,
            delivery,
            next_id: AtomicI64::new(super::clock::wall_clock_micros()),
        }
    }

    /// Places a call from `me` (through `session`, a doorplate's personal session, for a
    /// student) to `peer`. 403 with the policy's code when it may not ring now, 409 when
    /// either person or the doorplate is in a call already.
    /// With `dry_run`, only says whether it could ring now (`Ok(None)`) — for the faces'
    /// call button.
    pub async fn place(
        &self,
        me: &User,
        session: Option<Id>,
        peer: &User,
        video: bool,
        dry_run: bool,
    ) -> ApiResult<Option<LiveCall>> {
        let core = &self.core;
        let linked = match (me.role, peer.role) {
            (Role::Guardian, Role::Student) => core.directory.is_guardian_of(me.id, peer.id).await?,
            (Role::Student, Role::Guardian) => core.directory.is_guardian_of(peer.id, me.id).await?,
            _ => false,
        };
        let party = |u: &User| Party {
            role: u.role,
            disabled: u.disabled,
        };
        let caller = doorplate_domain::calls::Caller {
            party: party(me),
            in_session: session.is_some(),
        };
        may_call(caller, party(peer), linked, me.id == peer.id).map_err(refused)?;
        let student = if me.role == Role::Student { me } else { peer };
        let settings = core.settings();
        let policy = &settings.calls;
        let now = core.now();
        let zone = core.zone();
        let today = self.calls_today(student.id, start_of_day(now, &zone)).await?;
        policy.check(now, &zone, video, today).map_err(refused)?;
        let doorplates = match session {
            Some(d) => {
                if policy.exam_hold && core.schedule.in_exam(d) {
                    return Err(refused(CallDenied::ExamHold));
                }
                vec![d]
            }
            None => {
                let places: Vec<RingPlace> = core
                    .presence
                    .of_student(student.id)
                    .iter()
                    .map(|p| RingPlace {
                        doorplate: p.doorplate_id,
                        in_exam: core.schedule.in_exam(p.doorplate_id),
                        busy: core.calls.doorplate_busy(p.doorplate_id),
                    })
                    .collect();
                ring_targets(&places, policy.exam_hold).map_err(refused)?
            }
        };
        if dry_run {
            if core.calls.person_busy(me.id) {
                return Err(ApiError::Conflict(
                    "already_in_call",
                    "you are in a call already".into(),
                ));
            }
            if core.calls.person_busy(peer.id) || doorplates.is_empty() {
                return Err(ApiError::Conflict("peer_in_call", "they are in a call already".into()));
            }
            return Ok(None);
        }
        let mut watchers = core.schedule.teachers_of(student.id);
        for a in core.admins.read().expect("admins poisoned").iter() {
            if !watchers.contains(a) {
                watchers.push(*a);
            }
        }
        let room = match session {
            Some(d) => core.directory.room_name_of(d).await,
            None => String::new(),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let live = LiveCall {
            call: Call::ring(id, (me.id, me.role), peer.id, video, now, policy.max_seconds()),
            caller: person(me),
            callee: person(peer),
            doorplates,
            room,
            watchers,
            ended_by: None,
        };
        core.calls.insert(live.clone()).map_err(|b| match b {
            Busy::Person(p) if p == me.id => ApiError::Conflict("already_in_call", "you are in a call already".into()),
            Busy::Person(_) => ApiError::Conflict("peer_in_call", "they are in a call already".into()),
            Busy::Doorplate => ApiError::Conflict("doorplate_in_call", "the doorplate is in a call already".into()),
        })?;
        if let Some(d) = session {
            core.sessions.hold(d, me.id, true, now);
        }
        core.audit(
            Some(me.id),
            "call.placed",
            Some(student.id),
            json!({"call_id": id, "to": peer.id, "video": video}),
        )
        .await;
        let data = json!({"call": live.json()}).to_string();
        core.hub.publish_raw(Principal::User(me.id), "call.ringing", &data);
        core.hub.publish_raw(Principal::User(peer.id), "call.ringing", &data);
        // A guardian whose app is closed hears of the call on their phone (the call is
        // in memory only, so the push is queued after it rings; it lapses in a minute).
        if peer.role == Role::Guardian {
            let lang = core.settings().language;
            let push = crate::push::notes::call(peer.id, &id.to_string(), me, video, now, &lang);
            match core.store.enqueue_pushes(vec![push]).await {
                Ok(()) => core.push.wake(),
                Err(e) => tracing::error!(error = %e, "could not queue a call's push"),
            }
        }
        if session.is_none() {
            // The shared screen gets the child's name only, like a hint.
            for d in &live.doorplates {
                core.hub.publish(
                    Principal::Device(*d),
                    "call.ringing",
                    &json!({"call_id": id.to_string(), "user_id": student.id.to_string(),
                            "display_name": student.display_name}),
                );
            }
        }
        Ok(Some(live))
    }

    /// How many calls were placed for a student since `since` (from the audit log, so
    /// the count survives a restart).
    async fn calls_today(&self, student: Id, since: i64) -> ApiResult<u32> {
        let limit = self.core.settings().calls.per_student_per_day + 1;
        let list = self
            .core
            .store
            .audit_log(AuditFilter {
                action: Some("call.placed".into()),
                actor_id: None,
                subject_id: Some(student),
                limit,
            })
            .await?;
        Ok(list.iter().filter(|e| e.at >= since).count() as u32)
    }

    fn find(&self, id: Id, me: Id) -> ApiResult<LiveCall> {
        // A call that ended is gone from memory: to its parties that is 409, to anyone
        // else 404 — indistinguishable from a call that never was.
        self.core.calls.get(id).ok_or_else(|| {
            if self.recently_ended(id, me) {
                ApiError::Conflict("call_ended", "the call has ended".into())
            } else {
                ApiError::not_found("call")
            }
        })
    }

    fn recently_ended(&self, id: Id, me: Id) -> bool {
        self.core
            .calls
            .ended_recently(id)
            .is_some_and(|(a, b)| a == me || b == me)
    }

    /// The callee answers. A student answers through the personal session their proof
    /// opened at a doorplate the call rings at; the call then lives there alone.
    pub async fn accept(&self, me: &User, session: Option<Id>, id: Id) -> ApiResult<LiveCall> {
        let live = self.find(id, me.id)?;
        if me.role == Role::Student && live.call.callee == me.id {
            match session {
                Some(d) if live.doorplates.contains(&d) => {}
                _ => {
                    return Err(ApiError::Forbidden(
                        "answer_at_doorplate",
                        "answer at the doorplate that rings, after proving who you are".into(),
                    ));
                }
            }
        }
        let now = self.core.now();
        let room = match session {
            Some(d) => self.core.directory.room_name_of(d).await,
            None => String::new(),
        };
        let stepped = self
            .core
            .calls
            .step(id, |l| {
                let r = l.call.accept(me.id, now);
                if r.is_ok()
                    && let Some(d) = session.filter(|_| me.role == Role::Student)
                {
                    l.doorplates = vec![d];
                    l.room = room;
                }
                r
            })
            .ok_or_else(|| ApiError::Conflict("call_ended", "the call has ended".into()))?;
        stepped.result.map_err(step_error)?;
        let live = stepped.live.clone();
        announce_stepped(&self.core.hub, &self.core.sessions, now, &stepped);
        if let [d] = live.doorplates[..] {
            self.core.sessions.hold(d, live.call.student, true, now);
        }
        let data = json!({"call": live.json()}).to_string();
        let hub = &self.core.hub;
        hub.publish_raw(Principal::User(live.call.caller), "call.accepted", &data);
        hub.publish_raw(Principal::User(live.call.callee), "call.accepted", &data);
        for w in &live.watchers {
            hub.publish_raw(Principal::User(*w), "call.started", &data);
        }
        self.core
            .audit(
                Some(me.id),
                "call.started",
                Some(live.call.student),
                json!({"call_id": id, "caller": live.call.caller, "callee": live.call.callee,
                       "video": live.call.video, "doorplate_id": live.doorplates.first()}),
            )
            .await;
        Ok(live)
    }

    /// The callee says no while it rings.
    pub async fn decline(&self, me: &User, id: Id) -> ApiResult<LiveCall> {
        self.find(id, me.id)?;
        let now = self.core.now();
        self.finish_step(id, me.id, |l| l.call.decline(me.id, now)).await
    }

    /// A party hangs up.
    pub async fn hang_up(&self, me: &User, id: Id) -> ApiResult<LiveCall> {
        self.find(id, me.id)?;
        let now = self.core.now();
        self.finish_step(id, me.id, |l| l.call.hang_up(me.id, now).map(|_| ()))
            .await
    }

    /// A teacher or an admin ends a call from the console.
    pub async fn end_by_staff(&self, staff: &User, id: Id) -> ApiResult<LiveCall> {
        self.core.calls.get(id).ok_or_else(|| ApiError::not_found("call"))?;
        let now = self.core.now();
        self.finish_step(id, staff.id, |l| {
            l.call.finish(EndReason::EndedByStaff, now);
            Ok(())
        })
        .await
    }

    async fn finish_step(
        &self,
        id: Id,
        by: Id,
        step: impl FnOnce(&mut LiveCall) -> Result<(), CallError>,
    ) -> ApiResult<LiveCall> {
        let now = self.core.now();
        let stepped = self
            .core
            .calls
            .step(id, |l| {
                let r = step(l);
                if r.is_ok() {
                    l.ended_by = Some(by);
                }
                r
            })
            .ok_or_else(|| ApiError::Conflict("call_ended", "the call has ended".into()))?;
        stepped.result.map_err(step_error)?;
        announce_stepped(&self.core.hub, &self.core.sessions, now, &stepped);
        self.follow_up().await;
        Ok(stepped.live)
    }

    /// Relays signalling to the other party (only while the call is active).
    pub fn signal(&self, me: &User, id: Id, signal: Signal) -> ApiResult<()> {
        let live = self.find(id, me.id)?;
        live.call.may_signal(me.id).map_err(step_error)?;
        let mut data = json!({"call_id": id.to_string(), "from": me.id.to_string()});
        match signal {
            Signal::Sdp { kind, sdp } => data["sdp"] = json!({"type": kind, "sdp": sdp}),
            Signal::Candidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => {
                data["candidate"] = json!({"candidate": candidate, "sdpMid": sdp_mid, "sdpMLineIndex": sdp_mline_index})
            }
        }
        self.core
            .hub
            .publish(Principal::User(live.call.peer_of(me.id)), "call.signal", &data);
        Ok(())
    }

    /// The school's clock: rings past 45 s end as missed, answered calls end at the
    /// maximum length, and a call whose place is gone ends (a ring where the child is no
    /// longer present, a call whose session closed — normally ended at once where that
    /// happens; this catches any path that did not). Then the follow-ups of every call
    /// that ended.
    pub async fn sweep(&self) {
        let core = &self.core;
        let now = core.now();
        for live in core.calls.all() {
            let reason = live.call.due(now).or_else(|| {
                let student = live.call.student;
                let gone = match (live.call.state, live.call.caller == student) {
                    (CallState::Ringing, false) => {
                        live.doorplates.iter().all(|d| !core.presence.is_present(student, *d))
                    }
                    _ => live
                        .doorplates
                        .iter()
                        .all(|d| core.sessions.holder(*d) != Some(student)),
                };
                gone.then_some(EndReason::SessionClosed)
            });
            if let Some(reason) = reason {
                let reason = if reason == EndReason::SessionClosed
                    && live.call.state == CallState::Ringing
                    && live.call.caller != live.call.student
                {
                    EndReason::Left
                } else {
                    reason
                };
                // A call the clock ends, ends at its deadline (the sweep may come a little
                // later); one whose place is gone, now.
                let at = live
                    .call
                    .deadline()
                    .filter(|_| live.call.due(now).is_some())
                    .unwrap_or(now);
                if let Some(s) = core.calls.step(live.call.id, |l| l.call.finish(reason, at)) {
                    announce_stepped(&core.hub, &core.sessions, now, &s);
                }
            }
        }
        self.follow_up().await;
    }

    /// What every ended call owes: its audit entry, and — if it never connected — the
    /// trace in the conversation ("Missed video call, 10:42"), from the caller to the
    /// callee, so both sides see it and can write back.
    pub async fn follow_up(&self) {
        for live in self.core.calls.take_finished() {
            let c = &live.call;
            self.core
                .audit(
                    live.ended_by,
                    "call.ended",
                    Some(c.student),
                    json!({"call_id": c.id, "caller": c.caller, "callee": c.callee,
                           "reason": c.end_reason.map(|r| r.as_str()), "duration_seconds": c.duration_seconds(),
                           "answered": c.answered_at.is_some(), "ended_by": live.ended_by}),
                )
                .await;
            if let Some(trace) = c.trace()
                && let Err(e) = self.leave_trace(&live, trace.text(c.video)).await
            {
                tracing::error!(error = %e, call = c.id, "could not leave the trace of a call");
            }
        }
    }

    async fn leave_trace(&self, live: &LiveCall, text: String) -> ApiResult<()> {
        let core = &self.core;
        let caller = core.directory.user(live.call.caller).await?;
        let callee = core.directory.user(live.call.callee).await?;
        let now = core.now();
        let conv = core.store.open_conversation(caller.id, callee.id, now).await?;
        let new = NewMessage {
            conversation_id: conv.id,
            sender_id: caller.id,
            recipient_id: callee.id,
            client_id: format!("call-{}", live.call.id),
            kind: MessageKind::Call,
            text: Some(text),
            media_id: None,
            urgent: false,
            now,
            status: MessageStatus::Sent,
            notified_rooms: Vec::new(),
            push: None,
        };
        self.delivery.send(new, &caller, &callee).await?;
        Ok(())
    }

    /// The calls going on, as staff see them: answered calls (a ring is not a call yet,
    /// and staff hear of a call only once it is answered — `call.started`), a teacher
    /// those of their classes' students, an admin every one; the longest-running first.
    pub fn current_for(&self, staff: &User) -> Vec<LiveCall> {
        let mut list: Vec<LiveCall> = self
            .core
            .calls
            .all()
            .into_iter()
            .filter(|l| l.call.state == CallState::Active)
            .filter(|l| staff.role == Role::Admin || l.watchers.contains(&staff.id))
            .collect();
        list.sort_by_key(|l| l.call.answered_at);
        list
    }

    /// Whether this person is in a call now (for the faces: a call button says why not).
    pub fn busy(&self, person: Id) -> bool {
        self.core.calls.person_busy(person)
    }

    /// A call the caller is part of, as the API shows it.
    pub fn view(&self, me: Id, id: Id) -> ApiResult<LiveCall> {
        let live = self.find(id, me)?;
        if !live.call.has(me) {
            return Err(ApiError::not_found("call"));
        }
        Ok(live)
    }
}

/// Where browsers find a TURN relay for calls (coturn with `use-auth-secret`).
#[derive(Clone, Default)]
pub struct IceConfig {
    /// `turn:host:port` URLs handed to browsers.
    pub turn_urls: Vec<String>,
    /// coturn's `static-auth-secret`: credentials are derived from it, never stored.
    pub turn_secret: Option<Vec<u8>>,
    /// Tell browsers to use the relay only (`iceTransportPolicy: "relay"`): for tests
    /// and for networks where peers must never learn each other's addresses.
    pub relay_only: bool,
}

impl std::fmt::Debug for IceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IceConfig")
            .field("turn_urls", &self.turn_urls)
            .field("turn_secret", &self.turn_secret.as_ref().map(|_| "<redacted>"))
            .field("relay_only", &self.relay_only)
            .finish()
    }
}

/// Short-lived TURN credentials as coturn's `use-auth-secret` (the "TURN REST API")
/// checks them: the username is `<expiry, unix seconds>:<user id>`, the password
/// base64(HMAC-SHA1(secret, username)). coturn refuses them after the expiry.
pub fn turn_credential(secret: &[u8], user: Id, expires_unix: i64) -> (String, String) {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let username = format!("{expires_unix}:{user}");
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

impl IceConfig {
    /// The ICE servers for `user`, valid until `expires_unix` (wall-clock seconds: the
    /// relay checks them against its own clock).
    pub fn servers(&self, user: Id, expires_unix: i64) -> Value {
        let servers: Vec<Value> = match &self.turn_secret {
            Some(secret) if !self.turn_urls.is_empty() => {
                let (username, credential) = turn_credential(secret, user, expires_unix);
                vec![json!({"urls": self.turn_urls, "username": username, "credential": credential})]
            }
            _ => Vec::new(),
        };
        json!({
            "ice_servers": servers,
            "ice_transport_policy": if self.relay_only && !servers.is_empty() { "relay" } else { "all" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_credentials_are_what_coturn_computes() {
        // The same as `echo -n "1700000000:42" | openssl dgst -sha1 -hmac s3cret -binary | base64`.
        let (u, c) = turn_credential(b"s3cret", 42, 1_700_000_000);
        assert_eq!(u, "1700000000:42");
        assert_eq!(c, "pkGfLzidB0U1T2lLkxNy/vgk7ZE=");
    }
}
