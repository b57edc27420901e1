//! Timetable slots, arrangements and notices in SQLite, the schedule engine's memory,
//! and the import of CSV rows.

use super::rows::group_by_id;
use super::{SqliteStore, db};
use crate::*;
use doorplate_domain::timetable::{Arrangement, PeriodKind, Slot};
use rusqlite::{Connection, OptionalExtension, Row, params};

pub(super) const SLOT_COLS: &str =
    "id, room_id, weekday, start_secs, end_secs, kind, title, group_id, teacher_id, valid_from, valid_until";

fn conv(col: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, what.to_string().into())
}

fn date(r: &Row, col: usize) -> rusqlite::Result<Option<jiff::civil::Date>> {
    let v: Option<String> = r.get(col)?;
    v.map(|s| s.parse().map_err(|_| conv(col, "date"))).transpose()
}

pub(super) fn slot_row(r: &Row) -> rusqlite::Result<Slot> {
    let kind: String = r.get(5)?;
    Ok(Slot {
        id: r.get(0)?,
        room_id: r.get(1)?,
        weekday: r.get(2)?,
        start: r.get(3)?,
        end: r.get(4)?,
        kind: PeriodKind::parse(&kind).ok_or_else(|| conv(5, "kind"))?,
        title: r.get(6)?,
        group_id: r.get(7)?,
        teacher_id: r.get(8)?,
        valid_from: date(r, 9)?,
        valid_until: date(r, 10)?,
    })
}

pub(super) fn slot_by_id(c: &Connection, id: Id) -> Result<Slot> {
    c.prepare_cached(&format!("SELECT {SLOT_COLS} FROM timetable_slots WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], slot_row))
        .map_err(db)
}

pub(super) fn insert_slot(c: &Connection, s: &Slot) -> Result<Slot> {
    c.prepare_cached(
        "INSERT INTO timetable_slots (room_id, weekday, start_secs, end_secs, kind, title, group_id, teacher_id, valid_from, valid_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .and_then(|mut st| {
        st.execute(params![
            s.room_id, s.weekday, s.start, s.end, s.kind.as_str(), s.title, s.group_id, s.teacher_id,
            s.valid_from.map(|d| d.to_string()), s.valid_until.map(|d| d.to_string())
        ])
    })
    .map_err(db)?;
    slot_by_id(c, c.last_insert_rowid())
}

pub(super) fn update_slot(c: &Connection, s: &Slot) -> Result<Slot> {
    let n = c
        .execute(
            "UPDATE timetable_slots SET room_id = ?2, weekday = ?3, start_secs = ?4, end_secs = ?5, kind = ?6, title = ?7,
                    group_id = ?8, teacher_id = ?9, valid_from = ?10, valid_until = ?11 WHERE id = ?1",
            params![
                s.id, s.room_id, s.weekday, s.start, s.end, s.kind.as_str(), s.title, s.group_id, s.teacher_id,
                s.valid_from.map(|d| d.to_string()), s.valid_until.map(|d| d.to_string())
            ],
        )
        .map_err(db)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    slot_by_id(c, s.id)
}

pub(super) const ARR_COLS: &str = "id, room_id, kind, title, starts_at, ends_at, group_ids, user_ids, teacher_id";

pub(super) fn arrangement_row(r: &Row) -> rusqlite::Result<Arrangement> {
    let kind: String = r.get(2)?;
    let groups: String = r.get(6)?;
    let users: String = r.get(7)?;
    Ok(Arrangement {
        id: r.get(0)?,
        room_id: r.get(1)?,
        kind: PeriodKind::parse(&kind).ok_or_else(|| conv(2, "kind"))?,
        title: r.get(3)?,
        starts_at: r.get(4)?,
        ends_at: r.get(5)?,
        group_ids: serde_json::from_str(&groups).map_err(|_| conv(6, "group_ids"))?,
        user_ids: serde_json::from_str(&users).map_err(|_| conv(7, "user_ids"))?,
        teacher_id: r.get(8)?,
    })
}

pub(super) fn insert_arrangement(c: &Connection, a: &Arrangement, created_by: Id) -> Result<Arrangement> {
    c.execute(
        "INSERT INTO arrangements (room_id, kind, title, starts_at, ends_at, group_ids, user_ids, teacher_id, created_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            a.room_id, a.kind.as_str(), a.title, a.starts_at, a.ends_at,
            serde_json::to_string(&a.group_ids).unwrap_or_default(), serde_json::to_string(&a.user_ids).unwrap_or_default(),
            a.teacher_id, created_by
        ],
    )
    .map_err(db)?;
    Ok(Arrangement {
        id: c.last_insert_rowid(),
        ..a.clone()
    })
}

pub(super) const NOTICE_COLS: &str =
    "id, kind, title, body, room_ids, starts_on, ends_on, image_media_id, created_at, group_ids";

pub(super) fn notice_row(r: &Row) -> rusqlite::Result<Notice> {
    let rooms: String = r.get(4)?;
    Ok(Notice {
        id: r.get(0)?,
        kind: r.get(1)?,
        title: r.get(2)?,
        body: r.get(3)?,
        room_ids: serde_json::from_str(&rooms).map_err(|_| conv(4, "room_ids"))?,
        starts_on: r.get(5)?,
        ends_on: r.get(6)?,
        image_media_id: r.get(7)?,
        created_at: r.get(8)?,
        group_ids: serde_json::from_str(&r.get::<_, String>(9)?).map_err(|_| conv(9, "group_ids"))?,
    })
}

pub(super) fn save_notice(c: &Connection, n: &Notice, insert: bool) -> Result<Notice> {
    let rooms = serde_json::to_string(&n.room_ids).unwrap_or_default();
    let groups = serde_json::to_string(&n.group_ids).unwrap_or_default();
    let changed = if insert {
        c.execute(
            "INSERT INTO notices (kind, title, body, room_ids, starts_on, ends_on, image_media_id, created_at, group_ids)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![n.kind, n.title, n.body, rooms, n.starts_on, n.ends_on, n.image_media_id, n.created_at, groups],
        )
    } else {
        c.execute(
            "UPDATE notices SET kind = ?2, title = ?3, body = ?4, room_ids = ?5, starts_on = ?6, ends_on = ?7, image_media_id = ?8,
             group_ids = ?9 WHERE id = ?1",
            params![n.id, n.kind, n.title, n.body, rooms, n.starts_on, n.ends_on, n.image_media_id, groups],
        )
    }
    .map_err(db)?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    let id = if insert { c.last_insert_rowid() } else { n.id };
    notice_by_id(c, id)
}

pub(super) fn notice_by_id(c: &Connection, id: Id) -> Result<Notice> {
    c.prepare_cached(&format!("SELECT {NOTICE_COLS} FROM notices WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], notice_row))
        .map_err(db)
}

pub(super) fn update_group(
    c: &Connection,
    id: Id,
    name: Option<String>,
    members: Option<Vec<Id>>,
    teacher: Option<Option<Id>>,
) -> Result<Group> {
    group_by_id(c, id)?;
    if let Some(n) = name {
        c.execute("UPDATE groups SET name = ?2 WHERE id = ?1", params![id, n])
            .map_err(db)?;
    }
    if let Some(t) = teacher {
        c.execute("UPDATE groups SET teacher_id = ?2 WHERE id = ?1", params![id, t])
            .map_err(db)?;
    }
    if let Some(m) = members {
        c.execute("DELETE FROM group_members WHERE group_id = ?1", [id])
            .map_err(db)?;
        let mut s = c
            .prepare_cached("INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
            .map_err(db)?;
        for u in m {
            s.execute([id, u]).map_err(db)?;
        }
    }
    group_by_id(c, id)
}

fn user_id_by_name(c: &Connection, username: &str) -> Result<Option<(Id, Role)>> {
    use rusqlite::OptionalExtension;
    let row: Option<(Id, String)> = c
        .prepare_cached("SELECT id, role FROM users WHERE username = ?1 AND deleted = 0")
        .and_then(|mut s| s.query_row([username], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(db)?;
    Ok(row.map(|(id, role)| (id, Role::parse(&role).unwrap_or(Role::Student))))
}

fn id_by(c: &Connection, sql: &str, v: &str) -> Result<Option<Id>> {
    use rusqlite::OptionalExtension;
    c.prepare_cached(sql)
        .and_then(|mut s| s.query_row([v], |r| r.get(0)).optional())
        .map_err(db)
}

/// One import row; `Ok(true)` when it created something, `Ok(false)` when it updated.
fn apply(c: &Connection, op: &ImportOp, now: Micros) -> std::result::Result<bool, String> {
    let store_err = |e: StoreError| match e {
        StoreError::Conflict(f) => format!("{f} is already taken"),
        StoreError::BadReference(f) => format!("{f} refers to nothing"),
        other => other.to_string(),
    };
    let who = |u: &str, want: &[Role], what: &str| -> std::result::Result<Id, String> {
        match user_id_by_name(c, u).map_err(store_err)? {
            Some((id, role)) if want.contains(&role) => Ok(id),
            Some(_) => Err(format!("{u:?} is not a {what}")),
            None => Err(format!("no user named {u:?}")),
        }
    };
    match op {
        ImportOp::User {
            role,
            display_name,
            username,
            password_hash,
            card_hash,
        } => match user_id_by_name(c, username).map_err(store_err)? {
            Some((id, existing)) => {
                if existing != *role {
                    return Err(format!("{username:?} exists as a {}", existing.as_str()));
                }
                c.execute(
                    "UPDATE users SET display_name = ?2 WHERE id = ?1",
                    params![id, display_name],
                )
                .map_err(db)
                .map_err(store_err)?;
                if let Some(h) = password_hash {
                    c.execute("UPDATE users SET password_hash = ?2 WHERE id = ?1", params![id, h])
                        .map_err(db)
                        .map_err(store_err)?;
                }
                if let Some(h) = card_hash {
                    c.execute("UPDATE users SET card_hash = ?2 WHERE id = ?1", params![id, h])
                        .map_err(db)
                        .map_err(store_err)?;
                }
                Ok(false)
            }
            None => {
                c.execute(
                        "INSERT INTO users (role, display_name, username, password_hash, card_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![role.as_str(), display_name, username, password_hash, card_hash, now],
                    )
                    .map_err(db)
                    .map_err(store_err)?;
                Ok(true)
            }
        },
        ImportOp::Guardianship {
            guardian_username,
            student_username,
        } => {
            let g = who(guardian_username, &[Role::Guardian], "guardian")?;
            let s = who(student_username, &[Role::Student], "student")?;
            let n = c
                .execute(
                    "INSERT INTO guardianships (guardian_id, student_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    [g, s],
                )
                .map_err(db)
                .map_err(store_err)?;
            Ok(n == 1)
        }
        ImportOp::Group {
            name,
            teacher_username,
            member_usernames,
        } => {
            let teacher = teacher_username
                .as_deref()
                .map(|t| who(t, &[Role::Teacher, Role::Admin], "teacher"))
                .transpose()?;
            let members = member_usernames
                .iter()
                .map(|m| who(m, &[Role::Student], "student"))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            match id_by(c, "SELECT id FROM groups WHERE name = ?1", name).map_err(store_err)? {
                Some(id) => {
                    update_group(c, id, None, Some(members), Some(teacher)).map_err(store_err)?;
                    Ok(false)
                }
                None => {
                    c.execute(
                        "INSERT INTO groups (name, teacher_id) VALUES (?1, ?2)",
                        params![name, teacher],
                    )
                    .map_err(db)
                    .map_err(store_err)?;
                    let id = c.last_insert_rowid();
                    update_group(c, id, None, Some(members), None).map_err(store_err)?;
                    Ok(true)
                }
            }
        }
        ImportOp::Room { name, kind } => {
            match id_by(c, "SELECT id FROM rooms WHERE name = ?1", name).map_err(store_err)? {
                Some(id) => {
                    c.execute("UPDATE rooms SET kind = ?2 WHERE id = ?1", params![id, kind])
                        .map_err(db)
                        .map_err(store_err)?;
                    Ok(false)
                }
                None => {
                    c.execute("INSERT INTO rooms (name, kind) VALUES (?1, ?2)", params![name, kind])
                        .map_err(db)
                        .map_err(store_err)?;
                    Ok(true)
                }
            }
        }
        ImportOp::Slot {
            room_name,
            group_name,
            teacher_username,
            slot,
        } => {
            let room = id_by(c, "SELECT id FROM rooms WHERE name = ?1", room_name)
                .map_err(store_err)?
                .ok_or_else(|| format!("no room named {room_name:?}"))?;
            let group = id_by(c, "SELECT id FROM groups WHERE name = ?1", group_name)
                .map_err(store_err)?
                .ok_or_else(|| format!("no class named {group_name:?}"))?;
            let teacher = teacher_username
                .as_deref()
                .map(|t| who(t, &[Role::Teacher, Role::Admin], "teacher"))
                .transpose()?;
            insert_slot(
                c,
                &Slot {
                    room_id: room,
                    group_id: Some(group),
                    teacher_id: teacher,
                    ..slot.clone()
                },
            )
            .map_err(store_err)?;
            Ok(true)
        }
    }
}

/// Runs every row inside its own savepoint; keeps them only if none failed and this is
/// not a dry run.
pub(super) fn import(c: &Connection, ops: &[ImportOp], dry_run: bool, now: Micros) -> Result<ImportReport> {
    c.execute_batch("SAVEPOINT import").map_err(db)?;
    let mut report = ImportReport::default();
    for (i, op) in ops.iter().enumerate() {
        match apply(c, op, now) {
            Ok(true) => report.created += 1,
            Ok(false) => report.updated += 1,
            Err(e) => report.errors.push((i, e)),
        }
    }
    let end = if dry_run || !report.errors.is_empty() {
        "ROLLBACK TO import; RELEASE import"
    } else {
        "RELEASE import"
    };
    c.execute_batch(end).map_err(db)?;
    Ok(report)
}

#[async_trait]
impl ScheduleStore for SqliteStore {
    async fn slots(&self) -> Result<Vec<Slot>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!("SELECT {} FROM timetable_slots ORDER BY id", SLOT_COLS))
                .map_err(db)?;
            let rows = s.query_map([], slot_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn slot(&self, id: Id) -> Result<Slot> {
        self.read(move |c| slot_by_id(c, id)).await
    }

    async fn create_slot(&self, slot: Slot) -> Result<Slot> {
        self.write(move |c| insert_slot(c, &slot)).await
    }

    async fn update_slot(&self, slot: Slot) -> Result<Slot> {
        self.write(move |c| update_slot(c, &slot)).await
    }

    async fn delete_slot(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c
                .execute("DELETE FROM timetable_slots WHERE id = ?1", [id])
                .map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn arrangements(&self, after: Micros) -> Result<Vec<Arrangement>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {} FROM arrangements WHERE ends_at > ?1 ORDER BY starts_at, id",
                    ARR_COLS
                ))
                .map_err(db)?;
            let rows = s.query_map([after], arrangement_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn arrangement(&self, id: Id) -> Result<Arrangement> {
        self.read(move |c| {
            c.prepare_cached(&format!("SELECT {} FROM arrangements WHERE id = ?1", ARR_COLS))
                .and_then(|mut s| s.query_row([id], arrangement_row))
                .map_err(db)
        })
        .await
    }

    async fn create_arrangement(&self, a: Arrangement, created_by: Id) -> Result<Arrangement> {
        self.write(move |c| insert_arrangement(c, &a, created_by)).await
    }

    async fn delete_arrangement(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c.execute("DELETE FROM arrangements WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn notices(&self) -> Result<Vec<Notice>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(&format!("SELECT {} FROM notices ORDER BY id DESC", NOTICE_COLS))
                .map_err(db)?;
            let rows = s.query_map([], notice_row).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn notice(&self, id: Id) -> Result<Notice> {
        self.read(move |c| notice_by_id(c, id)).await
    }

    async fn create_notice(&self, n: Notice) -> Result<Notice> {
        self.write(move |c| save_notice(c, &n, true)).await
    }

    async fn update_notice(&self, n: Notice) -> Result<Notice> {
        self.write(move |c| save_notice(c, &n, false)).await
    }

    async fn delete_notice(&self, id: Id) -> Result<()> {
        self.write(move |c| {
            let n = c.execute("DELETE FROM notices WHERE id = ?1", [id]).map_err(db)?;
            if n == 0 { Err(StoreError::NotFound) } else { Ok(()) }
        })
        .await
    }

    async fn suppressions(&self) -> Result<Vec<(Id, Id, Micros)>> {
        self.read(|c| {
            let mut s = c
                .prepare_cached("SELECT student_id, doorplate_id, until FROM suppressions")
                .map_err(db)?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
        })
        .await
    }

    async fn suppress(&self, student_id: Id, doorplate_id: Id, until: Micros) -> Result<()> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO suppressions (student_id, doorplate_id, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (student_id, doorplate_id) DO UPDATE SET until = ?3",
            )
            .and_then(|mut s| s.execute([student_id, doorplate_id, until]))
            .map(drop)
            .map_err(db)
        })
        .await
    }

    async fn drop_suppressions_before(&self, now: Micros) -> Result<()> {
        self.write(move |c| {
            c.execute("DELETE FROM suppressions WHERE until <= ?1", [now])
                .map(drop)
                .map_err(db)
        })
        .await
    }

    async fn kv_get(&self, key: String) -> Result<Option<String>> {
        self.read(move |c| {
            c.query_row("SELECT value FROM kv WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(db)
        })
        .await
    }

    async fn kv_put(&self, key: String, value: String) -> Result<()> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .map(drop)
            .map_err(db)
        })
        .await
    }
}
