//! The live presence table (R1): who is present where, in memory.
//!
//! The store is the record; this in-memory index answers "where is student X" and "who
//! is at doorplate D" without touching the disk, so routing a hint is an index lookup,
//! never a scan. What arrivals and departures do is `arrivals`.

use crate::sharded::Sharded;
use doorplate_domain::{Id, Micros};
use doorplate_store::PresenceRow;

/// The index, both ways.
#[derive(Default)]
pub struct PresenceTable {
    by_student: Sharded<Id, Vec<PresenceRow>>,
    by_doorplate: Sharded<Id, Vec<PresenceRow>>,
}

impl PresenceTable {
    pub fn load(rows: &[PresenceRow]) -> PresenceTable {
        let t = PresenceTable::default();
        for r in rows {
            t.insert(*r);
        }
        t
    }

    pub fn of_student(&self, student: Id) -> Vec<PresenceRow> {
        self.by_student.read(&student, |v| v.cloned().unwrap_or_default())
    }

    pub fn at_doorplate(&self, doorplate: Id) -> Vec<PresenceRow> {
        self.by_doorplate.read(&doorplate, |v| v.cloned().unwrap_or_default())
    }

    pub fn is_present(&self, student: Id, doorplate: Id) -> bool {
        self.by_student.read(&student, |v| {
            v.is_some_and(|v| v.iter().any(|p| p.doorplate_id == doorplate))
        })
    }

    pub(super) fn insert(&self, row: PresenceRow) {
        self.remove(row.student_id, row.doorplate_id);
        self.by_student
            .write(row.student_id, |m, k| m.entry(k).or_default().push(row));
        self.by_doorplate
            .write(row.doorplate_id, |m, k| m.entry(k).or_default().push(row));
    }

    pub(super) fn remove(&self, student: Id, doorplate: Id) -> Option<PresenceRow> {
        let removed = self.by_student.write(student, |m, k| {
            let v = m.get_mut(&k)?;
            let i = v.iter().position(|p| p.doorplate_id == doorplate)?;
            let r = v.remove(i);
            if v.is_empty() {
                m.remove(&k);
            }
            Some(r)
        });
        self.by_doorplate.write(doorplate, |m, k| {
            if let Some(v) = m.get_mut(&k) {
                v.retain(|p| p.student_id != student);
                if v.is_empty() {
                    m.remove(&k);
                }
            }
        });
        removed
    }

    /// Presences whose `until` has passed.
    pub fn expired(&self, now: Micros) -> Vec<PresenceRow> {
        let mut out = Vec::new();
        self.by_student.for_each(|_, v| {
            out.extend(
                v.iter()
                    .filter(|p| doorplate_domain::presence::expired(p.until, now))
                    .copied(),
            )
        });
        out
    }

    /// Every presence (for end of day).
    pub fn all(&self) -> Vec<PresenceRow> {
        let mut out = Vec::new();
        self.by_student.for_each(|_, v| out.extend(v.iter().copied()));
        out
    }
}
