//! Throttling of failed credentials (cards, badges, passwords) so that nobody can try
//! card numbers or passwords at a kiosk by brute force.
//!
//! Each key (a doorplate, an account) may fail `max_failures` times within `window`; the
//! next failure locks it for `lockout`, doubling with each further lockout up to
//! `max_lockout`. A success clears the key. Pure: the caller passes the time.

use crate::Micros;
use std::collections::HashMap;
use std::hash::Hash;

#[derive(Clone, Copy, Debug)]
pub struct Policy {
    pub max_failures: u32,
    pub window: Micros,
    pub lockout: Micros,
    pub max_lockout: Micros,
}

impl Default for Policy {
    /// Five tries a minute, then 30 s, 60 s, 120 s … up to 15 minutes.
    fn default() -> Self {
        Policy {
            max_failures: 5,
            window: 60_000_000,
            lockout: 30_000_000,
            max_lockout: 900_000_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    failures: u32,
    window_start: Micros,
    locked_until: Micros,
    lockouts: u32,
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

    /// `Err(seconds)` while the key is locked: the caller answers 429 with Retry-After.
    pub fn check(&self, key: &K, now: Micros) -> Result<(), u64> {
        match self.entries.get(key) {
            Some(e) if e.locked_until > now => Err(((e.locked_until - now) as u64).div_ceil(1_000_000)),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns `Err(seconds)` if this failure locked the key.
    pub fn fail(&mut self, key: &K, now: Micros) -> Result<(), u64> {
        let p = self.policy;
        let e = self.entries.entry(key.clone()).or_default();
        if now - e.window_start > p.window {
            e.window_start = now;
            e.failures = 0;
        }
        e.failures += 1;
        if e.failures > p.max_failures {
            let factor = 1i64 << e.lockouts.min(16);
            let lock = (p.lockout.saturating_mul(factor)).min(p.max_lockout);
            e.locked_until = now + lock;
            e.lockouts += 1;
            e.failures = 0;
            e.window_start = now;
            return Err((lock as u64).div_ceil(1_000_000));
        }
        Ok(())
    }

    /// A success forgets the key's failures.
    pub fn succeed(&mut self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops entries that no longer matter, so the map does not grow without end.
    pub fn prune(&mut self, now: Micros) {
        let window = self.policy.window;
        self.entries
            .retain(|_, e| e.locked_until > now || now - e.window_start <= window * 16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    #[test]
    fn five_failures_pass_the_sixth_locks() {
        let mut t = Throttle::new(Policy::default());
        for i in 0..5 {
            assert_eq!(t.fail(&"plate", i * S), Ok(()));
            assert_eq!(t.check(&"plate", i * S), Ok(()));
        }
        assert_eq!(t.fail(&"plate", 5 * S), Err(30));
        assert_eq!(t.check(&"plate", 6 * S), Err(29));
        assert_eq!(t.check(&"plate", 35 * S), Ok(()));
        assert_eq!(t.check(&"other", 6 * S), Ok(()));
    }

    #[test]
    fn lockouts_double_and_success_clears() {
        let mut t = Throttle::new(Policy::default());
        let mut now = 0;
        for _ in 0..5 {
            t.fail(&1, now).unwrap();
        }
        assert_eq!(t.fail(&1, now), Err(30));
        now += 31 * S;
        for _ in 0..5 {
            t.fail(&1, now).unwrap();
        }
        assert_eq!(t.fail(&1, now), Err(60));
        t.succeed(&1);
        assert_eq!(t.check(&1, now), Ok(()));
    }

    #[test]
    fn failures_spread_beyond_the_window_never_lock() {
        let mut t = Throttle::new(Policy::default());
        for i in 0..50 {
            assert_eq!(t.fail(&"k", i * 20 * S), Ok(()), "failure {i}");
            if i % 3 == 2 {
                // Three failures a minute stay below five.
                t.prune(i * 20 * S);
            }
        }
    }
}
