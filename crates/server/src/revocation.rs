//! Event sockets die with their login token.
//!
//! A personal session's sockets already watch the session (`sessions.rs`). A login token
//! (`dpu_`) lives in the store, so each socket opened with one registers here under the
//! token's keyed hash and its user, and watches a flag: logout revokes one token's
//! sockets; disabling, deleting or resetting the password of a user revokes every socket
//! of theirs. The socket closes with 4001 as soon as its flag turns.
//!
//! A revocation that lands between a socket's token check and its registration would be
//! missed, so registration carries the [`Revocations::epoch`] read before the check and
//! answers [`Registered::Stale`] when any revocation happened meanwhile: the socket then
//! checks its token again (revocations update the store and caches before they come
//! here, so the second check sees them).

use doorplate_domain::Id;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// The sockets of login tokens, by user and token hash.
#[derive(Default)]
pub struct Revocations {
    /// A std `Mutex`: each use is a few map operations, never an await.
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Counts revocations, so a registration can tell one happened since its check.
    epoch: u64,
    /// user → token hash → the flag that token's sockets watch.
    users: HashMap<Id, HashMap<Vec<u8>, watch::Sender<bool>>>,
}

/// The answer to [`Revocations::register`].
pub enum Registered {
    /// Watch this; it turns `true` when the token is revoked.
    Watching(watch::Receiver<bool>),
    /// A revocation happened since `epoch` was read: check the token again.
    Stale,
}

impl Revocations {
    /// Read before checking a token, and passed to [`Revocations::register`].
    pub fn epoch(&self) -> u64 {
        self.inner.lock().expect("revocations poisoned").epoch
    }

    /// Registers a socket of `user`'s login token (its keyed hash) that was found valid
    /// after `epoch` was read. `force` registers even if the epoch moved (the second try).
    pub fn register(&self, user: Id, token_hash: &[u8], epoch: u64, force: bool) -> Registered {
        let mut inner = self.inner.lock().expect("revocations poisoned");
        if inner.epoch != epoch && !force {
            return Registered::Stale;
        }
        let tokens = inner.users.entry(user).or_default();
        // Flags nobody watches any more (their sockets closed) go here, per user, so the
        // map holds only live sockets' tokens.
        tokens.retain(|_, tx| tx.receiver_count() > 0);
        let tx = tokens
            .entry(token_hash.to_vec())
            .or_insert_with(|| watch::channel(false).0);
        Registered::Watching(tx.subscribe())
    }

    /// Forgets the flags of `user`'s tokens that no socket watches any more (called by a
    /// socket after it closed and dropped its receiver).
    pub fn release(&self, user: Id) {
        let mut inner = self.inner.lock().expect("revocations poisoned");
        if let Some(tokens) = inner.users.get_mut(&user) {
            tokens.retain(|_, tx| tx.receiver_count() > 0);
            if tokens.is_empty() {
                inner.users.remove(&user);
            }
        }
    }

    /// Closes the sockets of one login token (logout).
    pub fn revoke_token(&self, user: Id, token_hash: &[u8]) {
        let mut inner = self.inner.lock().expect("revocations poisoned");
        inner.epoch += 1;
        if let Some(tokens) = inner.users.get_mut(&user) {
            if let Some(tx) = tokens.remove(token_hash) {
                let _ = tx.send(true);
            }
            if tokens.is_empty() {
                inner.users.remove(&user);
            }
        }
    }

    /// Closes the sockets of every login token of `user` (disabled, deleted, new
    /// password).
    pub fn revoke_user(&self, user: Id) {
        let mut inner = self.inner.lock().expect("revocations poisoned");
        inner.epoch += 1;
        for (_, tx) in inner.users.remove(&user).unwrap_or_default() {
            let _ = tx.send(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watching(r: Registered) -> watch::Receiver<bool> {
        match r {
            Registered::Watching(rx) => rx,
            Registered::Stale => panic!("stale"),
        }
    }

    #[test]
    fn a_token_or_a_user_is_revoked_and_only_theirs() {
        let r = Revocations::default();
        let e = r.epoch();
        let a1 = watching(r.register(1, b"a1", e, false));
        let a1_again = watching(r.register(1, b"a1", e, false));
        let a2 = watching(r.register(1, b"a2", e, false));
        let b = watching(r.register(2, b"b", e, false));
        r.revoke_token(1, b"a1");
        assert!(*a1.borrow() && *a1_again.borrow());
        assert!(!*a2.borrow());
        r.revoke_user(1);
        assert!(*a2.borrow());
        assert!(!*b.borrow(), "another user's socket stays");
    }

    #[test]
    fn a_revocation_between_check_and_registration_asks_for_a_second_check() {
        let r = Revocations::default();
        let e = r.epoch();
        r.revoke_user(7);
        assert!(matches!(r.register(1, b"x", e, false), Registered::Stale));
        assert!(matches!(r.register(1, b"x", e, true), Registered::Watching(_)));
    }

    #[test]
    fn closed_sockets_are_forgotten() {
        let r = Revocations::default();
        let e = r.epoch();
        drop(watching(r.register(1, b"old", e, false)));
        let live = watching(r.register(1, b"new", e, false));
        assert_eq!(r.inner.lock().unwrap().users[&1].len(), 1);
        drop(live);
        r.release(1);
        assert!(r.inner.lock().unwrap().users.is_empty());
    }
}
