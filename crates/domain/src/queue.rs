//! R5's order on a doorplate: students with new messages first, in the order their
//! messages arrived; then everyone else in the order they came (then by name, so the
//! list does not shuffle between refreshes).

use crate::Micros;
use std::cmp::Ordering;

/// A present student as the queue sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting<'a> {
    /// When their oldest unread message arrived, if they have one.
    pub first_unread: Option<Micros>,
    /// When their presence here began.
    pub since: Micros,
    pub name: &'a str,
}

/// The order R5 serves students in.
pub fn queue_order(a: &Waiting<'_>, b: &Waiting<'_>) -> Ordering {
    match (a.first_unread, b.first_unread) {
        (Some(x), Some(y)) => x.cmp(&y).then(a.since.cmp(&b.since)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.since.cmp(&b.since).then(a.name.cmp(b.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(first_unread: Option<Micros>, since: Micros, name: &str) -> Waiting<'_> {
        Waiting {
            first_unread,
            since,
            name,
        }
    }

    #[test]
    fn mail_first_oldest_mail_first_then_arrival_then_name() {
        let mut list = [
            w(None, 5, "Eve"),
            w(Some(30), 1, "Cai"),
            w(None, 5, "Dan"),
            w(Some(10), 9, "Bo"),
            w(None, 2, "Al"),
        ];
        list.sort_by(queue_order);
        let names: Vec<&str> = list.iter().map(|x| x.name).collect();
        assert_eq!(names, ["Bo", "Cai", "Al", "Dan", "Eve"]);
    }
}
