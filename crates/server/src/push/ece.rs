//! Message encryption for Web Push (RFC 8291): the payload is sealed to the browser's
//! P-256 key and authentication secret with the `aes128gcm` content coding (RFC 8188),
//! so the push service in between reads nothing but a length.
//!
//! Built on RustCrypto's `p256` (ECDH), `hkdf`/`sha2` and `aes-gcm`, the generation the
//! workspace already uses (see ARCHITECTURE.md, Web Push, for why not a Web Push crate).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The record size written in the header: one record holds the whole payload.
const RECORD_SIZE: u32 = 4096;
/// The most plaintext one push carries (push services take 4096 bytes of body; the
/// header is 86 bytes, the tag 16, the delimiter 1).
pub const MAX_PLAINTEXT: usize = 3800;
/// Payloads are padded to a multiple of this, so their length tells little.
const PAD_TO: usize = 128;

/// What is wrong with a subscription's keys, or a payload.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EceError {
    #[error("p256dh is not an uncompressed P-256 public key")]
    BadPublicKey,
    #[error("auth is not 16 bytes")]
    BadAuth,
    #[error("the payload is too large for one push")]
    TooLarge,
}

/// Checks a subscription's keys as the browser gave them (decoded from base64url).
pub fn check_keys(p256dh: &[u8], auth: &[u8]) -> Result<(), EceError> {
    if p256dh.len() != 65 || p256dh[0] != 4 {
        return Err(EceError::BadPublicKey);
    }
    PublicKey::from_sec1_bytes(p256dh).map_err(|_| EceError::BadPublicKey)?;
    if auth.len() != 16 {
        return Err(EceError::BadAuth);
    }
    Ok(())
}

/// Encrypts `plaintext` for one subscription with a fresh key pair and salt.
pub fn encrypt(plaintext: &[u8], p256dh: &[u8], auth: &[u8]) -> Result<Vec<u8>, EceError> {
    let ephemeral = loop {
        // A random 32-byte string is a valid scalar but for a chance of about 2^-32.
        if let Ok(k) = SecretKey::from_slice(&crate::crypto::random_bytes::<32>()) {
            break k;
        }
    };
    let salt: [u8; 16] = crate::crypto::random_bytes();
    encrypt_with(plaintext, p256dh, auth, &ephemeral, salt, PAD_TO)
}

/// [`encrypt`] with the sender's key and salt given (the RFC's test vector fixes them)
/// and the plaintext padded to a multiple of `pad_to` (1: no padding).
fn encrypt_with(
    plaintext: &[u8],
    p256dh: &[u8],
    auth: &[u8],
    as_secret: &SecretKey,
    salt: [u8; 16],
    pad_to: usize,
) -> Result<Vec<u8>, EceError> {
    check_keys(p256dh, auth)?;
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLarge);
    }
    let ua_public = PublicKey::from_sec1_bytes(p256dh).map_err(|_| EceError::BadPublicKey)?;
    let as_public = as_secret.public_key().to_sec1_bytes();
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());

    // RFC 8291 §3.3: the input keying material from the ECDH secret and the auth secret.
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(p256dh);
    key_info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA256 length");
    // RFC 8188 §2.2, 2.3: the content key and nonce from the salt.
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes is a valid length");
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid length");

    // One record: the plaintext, the last-record delimiter 2, then zero padding.
    let padded = (plaintext.len() + 1).div_ceil(pad_to.max(1)) * pad_to.max(1);
    let mut record = Vec::with_capacity(padded);
    record.extend_from_slice(plaintext);
    record.push(2);
    record.resize(padded, 0);
    let cipher = Aes128Gcm::new_from_slice(&cek).expect("16-byte key");
    let sealed = cipher
        .encrypt(&Nonce::from(nonce), record.as_slice())
        .map_err(|_| EceError::TooLarge)?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + as_public.len() + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(as_public.len() as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

    fn b(s: &str) -> Vec<u8> {
        B64.decode(s).unwrap()
    }

    /// RFC 8291 §5 and Appendix A: the same keys, salt and plaintext give the RFC's
    /// bytes exactly.
    #[test]
    fn the_rfc_8291_test_vector_encrypts_to_the_rfcs_bytes() {
        let as_secret = SecretKey::from_slice(&b("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        assert_eq!(
            B64.encode(as_secret.public_key().to_sec1_bytes()),
            "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8"
        );
        let ua_public = b("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b("BTBZMqHH6r4Tts7J_aSIgg");
        let salt: [u8; 16] = b("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();
        let body = encrypt_with(
            b"When I grow up, I want to be a watermelon",
            &ua_public,
            &auth,
            &as_secret,
            salt,
            1,
        )
        .unwrap();
        assert_eq!(
            B64.encode(body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn a_fresh_encryption_is_padded_and_differs_each_time() {
        let ua = SecretKey::from_slice(&b("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
        let p256dh = ua.public_key().to_sec1_bytes();
        let auth = [9u8; 16];
        let one = encrypt(b"hello", &p256dh, &auth).unwrap();
        let two = encrypt(b"hello", &p256dh, &auth).unwrap();
        assert_ne!(one, two);
        // header 86 + one padded record of 128 + tag 16
        assert_eq!(one.len(), 86 + 128 + 16);
        let longer = encrypt(&[b'x'; 200], &p256dh, &auth).unwrap();
        assert_eq!(longer.len(), 86 + 256 + 16);
    }

    #[test]
    fn bad_keys_and_oversized_payloads_are_refused() {
        let ua = SecretKey::from_slice(&b("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")).unwrap();
        let p256dh = ua.public_key().to_sec1_bytes();
        assert_eq!(check_keys(&p256dh, &[0; 16]), Ok(()));
        assert_eq!(check_keys(&p256dh[..64], &[0; 16]), Err(EceError::BadPublicKey));
        let mut off_curve = p256dh.to_vec();
        off_curve[64] ^= 1;
        assert_eq!(check_keys(&off_curve, &[0; 16]), Err(EceError::BadPublicKey));
        assert_eq!(check_keys(&p256dh, &[0; 15]), Err(EceError::BadAuth));
        assert_eq!(
            encrypt(&vec![b'x'; MAX_PLAINTEXT + 1], &p256dh, &[0; 16]),
            Err(EceError::TooLarge)
        );
    }
}
