//! The PostgreSQL adapter's directory: people, credentials, tokens, guardianships,
//! rooms, classes and doorplates.

use super::rows::*;
use super::{Conn, PgStore, internal, schedule};
use crate::*;

/// A doorplate's foreign key is its room: an unknown one is named so.
fn room_ref(e: StoreError) -> StoreError {
    match e {
        StoreError::BadReference(_) => StoreError::BadReference("room_id"),
        other => other,
    }
}

#[async_trait]
impl DirectoryStore for PgStore {
    async fn create_user(&self, new: NewUser) -> Result<User> {
        self.write(move |c| {
            Box::pin(async move {
                let role = new.role.ok_or(StoreError::BadReference("role"))?;
                let row = one(
                    c,
                    "INSERT INTO users (role, display_name, username, password_hash, card_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    &[
                        &role.as_str(),
                        &new.display_name,
                        &new.username,
                        &new.password_hash,
                        &new.card_hash,
                        &new.now,
                    ],
                )
                .await?;
                let id: Id = row.get(0);
                user_by(c, "id = $1", &id).await
            })
        })
        .await
    }

    async fn user(&self, id: Id) -> Result<User> {
        user_by(&*self.reader().await?, "id = $1", &id).await
    }

    async fn users_by_ids(&self, ids: Vec<Id>) -> Result<Vec<User>> {
        let c = self.reader().await?;
        let sql = format!("SELECT {USER_COLS} FROM users WHERE NOT deleted AND id = ANY($1)");
        let rows = query(&c, &sql, &[&ids]).await?;
        let mut users = rows.iter().map(user_row).collect::<Result<Vec<_>>>()?;
        // In the order asked for.
        users.sort_by_key(|u| ids.iter().position(|id| *id == u.id));
        Ok(users)
    }

    async fn user_by_username(&self, username: String) -> Result<User> {
        user_by(&*self.reader().await?, "lower(username) = lower($1)", &username).await
    }

    async fn user_by_card(&self, card_hash: Vec<u8>) -> Result<User> {
        user_by(&*self.reader().await?, "card_hash = $1", &card_hash).await
    }

    async fn user_by_qr(&self, qr_hash: Vec<u8>) -> Result<User> {
        user_by(&*self.reader().await?, "qr_hash = $1", &qr_hash).await
    }

    async fn list_users(&self, role: Option<Role>, q: Option<String>, limit: u32) -> Result<Vec<User>> {
        let c = self.reader().await?;
        // As in SQLite: the wildcards are taken out of the search; LIKE ignores ASCII case
        // there, ILIKE here; no escape character (SQLite's LIKE has none either).
        let pattern = q.map(|q| format!("%{}%", q.replace(['%', '_'], "")));
        let sql = format!(
            "SELECT {USER_COLS} FROM users WHERE NOT deleted
               AND ($1::text IS NULL OR role = $1)
               AND ($2::text IS NULL OR display_name ILIKE $2 ESCAPE '' OR username ILIKE $2 ESCAPE '')
             ORDER BY display_name COLLATE \"C\", id LIMIT $3"
        );
        let rows = query(&c, &sql, &[&role.map(|r| r.as_str()), &pattern, &i64::from(limit)]).await?;
        rows.iter().map(user_row).collect()
    }

    async fn update_user(&self, id: Id, patch: UserPatch) -> Result<User> {
        self.write(move |c| {
            Box::pin(async move {
                user_by(c, "id = $1", &id).await?;
                if patch.disabled == Some(true) && is_last_active_admin(c, id).await? {
                    return Err(StoreError::Conflict("last_admin"));
                }
                if let Some(v) = &patch.display_name {
                    exec(c, "UPDATE users SET display_name = $2 WHERE id = $1", &[&id, v]).await?;
                }
                if let Some(v) = &patch.username {
                    exec(c, "UPDATE users SET username = $2 WHERE id = $1", &[&id, v]).await?;
                }
                if let Some(v) = &patch.password_hash {
                    exec(c, "UPDATE users SET password_hash = $2 WHERE id = $1", &[&id, v]).await?;
                }
                if let Some(v) = &patch.card_hash {
                    exec(c, "UPDATE users SET card_hash = $2 WHERE id = $1", &[&id, v]).await?;
                }
                if let Some(v) = &patch.disabled {
                    exec(c, "UPDATE users SET disabled = $2 WHERE id = $1", &[&id, v]).await?;
                }
                user_by(c, "id = $1", &id).await
            })
        })
        .await
    }

    async fn delete_user(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                if is_last_active_admin(c, id).await? {
                    return Err(StoreError::Conflict("last_admin"));
                }
                let n = exec(
                    c,
                    "UPDATE users SET deleted = TRUE, disabled = TRUE, username = NULL, password_hash = NULL,
                            card_hash = NULL, qr_hash = NULL WHERE id = $1 AND NOT deleted",
                    &[&id],
                )
                .await?;
                found(n)?;
                exec(c, "DELETE FROM tokens WHERE user_id = $1", &[&id]).await?;
                super::push::forget_user(c, id).await?;
                super::push::forget_settings(c, id).await?;
                exec(
                    c,
                    "DELETE FROM guardianships WHERE guardian_id = $1 OR student_id = $1",
                    &[&id],
                )
                .await?;
                exec(c, "DELETE FROM group_members WHERE user_id = $1", &[&id]).await?;
                exec(c, "DELETE FROM presences WHERE student_id = $1", &[&id]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn set_badge(&self, id: Id, qr_hash: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                found(
                    exec(
                        c,
                        "UPDATE users SET qr_hash = $2 WHERE id = $1 AND NOT deleted",
                        &[&id, &qr_hash],
                    )
                    .await?,
                )
            })
        })
        .await
    }

    async fn add_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO guardianships (guardian_id, student_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&guardian_id, &student_id],
                )
                .await
                .map(drop)
            })
        })
        .await
    }

    async fn remove_guardianship(&self, guardian_id: Id, student_id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                found(
                    exec(
                        c,
                        "DELETE FROM guardianships WHERE guardian_id = $1 AND student_id = $2",
                        &[&guardian_id, &student_id],
                    )
                    .await?,
                )
            })
        })
        .await
    }

    async fn is_guardian_of(&self, guardian_id: Id, student_id: Id) -> Result<bool> {
        let c = self.reader().await?;
        Ok(opt(
            &c,
            "SELECT 1 FROM guardianships WHERE guardian_id = $1 AND student_id = $2",
            &[&guardian_id, &student_id],
        )
        .await?
        .is_some())
    }

    async fn guardians_of(&self, student_id: Id) -> Result<Vec<Id>> {
        let c = self.reader().await?;
        ids(
            &c,
            "SELECT guardian_id FROM guardianships WHERE student_id = $1 ORDER BY guardian_id",
            &[&student_id],
        )
        .await
    }

    async fn children_of(&self, guardian_id: Id) -> Result<Vec<Id>> {
        let c = self.reader().await?;
        ids(
            &c,
            "SELECT student_id FROM guardianships WHERE guardian_id = $1 ORDER BY student_id",
            &[&guardian_id],
        )
        .await
    }

    async fn set_arrival_notices(&self, guardian_id: Id, student_id: Id, on: bool) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                found(
                    exec(
                        c,
                        "UPDATE guardianships SET arrival_notices = $3 WHERE guardian_id = $1 AND student_id = $2",
                        &[&guardian_id, &student_id, &on],
                    )
                    .await?,
                )
            })
        })
        .await
    }

    async fn arrival_notice_children(&self, guardian_id: Id) -> Result<Vec<Id>> {
        let c = self.reader().await?;
        ids(
            &c,
            "SELECT student_id FROM guardianships WHERE guardian_id = $1 AND arrival_notices ORDER BY student_id",
            &[&guardian_id],
        )
        .await
    }

    async fn arrival_notice_guardians(&self, student_id: Id) -> Result<Vec<Id>> {
        let c = self.reader().await?;
        ids(
            &c,
            "SELECT guardian_id FROM guardianships WHERE student_id = $1 AND arrival_notices ORDER BY guardian_id",
            &[&student_id],
        )
        .await
    }

    async fn quiet_hours(&self, user_id: Id) -> Result<Option<QuietHours>> {
        let c = self.reader().await?;
        let row = opt(&c, "SELECT days::text FROM quiet_hours WHERE user_id = $1", &[&user_id]).await?;
        row.map(|r| serde_json::from_str(r.get(0)).map_err(internal))
            .transpose()
    }

    async fn set_quiet_hours(&self, user_id: Id, hours: Option<QuietHours>) -> Result<()> {
        let json = hours.map(|h| serde_json::to_string(&h).map_err(internal)).transpose()?;
        self.write(move |c| {
            Box::pin(async move {
                match json {
                    Some(j) => {
                        exec(
                            c,
                            "INSERT INTO quiet_hours (user_id, days) VALUES ($1, $2::text::jsonb)
                             ON CONFLICT (user_id) DO UPDATE SET days = excluded.days",
                            &[&user_id, &j],
                        )
                        .await
                    }
                    None => exec(c, "DELETE FROM quiet_hours WHERE user_id = $1", &[&user_id]).await,
                }
                .map(drop)
            })
        })
        .await
    }

    async fn create_token(&self, hash: Vec<u8>, user_id: Id, now: Micros, expires_at: Micros) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                    &[&hash, &user_id, &now, &expires_at],
                )
                .await
                .map(drop)
            })
        })
        .await
    }

    async fn token_user(&self, hash: Vec<u8>, now: Micros) -> Result<Id> {
        let c = self.reader().await?;
        let row = one(
            &c,
            "SELECT user_id FROM tokens WHERE hash = $1 AND expires_at > $2",
            &[&hash, &now],
        )
        .await?;
        Ok(row.get(0))
    }

    async fn delete_token(&self, hash: Vec<u8>) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                super::push::forget_token(c, &hash).await?;
                exec(c, "DELETE FROM tokens WHERE hash = $1", &[&hash]).await.map(drop)
            })
        })
        .await
    }

    async fn delete_tokens_of(&self, user_id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                super::push::forget_user(c, user_id).await?;
                exec(c, "DELETE FROM tokens WHERE user_id = $1", &[&user_id])
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn create_room(&self, name: String, kind: String) -> Result<Room> {
        self.write(move |c| {
            Box::pin(async move {
                let row = one(
                    c,
                    "INSERT INTO rooms (name, kind) VALUES ($1, $2) RETURNING id",
                    &[&name, &kind],
                )
                .await?;
                Ok(Room {
                    id: row.get(0),
                    name,
                    kind,
                })
            })
        })
        .await
    }

    async fn room(&self, id: Id) -> Result<Room> {
        let c = self.reader().await?;
        Ok(room_row(
            &one(&c, "SELECT id, name, kind FROM rooms WHERE id = $1", &[&id]).await?,
        ))
    }

    async fn list_rooms(&self) -> Result<Vec<Room>> {
        let c = self.reader().await?;
        let rows = query(
            &c,
            "SELECT id, name, kind FROM rooms ORDER BY name COLLATE \"C\", id",
            &[],
        )
        .await?;
        Ok(rows.iter().map(room_row).collect())
    }

    async fn create_group(&self, name: String, member_ids: Vec<Id>, teacher_id: Option<Id>) -> Result<Group> {
        self.write(move |c| {
            Box::pin(async move {
                let row = one(
                    c,
                    "INSERT INTO groups (name, teacher_id) VALUES ($1, $2) RETURNING id",
                    &[&name, &teacher_id],
                )
                .await?;
                let id: Id = row.get(0);
                for m in &member_ids {
                    exec(
                        c,
                        "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&id, m],
                    )
                    .await?;
                }
                group_by_id(c, id).await
            })
        })
        .await
    }

    async fn group(&self, id: Id) -> Result<Group> {
        group_by_id(&*self.reader().await?, id).await
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        let c = self.reader().await?;
        let rows = query(&c, &group_select("TRUE", "g.name COLLATE \"C\""), &[]).await?;
        Ok(rows.iter().map(group_row).collect())
    }

    async fn groups_of(&self, user_id: Id) -> Result<Vec<Group>> {
        let c = self.reader().await?;
        let sql = group_select(
            "g.id IN (SELECT id FROM groups WHERE teacher_id = $1
                      UNION SELECT group_id FROM group_members WHERE user_id = $1)",
            "g.id",
        );
        let rows = query(&c, &sql, &[&user_id]).await?;
        Ok(rows.iter().map(group_row).collect())
    }

    async fn update_group(
        &self,
        id: Id,
        name: Option<String>,
        member_ids: Option<Vec<Id>>,
        teacher_id: Option<Option<Id>>,
    ) -> Result<Group> {
        self.write(move |c| Box::pin(schedule::update_group(c, id, name, member_ids, teacher_id)))
            .await
    }

    async fn delete_group(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "UPDATE timetable_slots SET group_id = NULL WHERE group_id = $1",
                    &[&id],
                )
                .await?;
                found(exec(c, "DELETE FROM groups WHERE id = $1", &[&id]).await?)
            })
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
            Box::pin(async move {
                let row = one(
                    c,
                    "INSERT INTO doorplates (room_id, name, pairing_hash, pairing_expires, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&room_id, &name, &pairing_hash, &expires, &now],
                )
                .await
                .map_err(room_ref)?;
                doorplate_by_id(c, row.get(0)).await
            })
        })
        .await
    }

    async fn pair_doorplate(&self, pairing_hash: Vec<u8>, token_hash: Vec<u8>, now: Micros) -> Result<Doorplate> {
        self.write(move |c| {
            Box::pin(async move {
                let row = one(
                    c,
                    "SELECT id FROM doorplates WHERE pairing_hash = $1 AND pairing_expires > $2",
                    &[&pairing_hash, &now],
                )
                .await?;
                let id: Id = row.get(0);
                exec(
                    c,
                    "UPDATE doorplates SET token_hash = $2, pairing_hash = NULL, pairing_expires = NULL, last_seen = $3
                      WHERE id = $1",
                    &[&id, &token_hash, &now],
                )
                .await?;
                doorplate_by_id(c, id).await
            })
        })
        .await
    }

    async fn renew_pairing(&self, id: Id, pairing_hash: Vec<u8>, expires: Micros) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                found(
                    exec(
                        c,
                        "UPDATE doorplates SET pairing_hash = $2, pairing_expires = $3 WHERE id = $1",
                        &[&id, &pairing_hash, &expires],
                    )
                    .await?,
                )
            })
        })
        .await
    }

    async fn doorplate(&self, id: Id) -> Result<Doorplate> {
        doorplate_by_id(&*self.reader().await?, id).await
    }

    async fn doorplate_by_token(&self, token_hash: Vec<u8>) -> Result<Doorplate> {
        let c = self.reader().await?;
        let sql = format!("SELECT {DOORPLATE_COLS} FROM doorplates WHERE token_hash = $1");
        Ok(doorplate_row(&one(&c, &sql, &[&token_hash]).await?))
    }

    async fn list_doorplates(&self) -> Result<Vec<Doorplate>> {
        let c = self.reader().await?;
        let sql = format!("SELECT {DOORPLATE_COLS} FROM doorplates ORDER BY name COLLATE \"C\", id");
        Ok(query(&c, &sql, &[]).await?.iter().map(doorplate_row).collect())
    }

    async fn touch_doorplate(&self, id: Id, now: Micros) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(c, "UPDATE doorplates SET last_seen = $2 WHERE id = $1", &[&id, &now])
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn update_doorplate(&self, id: Id, name: Option<String>, room_id: Option<Id>) -> Result<Doorplate> {
        self.write(move |c| {
            Box::pin(async move {
                let n = exec(
                    c,
                    "UPDATE doorplates SET name = COALESCE($2, name), room_id = COALESCE($3, room_id) WHERE id = $1",
                    &[&id, &name, &room_id],
                )
                .await
                .map_err(room_ref)?;
                found(n)?;
                doorplate_by_id(c, id).await
            })
        })
        .await
    }

    async fn unpair_doorplate(&self, id: Id) -> Result<Doorplate> {
        self.write(move |c| {
            Box::pin(async move {
                found(
                    exec(
                        c,
                        "UPDATE doorplates SET token_hash = NULL, pairing_hash = NULL, pairing_expires = NULL WHERE id = $1",
                        &[&id],
                    )
                    .await?,
                )?;
                doorplate_by_id(c, id).await
            })
        })
        .await
    }

    async fn delete_doorplate(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(c, "DELETE FROM presences WHERE doorplate_id = $1", &[&id]).await?;
                exec(c, "DELETE FROM suppressions WHERE doorplate_id = $1", &[&id]).await?;
                found(exec(c, "DELETE FROM doorplates WHERE id = $1", &[&id]).await?)
            })
        })
        .await
    }
}

/// Whether taking `id` out of the active admins would leave the school with none. It is
/// asked inside the write itself: the one writer runs the school's writes one at a time,
/// so two admins disabling each other at once cannot both pass the check.
async fn is_last_active_admin(c: &Conn, id: Id) -> Result<bool> {
    let row = one(
        c,
        "SELECT EXISTS(SELECT 1 FROM users WHERE id = $1 AND role = 'admin' AND NOT disabled AND NOT deleted)
            AND NOT EXISTS(SELECT 1 FROM users WHERE id <> $1 AND role = 'admin' AND NOT disabled AND NOT deleted)",
        &[&id],
    )
    .await?;
    Ok(row.get(0))
}
