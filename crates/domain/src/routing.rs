//! R3's decision: where a new message is hinted and the status it is stored with.
//!
//! Pure: the caller gathers where the recipient is (under the student's lock), whether
//! each room sits an exam, and whether a staff or guardian recipient has a live client;
//! this says which doorplates get "student X has N new messages", which rooms the
//! sender may be told about, and whether the message is `notified` or only `sent`.

use crate::{Id, MessageStatus};

/// One doorplate where a student is present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub doorplate: Id,
    /// The room's name ("" if unknown).
    pub room: String,
    /// The room sits an exam now: the doorplate holds hints until it ends (R7).
    pub in_exam: bool,
}

/// Who a message goes to, as routing sees them.
#[derive(Clone, Debug)]
pub enum Recipient {
    /// A student, present at these doorplates (none: the message waits for the next).
    Student { at: Vec<Placement> },
    /// Staff or a guardian, with or without a live client now. `held`: the message waits
    /// silently (a teacher's quiet hours, see [`crate::quiet::holds`]).
    Person { online: bool, held: bool },
}

/// What routing decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The status the message is stored with.
    pub status: MessageStatus,
    /// The doorplates to hint, with their room's name.
    pub hint: Vec<(Id, String)>,
    /// The rooms where it is shown, each once, for the sender's status (if the school
    /// shows rooms to guardians).
    pub rooms: Vec<String>,
}

/// R3: a message to a student is hinted at every doorplate where they are present,
/// except in a room that sits an exam; it is `notified` as soon as one doorplate shows
/// it. A message to anyone else is `notified` when one of their clients is live, unless
/// their quiet hours hold it: then it stays `sent` (listed, but nobody was alerted).
pub fn route(recipient: Recipient) -> Route {
    match recipient {
        Recipient::Student { at } => {
            let hint: Vec<(Id, String)> = at
                .into_iter()
                .filter(|p| !p.in_exam)
                .map(|p| (p.doorplate, p.room))
                .collect();
            let mut rooms: Vec<String> = Vec::new();
            for (_, room) in &hint {
                if !room.is_empty() && !rooms.contains(room) {
                    rooms.push(room.clone());
                }
            }
            let status = if hint.is_empty() {
                MessageStatus::Sent
            } else {
                MessageStatus::Notified
            };
            Route { status, hint, rooms }
        }
        Recipient::Person { online, held } => Route {
            status: if online && !held {
                MessageStatus::Notified
            } else {
                MessageStatus::Sent
            },
            hint: Vec::new(),
            rooms: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(doorplate: Id, room: &str, in_exam: bool) -> Placement {
        Placement {
            doorplate,
            room: room.into(),
            in_exam,
        }
    }

    #[test]
    fn a_present_student_is_hinted_everywhere_they_are() {
        let r = route(Recipient::Student {
            at: vec![at(1, "Room 301", false), at(2, "Lab", false)],
        });
        assert_eq!(r.status, MessageStatus::Notified);
        assert_eq!(r.hint, vec![(1, "Room 301".into()), (2, "Lab".into())]);
        assert_eq!(r.rooms, vec!["Room 301".to_string(), "Lab".to_string()]);
    }

    #[test]
    fn a_student_present_nowhere_gets_a_waiting_message() {
        let r = route(Recipient::Student { at: vec![] });
        assert_eq!((r.status, r.hint.len()), (MessageStatus::Sent, 0));
    }

    #[test]
    fn an_exam_holds_the_hint_and_the_status() {
        let r = route(Recipient::Student {
            at: vec![at(1, "Room 405", true)],
        });
        assert_eq!((r.status, r.hint.len(), r.rooms.len()), (MessageStatus::Sent, 0, 0));
        let r = route(Recipient::Student {
            at: vec![at(1, "Room 405", true), at(3, "Dorm 2", false)],
        });
        assert_eq!(r.status, MessageStatus::Notified);
        assert_eq!(r.hint, vec![(3, "Dorm 2".into())]);
    }

    #[test]
    fn two_doorplates_of_one_room_name_the_room_once() {
        let r = route(Recipient::Student {
            at: vec![at(1, "Room 405", false), at(2, "Room 405", false), at(4, "", false)],
        });
        assert_eq!(r.hint.len(), 3);
        assert_eq!(r.rooms, vec!["Room 405".to_string()]);
    }

    #[test]
    fn staff_and_guardians_are_notified_when_online() {
        assert_eq!(
            route(Recipient::Person {
                online: true,
                held: false
            })
            .status,
            MessageStatus::Notified
        );
        assert_eq!(
            route(Recipient::Person {
                online: false,
                held: false
            })
            .status,
            MessageStatus::Sent
        );
        // Quiet hours: listed, not notified, even with the app open.
        assert_eq!(
            route(Recipient::Person {
                online: true,
                held: true
            })
            .status,
            MessageStatus::Sent
        );
    }
}
