//! R4/R5 personal sessions: one per doorplate, replaced by the next proof, ended by idle
//! time, valid only while the student is present there.

use crate::{Id, Micros};

/// A personal session as the rules see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionClock {
    pub user_id: Id,
    pub doorplate_id: Id,
    /// Last time the session was used (each API call refreshes it).
    pub last_used: Micros,
    /// The school's idle timeout in seconds at the time the session opened.
    pub idle_seconds: i64,
}

impl SessionClock {
    /// When the session ends if nothing happens.
    pub fn expires_at(&self) -> Micros {
        self.last_used + self.idle_seconds * 1_000_000
    }

    /// Whether the session still stands at `now`, given whether the user is present at
    /// the session's doorplate right now.
    pub fn valid(&self, now: Micros, present_here: bool) -> bool {
        present_here && now < self.expires_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Micros = 1_000_000;

    #[test]
    fn a_session_ends_after_idle_time_or_when_the_user_leaves() {
        let s = SessionClock {
            user_id: 1,
            doorplate_id: 2,
            last_used: 100 * S,
            idle_seconds: 60,
        };
        assert!(s.valid(159 * S, true));
        assert!(!s.valid(160 * S, true));
        assert!(!s.valid(101 * S, false));
        assert_eq!(s.expires_at(), 160 * S);
    }
}
