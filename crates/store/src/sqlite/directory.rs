//! The SQLite adapter's directory: people, credentials, tokens, guardianships, rooms,
//! classes and doorplates.

use super::rows::*;
use super::{SqliteStore, db, internal, schedule};
use crate::*;
use rusqlite::{Connection, OptionalExtension, params};

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.write(move |c| {
            let role = new.role.ok_or(StoreError::BadReference("role"))?;
            c.prepare_cached(
                "INSERT INTO users (role, display_name, username, password_hash, card_hash, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    role.as_str(),
                    new.display_name,
                    new.username,
                    new.password_hash,
                    new.card_hash,
                    new.now
                ])
            })
            .map_err(db)?;
            user_by(c, "id = ?1", c.last_insert_rowid())
        })
        .await
    }

    async fn user(&self, id: Id) -> Result<User> {
        self.read(move |c| user_by(c, "id = ?1", id)).await
    }

    async fn users_by_ids(&self, ids: Vec<Id>) -> Result<Vec<User>> {
        self.read(move |c| {
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match user_by(c, "id = ?1", id) {
                    Ok(u) => out.push(u),
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn user_by_username(&self, username: String) -> Result<User> {
        self.read(move |c| user_by(c, "username = ?1", username)).await
    }

    async fn user_by_card(&self, card_hash: Vec<u8>) -> Result<User> {
        self.read(move |c| user_by(c, "card_hash = ?1", card_hash)).await
    }

    async fn user_by_qr(&self, qr_hash: Vec<u8>) -> Result<User> {
        self.read(move |c| user_by(c, "qr_hash = ?1", qr_hash)).await
    }

    async fn list_users(&self, role: Option<Role>, q: Option<String>, limit: u32) -> Result<Vec<User>> {
        self.read(move |c| {
            let pattern = q.map(|q| format!("%{}%", q.replace(['%', '_'], "")));
            let sql = format!(
                "SELECT {USER_COLS} FROM users WHERE deleted = 0
                   AND (?1 IS NULL OR role = ?1)
                   AND (?2 IS NULL OR display_name LIKE ?2 OR username LIKE ?2)
                 ORDER BY display_name, id LIMIT ?3"
            );
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s
                .query_map(params![role.map(|r| r.as_str()), pattern, limit], user_row)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn update_user(&self, id: Id, patch: UserPatch) -> Result<User> {
        self.write(move |c| {
            user_by(c, "id = ?1", id)?;
            if patch.disabled == Some(true) && is_last_active_admin(c, id)? {
                return Err(StoreError::Conflict("last_admin"));
            }
            if let Some(v) = patch.display_name {
                c.execute("UPDATE users SET display_name = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.username {
                c.execute("UPDATE users SET username = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.password_hash {
                c.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.card_hash {
                c.execute("UPDATE users SET card_hash = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            if let Some(v) = patch.disabled {
                c.execute("UPDATE users SET disabled = ?2 WHERE id = ?1", params![id, v])
                    .map_err(db)?;
            }
            user_by(c, "id = ?1", id)
        })
        .await
    }

    async fn delete_user(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            if is_last_active_admin(c, id)? {
                return Err(StoreError::Conflict("last_admin"));
            }
            let n = c
                .execute(
                    "UPDATE users SET deleted = 1, disabled = 1, username = NULL, password_hash = NULL,
                            card_hash = NULL, qr_hash = NULL WHERE id = ?1 AND deleted = 0",
                    [id],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            c.execute("DELETE FROM tokens WHERE user_id = ?1", [id]).map_err(db)?;
            super::push::forget_user(c, id)?;
            super::push::forget_settings(c, id)?;
            c.execute(
                "DELETE FROM guardianships WHERE guardian_id = ?1 OR student_id = ?1",
                [id],
            )
            .map_err(db)?;
            c.execute("DELETE FROM group_members WHERE user_id = ?1", [id])
                .map_err(db)?;
            c.execute("DELETE FROM presences WHERE student_id = ?1", [id])
                .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn set_badge(&self, id: Id, qr_hash: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE users SET qr_hash = ?2 WHERE id = ?1 AND deleted = 0",
                    params![id, qr_hash],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn add_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO guardianships (guardian_id, student_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                [guardian_id, student_id],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn remove_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "DELETE FROM guardianships WHERE guardian_id = ?1 AND student_id = ?2",
                    [guardian_id, student_id],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn is_guardian_of(&self, guardian_id: Id, student_id: Id) -> Result<bool> {
        self.read(move |c| {
            c.prepare_cached("SELECT 1 FROM guardianships WHERE guardian_id = ?1 AND student_id = ?2")
                .and_then(|mut s| s.exists([guardian_id, student_id]))
                .map_err(db)
        })
        .await
    }

    async fn guardians_of(&self, student_id: Id) -> Result<Vec<Id>> {
        self.read(move |c| {
            ids(
                c,
                "SELECT guardian_id FROM guardianships WHERE student_id = ?1",
                student_id,
            )
        })
        .await
    }

    async fn set_arrival_notices(&self, guardian_id: Id, student_id: Id, on: bool) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE guardianships SET arrival_notices = ?3 WHERE guardian_id = ?1 AND student_id = ?2",
                    params![guardian_id, student_id, on],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn arrival_notice_children(&self, guardian_id: Id) -> Result<Vec<Id>> {
        self.read(move |c| {
            ids(
                c,
                "SELECT student_id FROM guardianships WHERE guardian_id = ?1 AND arrival_notices = 1 ORDER BY student_id",
                guardian_id,
            )
        })
        .await
    }

    async fn arrival_notice_guardians(&self, student_id: Id) -> Result<Vec<Id>> {
        self.read(move |c| {
            ids(
                c,
                "SELECT guardian_id FROM guardianships WHERE student_id = ?1 AND arrival_notices = 1 ORDER BY guardian_id",
                student_id,
            )
        })
        .await
    }

    async fn quiet_hours(&self, user_id: Id) -> Result<Option<QuietHours>> {
        self.read(move |c| {
            let json: Option<String> = c
                .prepare_cached("SELECT days FROM quiet_hours WHERE user_id = ?1")
                .and_then(|mut s| s.query_row([user_id], |r| r.get(0)))
                .optional()
                .map_err(db)?;
            json.map(|j| serde_json::from_str(&j).map_err(internal)).transpose()
        })
        .await
    }

    async fn set_quiet_hours(&self, user_id: Id, hours: Option<QuietHours>) -> Result<()> {
        let json = hours.map(|h| serde_json::to_string(&h).map_err(internal)).transpose()?;
        self.write(move |c| {
            match json {
                Some(j) => c.execute(
                    "INSERT INTO quiet_hours (user_id, days) VALUES (?1, ?2)
                     ON CONFLICT (user_id) DO UPDATE SET days = excluded.days",
                    params![user_id, j],
                ),
                None => c.execute("DELETE FROM quiet_hours WHERE user_id = ?1", [user_id]),
            }
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn children_of(&self, guardian_id: Id) -> Result<Vec<Id>> {
        self.read(move |c| {
            ids(
                c,
                "SELECT student_id FROM guardianships WHERE guardian_id = ?1",
                guardian_id,
            )
        })
        .await
    }

    async fn create_token(&self, hash: Vec<u8>, user_id: Id, now: Micros, expires_at: Micros) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![hash, user_id, now, expires_at],
            )
            .map_err(db)?;
            Ok(())
        })
        .await
    }

    async fn token_user(&self, hash: Vec<u8>, now: Micros) -> Result<Id> {
        self.read(move |c| {
            c.prepare_cached("SELECT user_id FROM tokens WHERE hash = ?1 AND expires_at > ?2")
                .and_then(|mut s| s.query_row(params![hash, now], |r| r.get(0)))
                .map_err(db)
        })
        .await
    }

    async fn delete_token(&self, hash: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            super::push::forget_token(c, &hash)?;
            c.execute("DELETE FROM tokens WHERE hash = ?1", [hash])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn delete_tokens_of(&self, user_id: Id) -> Result<()> {
        self.write(move |c| {
            super::push::forget_user(c, user_id)?;
            c.execute("DELETE FROM tokens WHERE user_id = ?1", [user_id])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn create_room(&self, name: String, kind: String) -> Result<Room> {
        self.write(move |c| {
            c.execute("INSERT INTO rooms (name, kind) VALUES (?1, ?2)", params![name, kind])
                .map_err(db)?;
            Ok(Room {
                id: c.last_insert_rowid(),
                name,
                kind,
            })
        })
        .await
    }

    async fn room(&self, id: Id) -> Result<Room> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, kind FROM rooms WHERE id = ?1")
                .and_then(|mut s| s.query_row([id], room_row))
                .map_err(db)
        })
        .await
    }

    async fn list_rooms(&self) -> Result<Vec<Room>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT id, name, kind FROM rooms ORDER BY name, id")
                .map_err(db)?;
            let rows = s.query_map([], room_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn create_group(&self, name: String, member_ids: Vec<Id>, teacher_id: Option<Id>) -> Result<Group> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO groups (name, teacher_id) VALUES (?1, ?2)",
                params![name, teacher_id],
            )
            .map_err(db)?;
            let id = c.last_insert_rowid();
            let mut s = c
                .prepare_cached("INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
                .map_err(db)?;
            for m in &member_ids {
                s.execute([id, *m]).map_err(db)?;
            }
            group_by_id(c, id)
        })
        .await
    }

    async fn group(&self, id: Id) -> Result<Group> {
        self.read(move |c| group_by_id(c, id)).await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        self.read(|c| {
            let gids = ids(c, "SELECT id FROM groups WHERE ?1 = ?1 ORDER BY name", 0)?;
            gids.into_iter().map(|g| group_by_id(c, g)).collect()
        })
        .await
    }

    async fn groups_of(&self, user_id: Id) -> Result<Vec<Group>> {
        self.read(move |c| {
            let gids = ids(
                c,
                "SELECT id FROM groups WHERE teacher_id = ?1
                 UNION SELECT group_id FROM group_members WHERE user_id = ?1",
                user_id,
            )?;
            gids.into_iter().map(|g| group_by_id(c, g)).collect()
        })
        .await
    }

    async fn update_group(
        &self,
        id: Id,
        name: Option<String>,
        member_ids: Option<Vec<Id>>,
        teacher_id: Option<Option<Id>>,
    ) -> Result<Group> {
        self.write(move |c| schedule::update_group(c, id, name, member_ids, teacher_id))
            .await
    }

    async fn delete_group(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            c.execute("UPDATE timetable_slots SET group_id = NULL WHERE group_id = ?1", [id])
                .map_err(db)?;
            let n = c.execute("DELETE FROM groups WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn create_doorplate(
        &self,
        room_id: Id,
        name: String,
        pairing_hash: Vec<u8>,
        expires: Micros,
        now: Micros,
    ) -> Result<Doorplate> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO doorplates (room_id, name, pairing_hash, pairing_expires, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![room_id, name, pairing_hash, expires, now],
            )
            .map_err(|e| match db(e) {
                StoreError::BadReference(_) => StoreError::BadReference("room_id"),
                other => other,
            })?;
            doorplate_by(c, "id = ?1", c.last_insert_rowid())
        })
        .await
    }

    async fn pair_doorplate(&self, pairing_hash: Vec<u8>, token_hash: Vec<u8>, now: Micros) -> Result<Doorplate> {
        self.write(move |c| {
            let id: Id = c
                .query_row(
                    "SELECT id FROM doorplates WHERE pairing_hash = ?1 AND pairing_expires > ?2",
                    params![pairing_hash, now],
                    |r| r.get(0),
                )
                .map_err(db)?;
            c.execute(
                "UPDATE doorplates SET token_hash = ?2, pairing_hash = NULL, pairing_expires = NULL, last_seen = ?3 WHERE id = ?1",
                params![id, token_hash, now],
            )
            .map_err(db)?;
            doorplate_by(c, "id = ?1", id)
        })
        .await
    }

    async fn renew_pairing(&self, id: Id, pairing_hash: Vec<u8>, expires: Micros) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE doorplates SET pairing_hash = ?2, pairing_expires = ?3 WHERE id = ?1",
                    params![id, pairing_hash, expires],
                )
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn doorplate(&self, id: Id) -> Result<Doorplate> {
        self.read(move |c| doorplate_by(c, "id = ?1", id)).await
    }

    async fn doorplate_by_token(&self, token_hash: Vec<u8>) -> Result<Doorplate> {
        self.read(move |c| doorplate_by(c, "token_hash = ?1", token_hash)).await
    }

    async fn list_doorplates(&self) -> Result<Vec<Doorplate>> {
        self.read(|c| {
            let sql = format!("SELECT {DOORPLATE_COLS} FROM doorplates ORDER BY name, id");
            let mut s = c.prepare_cached(&sql).map_err(db)?;
            let rows = s.query_map([], doorplate_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn touch_doorplate(&self, id: Id, now: Micros) -> Result<()> {
        self.write(move |c| {
            c.execute("UPDATE doorplates SET last_seen = ?2 WHERE id = ?1", [id, now])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn update_doorplate(&self, id: Id, name: Option<String>, room_id: Option<Id>) -> Result<Doorplate> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE doorplates SET name = COALESCE(?2, name), room_id = COALESCE(?3, room_id) WHERE id = ?1",
                    params![id, name, room_id],
                )
                .map_err(|e| match db(e) {
                    StoreError::BadReference(_) => StoreError::BadReference("room_id"),
                    other => other,
                })?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            doorplate_by(c, "id = ?1", id)
        })
        .await
    }

    async fn unpair_doorplate(&self, id: Id) -> Result<Doorplate> {
        self.write(move |c| {
            let n = c
                .execute(
                    "UPDATE doorplates SET token_hash = NULL, pairing_hash = NULL, pairing_expires = NULL WHERE id = ?1",
                    [id],
                )
                .map_err(db)?;
            if n == 0 {
                return Err(StoreError::NotFound);
            }
            doorplate_by(c, "id = ?1", id)
        })
        .await
    }

    async fn delete_doorplate(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM presences WHERE doorplate_id = ?1", [id])
                .map_err(db)?;
            c.execute("DELETE FROM suppressions WHERE doorplate_id = ?1", [id])
                .map_err(db)?;
            let n = c.execute("DELETE FROM doorplates WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }
}

/// Whether taking `id` out of the active admins would leave the school with none. It is
/// asked inside the write itself: the single writer thread runs writes one at a time, so
/// two admins disabling each other at once cannot both pass the check.
fn is_last_active_admin(c: &Connection, id: Id) -> Result<bool> {
    c.query_row(
        "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1 AND role = 'admin' AND disabled = 0 AND deleted = 0)
            AND NOT EXISTS(SELECT 1 FROM users WHERE id != ?1 AND role = 'admin' AND disabled = 0 AND deleted = 0)",
        [id],
        |r| r.get(0),
    )
    .map_err(db)
}
