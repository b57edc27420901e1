//! The server's throttles: which keys a credential attempt is counted against, and the
//! [`Attempt`] guard that reserves it before evaluation and settles it after.
//!
//! Budgets (each per minute; see `domain::throttle` for reserve-then-settle):
//! - an account: 5 wrong passwords, then 30 s, doubling to 15 min; its owner's success
//!   clears it;
//! - a doorplate: 5 wrong proofs in a row lock it (a success clears the run), and
//!   independently at most 20 wrong cards or badges a minute that no success resets
//!   (card UIDs are 32-bit; an attacker's own valid card must not buy more guesses) —
//!   exhausting that budget is reported to the school as probing;
//! - a client address: 20 failed logins a minute that no success resets (spraying one
//!   password over many usernames);
//! - pairing: 5 wrong codes a minute per client address; while an address is locked,
//!   its codes are still looked up within a global budget of 30 wrong codes a minute, so
//!   a correct fresh code gets through for a kiosk behind a shared NAT address.

use crate::error::ApiError;
use crate::metrics::ThrottleCounters;
use doorplate_domain::throttle::{Outcome, Policy, Refused, Throttle};
use doorplate_domain::{Id, Micros};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// What an attempt is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A username (lowercased), across the console, the family app and every doorplate.
    Account(String),
    /// Wrong proofs in a row at a doorplate.
    Doorplate(Id),
    /// Wrong cards and badges at a doorplate, whatever succeeds in between.
    Probe(Id),
    /// Failed logins from one client address.
    Client(IpAddr),
    /// Wrong pairing codes from one client address.
    PairingClient(IpAddr),
    /// Wrong pairing codes tried by addresses that are already throttled.
    PairingLocked,
}

/// How long a doorplate stays flagged as probed after its budget ran out.
const PROBE_FLAG: Micros = 3_600_000_000;

#[derive(Debug)]
struct Inner {
    accounts: Throttle<Key>,
    doorplates: Throttle<Key>,
    probes: Throttle<Key>,
    clients: Throttle<Key>,
    pairing: Throttle<Key>,
    pairing_locked: Throttle<Key>,
    /// Doorplates whose probe budget ran out, and when it last did.
    probed: HashMap<Id, Micros>,
}

impl Inner {
    fn of(&mut self, key: &Key) -> &mut Throttle<Key> {
        match key {
            Key::Account(_) => &mut self.accounts,
            Key::Doorplate(_) => &mut self.doorplates,
            Key::Probe(_) => &mut self.probes,
            Key::Client(_) => &mut self.clients,
            Key::PairingClient(_) => &mut self.pairing,
            Key::PairingLocked => &mut self.pairing_locked,
        }
    }
}

/// Every throttle of the school. A std `Mutex`: each use is a few map operations and is
/// never held across an await.
#[derive(Debug)]
pub struct Throttles {
    inner: Mutex<Inner>,
    /// Refusals by the budget that refused (the metrics).
    refused: ThrottleCounters,
}

impl Default for Throttles {
    fn default() -> Self {
        Self::counting(ThrottleCounters::default())
    }
}

impl Throttles {
    /// The school's throttles, counting refusals into `refused`.
    pub fn counting(refused: ThrottleCounters) -> Self {
        let minute = 60_000_000;
        let inner = Mutex::new(Inner {
            accounts: Throttle::new(Policy::default()),
            doorplates: Throttle::new(Policy::default()),
            probes: Throttle::new(Policy::budget(20)),
            clients: Throttle::new(Policy::budget(20)),
            pairing: Throttle::new(Policy::default()),
            // Never locked for longer than the rest of a minute: one attacker must not
            // stop every school kiosk from pairing for long.
            pairing_locked: Throttle::new(Policy {
                lockout: minute,
                max_lockout: minute,
                ..Policy::budget(30)
            }),
            probed: HashMap::new(),
        });
        Throttles { inner, refused }
    }
}

/// The answer to a refused attempt: 429 with `Retry-After`.
fn throttled(r: Refused) -> ApiError {
    ApiError::Throttled(r.retry_after_secs)
}

/// What [`Throttles::reserve`] refused, with whether a doorplate's probe budget just ran
/// out (the caller tells the school).
#[derive(Debug)]
pub struct Refusal {
    pub refused: Refused,
    pub probed: Option<Id>,
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        throttled(r.refused)
    }
}

impl Throttles {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("throttles poisoned")
    }

    /// Counts one attempt against every key before it is evaluated; all or nothing.
    pub fn reserve(&self, keys: Vec<Key>, now: Micros) -> Result<Attempt<'_>, Refusal> {
        let mut inner = self.inner();
        for (i, key) in keys.iter().enumerate() {
            if let Err(refused) = inner.of(key).reserve(key, now) {
                for k in &keys[..i] {
                    inner.of(k).release(k);
                }
                let probed = match key {
                    Key::Probe(id) if refused.locked_now => {
                        inner.probed.insert(*id, now);
                        Some(*id)
                    }
                    _ => None,
                };
                let counter = match key {
                    Key::Account(_) => &self.refused.account,
                    Key::Doorplate(_) => &self.refused.doorplate,
                    Key::Probe(_) => &self.refused.probe,
                    Key::Client(_) => &self.refused.client,
                    Key::PairingClient(_) => &self.refused.pairing,
                    Key::PairingLocked => &self.refused.pairing_locked,
                };
                counter.inc();
                return Err(Refusal { refused, probed });
            }
        }
        Ok(Attempt {
            throttles: self,
            keys,
            reserved_at: now,
            settled: false,
        })
    }

    /// When the doorplate's card/badge budget last ran out, if within the last hour.
    pub fn probed_since(&self, doorplate: Id, now: Micros) -> Option<Micros> {
        self.inner()
            .probed
            .get(&doorplate)
            .copied()
            .filter(|t| now - t < PROBE_FLAG)
    }

    /// Forgets what no longer matters (called by the sweeper).
    pub fn prune(&self, now: Micros) {
        let mut guard = self.inner();
        let inner = &mut *guard;
        for t in [
            &mut inner.accounts,
            &mut inner.doorplates,
            &mut inner.probes,
            &mut inner.clients,
            &mut inner.pairing,
            &mut inner.pairing_locked,
        ] {
            t.prune(now);
        }
        inner.probed.retain(|_, t| now - *t < PROBE_FLAG);
    }
}

/// An attempt counted before evaluation. Settle it with [`Attempt::succeed`],
/// [`Attempt::fail`] or [`Attempt::cancel`]; dropped unsettled (the client went away
/// mid-evaluation, say) it counts as a failure, so aborting does not buy guesses.
#[derive(Debug)]
#[must_use = "settle the attempt"]
pub struct Attempt<'a> {
    throttles: &'a Throttles,
    keys: Vec<Key>,
    /// When it was reserved: a dropped attempt fails as of then.
    reserved_at: Micros,
    settled: bool,
}

impl Attempt<'_> {
    fn settle(&mut self, outcome: Option<Outcome>, now: Micros) {
        let mut inner = self.throttles.inner();
        for k in &self.keys {
            match outcome {
                Some(o) => inner.of(k).settle(k, o, now),
                None => inner.of(k).release(k),
            }
        }
        self.settled = true;
    }

    /// The credential was right.
    pub fn succeed(mut self, now: Micros) {
        self.settle(Some(Outcome::Success), now);
    }

    /// The credential was wrong.
    pub fn fail(mut self, now: Micros) {
        self.settle(Some(Outcome::Failure), now);
    }

    /// The credential could not be evaluated (the store failed): it counts for nothing.
    pub fn cancel(mut self) {
        self.settle(None, 0);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(Some(Outcome::Failure), self.reserved_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_reserved_all_or_nothing() {
        let t = Throttles::default();
        let acct = || Key::Account("bob".into());
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..5 {
            t.reserve(vec![acct()], 0).unwrap().fail(0);
        }
        // The account is spent: the client's budget is not charged for the refusal.
        for _ in 0..3 {
            assert!(t.reserve(vec![Key::Client(ip), acct()], 0).is_err());
        }
        for _ in 0..20 {
            t.reserve(vec![Key::Client(ip)], 0).unwrap().fail(0);
        }
        assert!(t.reserve(vec![Key::Client(ip)], 0).is_err());
    }

    #[test]
    fn a_dropped_attempt_counts_as_a_failure_and_a_spent_probe_budget_is_flagged() {
        let t = Throttles::default();
        let plate: Id = 7;
        let now = 1_800_000_000_000_000;
        for _ in 0..20 {
            drop(t.reserve(vec![Key::Probe(plate)], now).unwrap());
        }
        let refusal = t.reserve(vec![Key::Probe(plate)], now).unwrap_err();
        assert_eq!(refusal.probed, Some(plate));
        assert_eq!(t.probed_since(plate, now), Some(now));
    }
}
