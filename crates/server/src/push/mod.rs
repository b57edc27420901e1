//! Web Push: notifications on people's phones when the family app is not open.
//!
//! `ece` seals a payload to a browser's keys (RFC 8291), `vapid` signs the server's
//! identity (RFC 8292); the queue and its sender are in `sender`, what a notification
//! says in `notes`. The rules without IO (the allow-list, what an answer means, the
//! backoff, lateness) are `doorplate_domain::push`.

pub mod ece;
pub mod vapid;
