//! Where each school of the district is hosted, as this server last learned it.
//!
//! On a data folder (one server) every school is hosted here and this map stays empty.
//! On PostgreSQL with several servers, the lease keeper (which renews this server's
//! leases and takes over expired ones) writes here after each pass what it read of the
//! other servers' leases; [`crate::district::District::dispatch`] reads it to forward a
//! request for a school hosted elsewhere. Reads are a map lookup under a read lock.

use std::collections::HashMap;
use std::sync::RwLock;

/// Another server of the district, as requests are forwarded to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its `--name`, unique in the district (what `Doorplate-Served-By` says).
    pub name: String,
    /// The base URL it advertises to the other servers (`--advertise`), e.g.
    /// `http://10.0.0.2:8080`, without a trailing `/`.
    pub url: String,
}

/// Where a school is served from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Hosted by another server of the district.
    Peer(Peer),
    /// A school of the district that no live server hosts at the moment (its host died
    /// or is handing it over): requests wait briefly, then get 503 with `Retry-After`.
    Moving,
}

/// The district's schools hosted by other servers, or between hosts.
#[derive(Default)]
pub struct Placement {
    places: RwLock<HashMap<String, Place>>,
}

impl Placement {
    pub fn new() -> Placement {
        Placement::default()
    }

    /// Where `slug` is, if it is a school of the district that this server does not host.
    pub fn place_of(&self, slug: &str) -> Option<Place> {
        self.places.read().expect("placement poisoned").get(slug).cloned()
    }

    /// Replaces the whole map with what the lease keeper just read.
    pub fn replace(&self, places: HashMap<String, Place>) {
        *self.places.write().expect("placement poisoned") = places;
    }

    /// Records one school's place (or forgets it: `None`).
    pub fn set(&self, slug: &str, place: Option<Place>) {
        let mut map = self.places.write().expect("placement poisoned");
        match place {
            Some(p) => map.insert(slug.to_string(), p),
            None => map.remove(slug),
        };
    }
}
