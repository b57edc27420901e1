//! Who the client is, by address: the peer of the connection, or — when that peer is a
//! reverse proxy the operator named (`--trusted-proxy`) — the address the proxy says it
//! forwarded for (`X-Forwarded-For`). Throttles and the connection cap count by this
//! address, so clients behind a proxy no longer share one budget, and nobody can forge
//! the header except through a proxy we trust.

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::{HeaderMap, request::Parts};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

/// The client's address for throttles and audit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the
/// right-most address in `X-Forwarded-For` that is not a trusted proxy (each proxy
/// appends what it saw, so the right-most untrusted entry is the first one a trusted
/// proxy vouches for; anything left of it could be forged by the client).
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    hops.into_iter().rev().find(|ip| !trusted.contains(ip)).unwrap_or(peer)
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = Infallible;

    /// Set by the accept loop for every request; a router served another way (a test
    /// that serves it with `axum::serve`) falls back to the connection's peer.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        if let Some(c) = parts.extensions.get::<ClientAddr>() {
            return Ok(*c);
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn only_a_trusted_proxy_is_believed_and_only_for_its_own_hop() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let client: IpAddr = [203, 0, 113, 7].into();
        let trusted = [proxy];
        // From the proxy: the address it appended.
        assert_eq!(client_of(proxy, &xff("203.0.113.7"), &trusted), client);
        // A client that sends its own header through the proxy cannot pick its address.
        assert_eq!(client_of(proxy, &xff("1.2.3.4, 203.0.113.7"), &trusted), client);
        // Straight to us, the header is the client's own words: ignored.
        assert_eq!(client_of(client, &xff("1.2.3.4"), &trusted), client);
        // The proxy without a header is the proxy.
        assert_eq!(client_of(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
