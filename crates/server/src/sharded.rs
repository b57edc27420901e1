//! A map split into shards, each behind its own lock, so that work on different keys
//! rarely waits on the same lock and no single lock sits on the hot path.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

const SHARDS: usize = 64;

/// `RwLock` because reads (routing a hint, listing a doorplate) far outnumber writes;
/// std's lock because no guard is ever held across an await.
pub struct Sharded<K, V> {
    shards: Vec<RwLock<HashMap<K, V>>>,
}

pub trait ShardKey {
    fn shard(&self) -> usize;
}

impl ShardKey for i64 {
    fn shard(&self) -> usize {
        // Ids are dense integers: the low bits spread them evenly.
        *self as u64 as usize
    }
}

impl<K: Hash + Eq + ShardKey, V> Default for Sharded<K, V> {
    fn default() -> Self {
        Sharded {
            shards: (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect(),
        }
    }
}

impl<K: Hash + Eq + ShardKey, V> Sharded<K, V> {
    pub fn read<R>(&self, k: &K, f: impl FnOnce(Option<&V>) -> R) -> R {
        let shard = self.shards[k.shard() % SHARDS].read().expect("shard poisoned");
        f(shard.get(k))
    }

    pub fn write<R>(&self, k: K, f: impl FnOnce(&mut HashMap<K, V>, K) -> R) -> R {
        let mut shard = self.shards[k.shard() % SHARDS].write().expect("shard poisoned");
        f(&mut shard, k)
    }

    /// Empties every shard.
    pub fn clear(&self) {
        for s in &self.shards {
            s.write().expect("shard poisoned").clear();
        }
    }

    /// Visits every entry, one shard at a time (for sweeps, never for routing).
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for s in &self.shards {
            for (k, v) in s.read().expect("shard poisoned").iter() {
                f(k, v);
            }
        }
    }
}
