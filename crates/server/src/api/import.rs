//! CSV import and export of users, guardianships, groups, rooms and the timetable.
//! A dry run first; errors name their line; all or nothing.

use crate::api::required_text;
use crate::api::timetable::{check_slot_fields, parse_kind};
use crate::auth::AdminAuth;
use crate::crypto::hash_password_async;
use crate::error::{ApiError, ApiResult, Path, Query};
use crate::school::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use doorplate_domain::Role;
use doorplate_domain::account;
use doorplate_domain::timetable::Slot;
use doorplate_store::ImportOp;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(import)).routes(routes!(export))
}

/// Most rows in one import: a school of thousands fits, a mistake of millions does not.
const MAX_ROWS: usize = 50_000;

/// CSV records, each with the line it starts on.
pub type Records = Vec<(usize, Vec<String>)>;

/// What follows the text while it is read: a record of one NUL on a line of its own. The
/// `csv` crate ends a quoted field that is still open at the end of its input without an
/// error; with this after the text, an open quote swallows it, so the last record read
/// is not this one and the file is refused instead of importing a truncated cell.
const END_MARK: &[u8] = b"\n\0";

/// Splits CSV text into records with the `csv` crate (RFC 4180: quotes, doubled quotes,
/// commas and line breaks inside quotes, a UTF-8 BOM), each with the line number it
/// starts on. Records with nothing but blanks are left out; a quoted field left open at
/// the end of the text is an error naming the line where its record starts.
pub fn parse_csv(text: &str) -> Result<Records, (usize, String)> {
    use std::io::Read;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes().chain(END_MARK));
    let mut out = Vec::new();
    let mut last_line = 1;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(last_line, |p| record_start(text, p).0);
            (line, e.to_string())
        })?;
        let Some(position) = record.position() else {
            continue;
        };
        let (line, byte) = record_start(text, position);
        if byte >= text.len() {
            // The end mark, read as a record of its own: every quote was closed.
            return Ok(out);
        }
        last_line = line;
        if record.iter().any(|f| !f.trim().is_empty()) {
            out.push((line, record.iter().map(str::to_string).collect()));
        }
    }
    Err((last_line, "a quoted field is not closed".into()))
}

/// The line and byte a record starts on. `csv` gives the position where it began looking
/// for the record, which is before the blank lines it skips and before the `\n` of a
/// `\r\n` that ended the record above; the record proper starts after those.
fn record_start(text: &str, position: &csv::Position) -> (usize, usize) {
    let from = (position.byte() as usize).min(text.len());
    let breaks = &text.as_bytes()[from..];
    let skipped = breaks.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let lines = breaks[..skipped].iter().filter(|b| **b == b'\n').count();
    (position.line() as usize + lines, from + skipped)
}

/// What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection"): a cell
/// such as `=HYPERLINK(…)` in a display name would run when the file is opened.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A cell as the export writes it: one that starts like a formula gets a leading `'`,
/// which spreadsheets show as text; the import takes it off again
/// ([`unescape_formula`]), so an export still imports as it was.
fn neutralise_formula(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(FORMULA_STARTS) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// Writes a header and rows as CSV with the `csv` crate (fields quoted only where they
/// must be, `\n` after each record), every cell passed through [`neutralise_formula`].
fn write_csv(header: &[&str], rows: &[Vec<String>]) -> Result<String, csv::Error> {
    let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    w.write_record(header)?;
    for row in rows {
        w.write_record(row.iter().map(|c| neutralise_formula(c).into_owned()))?;
    }
    let bytes = w.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
    Ok(String::from_utf8(bytes).expect("the CSV of UTF-8 strings is UTF-8"))
}

/// Undoes the `'` that [`neutralise_formula`] put before a formula-like field.
fn unescape_formula(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => s,
    }
}

#[derive(Deserialize, IntoParams)]
pub struct ImportQuery {
    /// `true` (the default): check and report, write nothing.
    pub dry_run: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    pub created: u32,
    pub updated: u32,
    pub errors: Vec<LineError>,
    pub dry_run: bool,
}

/// The columns each kind of import reads (the header row names them, in any order).
pub fn columns(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "users" => &["role", "display_name", "username", "password", "card_uid"],
        "guardianships" => &["guardian_username", "student_username"],
        "groups" => &["name", "teacher_username", "member_usernames"],
        "rooms" => &["name", "kind"],
        "timetable" => &[
            "room",
            "weekday",
            "start",
            "end",
            "kind",
            "title",
            "group",
            "teacher_username",
            "valid_from",
            "valid_until",
        ],
        _ => return None,
    })
}

/// Turns one CSV row into an import op, or says what is wrong with it.
fn to_op(kind: &str, get: &dyn Fn(&str) -> String) -> Result<ImportOp, String> {
    let required = |c: &str| {
        let v = get(c);
        if v.is_empty() {
            Err(format!("{c} is empty"))
        } else {
            Ok(v)
        }
    };
    let optional = |c: &str| Some(get(c)).filter(|v| !v.is_empty());
    // A room's or a group's name: the rule of `POST /api/v1/rooms` and `/groups`.
    let name = || required_text("name", &get("name"), 100).map_err(|e| e.to_string());
    Ok(match kind {
        "users" => {
            // Exactly the rules of `POST /api/v1/users`; the import also needs the
            // username, by which rows are matched to existing accounts.
            let (role, display_name) = (required("role")?, required("display_name")?);
            let username = required("username")?;
            let new = account::check_new_account(
                &role,
                &display_name,
                Some(&username),
                optional("password").as_deref(),
                optional("card_uid").as_deref(),
            )
            .map_err(|e| e.message)?;
            ImportOp::User {
                role: new.role,
                display_name: new.display_name,
                username: new.username.unwrap_or(username),
                password_hash: new.password, // hashed below, off the async threads
                card_hash: new.card.map(String::into_bytes),
            }
        }
        "guardianships" => ImportOp::Guardianship {
            guardian_username: required("guardian_username")?,
            student_username: required("student_username")?,
        },
        "groups" => ImportOp::Group {
            name: name()?,
            teacher_username: optional("teacher_username"),
            member_usernames: get("member_usernames")
                .split([' ', ';', '|'])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        },
        "rooms" => {
            let kind = required("kind")?;
            if !matches!(kind.as_str(), "classroom" | "lab" | "office" | "dorm" | "other") {
                return Err("kind is classroom, lab, office, dorm or other".into());
            }
            ImportOp::Room { name: name()?, kind }
        }
        "timetable" => {
            let weekday: u8 = required("weekday")?
                .parse()
                .map_err(|_| "weekday is 1 (Monday) to 7 (Sunday)")?;
            let (start, end, title) =
                check_slot_fields(weekday, &required("start")?, &required("end")?, &required("title")?)
                    .map_err(|e| e.to_string())?;
            let date = |c: &str| {
                optional(c)
                    .map(|d| d.parse().map_err(|_| format!("{c} must be YYYY-MM-DD")))
                    .transpose()
            };
            ImportOp::Slot {
                room_name: required("room")?,
                group_name: required("group")?,
                teacher_username: optional("teacher_username"),
                slot: Slot {
                    id: 0,
                    room_id: 0,
                    weekday,
                    start,
                    end,
                    kind: parse_kind(&required("kind")?).map_err(|e| e.to_string())?,
                    title,
                    group_id: None,
                    teacher_id: None,
                    valid_from: date("valid_from")?,
                    valid_until: date("valid_until")?,
                },
            }
        }
        _ => unreachable!("kinds are checked first"),
    })
}

/// Rows whose secrets are being hashed at once: twice argon2's slots, so the next row
/// is waiting for a slot as soon as one frees.
const HASHES_IN_FLIGHT: usize = 4;

/// A row with its password hashed (argon2, under the server's cap; blank in a dry run)
/// and its card number hashed with the server's key.
async fn hash_secrets(op: ImportOp, dry_run: bool, secrets: &crate::crypto::Secrets) -> ImportOp {
    match op {
        ImportOp::User {
            role,
            display_name,
            username,
            password_hash,
            card_hash,
        } => {
            let password_hash = match password_hash {
                Some(_) if dry_run => Some(String::new()),
                Some(p) => Some(hash_password_async(p).await),
                None => None,
            };
            ImportOp::User {
                role,
                display_name,
                username,
                password_hash,
                card_hash: card_hash.map(|c| secrets.hash("card", &String::from_utf8_lossy(&c))),
            }
        }
        other => other,
    }
}

/// POST /api/v1/import/{kind}?dry_run=true|false — `text/csv` with a header row (admin).
/// Nothing is written if any line is wrong, or in a dry run.
#[utoipa::path(post, path = "/import/{kind}", tag = "import", params(("kind" = String, Path, description = "users | guardianships | groups | rooms | timetable"), ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = 400), (status = 404)))]
async fn import(
    State(app): State<AppState>,
    AdminAuth(admin): AdminAuth,
    Path(kind): Path<String>,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::Json<ImportResult>> {
    let cols = columns(&kind).ok_or_else(|| ApiError::not_found("import kind"))?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !(ct.starts_with("text/csv") || ct.starts_with("text/plain")) {
        return Err(ApiError::bad("not_csv", "send the file as text/csv"));
    }
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad("not_utf8", "the file must be UTF-8 text"))?;
    let rows = parse_csv(text).map_err(|(line, m)| ApiError::bad("bad_csv", format!("line {line}: {m}")))?;
    let Some(((_, header), rows)) = rows.split_first() else {
        return Err(ApiError::bad("empty_csv", "the file has no header row"));
    };
    if rows.len() > MAX_ROWS {
        return Err(ApiError::TooLarge(format!("at most {MAX_ROWS} rows per import")));
    }
    let index: HashMap<String, usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_lowercase(), i))
        .collect();
    if let Some(unknown) = header
        .iter()
        .find(|h| !cols.contains(&h.trim().to_lowercase().as_str()))
    {
        return Err(ApiError::bad(
            "bad_header",
            format!(
                "unknown column {:?}; the columns are {}",
                unknown.trim(),
                cols.join(",")
            ),
        ));
    }
    let dry_run = q.dry_run.unwrap_or(true);
    let mut errors = Vec::new();
    let mut ops = Vec::with_capacity(rows.len());
    let mut lines = Vec::with_capacity(rows.len());
    for (line, rec) in rows {
        let get = |c: &str| {
            index
                .get(c)
                .and_then(|i| rec.get(*i))
                .map(|v| unescape_formula(v.trim()).trim().to_string())
                .unwrap_or_default()
        };
        match to_op(&kind, &get) {
            Ok(op) => {
                ops.push(op);
                lines.push(*line);
            }
            Err(m) => errors.push(LineError {
                line: *line,
                message: m,
            }),
        }
    }
    if !errors.is_empty() {
        return Ok(axum::Json(ImportResult {
            created: 0,
            updated: 0,
            errors,
            dry_run,
        }));
    }
    // Existing accounts whose password this import sets: a new password ends their
    // logins, as a reset through `PATCH /api/v1/users/{id}` does.
    let resets: Vec<String> = ops
        .iter()
        .filter_map(|op| match op {
            ImportOp::User {
                username,
                password_hash: Some(_),
                ..
            } => Some(username.clone()),
            _ => None,
        })
        .collect();
    let reset_ids: Vec<doorplate_domain::Id> = if dry_run || resets.is_empty() {
        Vec::new()
    } else {
        let existing: HashMap<String, doorplate_domain::Id> = app
            .store
            .list_users(None, None, 1_000_000)
            .await?
            .into_iter()
            .filter_map(|u| Some((u.username?, u.id)))
            .collect();
        resets.iter().filter_map(|u| existing.get(u).copied()).collect()
    };
    // Secrets are hashed only for a real run (argon2 is slow by design), a few rows at a
    // time: each hash waits for one of argon2's two slots, so a school's worth of
    // passwords keeps both cores' slots busy without queueing thousands of tasks or
    // starving logins that wait for the same slots.
    let ops: Vec<ImportOp> = futures_util::stream::iter(ops)
        .map(|op| hash_secrets(op, dry_run, &app.secrets))
        .buffered(HASHES_IN_FLIGHT)
        .collect()
        .await;
    let report = app.store.import(ops, dry_run).await?;
    if !dry_run {
        app.directory.forget_people();
    }
    let errors: Vec<LineError> = report
        .errors
        .iter()
        .map(|(i, m)| LineError {
            line: lines[*i],
            message: m.clone(),
        })
        .collect();
    if !dry_run && errors.is_empty() {
        app.audit(
            Some(admin.id),
            "import.applied",
            None,
            json!({"kind": kind, "created": report.created, "updated": report.updated}),
        )
        .await;
        app.reload_admins().await;
        app.engine.reload().await;
        for id in reset_ids {
            app.sign_out_everywhere(id).await?;
        }
    }
    let applied = errors.is_empty();
    Ok(axum::Json(ImportResult {
        created: if applied { report.created } else { 0 },
        updated: if applied { report.updated } else { 0 },
        errors,
        dry_run,
    }))
}

/// GET /api/v1/export/{kind} — the same columns as the import, as `text/csv` (admin;
/// passwords and card numbers are never exported: only hashes are kept).
#[utoipa::path(get, path = "/export/{kind}", tag = "import", params(("kind" = String, Path)), responses((status = 200, content_type = "text/csv", body = String), (status = 404)))]
async fn export(State(app): State<AppState>, AdminAuth(_): AdminAuth, Path(kind): Path<String>) -> ApiResult<Response> {
    let cols = columns(&kind).ok_or_else(|| ApiError::not_found("export kind"))?;
    let users = app.store.list_users(None, None, 1_000_000).await?;
    let uname = |id: i64| {
        users
            .iter()
            .find(|u| u.id == id)
            .and_then(|u| u.username.clone())
            .unwrap_or_default()
    };
    let groups = app.store.list_groups().await?;
    let rooms = app.store.list_rooms().await?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    match kind.as_str() {
        "users" => rows.extend(users.iter().map(|u| {
            vec![
                u.role.as_str().into(),
                u.display_name.clone(),
                u.username.clone().unwrap_or_default(),
                String::new(),
                String::new(),
            ]
        })),
        "guardianships" => {
            for g in users.iter().filter(|u| u.role == Role::Guardian) {
                for s in app.store.children_of(g.id).await? {
                    rows.push(vec![uname(g.id), uname(s)]);
                }
            }
        }
        "groups" => rows.extend(groups.iter().map(|g| {
            vec![
                g.name.clone(),
                g.teacher_id.map(uname).unwrap_or_default(),
                g.member_ids.iter().map(|m| uname(*m)).collect::<Vec<_>>().join(" "),
            ]
        })),
        "rooms" => rows.extend(rooms.iter().map(|r| vec![r.name.clone(), r.kind.clone()])),
        _ => {
            for s in app.store.slots().await? {
                let hm = |x: u32| format!("{:02}:{:02}", x / 3600, (x / 60) % 60);
                rows.push(vec![
                    rooms
                        .iter()
                        .find(|r| r.id == s.room_id)
                        .map(|r| r.name.clone())
                        .unwrap_or_default(),
                    s.weekday.to_string(),
                    hm(s.start),
                    hm(s.end),
                    s.kind.as_str().into(),
                    s.title.clone(),
                    s.group_id
                        .and_then(|g| groups.iter().find(|x| x.id == g))
                        .map(|g| g.name.clone())
                        .unwrap_or_default(),
                    s.teacher_id.map(uname).unwrap_or_default(),
                    s.valid_from.map(|d| d.to_string()).unwrap_or_default(),
                    s.valid_until.map(|d| d.to_string()).unwrap_or_default(),
                ]);
            }
        }
    }
    let out = write_csv(cols, &rows).map_err(|e| ApiError::Internal(format!("writing the export: {e}")))?;
    let mut res = out.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"doorplate-{kind}.csv\"")) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::{parse_csv, unescape_formula, write_csv};

    /// One cell as the export writes it (without the record's `\n`).
    fn cell(s: &str) -> String {
        let out = write_csv(&["h"], &[vec![s.to_string()]]).unwrap();
        out.strip_prefix("h\n").unwrap().strip_suffix('\n').unwrap().to_string()
    }

    #[test]
    fn formula_cells_are_neutralised_and_come_back_on_import() {
        for (c, out) in [
            ("=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\""),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("Ann", "Ann"),
            ("a=b", "a=b"),
        ] {
            assert_eq!(cell(c), out, "{c:?}");
            let back = &parse_csv(out).unwrap()[0].1[0];
            assert_eq!(unescape_formula(back), c, "{c:?} round-trips");
        }
        assert_eq!(unescape_formula("'quoted"), "'quoted", "a plain leading ' stays");
    }

    #[test]
    fn csv_with_quotes_commas_and_line_breaks() {
        let rows = parse_csv("a,b\n\"x, y\",\"say \"\"hi\"\"\"\n\n\"two\nlines\",z\r\nlast,row").unwrap();
        assert_eq!(rows[0], (1, vec!["a".into(), "b".into()]));
        assert_eq!(rows[1], (2, vec!["x, y".into(), "say \"hi\"".into()]));
        assert_eq!(rows[2], (4, vec!["two\nlines".into(), "z".into()]));
        assert_eq!(rows[3], (6, vec!["last".into(), "row".into()]));
        assert!(parse_csv("a,\"open").is_err());
    }

    #[test]
    fn lines_count_from_where_a_record_starts() {
        // Windows line ends, blank lines, a BOM and a blank row of commas.
        let rows = parse_csv("\u{feff}a,b\r\nc,d\r\n\r\n\r\n,,\r\ne,\"f\r\ng\"\r\nh,i\r\n\r\n").unwrap();
        let lines: Vec<usize> = rows.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 2, 6, 8]);
        assert_eq!(rows[0].1, ["a", "b"], "the BOM is not part of the first header");
        assert_eq!(rows[2].1, ["e", "f\r\ng"]);
        assert_eq!(
            parse_csv("a,b\n\nc,\"open\nmore"),
            Err((3, "a quoted field is not closed".into()))
        );
        assert_eq!(parse_csv("").unwrap(), Vec::new());
        assert_eq!(parse_csv("\n\n").unwrap(), Vec::new());
    }

    #[test]
    fn the_export_quotes_only_what_needs_it() {
        let out = write_csv(
            &["role", "display_name", "username"],
            &[
                vec!["guardian".into(), "+SUM(1,2)".into(), "f2".into()],
                vec!["a".into(), "".into(), "say \"hi\"".into()],
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "role,display_name,username\nguardian,\"'+SUM(1,2)\",f2\na,,\"say \"\"hi\"\"\"\n"
        );
    }
}
