//! Who the running periods put where (R1's timetable and teacher-in-advance sources),
//! and the plan that takes the presences that exist to the ones wanted: the
//! level-triggered heart of the engine.

use super::{Occurrence, Origin};
use crate::{Id, Micros};
use std::collections::{HashMap, HashSet};

/// A presence the schedule wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desired {
    pub student_id: Id,
    pub doorplate_id: Id,
    /// Timetable for a slot, teacher-in-advance for an arrangement.
    pub from_arrangement: bool,
    pub until: Micros,
}

/// Who the running periods put where: each member of each group (and each listed
/// student) at every doorplate of the period's room. A student wanted at one doorplate
/// by two periods keeps the later end.
pub fn desired_presences(
    running: &[Occurrence],
    members: &HashMap<Id, Vec<Id>>,
    doorplates_of_room: &HashMap<Id, Vec<Id>>,
) -> Vec<Desired> {
    let mut want: HashMap<(Id, Id), Desired> = HashMap::new();
    for o in running {
        let Some(plates) = doorplates_of_room.get(&o.room_id) else {
            continue;
        };
        let students = o
            .group_ids
            .iter()
            .flat_map(|g| members.get(g).into_iter().flatten())
            .chain(o.user_ids.iter());
        for s in students {
            for d in plates {
                let e = want.entry((*s, *d)).or_insert(Desired {
                    student_id: *s,
                    doorplate_id: *d,
                    from_arrangement: matches!(o.origin, Origin::Arrangement(_)),
                    until: o.ends,
                });
                if o.ends > e.until {
                    e.until = o.ends;
                    e.from_arrangement = matches!(o.origin, Origin::Arrangement(_));
                }
            }
        }
    }
    let mut v: Vec<Desired> = want.into_values().collect();
    v.sort_by_key(|d| (d.student_id, d.doorplate_id));
    v
}

/// What the engine changes: arrivals for wanted presences that are missing (unless a
/// person ended them during this window), departures for presences the engine made
/// that nothing wants any more.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub arrive: Vec<Desired>,
    pub leave: Vec<(Id, Id)>,
}

/// `held` are the presences that exist now, with whether the engine made them
/// (timetable / teacher in advance) — presences people made (active, teacher now) are
/// never ended by the engine. `suppressed` are (student, doorplate) pairs a person ended
/// during a window that still runs.
pub fn plan(held: &[(Id, Id, bool)], desired: &[Desired], suppressed: &HashSet<(Id, Id)>) -> Plan {
    let wanted: HashSet<(Id, Id)> = desired.iter().map(|d| (d.student_id, d.doorplate_id)).collect();
    let present: HashSet<(Id, Id)> = held.iter().map(|(s, d, _)| (*s, *d)).collect();
    Plan {
        arrive: desired
            .iter()
            .filter(|d| {
                !present.contains(&(d.student_id, d.doorplate_id))
                    && !suppressed.contains(&(d.student_id, d.doorplate_id))
            })
            .copied()
            .collect(),
        leave: held
            .iter()
            .filter(|(s, d, engine)| *engine && !wanted.contains(&(*s, *d)))
            .map(|(s, d, _)| (*s, *d))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use crate::Id;
    use crate::timetable::test_support::*;
    use crate::timetable::{Desired, Plan, desired_presences, plan, running_at};
    use std::collections::HashSet;

    #[test]
    fn the_class_is_wanted_at_every_doorplate_of_the_room_until_the_end() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 2, 1, 9 * H, 10 * H, 10)];
        let now = at(&c, monday(), 9 * H + 5);
        let want = desired_presences(&running_at(&slots, &[], &c, now), &members, &plates);
        let pairs: Vec<_> = want.iter().map(|d| (d.student_id, d.doorplate_id)).collect();
        assert_eq!(pairs, vec![(100, 2001), (100, 2002), (101, 2001), (101, 2002)]);
        assert!(
            want.iter()
                .all(|d| d.until == at(&c, monday(), 10 * H) && !d.from_arrangement)
        );
    }

    #[test]
    fn the_plan_adds_what_is_missing_and_ends_only_what_the_engine_made() {
        let want = vec![
            Desired {
                student_id: 1,
                doorplate_id: 9,
                from_arrangement: false,
                until: 100,
            },
            Desired {
                student_id: 2,
                doorplate_id: 9,
                from_arrangement: false,
                until: 100,
            },
            Desired {
                student_id: 3,
                doorplate_id: 9,
                from_arrangement: false,
                until: 100,
            },
        ];
        // 1 is already there; 4 was put there by the engine and is no longer wanted; 5
        // checked in by themselves (not the engine's to end); 3 was dismissed this window.
        let held = [(1, 9, true), (4, 9, true), (5, 9, false)];
        let p = plan(&held, &want, &HashSet::from([(3, 9)]));
        assert_eq!(p.arrive.iter().map(|d| d.student_id).collect::<Vec<_>>(), vec![2]);
        assert_eq!(p.leave, vec![(4, 9)]);
        // Applying the plan and asking again changes nothing: no flapping.
        let held = [(1, 9, true), (2, 9, true), (5, 9, false)];
        assert_eq!(plan(&held, &want, &HashSet::from([(3, 9)])), Plan::default());
    }

    #[test]
    fn a_restart_in_the_middle_of_a_slot_converges_on_the_same_state() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 1, 1, 8 * H, 9 * H, 10), slot(2, 1, 1, 9 * H, 10 * H, 11)];
        // Whatever happened before the restart, what should be true at 09:30 is class 11.
        for held in [
            vec![],
            vec![(100, 1001, true), (101, 1001, true)],
            vec![(200, 1001, true)],
        ] {
            let now = at(&c, monday(), 9 * H + 30 * 60);
            let want = desired_presences(&running_at(&slots, &[], &c, now), &members, &plates);
            let p = plan(&held, &want, &HashSet::new());
            let mut after: HashSet<(Id, Id)> = held.iter().map(|(s, d, _)| (*s, *d)).collect();
            for (s, d) in &p.leave {
                after.remove(&(*s, *d));
            }
            after.extend(p.arrive.iter().map(|d| (d.student_id, d.doorplate_id)));
            assert_eq!(after, HashSet::from([(200, 1001)]), "from {held:?}");
        }
    }

    #[test]
    fn a_clock_jump_lands_on_what_is_true_at_the_new_time() {
        let c = cal("UTC");
        let (members, plates) = school();
        let slots = [slot(1, 1, 1, 8 * H, 9 * H, 10)];
        let before = at(&c, monday(), 8 * H + 10);
        let want = desired_presences(&running_at(&slots, &[], &c, before), &members, &plates);
        let held: Vec<(Id, Id, bool)> = want.iter().map(|d| (d.student_id, d.doorplate_id, true)).collect();
        // The clock jumps past the end: everyone the slot placed leaves, once.
        let jumped = at(&c, monday(), 11 * H);
        let want = desired_presences(&running_at(&slots, &[], &c, jumped), &members, &plates);
        let p = plan(&held, &want, &HashSet::new());
        assert_eq!(p.leave.len(), 2);
        assert!(p.arrive.is_empty());
        // And back: they return.
        let p = plan(
            &[],
            &desired_presences(&running_at(&slots, &[], &c, before), &members, &plates),
            &HashSet::new(),
        );
        assert_eq!(p.arrive.len(), 2);
    }
}
