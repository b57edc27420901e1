//! The weekly timetable. Every change takes effect at once: the engine recomputes and
//! the room's doorplates get `schedule.changed`. Arrangements made in advance are
//! `arrangements.rs`.

use super::{ApiId, parse_id, query_id, required_text};
use crate::auth::{AdminAuth, StaffAuth};
use crate::error::{ApiError, ApiResult, Json, NotFoundAs, Path, Query};
use crate::hub::Principal;
use crate::school::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use doorplate_domain::Id;
use doorplate_domain::settings::parse_hhmm;
use doorplate_domain::timetable::{PeriodKind, Slot};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_slots, create_slot))
        .routes(routes!(update_slot, delete_slot))
}

fn hhmm(secs: u32) -> String {
    if secs.is_multiple_of(60) {
        format!("{:02}:{:02}", secs / 3600, (secs / 60) % 60)
    } else {
        format!("{:02}:{:02}:{:02}", secs / 3600, (secs / 60) % 60, secs % 60)
    }
}

#[derive(Serialize, ToSchema)]
pub struct SlotView {
    pub id: String,
    pub room_id: String,
    /// 1 = Monday … 7 = Sunday
    pub weekday: u8,
    pub start: String,
    pub end: String,
    /// lesson | exam | meeting | dorm | activity
    pub kind: String,
    pub title: String,
    pub group_id: Option<String>,
    pub teacher_id: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    /// Other slots at overlapping times in the same room, class or with the same teacher.
    pub conflicts: Vec<String>,
    /// The same slots as `conflicts`, described so a notice can name them without
    /// loading another room's or class's timetable.
    pub conflicts_with: Vec<SlotConflict>,
}

/// A slot that overlaps another: what a person needs to find it.
#[derive(Serialize, ToSchema)]
pub struct SlotConflict {
    pub id: String,
    pub title: String,
    /// lesson | exam | meeting | dorm | activity
    pub kind: String,
    pub room_id: String,
    pub room_name: String,
    /// 1 = Monday … 7 = Sunday
    pub weekday: u8,
    pub start: String,
    pub end: String,
    pub group_id: Option<String>,
    pub teacher_id: Option<String>,
}

fn overlaps(a: &Slot, b: &Slot) -> bool {
    // Date ranges (None = open-ended) must share a day, then the times of that weekday.
    let lo = a.valid_from.max(b.valid_from);
    let hi = match (a.valid_until, b.valid_until) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let dates = !matches!((lo, hi), (Some(l), Some(h)) if l > h);
    let span = |s: &Slot| {
        if s.end > s.start {
            (s.start, s.end)
        } else {
            (s.start, s.end + 86_400)
        }
    };
    let ((a0, a1), (b0, b1)) = (span(a), span(b));
    a.id != b.id && a.weekday == b.weekday && dates && a0 < b1 && b0 < a1
}

fn conflicting<'a>(slot: &'a Slot, all: &'a [Slot]) -> impl Iterator<Item = &'a Slot> {
    all.iter().filter(|o| overlaps(slot, o)).filter(|o| {
        o.room_id == slot.room_id
            || (slot.group_id.is_some() && o.group_id == slot.group_id)
            || (slot.teacher_id.is_some() && o.teacher_id == slot.teacher_id)
    })
}

/// Room names by id, for naming the rooms of conflicting slots.
type RoomNames = HashMap<Id, String>;

async fn room_names(app: &AppState) -> ApiResult<RoomNames> {
    Ok(app
        .store
        .list_rooms()
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect())
}

fn slot_view(s: &Slot, all: &[Slot], rooms: &RoomNames) -> SlotView {
    SlotView {
        id: s.id.to_string(),
        room_id: s.room_id.to_string(),
        weekday: s.weekday,
        start: hhmm(s.start),
        end: hhmm(s.end),
        kind: s.kind.as_str().into(),
        title: s.title.clone(),
        group_id: s.group_id.map(|g| g.to_string()),
        teacher_id: s.teacher_id.map(|t| t.to_string()),
        valid_from: s.valid_from.map(|d| d.to_string()),
        valid_until: s.valid_until.map(|d| d.to_string()),
        conflicts: conflicting(s, all).map(|o| o.id.to_string()).collect(),
        conflicts_with: conflicting(s, all)
            .map(|o| SlotConflict {
                id: o.id.to_string(),
                title: o.title.clone(),
                kind: o.kind.as_str().into(),
                room_id: o.room_id.to_string(),
                room_name: rooms.get(&o.room_id).cloned().unwrap_or_default(),
                weekday: o.weekday,
                start: hhmm(o.start),
                end: hhmm(o.end),
                group_id: o.group_id.map(|g| g.to_string()),
                teacher_id: o.teacher_id.map(|t| t.to_string()),
            })
            .collect(),
    }
}

#[derive(Deserialize, IntoParams)]
pub struct SlotQuery {
    pub room_id: Option<String>,
    pub group_id: Option<String>,
    pub teacher_id: Option<String>,
}

/// GET /api/v1/timetable?room_id=|group_id=|teacher_id= — weekly slots (staff).
#[utoipa::path(get, path = "/timetable", tag = "timetable", params(SlotQuery), responses((status = 200, body = Vec<SlotView>)))]
async fn list_slots(
    State(app): State<AppState>,
    StaffAuth(_): StaffAuth,
    Query(q): Query<SlotQuery>,
) -> ApiResult<axum::Json<Vec<SlotView>>> {
    let all = app.store.slots().await?;
    let rooms = room_names(&app).await?;
    let (room, group, teacher) = (
        query_id("room_id", q.room_id.as_deref())?,
        query_id("group_id", q.group_id.as_deref())?,
        query_id("teacher_id", q.teacher_id.as_deref())?,
    );
    Ok(axum::Json(
        all.iter()
            .filter(|s| {
                room.is_none_or(|r| s.room_id == r)
                    && group.is_none_or(|g| s.group_id == Some(g))
                    && teacher.is_none_or(|t| s.teacher_id == Some(t))
            })
            .map(|s| slot_view(s, &all, &rooms))
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotRequest {
    pub room_id: ApiId,
    pub weekday: u8,
    /// "HH:MM" or "HH:MM:SS" in the school's zone.
    pub start: String,
    pub end: String,
    pub kind: String,
    pub title: String,
    /// The class (required).
    pub group_id: Option<ApiId>,
    pub teacher_id: Option<ApiId>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlotPatch {
    pub room_id: Option<ApiId>,
    pub weekday: Option<u8>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub kind: Option<String>,
    pub title: Option<String>,
    pub group_id: Option<ApiId>,
    /// `null` removes the teacher.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub teacher_id: Option<Option<ApiId>>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

/// A field that was given, even as `null` (`Some(None)`), apart from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<ApiId>>, D::Error> {
    Option::<ApiId>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct SlotResponse {
    pub slot: SlotView,
}

pub fn parse_kind(k: &str) -> ApiResult<PeriodKind> {
    PeriodKind::parse(k).ok_or_else(|| ApiError::bad("bad_kind", "kind is lesson, exam, meeting, dorm or activity"))
}

fn parse_date(field: &str, v: &Option<String>) -> ApiResult<Option<jiff::civil::Date>> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| ApiError::bad("bad_date", format!("{field} must be a date as YYYY-MM-DD")))
        })
        .transpose()
}

/// Checks a slot's fields and references; the same rules for create, edit and import.
pub fn check_slot_fields(weekday: u8, start: &str, end: &str, title: &str) -> ApiResult<(u32, u32, String)> {
    if !(1..=7).contains(&weekday) {
        return Err(ApiError::bad("bad_weekday", "weekday is 1 (Monday) to 7 (Sunday)"));
    }
    let s = parse_hhmm(start).ok_or_else(|| ApiError::bad("bad_time", "start must be HH:MM"))?;
    let e = parse_hhmm(end).ok_or_else(|| ApiError::bad("bad_time", "end must be HH:MM"))?;
    if s == e {
        return Err(ApiError::Unprocessable(
            "empty_slot",
            "a slot must end after it starts".into(),
        ));
    }
    Ok((s, e, required_text("title", title, 100)?))
}

async fn check_refs(app: &AppState, slot: &Slot) -> ApiResult<()> {
    app.store
        .room(slot.room_id)
        .await
        .or_unprocessable("unknown_room", "room_id refers to no room")?;
    if let Some(g) = slot.group_id {
        app.store
            .group(g)
            .await
            .or_unprocessable("unknown_group", "group_id refers to no class")?;
    }
    if let Some(t) = slot.teacher_id {
        let u = app
            .store
            .user(t)
            .await
            .or_unprocessable("unknown_teacher", "teacher_id refers to nobody")?;
        if !u.role.is_staff() {
            return Err(ApiError::Unprocessable(
                "unknown_teacher",
                "teacher_id must be staff".into(),
            ));
        }
    }
    if let (Some(f), Some(u)) = (slot.valid_from, slot.valid_until)
        && u < f
    {
        return Err(ApiError::Unprocessable(
            "bad_dates",
            "valid_until is before valid_from".into(),
        ));
    }
    Ok(())
}

/// Tells the room's doorplates to refresh their periods, and the engine to look again.
pub async fn schedule_changed(app: &AppState, rooms: &[Id]) {
    app.engine.reload().await;
    for r in rooms {
        for d in app.schedule.plates_of_room(*r) {
            app.hub.publish(
                Principal::Device(d),
                "schedule.changed",
                &json!({"room_id": r.to_string()}),
            );
        }
    }
}

/// POST /api/v1/timetable — add a weekly slot (admin). Overlaps are reported in
/// `conflicts`, not refused.
#[utoipa::path(post, path = "/timetable", tag = "timetable", request_body = SlotRequest,
    responses((status = 201, body = SlotResponse), (status = 400), (status = 422)))]
async fn create_slot(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Json(r): Json<SlotRequest>,
) -> ApiResult<(StatusCode, axum::Json<SlotResponse>)> {
    let (start, end, title) = check_slot_fields(r.weekday, &r.start, &r.end, &r.title)?;
    let slot = Slot {
        id: 0,
        room_id: r.room_id.0,
        weekday: r.weekday,
        start,
        end,
        kind: parse_kind(&r.kind)?,
        title,
        group_id: Some(
            r.group_id
                .ok_or_else(|| {
                    ApiError::bad("missing_field", "choose the class this slot is for")
                        .with_params(serde_json::json!({"field": "group_id"}))
                })?
                .0,
        ),
        teacher_id: r.teacher_id.map(|t| t.0),
        valid_from: parse_date("valid_from", &r.valid_from)?,
        valid_until: parse_date("valid_until", &r.valid_until)?,
    };
    check_refs(&app, &slot).await?;
    let slot = app.store.create_slot(slot).await?;
    app.audit(
        Some(admin.id),
        "timetable.created",
        Some(slot.id),
        json!({"room_id": slot.room_id}),
    )
    .await;
    schedule_changed(&app, &[slot.room_id]).await;
    let all = app.store.slots().await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SlotResponse {
            slot: slot_view(&slot, &all, &room_names(&app).await?),
        }),
    ))
}

/// PATCH /api/v1/timetable/{id} — change a slot (admin).
#[utoipa::path(patch, path = "/timetable/{id}", tag = "timetable", params(("id" = String, Path)), request_body = SlotPatch,
    responses((status = 200, body = SlotResponse), (status = 400), (status = 404), (status = 422)))]
async fn update_slot(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
    Json(p): Json<SlotPatch>,
) -> ApiResult<axum::Json<SlotResponse>> {
    let id = parse_id(&id)?;
    let old = app.store.slot(id).await.or_not_found("slot")?;
    let (start, end, title) = check_slot_fields(
        p.weekday.unwrap_or(old.weekday),
        p.start.as_deref().unwrap_or(&hhmm(old.start)),
        p.end.as_deref().unwrap_or(&hhmm(old.end)),
        p.title.as_deref().unwrap_or(&old.title),
    )?;
    let slot = Slot {
        id,
        room_id: p.room_id.map_or(old.room_id, |r| r.0),
        weekday: p.weekday.unwrap_or(old.weekday),
        start,
        end,
        kind: match &p.kind {
            Some(k) => parse_kind(k)?,
            None => old.kind,
        },
        title,
        group_id: p.group_id.map(|g| g.0).or(old.group_id),
        teacher_id: match p.teacher_id {
            Some(t) => t.map(|t| t.0),
            None => old.teacher_id,
        },
        valid_from: if p.valid_from.is_some() {
            parse_date("valid_from", &p.valid_from)?
        } else {
            old.valid_from
        },
        valid_until: if p.valid_until.is_some() {
            parse_date("valid_until", &p.valid_until)?
        } else {
            old.valid_until
        },
    };
    check_refs(&app, &slot).await?;
    let slot = app.store.update_slot(slot).await?;
    app.audit(Some(admin.id), "timetable.updated", Some(id), json!({}))
        .await;
    schedule_changed(&app, &[old.room_id, slot.room_id]).await;
    let all = app.store.slots().await?;
    Ok(axum::Json(SlotResponse {
        slot: slot_view(&slot, &all, &room_names(&app).await?),
    }))
}

/// DELETE /api/v1/timetable/{id} — remove a slot (admin); a running one ends now.
#[utoipa::path(delete, path = "/timetable/{id}", tag = "timetable", params(("id" = String, Path)), responses((status = 204), (status = 404)))]
async fn delete_slot(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id)?;
    let old = app.store.slot(id).await.or_not_found("slot")?;
    app.store.delete_slot(id).await?;
    app.audit(Some(admin.id), "timetable.deleted", Some(id), json!({}))
        .await;
    schedule_changed(&app, &[old.room_id]).await;
    Ok(StatusCode::NO_CONTENT)
}
