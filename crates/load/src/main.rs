//! `doorplate-load`: a whole school driving a Doorplate server over real HTTP and
//! WebSocket — doorplates and guardians connected, guardians writing to present
//! students, students replying through doorplate sessions, a timetable rollover that
//! moves every student at once, a notice to every socket, and idle sockets to weigh
//! the server's memory per connection. It prints a summary and writes a JSON result
//! and an SVG chart of latency over time.
//!
//! The parts: `options` (the flags), `server` (the server under test), `scenario`
//! (the phases in order, sharing a `context::Run`), one module per phase (`setup`,
//! `schedule`, `messaging`, `fanout`, `idle`, `tidy`), `events` (what the sockets
//! see), `client`, `stats`, `progress` and `report`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod context;
mod events;
mod fanout;
mod idle;
mod messaging;
mod options;
mod progress;
mod report;
mod scenario;
mod schedule;
mod server;
mod setup;
mod stats;
mod tidy;

use anyhow::Result;
use clap::Parser;

#[tokio::main]
async fn main() -> Result<()> {
    let args = options::Args::parse();
    let fds = client::raise_fd_limit();
    let mut server = server::Server::start(&args)?;
    let result = scenario::play(&args, &server, fds).await;
    server.stop();
    result
}
