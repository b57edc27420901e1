//! What every phase of a run shares: the flags, the server's address, the admin's
//! token, the school this run set up, the counters, and what the event sockets saw.

use crate::client::Http;
use crate::events::{Moves, Waiting};
use crate::options::Args;
use crate::setup::School;
use crate::stats::Stats;
use std::sync::Arc;

/// One run of the simulator, once its school is set up.
pub struct Run {
    pub args: Args,
    /// The (first) server's base URL.
    pub base: String,
    /// A client of each server (`--url` list); client `i` of the school talks to
    /// `servers[i % len]`.
    pub servers: Vec<Http>,
    /// The servers' process ids, when known (their CPU is read from /proc).
    pub server_pids: Vec<u32>,
    pub http: Http,
    /// The admin's login token.
    pub admin: String,
    /// The prefix of every name this run made (`L<run>…`).
    pub run_id: String,
    pub school: Arc<School>,
    pub stats: Arc<Stats>,
    /// Messages waiting for their hint, status or reply event.
    pub waiting: Arc<Waiting>,
    /// Presence and signage events the doorplate sockets saw.
    pub moves: Arc<Moves>,
}

impl Run {
    /// The server the school's `i`-th doorplate or guardian talks to.
    pub fn server_for(&self, i: usize) -> &Http {
        server_for(&self.servers, i)
    }
}

/// The server client `i` talks to: the list in turn.
pub fn server_for(servers: &[Http], i: usize) -> &Http {
    &servers[i % servers.len()]
}
