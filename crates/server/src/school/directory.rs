//! The directory: users, tokens, conversations, guardianships and doorplates' room
//! names, read through in-memory caches because the message path reads them on every
//! request. Each entry is dropped by the handler that changes it; a change this server did not make
//! (another server on the same database, later) would need the message bus to say so.

use crate::error::ApiResult;
use crate::sharded::{ShardKey, Sharded};
use doorplate_domain::{Id, Micros};
use doorplate_store::{Conversation, Store, User};
use std::collections::HashSet;
use std::sync::Arc;

/// How long a token's owner is trusted from memory before the store is asked again
/// (an expired token is refused within this time).
const TOKEN_TTL: Micros = 60_000_000;

impl ShardKey for Vec<u8> {
    fn shard(&self) -> usize {
        self.first().copied().unwrap_or(0) as usize
    }
}

/// The school's people and what links them, cached in front of the store.
pub struct Directory {
    store: Arc<dyn Store>,
    tokens: Sharded<Vec<u8>, (Id, Micros)>,
    users: Sharded<Id, User>,
    conversations: Sharded<Id, Conversation>,
    children: Sharded<Id, HashSet<Id>>,
    guardians: Sharded<Id, Vec<Id>>,
    room_names: Sharded<Id, String>,
}

impl Directory {
    pub fn new(store: Arc<dyn Store>) -> Directory {
        Directory {
            store,
            tokens: Default::default(),
            users: Default::default(),
            conversations: Default::default(),
            children: Default::default(),
            guardians: Default::default(),
            room_names: Default::default(),
        }
    }

    pub fn forget_user(&self, id: Id) {
        self.users.write(id, |m, k| m.remove(&k));
        self.children.write(id, |m, k| m.remove(&k));
    }

    pub fn forget_token(&self, hash: &[u8]) {
        self.tokens.write(hash.to_vec(), |m, k| m.remove(&k));
    }

    /// After an import or a user's tokens were all revoked: drop what may be stale.
    pub fn forget_people(&self) {
        self.tokens.clear();
        self.users.clear();
        self.children.clear();
        self.guardians.clear();
    }

    /// A guardianship between these two changed.
    pub fn forget_link(&self, guardian: Id, student: Id) {
        self.children.write(guardian, |m, k| m.remove(&k));
        self.guardians.write(student, |m, k| m.remove(&k));
    }

    /// The user a live login token (its keyed hash) belongs to.
    pub async fn token_user(&self, hash: Vec<u8>, now: Micros) -> ApiResult<Id> {
        if let Some((id, at)) = self.tokens.read(&hash, |v| v.copied())
            && now - at < TOKEN_TTL
        {
            return Ok(id);
        }
        let id = self.store.token_user(hash.clone(), now).await?;
        self.tokens.write(hash, |m, k| m.insert(k, (id, now)));
        Ok(id)
    }

    pub async fn user(&self, id: Id) -> ApiResult<User> {
        if let Some(u) = self.users.read(&id, |v| v.cloned()) {
            return Ok(u);
        }
        let u = self.store.user(id).await?;
        self.users.write(id, |m, k| m.insert(k, u.clone()));
        Ok(u)
    }

    pub async fn conversation(&self, id: Id) -> ApiResult<Conversation> {
        if let Some(c) = self.conversations.read(&id, |v| v.copied()) {
            return Ok(c);
        }
        let c = self.store.conversation(id).await?;
        self.conversations.write(id, |m, k| m.insert(k, c));
        Ok(c)
    }

    pub async fn is_guardian_of(&self, guardian: Id, student: Id) -> ApiResult<bool> {
        if let Some(yes) = self.children.read(&guardian, |v| v.map(|s| s.contains(&student))) {
            return Ok(yes);
        }
        let kids: HashSet<Id> = self.store.children_of(guardian).await?.into_iter().collect();
        let yes = kids.contains(&student);
        self.children.write(guardian, |m, k| m.insert(k, kids));
        Ok(yes)
    }

    /// A student's guardians.
    pub async fn guardians_of(&self, student: Id) -> ApiResult<Vec<Id>> {
        if let Some(g) = self.guardians.read(&student, |v| v.cloned()) {
            return Ok(g);
        }
        let g = self.store.guardians_of(student).await?;
        self.guardians.write(student, |m, k| m.insert(k, g.clone()));
        Ok(g)
    }

    /// The name of a doorplate's room (what guardians see as "shown at …").
    pub async fn room_name_of(&self, doorplate: Id) -> String {
        if let Some(n) = self.room_names.read(&doorplate, |v| v.cloned()) {
            return n;
        }
        let name = match self.store.doorplate(doorplate).await {
            Ok(d) => self.store.room(d.room_id).await.map(|r| r.name).unwrap_or(d.name),
            Err(_) => return String::new(),
        };
        self.room_names.write(doorplate, |m, k| m.insert(k, name.clone()));
        name
    }
}
