//! The forwarding hop's credential: a header one server of the district puts on a request
//! it forwards to the school's host, saying which client it came from, for which school,
//! and when — with a MAC over those and the method and path, keyed by a key derived from
//! the district's key file (every server is given the same one).
//!
//! The host believes the client address in it (for throttles and per-address limits)
//! only when the MAC is right and the stamp fresh; any other copy of the header — a
//! client's own — is removed before the request goes further. A request whose hop has a
//! right MAC (fresh or not: clocks may drift) is never forwarded again, so a forwarding
//! loop cannot happen.
//!
//! Pure: the time is passed in.

use crate::crypto::Secrets;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use std::net::IpAddr;

/// The header that carries the hop: `v1;client=IP;ts=MICROS;school=SLUG;mac=HEX`.
pub const HOP_HEADER: HeaderName = HeaderName::from_static("doorplate-hop");

/// How far a hop's stamp may be from the receiver's clock (servers keep time with NTP;
/// a stamp is only ever seconds old).
pub const FRESH_MICROS: i64 = 30_000_000;

/// The key that signs and checks hops.
#[derive(Clone, Debug)]
pub struct HopKey(Secrets);

/// A hop whose MAC is right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Stamped within [`FRESH_MICROS`]: its client address is believed.
    Fresh(Forwarded),
    /// Stamped too long ago or ahead (the servers' clocks disagree, or a replay): still
    /// a forwarded request, but its client address is not believed.
    Stale(Forwarded),
}

/// What a hop tells the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// The client the forwarding server accepted the request from.
    pub client: IpAddr,
    /// The school the forwarding server meant (what the root paths name at the host).
    pub school: String,
}

impl HopKey {
    /// Derived from the district's key: a hop key is never a school's key.
    pub fn derive(master: &Secrets) -> HopKey {
        let bytes = master.hash("forwarding-hop-key", "");
        HopKey(Secrets::from_bytes(&bytes).expect("a BLAKE2b-256 digest is 32 bytes"))
    }

    /// The header for a request of `client` to `school`, sent at `now` (microseconds).
    pub fn sign(&self, client: IpAddr, school: &str, method: &Method, path: &str, now: i64) -> HeaderValue {
        let mac = self.mac(client, now, school, method, path);
        let v = format!("v1;client={client};ts={now};school={school};mac={mac}");
        HeaderValue::from_str(&v).expect("hop fields are visible ASCII")
    }

    /// The hop in `value` if its MAC is right for `method` and `path`; fresh if its
    /// stamp is within [`FRESH_MICROS`] of `now`.
    pub fn verify(&self, value: &HeaderValue, method: &Method, path: &str, now: i64) -> Option<Hop> {
        let text = value.to_str().ok()?;
        let mut fields = text.split(';');
        if fields.next()? != "v1" {
            return None;
        }
        let (mut client, mut ts, mut school, mut mac) = (None, None, None, None);
        for field in fields {
            let (k, v) = field.split_once('=')?;
            let slot = match k {
                "client" => &mut client,
                "ts" => &mut ts,
                "school" => &mut school,
                "mac" => &mut mac,
                _ => return None,
            };
            if slot.replace(v).is_some() {
                return None;
            }
        }
        let client: IpAddr = client?.parse().ok()?;
        let ts: i64 = ts?.parse().ok()?;
        let school = school?;
        crate::district::check_slug(school).ok()?;
        let expected = self.mac(client, ts, school, method, path);
        if !crate::crypto::same(expected.as_bytes(), mac?.as_bytes()) {
            return None;
        }
        let hop = Forwarded {
            client,
            school: school.to_string(),
        };
        Some(if (now - ts).abs() <= FRESH_MICROS {
            Hop::Fresh(hop)
        } else {
            Hop::Stale(hop)
        })
    }

    fn mac(&self, client: IpAddr, ts: i64, school: &str, method: &Method, path: &str) -> String {
        let message = format!("{client}\n{ts}\n{school}\n{method}\n{path}");
        crate::crypto::hex(&self.0.hash("forwarding-hop", &message))
    }
}

/// Takes every hop header off `headers` and returns the hop, if the one there was has a
/// right MAC. Two hop headers are never valid (a client could add one beside a server's).
pub fn take(key: Option<&HopKey>, headers: &mut HeaderMap, method: &Method, path: &str, now: i64) -> Option<Hop> {
    let values: Vec<HeaderValue> = headers.get_all(HOP_HEADER).iter().cloned().collect();
    if values.is_empty() {
        return None;
    }
    headers.remove(HOP_HEADER);
    match (key, values.as_slice()) {
        (Some(key), [one]) => key.verify(one, method, path, now),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> HopKey {
        HopKey::derive(&Secrets::from_bytes(&[byte; 32]).unwrap())
    }

    const NOW: i64 = 1_780_000_000_000_000;

    #[test]
    fn a_signed_hop_verifies_for_its_own_request_only() {
        let k = key(1);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let v = k.sign(client, "north", &Method::POST, "/s/north/api/v1/auth/login", NOW);
        let hop = k.verify(&v, &Method::POST, "/s/north/api/v1/auth/login", NOW + 1_000_000);
        let north = Forwarded {
            client,
            school: "north".into(),
        };
        assert_eq!(hop, Some(Hop::Fresh(north.clone())));
        // Another method, path or key: refused.
        assert_eq!(k.verify(&v, &Method::GET, "/s/north/api/v1/auth/login", NOW), None);
        assert_eq!(k.verify(&v, &Method::POST, "/s/south/api/v1/auth/login", NOW), None);
        assert_eq!(
            key(2).verify(&v, &Method::POST, "/s/north/api/v1/auth/login", NOW),
            None
        );
        // A stale stamp: still a hop (never forwarded again), but not believed.
        let late = NOW + FRESH_MICROS + 1;
        let stale = Some(Hop::Stale(north));
        assert_eq!(k.verify(&v, &Method::POST, "/s/north/api/v1/auth/login", late), stale);
        let early = NOW - FRESH_MICROS - 1;
        assert_eq!(k.verify(&v, &Method::POST, "/s/north/api/v1/auth/login", early), stale);
    }

    #[test]
    fn an_edited_or_forged_hop_is_refused_and_every_copy_is_taken_off() {
        let k = key(1);
        let client: IpAddr = "198.51.100.9".parse().unwrap();
        let v = k.sign(client, "north", &Method::GET, "/api/v1/me", NOW);
        let edited = v.to_str().unwrap().replace("198.51.100.9", "198.51.100.8");
        let forged = HeaderValue::from_str(&edited).unwrap();
        assert_eq!(k.verify(&forged, &Method::GET, "/api/v1/me", NOW), None);
        for junk in ["", "v1", "v2;client=1.2.3.4", "v1;client=x;ts=1;school=ab;mac=00"] {
            let junk = HeaderValue::from_str(junk).unwrap();
            assert_eq!(k.verify(&junk, &Method::GET, "/api/v1/me", NOW), None);
        }

        let mut headers = HeaderMap::new();
        headers.insert(HOP_HEADER, v.clone());
        assert!(take(Some(&k), &mut headers, &Method::GET, "/api/v1/me", NOW).is_some());
        assert!(headers.get(HOP_HEADER).is_none());
        // A client's own header beside a valid one spoils both.
        headers.append(HOP_HEADER, v.clone());
        headers.append(HOP_HEADER, forged);
        assert_eq!(take(Some(&k), &mut headers, &Method::GET, "/api/v1/me", NOW), None);
        assert!(headers.get(HOP_HEADER).is_none());
        // Without a key nothing is believed.
        headers.insert(HOP_HEADER, v);
        assert_eq!(take(None, &mut headers, &Method::GET, "/api/v1/me", NOW), None);
        assert!(headers.get(HOP_HEADER).is_none());
    }
}
