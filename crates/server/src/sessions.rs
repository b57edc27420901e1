//! Personal sessions on doorplates (R4, R5): at most one per doorplate, replaced by the
//! next proof, ended by idle time, valid only while the user is present there (staff in
//! teacher mode are not "present"; their session lives by idle time alone).
//!
//! Kept in memory only: a session is short-lived by design, and after a restart the
//! student simply proves themselves again.

use doorplate_domain::session::SessionClock;
use doorplate_domain::{Id, Micros};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// A session that has ended, for the caller to announce (`session.ended`).
#[derive(Debug)]
pub struct Ended {
    pub user_id: Id,
    pub doorplate_id: Id,
}

struct Session {
    token_hash: Vec<u8>,
    clock: SessionClock,
    /// Whether the user must be present at the doorplate (students) or not (staff).
    needs_presence: bool,
    /// A call is going on in this session: it does not time out idle meanwhile.
    held: bool,
    /// Flips to `true` when the session ends; the session's sockets watch it.
    revoked: watch::Sender<bool>,
}

/// A valid session, as the auth extractor sees it.
#[derive(Debug)]
pub struct Live {
    pub user_id: Id,
    pub doorplate_id: Id,
    pub revoked: watch::Receiver<bool>,
    pub expires_at: Micros,
}

/// A std `Mutex`: every critical section is a few map operations, never an await.
#[derive(Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_doorplate: HashMap<Id, Session>,
    by_token: HashMap<Vec<u8>, Id>,
}

impl Inner {
    fn remove(&mut self, doorplate: Id) -> Option<Ended> {
        let s = self.by_doorplate.remove(&doorplate)?;
        self.by_token.remove(&s.token_hash);
        let _ = s.revoked.send(true);
        Some(Ended {
            user_id: s.clock.user_id,
            doorplate_id: doorplate,
        })
    }
}

impl Sessions {
    /// Opens a session, ending the doorplate's previous one (returned).
    pub fn open(
        &self,
        token_hash: Vec<u8>,
        user_id: Id,
        doorplate_id: Id,
        now: Micros,
        idle_seconds: i64,
        needs_presence: bool,
    ) -> (Micros, Option<Ended>) {
        let mut inner = self.inner.lock().expect("sessions poisoned");
        let previous = inner.remove(doorplate_id);
        let clock = SessionClock {
            user_id,
            doorplate_id,
            last_used: now,
            idle_seconds,
        };
        let (revoked, _) = watch::channel(false);
        inner.by_token.insert(token_hash.clone(), doorplate_id);
        inner.by_doorplate.insert(
            doorplate_id,
            Session {
                token_hash,
                clock,
                needs_presence,
                held: false,
                revoked,
            },
        );
        (clock.expires_at(), previous)
    }

    /// Checks a session token and refreshes its idle clock. `Err(Some(ended))` when the
    /// token belonged to a session that has just run out.
    pub fn check(
        &self,
        token_hash: &[u8],
        now: Micros,
        present: impl Fn(Id, Id) -> bool,
    ) -> Result<Live, Option<Ended>> {
        let mut inner = self.inner.lock().expect("sessions poisoned");
        let doorplate = *inner.by_token.get(token_hash).ok_or(None)?;
        let s = inner.by_doorplate.get_mut(&doorplate).ok_or(None)?;
        let here = !s.needs_presence || present(s.clock.user_id, doorplate);
        if s.held {
            s.clock.last_used = now;
        }
        if !s.clock.valid(now, here) {
            return Err(inner.remove(doorplate));
        }
        s.clock.last_used = now;
        Ok(Live {
            user_id: s.clock.user_id,
            doorplate_id: doorplate,
            revoked: s.revoked.subscribe(),
            expires_at: s.clock.expires_at(),
        })
    }

    /// Ends the doorplate's session, whoever holds it.
    pub fn end_at(&self, doorplate: Id) -> Option<Ended> {
        self.inner.lock().expect("sessions poisoned").remove(doorplate)
    }

    /// Ends the doorplate's session if it is this user's (the user left: R6).
    pub fn end_for_user_at(&self, user: Id, doorplate: Id) -> Option<Ended> {
        let mut inner = self.inner.lock().expect("sessions poisoned");
        match inner.by_doorplate.get(&doorplate) {
            Some(s) if s.clock.user_id == user => inner.remove(doorplate),
            _ => None,
        }
    }

    /// Ends every session of this user, on any doorplate (the account was disabled,
    /// deleted or given a new password).
    pub fn end_for_user(&self, user: Id) -> Vec<Ended> {
        let mut inner = self.inner.lock().expect("sessions poisoned");
        let theirs: Vec<Id> = inner
            .by_doorplate
            .iter()
            .filter(|(_, s)| s.clock.user_id == user)
            .map(|(d, _)| *d)
            .collect();
        theirs.into_iter().filter_map(|d| inner.remove(d)).collect()
    }

    /// Ends the sessions that have been idle too long.
    pub fn expire(&self, now: Micros) -> Vec<Ended> {
        let mut inner = self.inner.lock().expect("sessions poisoned");
        let stale: Vec<Id> = inner
            .by_doorplate
            .iter()
            .filter(|(_, s)| !s.held && now >= s.clock.expires_at())
            .map(|(d, _)| *d)
            .collect();
        stale.into_iter().filter_map(|d| inner.remove(d)).collect()
    }

    /// Holds (or releases) the user's session on the doorplate while a call goes on in
    /// it: a held session does not time out idle; released, its idle time starts anew.
    pub fn hold(&self, doorplate: Id, user: Id, on: bool, now: Micros) {
        let mut inner = self.inner.lock().expect("sessions poisoned");
        if let Some(s) = inner.by_doorplate.get_mut(&doorplate)
            && s.clock.user_id == user
        {
            s.held = on;
            s.clock.last_used = now;
        }
    }

    /// How many sessions are open (for the metrics).
    pub fn count(&self) -> usize {
        self.inner.lock().expect("sessions poisoned").by_doorplate.len()
    }

    /// The user whose session the doorplate hosts now.
    pub fn holder(&self, doorplate: Id) -> Option<Id> {
        self.inner
            .lock()
            .expect("sessions poisoned")
            .by_doorplate
            .get(&doorplate)
            .map(|s| s.clock.user_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    #[test]
    fn a_new_proof_ends_the_previous_session_on_that_doorplate() {
        let s = Sessions::default();
        let (_, prev) = s.open(vec![1], 10, 5, 0, 60, true);
        assert!(prev.is_none());
        let (_, prev) = s.open(vec![2], 11, 5, S, 60, true);
        assert_eq!(prev.unwrap().user_id, 10);
        assert!(s.check(&[1], 2 * S, |_, _| true).is_err());
        assert_eq!(s.check(&[2], 2 * S, |_, _| true).unwrap().user_id, 11);
    }

    #[test]
    fn leaving_or_idling_ends_it_and_staff_need_no_presence() {
        let s = Sessions::default();
        s.open(vec![1], 10, 5, 0, 60, true);
        assert_eq!(s.check(&[1], S, |_, _| false).unwrap_err().unwrap().user_id, 10);
        s.open(vec![3], 12, 6, 0, 60, false);
        assert!(s.check(&[3], 30 * S, |_, _| false).is_ok());
        assert_eq!(s.expire(89 * S).len(), 0, "the check at 30 s refreshed it");
        assert_eq!(s.expire(90 * S).len(), 1);
    }

    #[test]
    fn a_session_held_by_a_call_does_not_time_out_idle() {
        let s = Sessions::default();
        s.open(vec![1], 10, 5, 0, 60, true);
        s.hold(5, 10, true, 0);
        assert!(s.expire(600 * S).is_empty());
        assert!(s.check(&[1], 700 * S, |_, _| true).is_ok());
        s.hold(5, 10, false, 800 * S);
        assert!(s.expire(859 * S).is_empty(), "released: idle time starts anew");
        assert_eq!(s.expire(860 * S).len(), 1);
    }

    #[test]
    fn ending_a_user_ends_their_sessions_everywhere_and_no_one_else_s() {
        let s = Sessions::default();
        s.open(vec![1], 10, 5, 0, 60, false);
        s.open(vec![2], 10, 6, 0, 60, false);
        s.open(vec![3], 11, 7, 0, 60, false);
        let mut ended: Vec<Id> = s.end_for_user(10).iter().map(|e| e.doorplate_id).collect();
        ended.sort_unstable();
        assert_eq!(ended, vec![5, 6]);
        assert!(s.check(&[1], S, |_, _| true).is_err());
        assert!(s.check(&[3], S, |_, _| true).is_ok());
    }
}
