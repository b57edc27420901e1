//! The rules of Doorplate (PRODUCT.md R1–R9) as plain code with no IO.
//!
//! Everything here is pure: time comes in as arguments (UTC microseconds), storage and
//! sockets live in other crates. The server wraps these rules; the tests here check them
//! apart from any IO, with a fake clock where time matters.

pub mod account;
pub mod calls;
pub mod hhmm;
pub mod media;
pub mod message;
pub mod permissions;
pub mod presence;
pub mod push;
pub mod queue;
pub mod quiet;
pub mod role;
pub mod routing;
pub mod session;
pub mod settings;
pub mod signal;
pub mod throttle;
pub mod timetable;
pub mod uploads;

/// An instant as microseconds since the Unix epoch, UTC. Stored as `i64` everywhere so
/// that the database, the wire and the rules agree without a time library in between.
pub type Micros = i64;

/// Identifier of any stored row (user, doorplate, room, message …). Opaque to clients,
/// which see it as a string.
pub type Id = i64;

pub use message::{MessageKind, MessageStatus};
pub use permissions::{Denied, Party, may_converse};
pub use presence::{Arrival, PresenceSource, plan_arrival};
pub use role::Role;
pub use settings::Settings;
