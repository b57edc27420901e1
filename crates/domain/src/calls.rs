//! Live calls between a student at a doorplate and one of their guardians: the state
//! machine, the school's call policy, and who may call whom.
//!
//! A call rings, is answered (active) or not, and ends once, for one reason. The rules
//! here are pure: the instant and the school's zone are passed in, and the server keeps
//! the calls in memory and asks these functions what to do (calls are never recorded;
//! only their trace — start, end, duration, who ended it — is audited).

use crate::hhmm::parse_hhmm;
use crate::permissions::{Denied, Party, may_converse};
use crate::{Id, Micros, Role};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

/// How long a call rings before it ends as missed.
pub const RING_SECONDS: i64 = 45;

const SECOND: Micros = 1_000_000;

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Ringing,
    Active,
    Ended,
}

/// Why a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The callee said no while it rang.
    Declined,
    /// Nobody answered within [`RING_SECONDS`].
    Missed,
    EndedByCaller,
    EndedByCallee,
    /// It reached the school's maximum length.
    MaxLength,
    /// The student checked out or their presence at the doorplate ended (R6).
    Left,
    /// A teacher dismissed the student from the doorplate.
    Dismissed,
    /// The student's personal session on the doorplate closed (Done, idle, replaced).
    SessionClosed,
    /// A teacher or an admin ended it from the console.
    EndedByStaff,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Declined => "declined",
            EndReason::Missed => "missed",
            EndReason::EndedByCaller => "ended_by_caller",
            EndReason::EndedByCallee => "ended_by_callee",
            EndReason::MaxLength => "max_length",
            EndReason::Left => "left",
            EndReason::Dismissed => "dismissed",
            EndReason::SessionClosed => "session_closed",
            EndReason::EndedByStaff => "ended_by_staff",
        }
    }
}

/// Why a step of the state machine was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The person is not one of the call's two parties (the API answers 403).
    NotAParty,
    /// Only the callee may accept or decline (403).
    NotTheCallee,
    /// It was answered already (409).
    AlreadyActive,
    /// It has ended (409).
    Ended,
    /// Signalling before the call is answered (409).
    NotActive,
}

/// One call as the rules see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    pub id: Id,
    pub caller: Id,
    pub callee: Id,
    /// The student of the pair (caller or callee) and the guardian.
    pub student: Id,
    pub guardian: Id,
    pub video: bool,
    pub state: CallState,
    /// When it began to ring.
    pub started_at: Micros,
    pub answered_at: Option<Micros>,
    pub ended_at: Option<Micros>,
    pub end_reason: Option<EndReason>,
    /// The school's maximum length when the call was placed, in seconds.
    pub max_seconds: i64,
}

impl Call {
    /// A call that starts ringing at `now`.
    pub fn ring(id: Id, caller: (Id, Role), callee: Id, video: bool, now: Micros, max_seconds: i64) -> Call {
        let (student, guardian) = if caller.1 == Role::Student {
            (caller.0, callee)
        } else {
            (callee, caller.0)
        };
        Call {
            id,
            caller: caller.0,
            callee,
            student,
            guardian,
            video,
            state: CallState::Ringing,
            started_at: now,
            answered_at: None,
            ended_at: None,
            end_reason: None,
            max_seconds,
        }
    }

    /// Whether `who` is the caller or the callee.
    pub fn has(&self, who: Id) -> bool {
        who == self.caller || who == self.callee
    }

    /// The other party.
    pub fn peer_of(&self, who: Id) -> Id {
        if who == self.caller { self.callee } else { self.caller }
    }

    fn live(&self) -> Result<(), CallError> {
        match self.state {
            CallState::Ended => Err(CallError::Ended),
            _ => Ok(()),
        }
    }

    /// The callee answers.
    pub fn accept(&mut self, by: Id, now: Micros) -> Result<(), CallError> {
        if !self.has(by) {
            return Err(CallError::NotAParty);
        }
        self.live()?;
        if by != self.callee {
            return Err(CallError::NotTheCallee);
        }
        if self.state == CallState::Active {
            return Err(CallError::AlreadyActive);
        }
        self.state = CallState::Active;
        self.answered_at = Some(now);
        Ok(())
    }

    /// The callee says no while it rings.
    pub fn decline(&mut self, by: Id, now: Micros) -> Result<(), CallError> {
        if !self.has(by) {
            return Err(CallError::NotAParty);
        }
        self.live()?;
        if by != self.callee {
            return Err(CallError::NotTheCallee);
        }
        if self.state == CallState::Active {
            return Err(CallError::AlreadyActive);
        }
        self.finish(EndReason::Declined, now);
        Ok(())
    }

    /// A party hangs up. While it rings, the callee hanging up is a decline (and the
    /// caller giving up leaves the callee a missed call: see [`Call::trace`]).
    pub fn hang_up(&mut self, by: Id, now: Micros) -> Result<EndReason, CallError> {
        if !self.has(by) {
            return Err(CallError::NotAParty);
        }
        self.live()?;
        let reason = match (self.state, by == self.caller) {
            (CallState::Ringing, true) => EndReason::EndedByCaller,
            (CallState::Ringing, false) => EndReason::Declined,
            (_, true) => EndReason::EndedByCaller,
            (_, false) => EndReason::EndedByCallee,
        };
        self.finish(reason, now);
        Ok(reason)
    }

    /// Whether `by` may relay signalling now: a party, while the call is active.
    pub fn may_signal(&self, by: Id) -> Result<(), CallError> {
        if !self.has(by) {
            return Err(CallError::NotAParty);
        }
        match self.state {
            CallState::Ended => Err(CallError::Ended),
            CallState::Ringing => Err(CallError::NotActive),
            CallState::Active => Ok(()),
        }
    }

    /// Ends it for a reason outside the parties (the school's clock, a departure, staff).
    /// Ending twice keeps the first end.
    pub fn finish(&mut self, reason: EndReason, now: Micros) {
        if self.state == CallState::Ended {
            return;
        }
        self.state = CallState::Ended;
        self.ended_at = Some(now);
        self.end_reason = Some(reason);
    }

    /// When the school's clock ends it if nothing else does: the ring's end, or the
    /// maximum length after it was answered.
    pub fn deadline(&self) -> Option<Micros> {
        match self.state {
            CallState::Ringing => Some(self.started_at + RING_SECONDS * SECOND),
            CallState::Active => Some(self.answered_at.unwrap_or(self.started_at) + self.max_seconds * SECOND),
            CallState::Ended => None,
        }
    }

    /// The reason the clock ends it at `now`, if its time is up.
    pub fn due(&self, now: Micros) -> Option<EndReason> {
        let deadline = self.deadline()?;
        (now >= deadline).then_some(match self.state {
            CallState::Ringing => EndReason::Missed,
            _ => EndReason::MaxLength,
        })
    }

    /// Whole seconds it was connected (0 if it was never answered).
    pub fn duration_seconds(&self) -> i64 {
        match (self.answered_at, self.ended_at) {
            (Some(a), Some(e)) => (e - a).max(0) / SECOND,
            _ => 0,
        }
    }

    /// The trace an ended call leaves in the conversation: a call never answered is
    /// "missed" (or "declined" when the callee said no). An answered call leaves none.
    pub fn trace(&self) -> Option<Trace> {
        if self.state != CallState::Ended || self.answered_at.is_some() {
            return None;
        }
        Some(match self.end_reason {
            Some(EndReason::Declined) => Trace::Declined,
            _ => Trace::Missed,
        })
    }
}

/// What a call that never connected leaves in the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trace {
    Missed,
    Declined,
}

impl Trace {
    /// The text of the `call` message: `missed:video`, `declined:voice` …
    pub fn text(self, video: bool) -> String {
        let outcome = match self {
            Trace::Missed => "missed",
            Trace::Declined => "declined",
        };
        format!("{outcome}:{}", if video { "video" } else { "voice" })
    }
}

/// One weekday's call hours ("HH:MM", `from` before `to`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CallSpan {
    pub from: String,
    pub to: String,
}

/// The school's call policy (a part of the settings: `settings.calls`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct CallPolicy {
    /// Whether calls are offered at all.
    pub enabled: bool,
    /// When calls may ring, per weekday in the school's zone: `hours[0]` is Monday …
    /// `hours[6]` Sunday; `null`, no calls that day.
    pub hours: [Option<CallSpan>; 7],
    /// The longest a call may last once answered, in minutes (1–60).
    pub max_minutes: u32,
    /// How many calls a student may have (placed or received) per day (1–50).
    pub per_student_per_day: u32,
    /// Whether video is allowed (otherwise voice only).
    pub video: bool,
    /// R7: no call rings in, or is placed from, a room sitting an exam.
    pub exam_hold: bool,
}

impl Default for CallPolicy {
    fn default() -> Self {
        let day = || {
            Some(CallSpan {
                from: "07:00".into(),
                to: "21:30".into(),
            })
        };
        CallPolicy {
            enabled: true,
            hours: [day(), day(), day(), day(), day(), day(), day()],
            max_minutes: 10,
            per_student_per_day: 5,
            video: true,
            exam_hold: true,
        }
    }
}

/// Why a call may not be placed now. Each has its own code on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallDenied {
    /// R8 (or the pair is not a student and their guardian).
    NotAllowed(Denied),
    /// Staff, or a student signed in without a doorplate session, place no calls.
    NotACaller,
    /// The school has calls off.
    CallsOff,
    /// Outside today's call hours.
    OutsideHours,
    /// The school allows voice only.
    VideoOff,
    /// The student had their calls for today.
    DailyLimit,
    /// The child is present at no doorplate.
    NotPresent,
    /// The room sits an exam (R7).
    ExamHold,
}

impl CallDenied {
    pub fn code(self) -> &'static str {
        match self {
            CallDenied::NotAllowed(_) => "not_allowed",
            CallDenied::NotACaller => "call_not_allowed",
            CallDenied::CallsOff => "calls_off",
            CallDenied::OutsideHours => "call_outside_hours",
            CallDenied::VideoOff => "call_video_off",
            CallDenied::DailyLimit => "call_daily_limit",
            CallDenied::NotPresent => "call_not_present",
            CallDenied::ExamHold => "call_exam_hold",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            CallDenied::NotAllowed(_) => "calls are only between a student and their own guardians",
            CallDenied::NotACaller => "calls are placed by a guardian, or by a student at a doorplate",
            CallDenied::CallsOff => "the school does not offer calls",
            CallDenied::OutsideHours => "calls are not allowed at this time",
            CallDenied::VideoOff => "the school allows voice calls only",
            CallDenied::DailyLimit => "the student has had today's calls",
            CallDenied::NotPresent => "the child is not at a doorplate now",
            CallDenied::ExamHold => "the room is sitting an exam",
        }
    }
}

impl CallPolicy {
    /// Checks the ranges; the error names the first bad field and why.
    pub fn validate(&self) -> Result<(), &'static str> {
        for span in self.hours.iter().flatten() {
            match (parse_hhmm(&span.from), parse_hhmm(&span.to)) {
                (Some(a), Some(b)) if a < b => {}
                _ => return Err("hours must be HH:MM with from before to"),
            }
        }
        if !(1..=60).contains(&self.max_minutes) {
            return Err("max_minutes must be between 1 and 60");
        }
        if !(1..=50).contains(&self.per_student_per_day) {
            return Err("per_student_per_day must be between 1 and 50");
        }
        Ok(())
    }

    /// The maximum length in seconds.
    pub fn max_seconds(&self) -> i64 {
        i64::from(self.max_minutes) * 60
    }

    /// Whether `now` falls inside the call hours of its weekday in `zone`.
    pub fn within_hours(&self, now: Micros, zone: &TimeZone) -> bool {
        let Ok(ts) = jiff::Timestamp::from_microsecond(now) else {
            return false;
        };
        let local = ts.to_zoned_datetime(zone.clone());
        let day = local.date().weekday().to_monday_zero_offset() as usize;
        let t = local.time();
        let secs = t.hour() as u32 * 3600 + t.minute() as u32 * 60 + t.second() as u32;
        self.hours[day].as_ref().is_some_and(|span| {
            matches!((parse_hhmm(&span.from), parse_hhmm(&span.to)), (Some(a), Some(b)) if a <= secs && secs < b)
        })
    }

    /// The policy's part of the decision, for a call that would ring now: on, in hours,
    /// video allowed if asked, the student's day not used up (`calls_today` counts the
    /// calls placed for them since midnight in the school's zone).
    pub fn check(&self, now: Micros, zone: &TimeZone, video: bool, calls_today: u32) -> Result<(), CallDenied> {
        if !self.enabled {
            return Err(CallDenied::CallsOff);
        }
        if !self.within_hours(now, zone) {
            return Err(CallDenied::OutsideHours);
        }
        if video && !self.video {
            return Err(CallDenied::VideoOff);
        }
        if calls_today >= self.per_student_per_day {
            return Err(CallDenied::DailyLimit);
        }
        Ok(())
    }
}

/// Midnight today in the school's zone, as an instant (for counting today's calls).
pub fn start_of_day(now: Micros, zone: &TimeZone) -> Micros {
    jiff::Timestamp::from_microsecond(now)
        .ok()
        .and_then(|ts| ts.to_zoned_datetime(zone.clone()).start_of_day().ok())
        .map(|z| z.timestamp().as_microsecond())
        .unwrap_or(now)
}

/// Who is placing a call, as the rule sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub party: Party,
    /// Whether the request came through a personal session on a doorplate.
    pub in_session: bool,
}

/// Who may call whom: a student in their personal session on a doorplate calls one of
/// their guardians; a guardian calls their child (who must then be present at a
/// doorplate: [`ring_targets`]). R8 decides the pair; staff place no calls.
pub fn may_call(caller: Caller, callee: Party, linked: bool, same: bool) -> Result<(), CallDenied> {
    may_converse(caller.party, callee, linked, same).map_err(CallDenied::NotAllowed)?;
    match (caller.party.role, callee.role) {
        (Role::Student, Role::Guardian) if caller.in_session => Ok(()),
        (Role::Guardian, Role::Student) if !caller.in_session => Ok(()),
        (Role::Student, Role::Guardian) | (Role::Guardian, Role::Student) => Err(CallDenied::NotACaller),
        _ => Err(CallDenied::NotAllowed(Denied::Roles)),
    }
}

/// A doorplate where a child is present, as the ring decision sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingPlace {
    pub doorplate: Id,
    pub in_exam: bool,
    /// Another call is ringing or going on there.
    pub busy: bool,
}

/// Which doorplates a guardian's call rings at: every doorplate where the child is
/// present, except those in an exam (when the school holds calls then) and those busy
/// with another call. `Err(NotPresent)` if the child is nowhere, `Err(ExamHold)` if
/// every place sits an exam; `Ok(empty)` means every place is busy (409).
pub fn ring_targets(places: &[RingPlace], exam_hold: bool) -> Result<Vec<Id>, CallDenied> {
    if places.is_empty() {
        return Err(CallDenied::NotPresent);
    }
    let open: Vec<&RingPlace> = places.iter().filter(|p| !(exam_hold && p.in_exam)).collect();
    if open.is_empty() {
        return Err(CallDenied::ExamHold);
    }
    Ok(open.iter().filter(|p| !p.busy).map(|p| p.doorplate).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = SECOND;

    fn call() -> Call {
        // Guardian 2 calls student 1.
        Call::ring(7, (2, Role::Guardian), 1, true, 100 * S, 600)
    }

    #[test]
    fn a_call_rings_then_is_answered_then_ends_once() {
        let mut c = call();
        assert_eq!((c.student, c.guardian), (1, 2));
        assert_eq!(c.accept(2, 101 * S), Err(CallError::NotTheCallee));
        assert_eq!(c.accept(9, 101 * S), Err(CallError::NotAParty));
        assert_eq!(c.may_signal(1), Err(CallError::NotActive));
        assert_eq!(c.accept(1, 110 * S), Ok(()));
        assert_eq!(c.state, CallState::Active);
        assert_eq!(c.accept(1, 111 * S), Err(CallError::AlreadyActive), "double accept");
        assert_eq!(c.decline(1, 111 * S), Err(CallError::AlreadyActive));
        assert_eq!(c.may_signal(2), Ok(()));
        assert_eq!(c.may_signal(3), Err(CallError::NotAParty));
        assert_eq!(c.hang_up(2, 170 * S), Ok(EndReason::EndedByCaller));
        assert_eq!(c.duration_seconds(), 60);
        assert_eq!(c.accept(1, 171 * S), Err(CallError::Ended), "accept after end");
        assert_eq!(c.hang_up(1, 171 * S), Err(CallError::Ended));
        c.finish(EndReason::MaxLength, 200 * S);
        assert_eq!(c.end_reason, Some(EndReason::EndedByCaller), "the first end stays");
        assert_eq!(c.trace(), None, "an answered call leaves no trace");
    }

    #[test]
    fn unanswered_calls_leave_a_trace() {
        let mut c = call();
        assert_eq!(c.due(144 * S), None);
        assert_eq!(c.due(145 * S), Some(EndReason::Missed));
        c.finish(EndReason::Missed, 145 * S);
        assert_eq!(c.trace(), Some(Trace::Missed));
        assert_eq!(Trace::Missed.text(c.video), "missed:video");

        let mut c = call();
        c.decline(1, 101 * S).unwrap();
        assert_eq!(c.end_reason, Some(EndReason::Declined));
        assert_eq!(c.trace(), Some(Trace::Declined));

        let mut c = call();
        assert_eq!(
            c.hang_up(2, 101 * S),
            Ok(EndReason::EndedByCaller),
            "the caller gave up"
        );
        assert_eq!(c.trace(), Some(Trace::Missed));
        let mut c = call();
        assert_eq!(c.hang_up(1, 101 * S), Ok(EndReason::Declined));
        let mut c = call();
        c.finish(EndReason::Left, 101 * S);
        assert_eq!(c.trace(), Some(Trace::Missed));
    }

    #[test]
    fn the_clock_ends_an_answered_call_at_its_maximum_length() {
        let mut c = call();
        c.accept(1, 120 * S).unwrap();
        assert_eq!(c.deadline(), Some(720 * S));
        assert_eq!(c.due(719 * S), None);
        assert_eq!(c.due(720 * S), Some(EndReason::MaxLength));
        c.finish(EndReason::MaxLength, 720 * S);
        assert_eq!(c.due(10_000 * S), None);
        assert_eq!(c.duration_seconds(), 600);
    }

    fn p(role: Role) -> Party {
        Party { role, disabled: false }
    }

    #[test]
    fn who_may_call_whom() {
        let student = |in_session| Caller {
            party: p(Role::Student),
            in_session,
        };
        let guardian = Caller {
            party: p(Role::Guardian),
            in_session: false,
        };
        assert_eq!(may_call(student(true), p(Role::Guardian), true, false), Ok(()));
        assert_eq!(may_call(guardian, p(Role::Student), true, false), Ok(()));
        assert_eq!(
            may_call(student(false), p(Role::Guardian), true, false),
            Err(CallDenied::NotACaller)
        );
        assert_eq!(
            may_call(guardian, p(Role::Student), false, false),
            Err(CallDenied::NotAllowed(Denied::NotLinked))
        );
        assert_eq!(
            may_call(student(true), p(Role::Student), true, false),
            Err(CallDenied::NotAllowed(Denied::Roles))
        );
        let teacher = Caller {
            party: p(Role::Teacher),
            in_session: false,
        };
        assert!(may_call(teacher, p(Role::Student), false, false).is_err());
        assert!(may_call(teacher, p(Role::Guardian), false, false).is_err());
        assert!(may_call(guardian, p(Role::Teacher), false, false).is_err());
        let off = Party {
            role: Role::Student,
            disabled: true,
        };
        assert_eq!(
            may_call(guardian, off, true, false),
            Err(CallDenied::NotAllowed(Denied::Disabled))
        );
    }

    #[test]
    fn a_guardian_s_call_rings_where_the_child_is_and_no_exam_is() {
        let at = |doorplate, in_exam, busy| RingPlace {
            doorplate,
            in_exam,
            busy,
        };
        assert_eq!(ring_targets(&[], true), Err(CallDenied::NotPresent));
        assert_eq!(ring_targets(&[at(1, true, false)], true), Err(CallDenied::ExamHold));
        assert_eq!(ring_targets(&[at(1, true, false)], false), Ok(vec![1]));
        assert_eq!(
            ring_targets(&[at(1, true, false), at(2, false, false), at(3, false, true)], true),
            Ok(vec![2])
        );
        assert_eq!(ring_targets(&[at(3, false, true)], true), Ok(vec![]), "busy: 409");
    }

    #[test]
    fn the_policy_holds_hours_video_and_the_daily_limit() {
        let zone = TimeZone::get("Asia/Shanghai").unwrap();
        // Monday 2026-11-30, 12:00 in Shanghai = 04:00 UTC.
        let noon: Micros = "2026-11-30T04:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_microsecond();
        let mut p = CallPolicy::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.check(noon, &zone, true, 0), Ok(()));
        assert_eq!(p.check(noon, &zone, true, 5), Err(CallDenied::DailyLimit));
        // 23:00 in Shanghai: after hours.
        assert_eq!(
            p.check(noon + 11 * 3600 * S, &zone, false, 0),
            Err(CallDenied::OutsideHours)
        );
        p.hours[0] = None;
        assert_eq!(
            p.check(noon, &zone, false, 0),
            Err(CallDenied::OutsideHours),
            "no calls on Mondays"
        );
        assert_eq!(
            p.check(noon + 24 * 3600 * S, &zone, false, 0),
            Ok(()),
            "Tuesday is open"
        );
        p.video = false;
        assert_eq!(p.check(noon + 24 * 3600 * S, &zone, true, 0), Err(CallDenied::VideoOff));
        p.enabled = false;
        assert_eq!(
            p.check(noon + 24 * 3600 * S, &zone, false, 0),
            Err(CallDenied::CallsOff)
        );
        assert_eq!(start_of_day(noon, &zone), noon - 12 * 3600 * S);
    }

    #[test]
    fn the_policy_refuses_bad_values() {
        let mut p = CallPolicy::default();
        p.hours[2] = Some(CallSpan {
            from: "18:00".into(),
            to: "08:00".into(),
        });
        assert!(p.validate().is_err());
        let p = CallPolicy {
            max_minutes: 0,
            ..CallPolicy::default()
        };
        assert!(p.validate().is_err());
    }
}
