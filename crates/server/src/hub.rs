//! The live hub: per-principal event streams with sequence numbers and replay.
//!
//! Each principal (a user, a doorplate's virtual account) has its own `seq`, a short
//! ring of recent frames for replay (`after`), and the bounded queues of its open
//! sockets. Publishing touches only that principal's state, so one doorplate's hint costs
//! the same whatever the size of the school. The hub never writes to a socket: it pushes
//! a frame into each socket task's bounded queue with `try_send`; a queue that is full
//! (a slow or dead client) is dropped, which closes that socket, and the client resumes
//! with `after`. Frames are serialised once and shared (`Arc<str>`).
//!
//! A stream's sequence numbers start at the time it is made, in microseconds, so after a
//! restart, or after [`Hub::prune`] dropped an unwatched stream, they are larger than any
//! a client saw before; a client whose `after` is older than the ring gets a `resync`
//! frame and reloads its state over REST (messages are durable; the frames are
//! notifications).
//!
//! This is the module a message bus (NATS) would sit behind for several servers.

use doorplate_domain::Id;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Who a stream belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    User(Id),
    Device(Id),
}

/// A serialised frame `{"seq":…,"type":…,"data":…}`.
pub type Frame = Arc<str>;

/// Frames kept per principal for replay.
const RING: usize = 256;
/// Frames a socket may have waiting before it counts as too slow and is closed.
pub const QUEUE: usize = 512;
const SHARDS: usize = 64;

#[derive(Default)]
struct Stream {
    seq: u64,
    /// (seq, frame, when it was published)
    ring: VecDeque<(u64, Frame, Instant)>,
    subscribers: Vec<(u64, mpsc::Sender<Frame>)>,
}

impl Stream {
    /// A stream starts at the time it is made, in microseconds: above every `seq` an
    /// earlier stream of the same principal gave out — in an earlier run of the server,
    /// or before it was pruned (only after minutes without events).
    fn starting_now() -> Stream {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        Stream {
            seq: now,
            ..Default::default()
        }
    }
}

/// What a new subscriber gets.
pub struct Subscription {
    pub id: u64,
    pub rx: mpsc::Receiver<Frame>,
    /// Frames missed since `after`, oldest first.
    pub replay: Vec<Frame>,
    /// Set when `after` is too old (or from the future): the client must reload state.
    pub resync: Option<Frame>,
}

pub struct Hub {
    next_sub: std::sync::atomic::AtomicU64,
    /// Sharded so publishers to different principals rarely meet. Each shard is a std
    /// `Mutex`: held only for in-memory work (no await, no IO), never while writing.
    shards: Vec<Mutex<HashMap<Principal, Stream>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            next_sub: 1.into(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }

    fn shard(&self, p: &Principal) -> &Mutex<HashMap<Principal, Stream>> {
        &self.shards[(self.hasher.hash_one(p) as usize) % SHARDS]
    }

    /// Sends an event to every open socket of `to` and keeps it for replay.
    pub fn publish(&self, to: Principal, kind: &str, data: &serde_json::Value) {
        self.publish_raw(to, kind, &data.to_string());
    }

    /// [`Hub::publish`] with the data already serialised (to send one value to several
    /// principals without serialising it again).
    pub fn publish_raw(&self, to: Principal, kind: &str, data: &str) {
        let mut shard = self.shard(&to).lock().expect("hub shard poisoned");
        let stream = shard.entry(to).or_insert_with(Stream::starting_now);
        stream.seq += 1;
        let seq = stream.seq;
        let frame: Frame = format!(r#"{{"seq":{seq},"type":"{kind}","data":{data}}}"#).into();
        if stream.ring.len() == RING {
            stream.ring.pop_front();
        }
        stream.ring.push_back((seq, frame.clone(), Instant::now()));
        // A full queue means the client cannot keep up: dropping its sender closes the
        // socket after the frames already queued, and the client resumes with `after`.
        stream.subscribers.retain(|(_, tx)| tx.try_send(frame.clone()).is_ok());
    }

    /// Opens a stream for `to`, replaying what came after `after`.
    pub fn subscribe(&self, to: Principal, after: Option<u64>) -> Subscription {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.next_sub.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut shard = self.shard(&to).lock().expect("hub shard poisoned");
        let stream = shard.entry(to).or_insert_with(Stream::starting_now);
        let mut replay = Vec::new();
        let mut resync = None;
        if let Some(after) = after {
            let oldest_kept = stream.ring.front().map_or(stream.seq + 1, |(s, _, _)| *s);
            if after > stream.seq || after + 1 < oldest_kept {
                resync = Some(format!(r#"{{"seq":{},"type":"resync","data":{{}}}}"#, stream.seq).into());
            } else {
                replay = stream
                    .ring
                    .iter()
                    .filter(|(s, _, _)| *s > after)
                    .map(|(_, f, _)| f.clone())
                    .collect();
            }
        }
        stream.subscribers.push((id, tx));
        Subscription { id, rx, replay, resync }
    }

    /// Forgets frames older than `keep` and the streams of principals with no socket and
    /// nothing left to replay, so a school's thousands of students (whose streams are
    /// mostly unwatched) cost nothing between their sessions. Run by the sweeper.
    pub fn prune(&self, keep: Duration) {
        let now = Instant::now();
        for shard in &self.shards {
            let mut shard = shard.lock().expect("hub shard poisoned");
            shard.retain(|_, s| {
                while s.ring.front().is_some_and(|(_, _, at)| now.duration_since(*at) > keep) {
                    s.ring.pop_front();
                }
                s.subscribers.retain(|(_, tx)| !tx.is_closed());
                !(s.ring.is_empty() && s.subscribers.is_empty())
            });
        }
    }

    /// Closes one socket's queue (its task ends).
    pub fn unsubscribe(&self, to: Principal, id: u64) {
        let mut shard = self.shard(&to).lock().expect("hub shard poisoned");
        if let Some(s) = shard.get_mut(&to) {
            s.subscribers.retain(|(sid, _)| *sid != id);
        }
    }

    /// Whether `to` has at least one open socket.
    pub fn is_online(&self, to: Principal) -> bool {
        let shard = self.shard(&to).lock().expect("hub shard poisoned");
        shard
            .get(&to)
            .is_some_and(|s| s.subscribers.iter().any(|(_, tx)| !tx.is_closed()))
    }

    /// Closes every socket of `to` (e.g. a revoked session's principal is not closed
    /// here; this is for accounts that were disabled or deleted).
    pub fn disconnect(&self, to: Principal) {
        let mut shard = self.shard(&to).lock().expect("hub shard poisoned");
        if let Some(s) = shard.get_mut(&to) {
            s.subscribers.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seq_of(f: &Frame) -> u64 {
        serde_json::from_str::<serde_json::Value>(f).unwrap()["seq"]
            .as_u64()
            .unwrap()
    }

    #[tokio::test]
    async fn frames_arrive_in_order_and_replay_after() {
        let hub = Hub::new();
        let p = Principal::User(7);
        let mut sub = hub.subscribe(p, None);
        hub.publish(p, "a", &json!({"n": 1}));
        hub.publish(p, "b", &json!({"n": 2}));
        let f1 = sub.rx.recv().await.unwrap();
        let f2 = sub.rx.recv().await.unwrap();
        let first = seq_of(&f1);
        assert_eq!(seq_of(&f2), first + 1);
        assert!(f2.contains(r#""type":"b""#));
        let again = hub.subscribe(p, Some(first));
        assert_eq!(again.replay.len(), 1);
        assert!(again.resync.is_none());
        assert_eq!(seq_of(&again.replay[0]), first + 1);
    }

    #[tokio::test]
    async fn an_old_or_foreign_after_asks_for_resync() {
        let hub = Hub::new();
        let p = Principal::Device(1);
        for i in 0..(RING + 10) {
            hub.publish(p, "x", &json!(i));
        }
        assert!(hub.subscribe(p, Some(1)).resync.is_some(), "older than the ring");
        // From an earlier server run: below this stream's start.
        assert!(Hub::new().subscribe(p, Some(5001)).resync.is_some());
        assert!(hub.subscribe(p, Some(u64::MAX / 2)).resync.is_some(), "from the future");
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_closed_not_waited_for() {
        let hub = Hub::new();
        let p = Principal::User(1);
        let mut slow = hub.subscribe(p, None);
        let mut other = hub.subscribe(Principal::User(2), None);
        for i in 0..(QUEUE + 5) {
            hub.publish(p, "x", &json!(i));
        }
        hub.publish(Principal::User(2), "y", &json!(1));
        assert!(other.rx.recv().await.is_some());
        let mut got = 0;
        while slow.rx.recv().await.is_some() {
            got += 1;
        }
        assert_eq!(got, QUEUE, "the slow socket gets what fit, then its queue closes");
        assert!(!hub.is_online(p));
    }

    #[tokio::test]
    async fn pruned_streams_are_forgotten_and_come_back_above_their_old_seq() {
        let hub = Hub::new();
        let p = Principal::User(9);
        let mut old = hub.subscribe(p, None);
        hub.publish(p, "x", &json!(1));
        let last = seq_of(&old.rx.recv().await.unwrap());
        hub.unsubscribe(p, old.id);
        hub.prune(Duration::ZERO);
        assert!(
            hub.shards.iter().all(|s| s.lock().unwrap().is_empty()),
            "nothing is kept for an unwatched principal"
        );
        // The client comes back with its old `after`; new frames are numbered above it.
        let mut again = hub.subscribe(p, Some(last));
        hub.publish(p, "y", &json!(2));
        assert!(seq_of(&again.rx.recv().await.unwrap()) > last);
    }
}
