//! One student's order (R6) without holding a lock while the disk syncs.
//!
//! Everything about one student — a message routed to them, a presence change — is
//! decided under the student's lock (`Core::student_lock`), one after another, and its
//! write is queued in the store's single writer in that order, so it commits in that
//! order. What was decided must also be *published* in that order: a hint about a message
//! routed while the student was at a doorplate must reach that doorplate before the
//! presence change that ends their stay there (R6: no hint about a student reaches a
//! doorplate after they left it).
//!
//! A message takes a [`Turn`] under the lock, queues its write and lets the lock go; once
//! its write has committed it waits for its turn, publishes, and ends the turn. Anything
//! else that holds the lock (a presence change) waits, once it has the lock, until every
//! turn taken before it has ended, and holds its own until it is done. So messages to one
//! student share commits with everything else (the lock is held for microseconds, not for
//! a disk sync), and each student's events still reach every screen in decision order.
//!
//! Turns are counted per line; students share the lines as they share the lock shards.

use std::collections::BTreeSet;
use std::sync::Mutex;
use tokio::sync::watch;

/// One line of turns.
pub struct Line {
    state: Mutex<State>,
    /// The turn being served: every turn before it has ended.
    serving: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// The next turn to hand out.
    next: u64,
    /// Turns ended before theirs came (their holder gave up: a failed write, a dropped
    /// request); skipped when the line reaches them.
    ended_early: BTreeSet<u64>,
}

impl Default for Line {
    fn default() -> Self {
        Line {
            state: Mutex::new(State::default()),
            serving: watch::Sender::new(0),
        }
    }
}

impl Line {
    /// The next turn; taken under the student's lock, so turns follow decisions.
    pub fn take(&self) -> Turn<'_> {
        let mut state = self.state.lock().expect("turns poisoned");
        let n = state.next;
        state.next += 1;
        Turn { line: self, n }
    }

    fn end(&self, n: u64) {
        let mut state = self.state.lock().expect("turns poisoned");
        let serving = *self.serving.borrow();
        if n != serving {
            state.ended_early.insert(n);
            return;
        }
        let mut next = n + 1;
        while state.ended_early.remove(&next) {
            next += 1;
        }
        self.serving.send_replace(next);
    }
}

/// A place in one line; ends when dropped (whether or not it was waited for).
pub struct Turn<'a> {
    line: &'a Line,
    n: u64,
}

impl Turn<'_> {
    /// Waits until every turn taken before this one has ended.
    pub async fn wait(&self) {
        let mut rx = self.line.serving.subscribe();
        // The sender lives in the line, which outlives every turn: this cannot fail.
        let _ = rx.wait_for(|serving| *serving >= self.n).await;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.line.end(self.n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    async fn ready(turn: &Turn<'_>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), turn.wait())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_turn_waits_for_every_turn_taken_before_it() {
        let line = Line::default();
        let first = line.take();
        let second = line.take();
        let third = line.take();
        assert!(ready(&first).await);
        assert!(!ready(&second).await && !ready(&third).await);
        drop(first);
        assert!(ready(&second).await);
        assert!(!ready(&third).await);
        drop(second);
        assert!(ready(&third).await);
    }

    #[tokio::test]
    async fn a_turn_ended_early_is_skipped_when_the_line_reaches_it() {
        let line = Line::default();
        let first = line.take();
        let second = line.take();
        let third = line.take();
        drop(second); // gave up before its turn came
        assert!(!ready(&third).await);
        drop(first);
        assert!(ready(&third).await, "the line went past the abandoned turn");
        drop(third);
        assert!(ready(&line.take()).await);
    }

    #[tokio::test]
    async fn turns_end_in_the_order_they_were_taken_whatever_order_they_finish_in() {
        let line = Arc::new(Line::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            // Taken in order (as under the student's lock), finished in any order.
            let line2 = line.clone();
            let order = order.clone();
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tasks.push(tokio::spawn(async move {
                let turn = line2.take();
                tx.send(()).unwrap();
                tokio::time::sleep(Duration::from_micros((50 - i) * 100)).await;
                turn.wait().await;
                order.lock().unwrap().push(i);
            }));
            rx.await.unwrap();
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), (0..50).collect::<Vec<_>>());
    }
}
