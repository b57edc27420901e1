//! Limits on what one user may upload, so that nobody fills the server's disk: a rate
//! (uploads started per minute) and a quota of bytes in uploads that no message carries
//! yet. Pure: the caller passes the time and the sums.

use crate::Micros;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The rate window.
const MINUTE: Micros = 60_000_000;

/// Per-user upload limits (server configuration, not a school setting: they protect the
/// server's disk, which the operator sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Uploads one user may start within any minute.
    pub per_minute: u32,
    /// Bytes one user may keep in uploads that no message carries yet.
    pub pending_bytes: u64,
}

impl Default for UploadPolicy {
    /// Twenty uploads a minute (a family sending a burst of photos) and 128 MiB waiting
    /// to be sent (two of the largest videos the default settings allow).
    fn default() -> Self {
        UploadPolicy {
            per_minute: 20,
            pending_bytes: 128 << 20,
        }
    }
}

impl UploadPolicy {
    /// The quota that applies to a file whose own limit is `file_limit`: never below one
    /// such file, so a school that raises its video limit does not make a single video
    /// impossible to send.
    pub fn pending_limit(&self, file_limit: u64) -> u64 {
        self.pending_bytes.max(file_limit)
    }
}

/// When each user started their uploads within the last minute.
#[derive(Debug)]
pub struct UploadRate<K> {
    per_minute: u32,
    starts: HashMap<K, VecDeque<Micros>>,
}

impl<K: Hash + Eq + Clone> UploadRate<K> {
    pub fn new(per_minute: u32) -> Self {
        UploadRate {
            per_minute,
            starts: HashMap::new(),
        }
    }

    /// Counts an upload that starts at `now`, or `Err(seconds)` until the oldest start
    /// in the window leaves it (the caller answers 429 with Retry-After).
    pub fn start(&mut self, key: &K, now: Micros) -> Result<(), u64> {
        let starts = self.starts.entry(key.clone()).or_default();
        while starts.front().is_some_and(|&t| now - t >= MINUTE) {
            starts.pop_front();
        }
        if starts.len() >= self.per_minute as usize {
            let oldest = starts.front().copied().unwrap_or(now);
            return Err(((oldest + MINUTE - now).max(1) as u64).div_ceil(1_000_000));
        }
        starts.push_back(now);
        Ok(())
    }

    /// Changes the rate (a configuration reload); the starts already counted stay.
    pub fn set_per_minute(&mut self, per_minute: u32) {
        self.per_minute = per_minute;
    }

    /// Forgets users with no upload in the last minute.
    pub fn prune(&mut self, now: Micros) {
        self.starts
            .retain(|_, starts| starts.back().is_some_and(|&t| now - t < MINUTE));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_per_user_and_per_sliding_minute() {
        let mut rate = UploadRate::new(3);
        for t in [0, 1_000_000, 2_000_000] {
            assert_eq!(rate.start(&1, t), Ok(()));
        }
        // The fourth within the minute waits until the first one leaves the window.
        assert_eq!(rate.start(&1, 10_000_000), Err(50));
        assert_eq!(rate.start(&2, 10_000_000), Ok(()), "another user is not affected");
        assert_eq!(rate.start(&1, 60_000_000), Ok(()));
        assert_eq!(rate.start(&1, 60_500_000), Err(1));
        rate.prune(200_000_000);
        assert!(rate.starts.is_empty());
    }

    #[test]
    fn the_quota_always_fits_one_file() {
        let p = UploadPolicy {
            per_minute: 1,
            pending_bytes: 10,
        };
        assert_eq!(p.pending_limit(4), 10);
        assert_eq!(p.pending_limit(50), 50);
    }
}
