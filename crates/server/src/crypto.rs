//! Secrets: random tokens, keyed hashes of everything a copy of the database must not
//! reveal, and argon2id passwords.
//!
//! The key of the keyed hash lives in the data folder (`secret.key`), never in the
//! database: a stolen database file holds only hashes nobody can match a card or a token
//! to without that key.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use blake2::digest::{KeyInit, Mac};
use std::path::Path;

/// The server's hashing key.
#[derive(Clone)]
pub struct Secrets {
    key: [u8; 32],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Secrets {
    /// Reads `secret.key` from the data folder, creating it (mode 0600) on first start.
    pub fn load_or_create(dir: &Path) -> std::io::Result<Secrets> {
        Secrets::load_or_create_at(&dir.join("secret.key"))
    }

    /// Reads the key file at `path`, creating it (mode 0600) when missing.
    pub fn load_or_create_at(path: &Path) -> std::io::Result<Secrets> {
        let path = path.to_path_buf();
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                Ok(Secrets { key })
            }
            Ok(_) => Err(std::io::Error::other(format!(
                "{} is not a 32-byte key",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = random_bytes();
                use std::io::Write;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut f = opts.open(&path)?;
                f.write_all(&key)?;
                f.sync_all()?;
                Ok(Secrets { key })
            }
            Err(e) => Err(e),
        }
    }

    /// The key file at `path` if there is one (`None` when missing): a school moved in
    /// from another deployment keeps the key its hashes were made with.
    pub fn load_at(path: &Path) -> std::io::Result<Option<Secrets>> {
        match std::fs::read(path) {
            Ok(bytes) => Secrets::from_bytes(&bytes)
                .map(Some)
                .ok_or_else(|| std::io::Error::other(format!("{} is not a 32-byte key", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A key from its 32 bytes (`None` for any other length).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Option<Secrets> {
        Some(Secrets {
            key: bytes.try_into().ok()?,
        })
    }

    /// The key's bytes, for a school's export (which must carry it: its card, badge,
    /// doorplate and token hashes are made with it).
    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// A school's own key, derived from the deployment's key and the school's slug: a
    /// token, card hash or ticket of one school is worthless in another, and the key
    /// file alone (one for every server) still lets nobody in without the database.
    pub fn for_school(&self, slug: &str) -> Secrets {
        let mut key = [0u8; 32];
        key.copy_from_slice(&self.hash("school-key", slug));
        Secrets { key }
    }

    /// Keyed BLAKE2b-256 of a secret, with a domain label so a card number and a token
    /// with the same text never share a hash.
    pub fn hash(&self, label: &str, secret: &str) -> Vec<u8> {
        let mut mac = <blake2::Blake2bMac<blake2::digest::consts::U32> as KeyInit>::new_from_slice(&self.key)
            .expect("32-byte key fits BLAKE2b");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the OS random source works");
    b
}

/// A bearer secret: a kind prefix (`dpu_` user, `dpd_` device, `dps_` session, `dpq_` QR
/// badge, `dpt_` event ticket) and 32 random bytes in URL-safe hex.
pub fn new_token(prefix: &str) -> String {
    let bytes: [u8; 24] = random_bytes();
    format!("{prefix}{}", hex(&bytes))
}

/// Bytes as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Equal, in time that does not depend on where they differ (MACs, check values).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A pairing code a person types on a kiosk: 8 digits.
pub fn pairing_code() -> String {
    let b: [u8; 8] = random_bytes();
    b.iter().map(|x| char::from(b'0' + x % 10)).collect()
}

/// argon2id with the crate's default (OWASP) parameters. CPU-heavy: call it from
/// `spawn_blocking`.
pub fn hash_password(password: &str) -> String {
    let _busy = Argon2Busy::enter();
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing with default parameters works")
        .to_string()
}

/// How many argon2 hashes and verifications this process has run: what a flood of
/// failed logins costs, visible to tests and (later) metrics.
static ARGON2_RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The number of argon2 runs so far (see [`ARGON2_RUNS`]).
pub fn argon2_runs() -> u64 {
    ARGON2_RUNS.load(std::sync::atomic::Ordering::Relaxed)
}

/// argon2 runs going on now, and the most there have been at once: whether the cap of
/// [`ARGON2_SLOTS`] holds, visible to tests and (later) metrics.
static ARGON2_BUSY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static ARGON2_PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The most argon2 runs this process has had going at once (see [`ARGON2_PEAK`]).
pub fn argon2_peak() -> usize {
    ARGON2_PEAK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Counts one argon2 run, from its start to its end (the drop).
struct Argon2Busy;

impl Argon2Busy {
    fn enter() -> Argon2Busy {
        use std::sync::atomic::Ordering::Relaxed;
        ARGON2_RUNS.fetch_add(1, Relaxed);
        let now = ARGON2_BUSY.fetch_add(1, Relaxed) + 1;
        ARGON2_PEAK.fetch_max(now, Relaxed);
        Argon2Busy
    }
}

impl Drop for Argon2Busy {
    fn drop(&mut self) {
        ARGON2_BUSY.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// argon2 needs 19 MiB and tens of milliseconds per hash: at most two run at once, off
/// the async threads, so a burst of logins neither starves requests nor leaves dozens of
/// 19 MiB arenas behind in the allocator.
static ARGON2_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// [`hash_password`] on a blocking thread, two at a time.
pub async fn hash_password_async(password: String) -> String {
    let _slot = ARGON2_SLOTS.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .expect("hashing does not panic")
}

/// [`verify_password`] on a blocking thread, two at a time.
pub async fn verify_password_async(password: String, phc: String) -> bool {
    let _slot = ARGON2_SLOTS.acquire().await.expect("the semaphore is never closed");
    tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .unwrap_or(false)
}

/// How long one argon2 verification takes on this machine, measured once against a
/// throw-away hash.
async fn verify_cost() -> std::time::Duration {
    static COST: tokio::sync::OnceCell<std::time::Duration> = tokio::sync::OnceCell::const_new();
    *COST
        .get_or_init(|| async {
            let phc = hash_password_async(new_token("")).await;
            let _slot = ARGON2_SLOTS.acquire().await.expect("the semaphore is never closed");
            tokio::task::spawn_blocking(move || {
                let started = std::time::Instant::now();
                verify_password(&new_token(""), &phc);
                started.elapsed()
            })
            .await
            .unwrap_or_default()
        })
        .await
}

/// Takes as long as checking a password would, without its CPU: for a username that does
/// not exist (or cannot sign in there), so the answer's timing does not tell them apart
/// and a flood of made-up usernames does not queue everyone's logins behind argon2.
pub async fn pretend_to_verify() {
    tokio::time::sleep(verify_cost().await).await;
}

/// Checks a password against a stored PHC string. CPU-heavy: call from `spawn_blocking`.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let _busy = Argon2Busy::enter();
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_keyed_and_labelled() {
        let a = Secrets { key: [1; 32] };
        let b = Secrets { key: [2; 32] };
        assert_eq!(a.hash("card", "04A1"), a.hash("card", "04A1"));
        assert_ne!(a.hash("card", "04A1"), b.hash("card", "04A1"));
        assert_ne!(a.hash("card", "04A1"), a.hash("qr", "04A1"));
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
    }
}
