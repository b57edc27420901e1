//! The hint ledger: every message sent waits under its student until a
//! `notify.new_message` for that student takes it; at the end, every acknowledged
//! message still waiting is listed as missing. Pure bookkeeping, no IO.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// One message waiting for its hint.
struct Entry {
    msg: u64,
    sent: Instant,
    acked: bool,
}

/// Messages waiting for their hint, per student, oldest first.
#[derive(Default)]
pub struct Ledger {
    by_student: HashMap<String, VecDeque<Entry>>,
}

impl Ledger {
    /// Message `msg` to `student` was sent at `at` (before its answer: a hint may
    /// come first).
    pub fn sent(&mut self, student: &str, msg: u64, at: Instant) {
        self.by_student
            .entry(student.to_string())
            .or_default()
            .push_back(Entry {
                msg,
                sent: at,
                acked: false,
            });
    }

    /// Message `msg` was acknowledged (it is durable, so a hint is owed).
    pub fn acked(&mut self, student: &str, msg: u64) {
        if let Some(e) = self.find(student, msg) {
            e.acked = true;
        }
    }

    /// No hint is owed for message `msg`: its send failed, or the server stored it
    /// `sent` (the student was in no room). If a hint already took it (a send that
    /// timed out after the server stored it), it stays counted as hinted.
    pub fn owes_nothing(&mut self, student: &str, msg: u64) {
        if let Some(q) = self.by_student.get_mut(student) {
            q.retain(|e| e.msg != msg);
        }
    }

    /// A hint for `student` came: it takes the oldest message waiting (a hint carries
    /// no message id); returns when that message was sent.
    pub fn hinted(&mut self, student: &str) -> Option<Instant> {
        self.by_student.get_mut(student)?.pop_front().map(|e| e.sent)
    }

    /// The acknowledged messages no hint took, in order. The count is exact; which
    /// messages of one student are listed is not (hints take the oldest first).
    pub fn missing(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .by_student
            .values()
            .flatten()
            .filter(|e| e.acked)
            .map(|e| e.msg)
            .collect();
        v.sort_unstable();
        v
    }

    fn find(&mut self, student: &str, msg: u64) -> Option<&mut Entry> {
        self.by_student.get_mut(student)?.iter_mut().find(|e| e.msg == msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_acknowledged_message_is_hinted_or_missing() {
        let t = Instant::now();
        let mut l = Ledger::default();
        for (i, s) in ["a", "a", "b", "c"].iter().enumerate() {
            l.sent(s, i as u64, t);
            l.acked(s, i as u64);
        }
        assert_eq!(l.hinted("a"), Some(t));
        assert_eq!(l.hinted("b"), Some(t));
        // One hint for "a" never came, nor the one for "c".
        assert_eq!(l.missing(), vec![1, 3]);
    }

    #[test]
    fn a_hint_before_the_answer_counts_and_a_failed_send_owes_nothing() {
        let t = Instant::now();
        let mut l = Ledger::default();
        l.sent("a", 0, t);
        assert_eq!(l.hinted("a"), Some(t)); // the hint beat the answer
        l.acked("a", 0);
        l.sent("a", 1, t);
        l.owes_nothing("a", 1);
        l.sent("a", 2, t); // still in flight at the end: not acknowledged, not missing
        assert!(l.missing().is_empty());
        assert_eq!(l.hinted("b"), None);
    }
}
