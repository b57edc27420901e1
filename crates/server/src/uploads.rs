//! Per-user upload limits and the sweep of uploads that no message took.
//!
//! One user may start so many uploads a minute (429 `upload_rate`) and keep so many
//! bytes in uploads that no message or notice carries yet (413 `upload_quota`). The
//! quota counts what the store holds plus what is being received right now, so parallel
//! uploads cannot each slip under it; the store re-checks it in the same write that
//! stores the row. Uploads nothing took within [`UNATTACHED_TTL`] are removed.

use crate::error::{ApiError, ApiResult};
use doorplate_domain::uploads::{UploadPolicy, UploadRate};
use doorplate_domain::{Id, Micros};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long an upload may wait for a message to carry it.
pub const UNATTACHED_TTL: Micros = 3_600_000_000;

/// The limits and what each user is doing now.
pub struct Uploads {
    /// A std `Mutex`: read once per upload, replaced by a configuration reload.
    policy: Mutex<UploadPolicy>,
    /// Upload starts per user. A std `Mutex`: each use is a short map update.
    rate: Mutex<UploadRate<Id>>,
    /// Bytes being received per user, not yet in the store. A std `Mutex` as above.
    in_flight: Mutex<HashMap<Id, u64>>,
}

impl Uploads {
    pub fn new(policy: UploadPolicy) -> Uploads {
        Uploads {
            policy: Mutex::new(policy),
            rate: Mutex::new(UploadRate::new(policy.per_minute)),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The limits in force now.
    pub fn policy(&self) -> UploadPolicy {
        *self.policy.lock().expect("upload policy poisoned")
    }

    /// Replaces the limits (a configuration reload): uploads that start afterwards
    /// meet the new ones.
    pub fn set_policy(&self, policy: UploadPolicy) {
        *self.policy.lock().expect("upload policy poisoned") = policy;
        self.rate
            .lock()
            .expect("upload rate poisoned")
            .set_per_minute(policy.per_minute);
    }

    /// Counts an upload that starts now, or refuses it (429) while the user is over the
    /// rate.
    pub fn start(&self, user: Id, now: Micros) -> ApiResult<()> {
        self.rate
            .lock()
            .expect("upload rate poisoned")
            .start(&user, now)
            .map_err(|secs| {
                ApiError::RateLimited(
                    "upload_rate",
                    format!(
                        "at most {} uploads a minute; try again in {secs} s",
                        self.policy().per_minute
                    ),
                    secs,
                )
            })
    }

    /// Starts counting the bytes of one upload of `user` as in flight.
    pub fn reserve(&self, user: Id) -> Reservation<'_> {
        Reservation {
            uploads: self,
            user,
            bytes: 0,
        }
    }

    /// Forgets rate entries older than the window.
    pub fn prune(&self, now: Micros) {
        self.rate.lock().expect("upload rate poisoned").prune(now);
    }
}

/// The bytes of one upload in flight; released when dropped (after the row is stored,
/// so for a moment they count twice rather than not at all).
pub struct Reservation<'a> {
    uploads: &'a Uploads,
    user: Id,
    bytes: u64,
}

impl Reservation<'_> {
    /// Adds `n` bytes, or refuses (413) if the user's stored unattached bytes (`stored`)
    /// plus everything they are uploading now would pass `limit`.
    pub fn grow(&mut self, n: u64, stored: u64, limit: u64) -> ApiResult<()> {
        let mut in_flight = self.uploads.in_flight.lock().expect("uploads poisoned");
        let total = in_flight.entry(self.user).or_insert(0);
        *total += n;
        self.bytes += n;
        if stored.saturating_add(*total) > limit {
            return Err(quota_exceeded(limit));
        }
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut in_flight = self.uploads.in_flight.lock().expect("uploads poisoned");
        if let Some(total) = in_flight.get_mut(&self.user) {
            *total = total.saturating_sub(self.bytes);
            if *total == 0 {
                in_flight.remove(&self.user);
            }
        }
    }
}

/// 413 `upload_quota`: the user keeps too much that no message carries.
pub fn quota_exceeded(limit: u64) -> ApiError {
    ApiError::Quota(
        "upload_quota",
        format!(
            "your uploads that no message carries yet would pass {} MiB; send them first \
             (unsent uploads are removed after an hour)",
            limit >> 20
        ),
    )
}
