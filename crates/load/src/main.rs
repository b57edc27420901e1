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
//! see, resuming a closed one), `ledger` (hints owed), `cpu` (CPU time, pinning), `client`, `stats`, `progress` and `report`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod client;
mod context;
mod cpu;
mod events;
mod fanout;
mod idle;
mod ledger;
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

fn main() -> Result<()> {
    let args = options::Args::parse();
    // Pinned before the runtime starts, so every worker thread inherits the set.
    if let Some(cpus) = &args.client_cpus {
        cpu::pin_current(&cpu::parse_cpus(cpus)?)?;
    }
    let fds = client::raise_fd_limit();
    let mut server = server::Server::start(&args)?;
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(scenario::play(&args, &server, fds));
    server.stop();
    result
}
