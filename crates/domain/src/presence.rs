//! R1 presence and R2 "at most two".
//!
//! A student is present at a doorplate by one of four sources. The table itself lives in
//! the server (memory) and the store (disk); this module decides what an arrival does to
//! the student's other presences.

use crate::{Id, Micros};
use serde::{Deserialize, Serialize};

/// How a presence came about (R1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceSource {
    /// The student proved themselves at the doorplate.
    Active,
    /// The room's timetable puts the student's class there now.
    Timetable,
    /// A teacher placed the student there now.
    TeacherNow,
    /// A teacher arranged it in advance; it began at the arrangement's start.
    TeacherAdvance,
}

impl PresenceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Timetable => "timetable",
            Self::TeacherNow => "teacher_now",
            Self::TeacherAdvance => "teacher_advance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => Self::Active,
            "timetable" => Self::Timetable,
            "teacher_now" => Self::TeacherNow,
            "teacher_advance" => Self::TeacherAdvance,
            _ => return None,
        })
    }
}

/// One of a student's current presences, as the rule needs to see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub doorplate_id: Id,
    pub since: Micros,
}

/// What an arrival at a doorplate does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The student is already present there: the presence is refreshed, not added.
    pub already_here: bool,
    /// Doorplates whose presence ends to keep the student within the limit (R2), oldest
    /// first. Each of them purges the student (R6).
    pub evict: Vec<Id>,
}

/// Decides an arrival at `doorplate_id` for a student who holds `held` presences, under
/// the school's limit (`max`, at least 1). A new presence that would make `max + 1` ends
/// the oldest ones; ties on `since` end the lower doorplate id first so the outcome never
/// depends on the order of `held`.
pub fn plan_arrival(held: &[Held], doorplate_id: Id, max: usize) -> Arrival {
    let max = max.max(1);
    if held.iter().any(|h| h.doorplate_id == doorplate_id) {
        return Arrival {
            already_here: true,
            evict: Vec::new(),
        };
    }
    let mut others: Vec<Held> = held.to_vec();
    others.sort_by_key(|h| (h.since, h.doorplate_id));
    let excess = (others.len() + 1).saturating_sub(max);
    Arrival {
        already_here: false,
        evict: others.iter().take(excess).map(|h| h.doorplate_id).collect(),
    }
}

/// Whether a presence with the given end has run out at `now`.
pub fn expired(until: Option<Micros>, now: Micros) -> bool {
    until.is_some_and(|u| u <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn h(doorplate_id: Id, since: Micros) -> Held {
        Held { doorplate_id, since }
    }

    #[test]
    fn first_and_second_presence_evict_nothing() {
        assert_eq!(plan_arrival(&[], 1, 2).evict, Vec::<Id>::new());
        assert_eq!(plan_arrival(&[h(1, 10)], 2, 2).evict, Vec::<Id>::new());
    }

    #[test]
    fn a_third_presence_ends_the_oldest() {
        let a = plan_arrival(&[h(7, 20), h(5, 10)], 9, 2);
        assert_eq!(
            a,
            Arrival {
                already_here: false,
                evict: vec![5]
            }
        );
    }

    #[test]
    fn arriving_where_one_already_is_changes_nothing() {
        let a = plan_arrival(&[h(7, 20), h(5, 10)], 7, 2);
        assert!(a.already_here);
        assert!(a.evict.is_empty());
    }

    #[test]
    fn a_limit_of_one_moves_the_student() {
        assert_eq!(plan_arrival(&[h(3, 1)], 4, 1).evict, vec![3]);
        // A limit of zero is treated as one: a student can always be somewhere.
        assert_eq!(plan_arrival(&[h(3, 1)], 4, 0).evict, vec![3]);
    }

    proptest! {
        /// Whatever the student held, after the arrival they hold at most `max`
        /// presences, the new one among them, and only the oldest were ended.
        #[test]
        fn arrivals_keep_the_limit(
            sinces in proptest::collection::vec(0i64..1000, 0..6),
            target in 0i64..8,
            max in 1usize..4,
        ) {
            let held: Vec<Held> = sinces.iter().enumerate()
                .map(|(i, s)| h(i as Id, *s)).collect();
            // The held list itself may exceed the limit (e.g. the limit was lowered).
            let a = plan_arrival(&held, target, max);
            let remaining: Vec<&Held> = held.iter()
                .filter(|x| !a.evict.contains(&x.doorplate_id)).collect();
            let total = remaining.len() + usize::from(!a.already_here);
            if !a.already_here {
                prop_assert!(total <= max);
                let newest_evicted = held.iter().filter(|x| a.evict.contains(&x.doorplate_id))
                    .map(|x| x.since).max();
                let oldest_kept = remaining.iter().map(|x| x.since).min();
                if let (Some(e), Some(k)) = (newest_evicted, oldest_kept) {
                    prop_assert!(e <= k);
                }
            } else {
                prop_assert!(a.evict.is_empty());
            }
        }
    }
}
