//! Throttling of failed credentials (cards, badges, passwords, pairing codes) so that
//! nobody can try card numbers or passwords by brute force — however many attempts
//! arrive at once.
//!
//! An attempt is counted *before* it is evaluated: the caller [`Throttle::reserve`]s it,
//! evaluates the credential (a slow password hash, say), then [`Throttle::settle`]s it as
//! a success or a failure. Attempts in flight count against the budget, so a burst of 400
//! parallel guesses gets the policy's few evaluated and the rest refused, instead of all
//! of them hashed before the first failure is counted.
//!
//! Each key may fail `max_failures` times within `window`; the next attempt locks it for
//! `lockout`, doubling with each further lockout up to `max_lockout`. Whether a success
//! forgets the failures is part of the policy: it does for an account (the owner proved
//! themselves), it must not for a budget an attacker could reset with their own valid
//! card. Pure: the caller passes the time.

use crate::Micros;
use std::collections::HashMap;
use std::hash::Hash;

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_failures: u32,
    pub window: Micros,
    pub lockout: Micros,
    pub max_lockout: Micros,
    /// A success forgets the key's failures.
    pub success_clears: bool,
}

impl Default for Policy {
    /// Five tries a minute, then 30 s, 60 s, 120 s … up to 15 minutes; a success clears.
    fn default() -> Self {
        Policy {
            max_failures: 5,
            window: 60_000_000,
            lockout: 30_000_000,
            max_lockout: 900_000_000,
            success_clears: true,
        }
    }
}

impl Policy {
    /// A budget of `max_failures` a minute that no success resets (probing, spraying).
    pub fn budget(max_failures: u32) -> Policy {
        Policy {
            max_failures,
            success_clears: false,
            ..Policy::default()
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    failures: u32,
    /// Attempts reserved and not yet settled.
    pending: u32,
    window_start: Micros,
    locked_until: Micros,
    lockouts: u32,
}

/// How an evaluated attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// Why an attempt may not be evaluated now: wait this many seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub retry_after_secs: u64,
    /// This refusal locked the key (the attempt after the last allowed failure).
    pub locked_now: bool,
}

/// Failure counts per key.
#[derive(Debug)]
pub struct Throttle<K> {
    policy: Policy,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Throttle<K> {
    pub fn new(policy: Policy) -> Self {
        Throttle {
            policy,
            entries: HashMap::new(),
        }
    }

    /// Whether an attempt for `key` could be reserved now, without reserving it.
    pub fn check(&self, key: &K, now: Micros) -> Result<(), Refused> {
        let Some(e) = self.entries.get(key) else {
            return Ok(());
        };
        if e.locked_until > now {
            return Err(refused(e.locked_until - now, false));
        }
        let failures = if now - e.window_start > self.policy.window {
            0
        } else {
            e.failures
        };
        if failures + e.pending >= self.policy.max_failures {
            // Either the next attempt locks the key, or attempts in flight may still
            // fail: both mean "not now".
            return Err(refused(1_000_000, false));
        }
        Ok(())
    }

    /// Counts an attempt before it is evaluated. Refused while the key is locked, and
    /// while failures plus attempts in flight have used the window's budget; the first
    /// attempt past a spent budget with nothing in flight locks the key.
    pub fn reserve(&mut self, key: &K, now: Micros) -> Result<(), Refused> {
        let p = self.policy;
        let e = self.entries.entry(key.clone()).or_default();
        if e.locked_until > now {
            return Err(refused(e.locked_until - now, false));
        }
        if now - e.window_start > p.window {
            e.window_start = now;
            e.failures = 0;
        }
        if e.failures + e.pending >= p.max_failures {
            if e.pending > 0 {
                // Attempts in flight may still succeed; ask again shortly.
                return Err(refused(1_000_000, false));
            }
            let factor = 1i64 << e.lockouts.min(16);
            let lock = p.lockout.saturating_mul(factor).min(p.max_lockout);
            e.locked_until = now + lock;
            e.lockouts += 1;
            e.failures = 0;
            e.window_start = now;
            return Err(refused(lock, true));
        }
        e.pending += 1;
        Ok(())
    }

    /// Settles an attempt [`reserve`](Self::reserve) counted.
    pub fn settle(&mut self, key: &K, outcome: Outcome, now: Micros) {
        let p = self.policy;
        let Some(e) = self.entries.get_mut(key) else {
            return;
        };
        e.pending = e.pending.saturating_sub(1);
        match outcome {
            Outcome::Success if p.success_clears => {
                e.failures = 0;
                e.lockouts = 0;
            }
            Outcome::Success => {}
            Outcome::Failure => {
                if now - e.window_start > p.window {
                    e.window_start = now;
                    e.failures = 0;
                }
                e.failures += 1;
            }
        }
    }

    /// Gives back an attempt that was reserved and then not evaluated (the store failed,
    /// or another key of the same attempt was refused).
    pub fn release(&mut self, key: &K) {
        if let Some(e) = self.entries.get_mut(key) {
            e.pending = e.pending.saturating_sub(1);
        }
    }

    /// Failures counted in the current window (for telling the school about probing).
    pub fn failures(&self, key: &K, now: Micros) -> u32 {
        match self.entries.get(key) {
            Some(e) if now - e.window_start <= self.policy.window => e.failures,
            _ => 0,
        }
    }

    /// Drops entries that no longer matter, so the map does not grow without end.
    pub fn prune(&mut self, now: Micros) {
        let window = self.policy.window;
        self.entries
            .retain(|_, e| e.pending > 0 || e.locked_until > now || now - e.window_start <= window * 16);
    }
}

fn refused(wait: Micros, locked_now: bool) -> Refused {
    Refused {
        retry_after_secs: (wait.max(1) as u64).div_ceil(1_000_000),
        locked_now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    fn fail(t: &mut Throttle<&'static str>, k: &'static str, now: Micros) -> Result<(), Refused> {
        t.reserve(&k, now)?;
        t.settle(&k, Outcome::Failure, now);
        Ok(())
    }

    #[test]
    fn five_failures_pass_the_sixth_attempt_locks() {
        let mut t = Throttle::new(Policy::default());
        for i in 0..5 {
            assert_eq!(fail(&mut t, "plate", i * S), Ok(()));
        }
        let r = t.reserve(&"plate", 5 * S).unwrap_err();
        assert_eq!((r.retry_after_secs, r.locked_now), (30, true));
        assert_eq!(t.check(&"plate", 6 * S).unwrap_err().retry_after_secs, 29);
        assert_eq!(t.check(&"plate", 36 * S), Ok(()));
        assert_eq!(t.check(&"other", 6 * S), Ok(()));
    }

    #[test]
    fn a_parallel_burst_evaluates_no_more_than_the_budget() {
        let mut t = Throttle::new(Policy::default());
        // 400 attempts arrive before any is settled: five are let through.
        let admitted = (0..400).filter(|_| t.reserve(&"acct", 0).is_ok()).count();
        assert_eq!(admitted, 5);
        for _ in 0..5 {
            t.settle(&"acct", Outcome::Failure, S);
        }
        // The next attempt locks; the right password sent last gets nothing.
        assert!(t.reserve(&"acct", S).unwrap_err().locked_now);
        assert!(t.reserve(&"acct", 2 * S).is_err());
    }

    #[test]
    fn in_flight_attempts_that_succeed_give_the_budget_back() {
        let mut t = Throttle::new(Policy::default());
        for _ in 0..5 {
            t.reserve(&"k", 0).unwrap();
        }
        let r = t.reserve(&"k", 0).unwrap_err();
        assert_eq!((r.retry_after_secs, r.locked_now), (1, false));
        t.settle(&"k", Outcome::Success, 0);
        assert_eq!(t.reserve(&"k", 0), Ok(()));
    }

    #[test]
    fn lockouts_double_and_success_clears() {
        let mut t = Throttle::new(Policy::default());
        let mut now = 0;
        for _ in 0..5 {
            fail(&mut t, "k", now).unwrap();
        }
        assert_eq!(t.reserve(&"k", now).unwrap_err().retry_after_secs, 30);
        now += 31 * S;
        for _ in 0..5 {
            fail(&mut t, "k", now).unwrap();
        }
        assert_eq!(t.reserve(&"k", now).unwrap_err().retry_after_secs, 60);
        now += 61 * S;
        t.reserve(&"k", now).unwrap();
        t.settle(&"k", Outcome::Success, now);
        for _ in 0..5 {
            fail(&mut t, "k", now).unwrap();
        }
        // The success also forgot the lockouts: back to 30 s.
        assert_eq!(t.reserve(&"k", now).unwrap_err().retry_after_secs, 30);
    }

    #[test]
    fn a_budget_is_not_reset_by_successes() {
        let mut t = Throttle::new(Policy::budget(20));
        let mut wrong = 0;
        // Five wrong cards, one valid card (the attacker's own), five wrong …
        for round in 0..20 {
            for _ in 0..5 {
                if fail(&mut t, "plate", round * S).is_ok() {
                    wrong += 1;
                }
            }
            if t.reserve(&"plate", round * S).is_ok() {
                t.settle(&"plate", Outcome::Success, round * S);
            }
        }
        assert_eq!(wrong, 20, "at most 20 wrong cards a minute are evaluated");
    }

    #[test]
    fn failures_spread_beyond_the_window_never_lock() {
        let mut t = Throttle::new(Policy::default());
        for i in 0..50 {
            assert_eq!(fail(&mut t, "k", i * 20 * S), Ok(()), "failure {i}");
            if i % 3 == 2 {
                // Three failures a minute stay below five.
                t.prune(i * 20 * S);
            }
        }
    }
}
