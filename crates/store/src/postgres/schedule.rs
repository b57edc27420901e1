//! Timetable slots, arrangements and notices in PostgreSQL, the schedule engine's
//! memory, and the import of CSV rows.

use super::rows::*;
use super::{Conn, PgStore, internal};
use crate::*;
use doorplate_domain::timetable::{Arrangement, PeriodKind, Slot};
use tokio_postgres::Row;

const SLOT_COLS: &str = "id, room_id, weekday, start_secs, end_secs, kind, title, group_id, teacher_id,
     to_char(valid_from, 'YYYY-MM-DD'), to_char(valid_until, 'YYYY-MM-DD')";

fn date(r: &Row, col: usize) -> Result<Option<jiff::civil::Date>> {
    let v: Option<&str> = r.get(col);
    v.map(|s| {
        s.parse()
            .map_err(|_| internal(format!("bad date {s:?} in the database")))
    })
    .transpose()
}

fn kind(k: &str) -> Result<PeriodKind> {
    PeriodKind::parse(k).ok_or_else(|| internal(format!("unknown period kind {k:?} in the database")))
}

fn slot_row(r: &Row) -> Result<Slot> {
    let secs = |col: usize| u32::try_from(r.get::<_, i64>(col)).map_err(internal);
    Ok(Slot {
        id: r.get(0),
        room_id: r.get(1),
        weekday: u8::try_from(r.get::<_, i16>(2)).map_err(internal)?,
        start: secs(3)?,
        end: secs(4)?,
        kind: kind(r.get(5))?,
        title: r.get(6),
        group_id: r.get(7),
        teacher_id: r.get(8),
        valid_from: date(r, 9)?,
        valid_until: date(r, 10)?,
    })
}

async fn slot_by_id(c: &Conn, id: Id) -> Result<Slot> {
    slot_row(
        &one(
            c,
            &format!("SELECT {SLOT_COLS} FROM timetable_slots WHERE id = $1"),
            &[&id],
        )
        .await?,
    )
}

async fn insert_slot(c: &Conn, s: &Slot) -> Result<Slot> {
    let row = one(
        c,
        "INSERT INTO timetable_slots (room_id, weekday, start_secs, end_secs, kind, title, group_id, teacher_id,
                                      valid_from, valid_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::text::date, $10::text::date) RETURNING id",
        &[
            &s.room_id,
            &i16::from(s.weekday),
            &i64::from(s.start),
            &i64::from(s.end),
            &s.kind.as_str(),
            &s.title,
            &s.group_id,
            &s.teacher_id,
            &s.valid_from.map(|d| d.to_string()),
            &s.valid_until.map(|d| d.to_string()),
        ],
    )
    .await?;
    slot_by_id(c, row.get(0)).await
}

async fn update_slot(c: &Conn, s: &Slot) -> Result<Slot> {
    let n = exec(
        c,
        "UPDATE timetable_slots SET room_id = $2, weekday = $3, start_secs = $4, end_secs = $5, kind = $6, title = $7,
                group_id = $8, teacher_id = $9, valid_from = $10::text::date, valid_until = $11::text::date
          WHERE id = $1",
        &[
            &s.id,
            &s.room_id,
            &i16::from(s.weekday),
            &i64::from(s.start),
            &i64::from(s.end),
            &s.kind.as_str(),
            &s.title,
            &s.group_id,
            &s.teacher_id,
            &s.valid_from.map(|d| d.to_string()),
            &s.valid_until.map(|d| d.to_string()),
        ],
    )
    .await?;
    found(n)?;
    slot_by_id(c, s.id).await
}

const ARR_COLS: &str = "id, room_id, kind, title, starts_at, ends_at, group_ids, user_ids, teacher_id";

fn arrangement_row(r: &Row) -> Result<Arrangement> {
    Ok(Arrangement {
        id: r.get(0),
        room_id: r.get(1),
        kind: kind(r.get(2))?,
        title: r.get(3),
        starts_at: r.get(4),
        ends_at: r.get(5),
        group_ids: r.get(6),
        user_ids: r.get(7),
        teacher_id: r.get(8),
    })
}

const NOTICE_COLS: &str = "id, kind, title, body, room_ids, starts_on, ends_on, image_media_id, created_at, group_ids";

fn notice_row(r: &Row) -> Notice {
    Notice {
        id: r.get(0),
        kind: r.get(1),
        title: r.get(2),
        body: r.get(3),
        room_ids: r.get(4),
        starts_on: r.get(5),
        ends_on: r.get(6),
        image_media_id: r.get(7),
        created_at: r.get(8),
        group_ids: r.get(9),
    }
}

async fn notice_by_id(c: &Conn, id: Id) -> Result<Notice> {
    Ok(notice_row(
        &one(c, &format!("SELECT {NOTICE_COLS} FROM notices WHERE id = $1"), &[&id]).await?,
    ))
}

async fn save_notice(c: &Conn, n: &Notice, insert: bool) -> Result<Notice> {
    let id: Id = if insert {
        one(
            c,
            "INSERT INTO notices (kind, title, body, room_ids, starts_on, ends_on, image_media_id, created_at, group_ids)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            &[
                &n.kind,
                &n.title,
                &n.body,
                &n.room_ids,
                &n.starts_on,
                &n.ends_on,
                &n.image_media_id,
                &n.created_at,
                &n.group_ids,
            ],
        )
        .await?
        .get(0)
    } else {
        found(
            exec(
                c,
                "UPDATE notices SET kind = $2, title = $3, body = $4, room_ids = $5, starts_on = $6, ends_on = $7,
                        image_media_id = $8, group_ids = $9 WHERE id = $1",
                &[
                    &n.id,
                    &n.kind,
                    &n.title,
                    &n.body,
                    &n.room_ids,
                    &n.starts_on,
                    &n.ends_on,
                    &n.image_media_id,
                    &n.group_ids,
                ],
            )
            .await?,
        )?;
        n.id
    };
    notice_by_id(c, id).await
}

pub(super) async fn update_group(
    c: &Conn,
    id: Id,
    name: Option<String>,
    members: Option<Vec<Id>>,
    teacher: Option<Option<Id>>,
) -> Result<Group> {
    group_by_id(c, id).await?;
    if let Some(n) = &name {
        exec(c, "UPDATE groups SET name = $2 WHERE id = $1", &[&id, n]).await?;
    }
    if let Some(t) = &teacher {
        exec(c, "UPDATE groups SET teacher_id = $2 WHERE id = $1", &[&id, t]).await?;
    }
    if let Some(m) = &members {
        exec(c, "DELETE FROM group_members WHERE group_id = $1", &[&id]).await?;
        for u in m {
            exec(
                c,
                "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, u],
            )
            .await?;
        }
    }
    group_by_id(c, id).await
}

async fn user_id_by_name(c: &Conn, username: &str) -> Result<Option<(Id, Role)>> {
    let row = opt(
        c,
        "SELECT id, role FROM users WHERE lower(username) = lower($1) AND NOT deleted",
        &[&username],
    )
    .await?;
    Ok(row.map(|r| (r.get(0), Role::parse(r.get(1)).unwrap_or(Role::Student))))
}

async fn id_by_name(c: &Conn, table: &str, name: &str) -> Result<Option<Id>> {
    let sql = format!("SELECT id FROM {table} WHERE name = $1 ORDER BY id LIMIT 1");
    Ok(opt(c, &sql, &[&name]).await?.map(|r| r.get(0)))
}

/// An import row's store error, as its report says it.
fn said(e: StoreError) -> String {
    match e {
        StoreError::Conflict(f) => format!("{f} is already taken"),
        StoreError::BadReference(f) => format!("{f} refers to nothing"),
        other => other.to_string(),
    }
}

/// The user named `u` if their role is one of `want`.
async fn who(c: &Conn, u: &str, want: &[Role], what: &str) -> std::result::Result<Id, String> {
    match user_id_by_name(c, u).await.map_err(said)? {
        Some((id, role)) if want.contains(&role) => Ok(id),
        Some(_) => Err(format!("{u:?} is not a {what}")),
        None => Err(format!("no user named {u:?}")),
    }
}

/// One import row; `Ok(true)` when it created something, `Ok(false)` when it updated.
async fn apply(c: &Conn, op: &ImportOp, now: Micros) -> std::result::Result<bool, String> {
    match op {
        ImportOp::User {
            role,
            display_name,
            username,
            password_hash,
            card_hash,
        } => match user_id_by_name(c, username).await.map_err(said)? {
            Some((id, existing)) => {
                if existing != *role {
                    return Err(format!("{username:?} exists as a {}", existing.as_str()));
                }
                exec(
                    c,
                    "UPDATE users SET display_name = $2 WHERE id = $1",
                    &[&id, display_name],
                )
                .await
                .map_err(said)?;
                if let Some(h) = password_hash {
                    exec(c, "UPDATE users SET password_hash = $2 WHERE id = $1", &[&id, h])
                        .await
                        .map_err(said)?;
                }
                if let Some(h) = card_hash {
                    exec(c, "UPDATE users SET card_hash = $2 WHERE id = $1", &[&id, h])
                        .await
                        .map_err(said)?;
                }
                Ok(false)
            }
            None => {
                exec(
                    c,
                    "INSERT INTO users (role, display_name, username, password_hash, card_hash, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[&role.as_str(), display_name, username, password_hash, card_hash, &now],
                )
                .await
                .map_err(said)?;
                Ok(true)
            }
        },
        ImportOp::Guardianship {
            guardian_username,
            student_username,
        } => {
            let g = who(c, guardian_username, &[Role::Guardian], "guardian").await?;
            let s = who(c, student_username, &[Role::Student], "student").await?;
            let n = exec(
                c,
                "INSERT INTO guardianships (guardian_id, student_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&g, &s],
            )
            .await
            .map_err(said)?;
            Ok(n == 1)
        }
        ImportOp::Group {
            name,
            teacher_username,
            member_usernames,
        } => {
            let teacher = match teacher_username.as_deref() {
                Some(t) => Some(who(c, t, &[Role::Teacher, Role::Admin], "teacher").await?),
                None => None,
            };
            let mut members = Vec::with_capacity(member_usernames.len());
            for m in member_usernames {
                members.push(who(c, m, &[Role::Student], "student").await?);
            }
            match id_by_name(c, "groups", name).await.map_err(said)? {
                Some(id) => {
                    update_group(c, id, None, Some(members), Some(teacher))
                        .await
                        .map_err(said)?;
                    Ok(false)
                }
                None => {
                    let row = one(
                        c,
                        "INSERT INTO groups (name, teacher_id) VALUES ($1, $2) RETURNING id",
                        &[name, &teacher],
                    )
                    .await
                    .map_err(said)?;
                    update_group(c, row.get(0), None, Some(members), None)
                        .await
                        .map_err(said)?;
                    Ok(true)
                }
            }
        }
        ImportOp::Room { name, kind } => match id_by_name(c, "rooms", name).await.map_err(said)? {
            Some(id) => {
                exec(c, "UPDATE rooms SET kind = $2 WHERE id = $1", &[&id, kind])
                    .await
                    .map_err(said)?;
                Ok(false)
            }
            None => {
                exec(c, "INSERT INTO rooms (name, kind) VALUES ($1, $2)", &[name, kind])
                    .await
                    .map_err(said)?;
                Ok(true)
            }
        },
        ImportOp::Slot {
            room_name,
            group_name,
            teacher_username,
            slot,
        } => {
            let room = id_by_name(c, "rooms", room_name)
                .await
                .map_err(said)?
                .ok_or_else(|| format!("no room named {room_name:?}"))?;
            let group = id_by_name(c, "groups", group_name)
                .await
                .map_err(said)?
                .ok_or_else(|| format!("no class named {group_name:?}"))?;
            let teacher = match teacher_username.as_deref() {
                Some(t) => Some(who(c, t, &[Role::Teacher, Role::Admin], "teacher").await?),
                None => None,
            };
            insert_slot(
                c,
                &Slot {
                    room_id: room,
                    group_id: Some(group),
                    teacher_id: teacher,
                    ..slot.clone()
                },
            )
            .await
            .map_err(said)?;
            Ok(true)
        }
    }
}

/// Runs every row in its own savepoint (in PostgreSQL a failed statement spoils the
/// transaction until rolled back to one, and the rows after it must still be checked),
/// inside one for the whole import; keeps them only if none failed and this is not a
/// dry run.
pub(super) async fn import(c: &Conn, ops: &[ImportOp], dry_run: bool, now: Micros) -> Result<ImportReport> {
    use super::errors::db;
    c.batch_execute("SAVEPOINT import").await.map_err(db)?;
    let mut report = ImportReport::default();
    for (i, op) in ops.iter().enumerate() {
        c.batch_execute("SAVEPOINT import_row").await.map_err(db)?;
        let outcome = apply(c, op, now).await;
        let end = if outcome.is_ok() {
            "RELEASE import_row"
        } else {
            "ROLLBACK TO SAVEPOINT import_row; RELEASE import_row"
        };
        c.batch_execute(end).await.map_err(db)?;
        match outcome {
            Ok(true) => report.created += 1,
            Ok(false) => report.updated += 1,
            Err(e) => report.errors.push((i, e)),
        }
    }
    let end = if dry_run || !report.errors.is_empty() {
        "ROLLBACK TO SAVEPOINT import; RELEASE import"
    } else {
        "RELEASE import"
    };
    c.batch_execute(end).await.map_err(db)?;
    Ok(report)
}

#[async_trait]
impl ScheduleStore for PgStore {
    async fn slots(&self) -> Result<Vec<Slot>> {
        let c = self.reader().await?;
        query(&c, &format!("SELECT {SLOT_COLS} FROM timetable_slots ORDER BY id"), &[])
            .await?
            .iter()
            .map(slot_row)
            .collect()
    }

    async fn slot(&self, id: Id) -> Result<Slot> {
        slot_by_id(&*self.reader().await?, id).await
    }

    async fn create_slot(&self, slot: Slot) -> Result<Slot> {
        self.write(move |c| Box::pin(async move { insert_slot(c, &slot).await }))
            .await
    }

    async fn update_slot(&self, slot: Slot) -> Result<Slot> {
        self.write(move |c| Box::pin(async move { update_slot(c, &slot).await }))
            .await
    }

    async fn delete_slot(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move { found(exec(c, "DELETE FROM timetable_slots WHERE id = $1", &[&id]).await?) })
        })
        .await
    }

    async fn arrangements(&self, after: Micros) -> Result<Vec<Arrangement>> {
        let c = self.reader().await?;
        let sql = format!("SELECT {ARR_COLS} FROM arrangements WHERE ends_at > $1 ORDER BY starts_at, id");
        query(&c, &sql, &[&after]).await?.iter().map(arrangement_row).collect()
    }

    async fn arrangement(&self, id: Id) -> Result<Arrangement> {
        let c = self.reader().await?;
        let sql = format!("SELECT {ARR_COLS} FROM arrangements WHERE id = $1");
        arrangement_row(&one(&c, &sql, &[&id]).await?)
    }

    async fn create_arrangement(&self, a: Arrangement, created_by: Id) -> Result<Arrangement> {
        self.write(move |c| {
            Box::pin(async move {
                let row = one(
                    c,
                    "INSERT INTO arrangements (room_id, kind, title, starts_at, ends_at, group_ids, user_ids, teacher_id,
                                               created_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                    &[
                        &a.room_id,
                        &a.kind.as_str(),
                        &a.title,
                        &a.starts_at,
                        &a.ends_at,
                        &a.group_ids,
                        &a.user_ids,
                        &a.teacher_id,
                        &created_by,
                    ],
                )
                .await?;
                Ok(Arrangement { id: row.get(0), ..a })
            })
        })
        .await
    }

    async fn delete_arrangement(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move { found(exec(c, "DELETE FROM arrangements WHERE id = $1", &[&id]).await?) })
        })
        .await
    }

    async fn notices(&self) -> Result<Vec<Notice>> {
        let c = self.reader().await?;
        let sql = format!("SELECT {NOTICE_COLS} FROM notices ORDER BY id DESC");
        Ok(query(&c, &sql, &[]).await?.iter().map(notice_row).collect())
    }

    async fn notice(&self, id: Id) -> Result<Notice> {
        notice_by_id(&*self.reader().await?, id).await
    }

    async fn create_notice(&self, n: Notice) -> Result<Notice> {
        self.write(move |c| Box::pin(async move { save_notice(c, &n, true).await }))
            .await
    }

    async fn update_notice(&self, n: Notice) -> Result<Notice> {
        self.write(move |c| Box::pin(async move { save_notice(c, &n, false).await }))
            .await
    }

    async fn delete_notice(&self, id: Id) -> Result<()> {
        self.write(move |c| Box::pin(async move { found(exec(c, "DELETE FROM notices WHERE id = $1", &[&id]).await?) }))
            .await
    }

    async fn suppressions(&self) -> Result<Vec<(Id, Id, Micros)>> {
        let c = self.reader().await?;
        Ok(query(
            &c,
            "SELECT student_id, doorplate_id, until FROM suppressions ORDER BY student_id, doorplate_id",
            &[],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
    }

    async fn suppress(&self, student_id: Id, doorplate_id: Id, until: Micros) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO suppressions (student_id, doorplate_id, until) VALUES ($1, $2, $3)
                     ON CONFLICT (student_id, doorplate_id) DO UPDATE SET until = excluded.until",
                    &[&student_id, &doorplate_id, &until],
                )
                .await
                .map(drop)
            })
        })
        .await
    }

    async fn drop_suppressions_before(&self, now: Micros) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(c, "DELETE FROM suppressions WHERE until <= $1", &[&now])
                    .await
                    .map(drop)
            })
        })
        .await
    }

    async fn kv_get(&self, key: String) -> Result<Option<String>> {
        let c = self.reader().await?;
        Ok(opt(&c, "SELECT value FROM kv WHERE key = $1", &[&key])
            .await?
            .map(|r| r.get(0)))
    }

    async fn kv_put(&self, key: String, value: String) -> Result<()> {
        self.write(move |c| {
            Box::pin(async move {
                exec(
                    c,
                    "INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&key, &value],
                )
                .await
                .map(drop)
            })
        })
        .await
    }
}
