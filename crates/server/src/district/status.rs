//! What `doorplate district status` prints and `GET /api/v1/district` answers: the
//! servers of the district, which schools each hosts, and each school's lease (epoch,
//! how long it has been held, when it runs out), read from the lease tables.

use doorplate_store::postgres::leases::DistrictView;
use serde::Serialize;
use utoipa::ToSchema;

/// The district as the lease tables say, at one moment of the database's clock.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DistrictStatus {
    /// The database's clock when this was read, in microseconds since 1970.
    pub now: i64,
    pub servers: Vec<ServerStatus>,
    pub schools: Vec<SchoolLease>,
}

/// One server of the district.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ServerStatus {
    pub name: String,
    /// The URL the other servers reach it at.
    pub url: String,
    /// `running`; `silent` (running, but not seen for longer than a lease: dead, paused
    /// or cut off); `stopped` (it handed its schools over and exited).
    pub state: String,
    /// Milliseconds since it last renewed its leases.
    pub last_seen_ms_ago: i64,
    /// The schools it holds a lease on now, by slug.
    pub schools: Vec<String>,
}

/// One school's lease.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SchoolLease {
    pub slug: String,
    /// The school's name, as people know it.
    pub name: String,
    /// The server that holds it; `null` while no server does (it is moving).
    pub host: Option<String>,
    /// Grows by one every time the school changes hands.
    pub epoch: i64,
    /// Milliseconds since the holder took it (or since it was freed).
    pub held_for_ms: i64,
    /// Milliseconds until the lease runs out unless renewed (negative: it has).
    pub expires_in_ms: i64,
}

impl DistrictStatus {
    /// From the lease tables; a server is `silent` when not seen within `lease` µs, and a
    /// school's host is shown only while its lease runs.
    pub fn from_view(view: &DistrictView, lease: i64) -> DistrictStatus {
        let holder =
            |l: &doorplate_store::postgres::leases::LeaseRow| view.live_holder(l, lease).map(|s| s.name.clone());
        let schools: Vec<SchoolLease> = view
            .leases
            .iter()
            .map(|l| SchoolLease {
                slug: l.slug.clone(),
                name: l.name.clone(),
                host: holder(l),
                epoch: l.epoch,
                held_for_ms: (view.now - l.taken_at) / 1000,
                expires_in_ms: (l.expires_at - view.now) / 1000,
            })
            .collect();
        let servers = view
            .servers
            .iter()
            .map(|s| ServerStatus {
                name: s.name.clone(),
                url: s.url.clone(),
                state: if s.state != "running" {
                    s.state.clone()
                } else if view.is_live(s, lease) {
                    "running".into()
                } else {
                    "silent".into()
                },
                last_seen_ms_ago: (view.now - s.last_seen) / 1000,
                schools: schools
                    .iter()
                    .filter(|l| l.host.as_deref() == Some(&s.name))
                    .map(|l| l.slug.clone())
                    .collect(),
            })
            .collect();
        DistrictStatus {
            now: view.now,
            servers,
            schools,
        }
    }

    /// As a table for a person.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let secs = |ms: i64| format!("{:.1} s", ms as f64 / 1000.0);
        let _ = writeln!(out, "Servers");
        if self.servers.is_empty() {
            let _ = writeln!(out, "  (none has started on this database yet)");
        }
        for s in &self.servers {
            let _ = writeln!(
                out,
                "  {:<20} {:<8} {:<28} last seen {} ago, hosts {}",
                s.name,
                s.state,
                s.url,
                secs(s.last_seen_ms_ago),
                if s.schools.is_empty() {
                    "no school".to_string()
                } else {
                    s.schools.join(", ")
                }
            );
        }
        let _ = writeln!(out, "Schools");
        for l in &self.schools {
            let host = l.host.as_deref().unwrap_or("(moving: no live host)");
            let _ = writeln!(
                out,
                "  {:<20} {:<20} epoch {:<5} held {:<10} lease {}",
                l.slug,
                host,
                l.epoch,
                secs(l.held_for_ms),
                if l.expires_in_ms >= 0 {
                    format!("runs {} more", secs(l.expires_in_ms))
                } else {
                    format!("ran out {} ago", secs(-l.expires_in_ms))
                }
            );
        }
        out
    }
}
