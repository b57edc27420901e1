//! VAPID (RFC 8292): the server identifies itself to push services with an ES256 JWT
//! signed by the school's P-256 key; the browser subscribed with that key's public half
//! (`applicationServerKey`), so only this school can push to its subscriptions.
//!
//! The key is derived from the school's key (`Secrets`), not stored: it exists from the
//! first start, is the same on every server hosting the school (PostgreSQL keeps no
//! per-school files), and moves with the school's key. ARCHITECTURE.md says why.

use crate::crypto::Secrets;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::{Signature, SigningKey, signature::Signer};

/// How long a token is valid (RFC 8292 allows up to 24 hours).
const TOKEN_SECS: i64 = 12 * 3600;

/// A school's VAPID key pair.
#[derive(Clone)]
pub struct Vapid {
    key: SigningKey,
    /// The public key, uncompressed and base64url: `applicationServerKey` and `k=`.
    public: String,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vapid({})", self.public)
    }
}

impl Vapid {
    /// The school's VAPID key, derived from its key (the same every start).
    pub fn derive(secrets: &Secrets) -> Vapid {
        let mut counter = 0u32;
        let key = loop {
            // A 32-byte hash is a valid scalar but for a chance of about 2^-32; the
            // counter makes the next candidate, deterministically.
            let seed = secrets.hash("vapid-p256", &counter.to_string());
            if let Ok(k) = SigningKey::from_slice(&seed) {
                break k;
            }
            counter += 1;
        };
        let public = B64.encode(key.verifying_key().to_sec1_bytes());
        Vapid { key, public }
    }

    /// The public key as the browser's `applicationServerKey` wants it.
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The `Authorization` header for a push to `endpoint` at `now` (Unix seconds):
    /// `vapid t=<JWT>, k=<public key>`. `contact` is the `sub` claim (a `mailto:` or
    /// `https:` URL the push service can reach the operator at).
    pub fn authorization(&self, endpoint: &str, now: i64, contact: &str) -> String {
        let header = B64.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({
            "aud": audience(endpoint),
            "exp": now + TOKEN_SECS,
            "sub": contact,
        });
        let claims = B64.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature: Signature = self.key.sign(signing_input.as_bytes());
        format!(
            "vapid t={signing_input}.{}, k={}",
            B64.encode(signature.to_bytes()),
            self.public
        )
    }
}

/// The origin of the push service (`https://host[:port]`): the JWT's audience.
pub fn audience(endpoint: &str) -> String {
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!("{scheme}://{authority}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{VerifyingKey, signature::Verifier};

    #[test]
    fn the_key_is_the_schools_and_the_same_every_start() {
        let a = Secrets::from_bytes(&[1; 32]).unwrap();
        let b = Secrets::from_bytes(&[2; 32]).unwrap();
        assert_eq!(Vapid::derive(&a).public_key(), Vapid::derive(&a).public_key());
        assert_ne!(Vapid::derive(&a).public_key(), Vapid::derive(&b).public_key());
        assert_ne!(
            Vapid::derive(&a.for_school("one")).public_key(),
            Vapid::derive(&a.for_school("two")).public_key()
        );
        let raw = B64.decode(Vapid::derive(&a).public_key()).unwrap();
        assert_eq!((raw.len(), raw[0]), (65, 4));
    }

    #[test]
    fn the_token_is_an_es256_jwt_for_the_push_services_origin() {
        let vapid = Vapid::derive(&Secrets::from_bytes(&[3; 32]).unwrap());
        let auth = vapid.authorization(
            "https://fcm.googleapis.com/fcm/send/abc",
            1_800_000_000,
            "mailto:ops@school.example",
        );
        let (t, k) = auth
            .strip_prefix("vapid t=")
            .and_then(|r| r.split_once(", k="))
            .unwrap();
        assert_eq!(k, vapid.public_key());
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value = serde_json::from_slice(&B64.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        let claims: serde_json::Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://fcm.googleapis.com");
        assert_eq!(claims["exp"], 1_800_000_000 + 12 * 3600);
        assert_eq!(claims["sub"], "mailto:ops@school.example");
        let key = VerifyingKey::from_sec1_bytes(&B64.decode(k).unwrap()).unwrap();
        let sig = Signature::from_slice(&B64.decode(parts[2]).unwrap()).unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .expect("the signature verifies with the public key");
        let mut forged = format!("{}.{}", parts[0], parts[1]).into_bytes();
        forged[3] ^= 1;
        assert!(key.verify(&forged, &sig).is_err());
    }

    #[test]
    fn the_audience_is_scheme_host_and_port() {
        assert_eq!(audience("https://a.example:8443/x/y?z"), "https://a.example:8443");
        assert_eq!(audience("http://127.0.0.1:4000/push/1"), "http://127.0.0.1:4000");
    }
}
