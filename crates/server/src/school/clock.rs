//! The school's clock. Everything time-based — the timetable engine, the sweeper (idle
//! sessions, placements with an end, end of day), token and session expiry — reads time
//! from the hosted school's [`Clock`], never from the wall clock directly, so tests move
//! time by hand ([`ManualClock`]) instead of sleeping.

use doorplate_domain::Micros;
use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::Notify;

/// A source of "now" for one hosted school.
pub trait Clock: Send + Sync + Debug + 'static {
    /// Microseconds since the Unix epoch, UTC.
    fn now(&self) -> Micros;

    /// Woken when time was moved by hand, so the engine and the sweeper look at once
    /// rather than at their next tick. The system clock never moves by hand.
    fn moved(&self) -> Option<&Notify> {
        None
    }
}

/// The wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Micros {
        wall_clock_micros()
    }
}

/// The wall clock as UTC microseconds (for the few places that have no school: log
/// lines, process-wide throttle bookkeeping, the clock itself).
pub fn wall_clock_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as Micros)
        .unwrap_or(0)
}

/// A clock that stands still until told to move: for tests (and for replaying a day).
#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    moved: Notify,
}

impl ManualClock {
    pub fn at(now: Micros) -> ManualClock {
        ManualClock {
            now: AtomicI64::new(now),
            moved: Notify::new(),
        }
    }

    /// Moves time forward (or back, for a test of a clock jump) and wakes whoever
    /// waits on time.
    pub fn advance(&self, by: std::time::Duration) {
        self.now.fetch_add(by.as_micros() as i64, Ordering::SeqCst);
        self.moved.notify_waiters();
    }

    /// Sets the time.
    pub fn set(&self, now: Micros) {
        self.now.store(now, Ordering::SeqCst);
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Micros {
        self.now.load(Ordering::SeqCst)
    }

    fn moved(&self) -> Option<&Notify> {
        Some(&self.moved)
    }
}

/// Resolves when `clock` is moved by hand after this call (it is armed at once, so a
/// move while the caller works is not missed); never for the system clock.
pub fn moved(clock: &dyn Clock) -> impl std::future::Future<Output = ()> + Send + '_ {
    let armed = clock.moved().map(|n| {
        let mut f = Box::pin(n.notified());
        f.as_mut().enable();
        f
    });
    async move {
        match armed {
            Some(f) => f.await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_told_and_wakes_its_waiters() {
        let c = ManualClock::at(1_000);
        assert_eq!(c.now(), 1_000);
        let woken = c.moved().unwrap().notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        c.advance(std::time::Duration::from_secs(2));
        woken.await;
        assert_eq!(c.now(), 2_001_000);
    }
}
