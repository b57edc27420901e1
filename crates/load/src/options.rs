//! The simulator's flags: which server to drive, the size of the school, the load, and
//! where the results go.

use clap::Parser;
use std::path::PathBuf;

/// Drive a Doorplate server as a whole school and measure it.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Args {
    /// Start this server binary on a fresh data folder (and weigh its memory).
    #[arg(long, conflicts_with = "url")]
    pub spawn: Option<PathBuf>,
    /// Or drive the servers already running at these URLs (comma-separated, or the
    /// flag repeated), e.g. three servers of a district: the school is set up through
    /// the first, and each doorplate and guardian talks to one server, in turn down the
    /// list, so requests and sockets for one school arrive at every server. A URL may
    /// name the school (`http://10.0.0.2:8080/s/north`).
    #[arg(long, value_delimiter = ',')]
    pub url: Vec<String>,
    /// …and these process ids (comma-separated): the messaging CPU is the sum of them
    /// all (the servers of a district); the memory figures weigh the first.
    #[arg(long, value_delimiter = ',')]
    pub pid: Vec<u32>,
    /// An admin account of that server.
    #[arg(long, default_value = "admin")]
    pub admin: String,
    #[arg(long, env = "DOORPLATE_LOAD_ADMIN_PASSWORD", default_value = "load-admin-pass")]
    pub admin_password: String,
    /// Doorplates (one room and one class each).
    #[arg(long, default_value_t = 50)]
    pub doorplates: usize,
    /// Students, spread evenly over the classes.
    #[arg(long, default_value_t = 2000)]
    pub students: usize,
    /// Guardians, each linked to every G-th student, each with a live socket.
    #[arg(long, default_value_t = 100)]
    pub guardians: usize,
    /// Messages per second from guardians to present students.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Seconds of messaging.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Students' replies per second, each through a doorplate session (card proof).
    #[arg(long, default_value_t = 2)]
    pub reply_rate: u64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Extra doorplate sockets that receive the notice fan-out.
    #[arg(long, default_value_t = 0)]
    pub fanout_sockets: usize,
    /// Idle sockets to open at the end to weigh the server's memory per connection.
    #[arg(long, default_value_t = 0)]
    pub idle_sockets: usize,
    /// Pin the server this run spawns to these CPUs (`0`, `0,1`, `0-1`).
    #[arg(long, requires = "spawn")]
    pub server_cpus: Option<String>,
    /// Pin the simulator itself to these CPUs.
    #[arg(long)]
    pub client_cpus: Option<String>,
    /// Skip the timetable rollover.
    #[arg(long)]
    pub no_rollover: bool,
    /// Seconds the first slot's placement may take before the messaging starts; the
    /// rollover's boundary comes this much (plus the messaging and 2 s) after the
    /// placement's. Raise it when the placement of a large school takes longer (the run
    /// then says `rollover_overrun`).
    #[arg(long, default_value_t = 3)]
    pub placement_window: u64,
    #[arg(long, default_value = "load-result.json")]
    pub out: PathBuf,
    #[arg(long, default_value = "load-latency.svg")]
    pub chart: PathBuf,
}
