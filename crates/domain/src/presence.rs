//! R1 presence and R2 "at most two".
//!
//! A student is present at a doorplate by one of four sources; a room's doorplates share
//! one presence, and the limit counts rooms. The table itself lives in
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

/// One of a student's current presences, as the rule needs to see it: the doorplate,
/// the room it hangs in, and since when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    pub doorplate_id: Id,
    pub room_id: Id,
    pub since: Micros,
}

/// What an arrival in a room does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// The student is already present in that room (at one of its doorplates or more):
    /// nothing ends, the room's presence is completed and refreshed, not added.
    pub already_here: bool,
    /// Doorplates whose presence ends to keep the student within the limit (R2): every
    /// doorplate of each room that ends, oldest room first. Each of them purges the
    /// student (R6).
    pub evict: Vec<Id>,
}

/// Decides an arrival in `room_id` for a student who holds `held` presences, under the
/// school's limit of rooms (`max`, at least 1). R2 counts rooms, not screens: a room's
/// doorplates (a front and a back door) share one presence, which began when the oldest
/// of them did. A new room that would make `max + 1` ends the oldest rooms whole; ties
/// on `since` end the lower room id first so the outcome never depends on the order of
/// `held`.
pub fn plan_arrival(held: &[Held], room_id: Id, max: usize) -> Arrival {
    let max = max.max(1);
    if held.iter().any(|h| h.room_id == room_id) {
        return Arrival {
            already_here: true,
            evict: Vec::new(),
        };
    }
    // Each room once, with the start of its oldest presence.
    let mut rooms: Vec<(Micros, Id)> = Vec::new();
    for h in held {
        match rooms.iter_mut().find(|(_, r)| *r == h.room_id) {
            Some(r) => r.0 = r.0.min(h.since),
            None => rooms.push((h.since, h.room_id)),
        }
    }
    rooms.sort();
    let excess = (rooms.len() + 1).saturating_sub(max);
    let ending: Vec<Id> = rooms.iter().take(excess).map(|(_, r)| *r).collect();
    let mut evict: Vec<(usize, Id)> = held
        .iter()
        .filter_map(|h| {
            let rank = ending.iter().position(|r| *r == h.room_id)?;
            Some((rank, h.doorplate_id))
        })
        .collect();
    evict.sort();
    Arrival {
        already_here: false,
        evict: evict.into_iter().map(|(_, d)| d).collect(),
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

    /// A presence at doorplate `d` of room `d / 10` (doorplates 41 and 42 hang in room 4).
    fn h(doorplate_id: Id, since: Micros) -> Held {
        Held {
            doorplate_id,
            room_id: doorplate_id / 10,
            since,
        }
    }

    #[test]
    fn first_and_second_room_evict_nothing() {
        assert_eq!(plan_arrival(&[], 1, 2).evict, Vec::<Id>::new());
        assert_eq!(plan_arrival(&[h(11, 10)], 2, 2).evict, Vec::<Id>::new());
    }

    #[test]
    fn a_third_room_ends_the_oldest() {
        let a = plan_arrival(&[h(71, 20), h(51, 10)], 9, 2);
        assert_eq!(
            a,
            Arrival {
                already_here: false,
                evict: vec![51]
            }
        );
    }

    #[test]
    fn arriving_in_a_room_already_held_changes_nothing() {
        let a = plan_arrival(&[h(71, 20), h(51, 10)], 7, 2);
        assert!(a.already_here);
        assert!(a.evict.is_empty());
        // At the room's other door too: it is the same room.
        let a = plan_arrival(&[h(72, 20), h(51, 10)], 7, 2);
        assert!(a.already_here);
    }

    #[test]
    fn two_doorplates_of_one_room_count_once() {
        // Present at both doors of room 4 and in room 3: a limit of two is full, not
        // over, and arriving in a third room ends only the oldest room, whole.
        let held = [h(41, 30), h(42, 31), h(31, 20)];
        assert_eq!(plan_arrival(&held, 5, 2).evict, vec![31]);
        let held = [h(41, 10), h(42, 35), h(31, 20)];
        assert_eq!(plan_arrival(&held, 5, 2).evict, vec![41, 42]);
        // The case: a room with two doorplates arrives; the student held two
        // single-door rooms; only the older of them ends.
        assert_eq!(plan_arrival(&[h(31, 1), h(61, 2)], 4, 2).evict, vec![31]);
    }

    #[test]
    fn a_limit_of_one_moves_the_student() {
        assert_eq!(plan_arrival(&[h(31, 1)], 4, 1).evict, vec![31]);
        // A limit of zero is treated as one: a student can always be somewhere.
        assert_eq!(plan_arrival(&[h(31, 1), h(32, 1)], 4, 0).evict, vec![31, 32]);
    }

    proptest! {
        /// Whatever the student held, after the arrival they are in at most `max` rooms,
        /// the new one among them; rooms end whole, and only the oldest.
        #[test]
        fn arrivals_keep_the_limit_in_rooms(
            held in proptest::collection::vec((0i64..5, 0i64..1000), 0..8),
            target in 0i64..7,
            max in 1usize..4,
        ) {
            // Doorplate i of room r: id r * 100 + i (distinct doorplates).
            let held: Vec<Held> = held.iter().enumerate()
                .map(|(i, (r, s))| Held { doorplate_id: r * 100 + i as Id, room_id: *r, since: *s })
                .collect();
            let a = plan_arrival(&held, target, max);
            let remaining: Vec<&Held> = held.iter()
                .filter(|x| !a.evict.contains(&x.doorplate_id)).collect();
            let mut rooms: Vec<Id> = remaining.iter().map(|x| x.room_id).collect();
            rooms.sort();
            rooms.dedup();
            // A room is kept or ended whole.
            for x in &held {
                let evicted = a.evict.contains(&x.doorplate_id);
                prop_assert!(held.iter().filter(|y| y.room_id == x.room_id)
                    .all(|y| a.evict.contains(&y.doorplate_id) == evicted));
            }
            if !a.already_here {
                prop_assert!(rooms.len() < max);
                let start = |r: Id| held.iter().filter(|x| x.room_id == r).map(|x| x.since).min();
                let newest_evicted = held.iter().filter(|x| a.evict.contains(&x.doorplate_id))
                    .filter_map(|x| start(x.room_id)).max();
                let oldest_kept = rooms.iter().filter_map(|r| start(*r)).min();
                if let (Some(e), Some(k)) = (newest_evicted, oldest_kept) {
                    prop_assert!(e <= k);
                }
            } else {
                prop_assert!(a.evict.is_empty());
            }
        }
    }
}
