//! Uploads and downloads of pictures, voice and video.
//!
//! The type is taken from the file's first bytes, never from the `Content-Type` header;
//! the size limits are school settings and are enforced while streaming, so an
//! oversized upload is refused without being held in memory. The bytes go to the
//! school's [`MediaBytes`](doorplate_store::media_bytes::MediaBytes) — files synced to
//! disk, or pieces committed to PostgreSQL — before the row is written, and a failed
//! write is an error, never a 201; the per-user rate and quota are in
//! [`crate::uploads`]. Downloads are for the uploader and the participants of a
//! conversation that carries the file, streamed by [`super::downloads`] (one `Range`,
//! conditional requests).

use super::parse_id;
use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, Path};
use crate::school::AppState;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload)).routes(routes!(download))
}

#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    pub media_id: String,
    pub mime: String,
    pub size: u64,
}

/// POST /api/v1/media — upload a file (raw body); answers its id, sniffed type and size
/// once the file is stored (on disk, or committed to the database) and its row is. A full disk is 507, another storage
/// failure 503, too many uploads 429, too much waiting to be sent 413; none of them
/// leaves a file or a row.
#[utoipa::path(post, path = "/media", tag = "messages", request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Uploaded), (status = 400),
        (status = 413, description = "larger than the school's limit (`too_large`), or the uploader's unsent uploads would pass their quota (`upload_quota`)"),
        (status = 429, description = "too many uploads this minute (`upload_rate`); see Retry-After"),
        (status = 503, description = "the file could not be stored (`storage_unavailable`)"),
        (status = 507, description = "the server's disk is full (`insufficient_storage`)")))]
async fn upload(
    State(app): State<AppState>,
    auth: UserAuth,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Uploaded>)> {
    let mut stream = body.into_data_stream();
    let result = receive(&app, auth.user.id, &headers, &mut stream).await;
    if result.is_err() {
        // Read and drop what the client is still sending, so that it hears our answer
        // rather than a connection reset half-way through its upload. Bounded by the
        // largest file the school accepts and by time.
        let s = app.settings();
        let budget = s.max_image_bytes.max(s.max_voice_bytes).max(s.max_video_bytes);
        let _ = tokio::time::timeout(DRAIN_TIME, drain(&mut stream, budget)).await;
    }
    result
}

/// The longest a refused upload is read on (and dropped) before the answer goes.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Reads and drops up to `budget` more bytes of the body.
async fn drain(stream: &mut BodyDataStream, budget: u64) {
    let mut read = 0u64;
    while read <= budget {
        match stream.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            _ => return,
        }
    }
}

/// The upload proper: limits first, then the bytes to disk, then the row.
async fn receive(
    app: &AppState,
    user: doorplate_domain::Id,
    headers: &HeaderMap,
    stream: &mut BodyDataStream,
) -> ApiResult<(StatusCode, axum::Json<Uploaded>)> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let family = declared.split('/').next().unwrap_or("").to_string();
    if !matches!(family.as_str(), "image" | "audio" | "video" | "application") {
        return Err(ApiError::bad(
            "unsupported_media",
            "send a picture, a voice recording or a video",
        ));
    }
    let now = app.now();
    app.uploads.start(user, now)?;
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    crate::storage::ensure_room(&app.media_dir, app.min_free_bytes, declared_len)?;
    let settings = app.settings();
    // Unsent uploads already stored; the store checks again when it stores this one.
    let stored = app.store.unattached_media_bytes(user).await?;
    let mut reservation = app.uploads.reserve(user);
    let name = crate::crypto::new_token("m_");
    let mut file = app.media_bytes.create(&name, now).await?;
    let mut head: Vec<u8> = Vec::with_capacity(64);
    let mut mime: Option<&'static str> = None;
    let mut limit = u64::MAX;
    let mut quota = u64::MAX;
    let mut size: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad("upload_failed", format!("the upload broke off: {e}")))?;
        size += chunk.len() as u64;
        if mime.is_none() {
            head.extend_from_slice(&chunk[..chunk.len().min(64 - head.len().min(64))]);
            if head.len() >= 16 {
                let m = sniff_or_refuse(&head, &family)?;
                limit = settings.max_bytes_for(m);
                quota = app.uploads.policy().pending_limit(limit);
                mime = Some(m);
            }
        }
        if size > limit {
            return Err(ApiError::TooLarge(format!(
                "this file is larger than the school's limit of {} MiB",
                limit >> 20
            )));
        }
        reservation.grow(chunk.len() as u64, stored, quota)?;
        file.write(&chunk).await?;
    }
    let mime = match mime {
        Some(m) => m,
        None => sniff_or_refuse(&head, &family)?,
    };
    let limit = settings.max_bytes_for(mime);
    if size > limit {
        return Err(ApiError::TooLarge("this file is larger than the school's limit".into()));
    }
    let quota = app.uploads.policy().pending_limit(limit);
    file.finish().await?;
    let media = app
        .store
        .insert_media_within(user, mime.to_string(), size, name, now, quota)
        .await?
        .ok_or_else(|| crate::uploads::quota_exceeded(quota))?;
    file.keep();
    drop(reservation);
    app.audit(
        Some(user),
        "media.uploaded",
        Some(media.id),
        json!({"mime": mime, "size": size}),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(Uploaded {
            media_id: media.id.to_string(),
            mime: mime.into(),
            size,
        }),
    ))
}

/// The sniffed type, refusing unknown bytes and a declared family that the bytes
/// contradict (a "picture" that is really a video).
fn sniff_or_refuse(head: &[u8], declared_family: &str) -> ApiResult<&'static str> {
    let m = doorplate_domain::media::sniff(head).ok_or_else(|| {
        ApiError::bad(
            "unsupported_media",
            "this file is not a picture, voice recording or video we can show",
        )
    })?;
    let family = m.split('/').next().unwrap_or("");
    // WebM and MP4 hold voice or video, and their bytes look like video: browsers record
    // voice in them (Chrome and Firefox as WebM, Safari as MP4), so the declared family
    // says which it is.
    let voice = match (declared_family, m) {
        ("audio", "video/webm") => Some("audio/webm"),
        ("audio", "video/mp4") => Some("audio/mp4"),
        _ => None,
    };
    if let Some(voice) = voice {
        return Ok(voice);
    }
    if !(declared_family == "application" || declared_family == family) {
        return Err(ApiError::bad(
            "media_type_mismatch",
            format!("the file is {m}, not {declared_family}"),
        ));
    }
    Ok(m)
}

/// GET /api/v1/media/{id} — the file, for participants only: one `Range` (416
/// otherwise), and `If-None-Match`, `If-Modified-Since`, `If-Match`,
/// `If-Unmodified-Since` and `If-Range` against its ETag and date. The type is the one
/// sniffed at upload.
#[utoipa::path(get, path = "/media/{id}", tag = "messages", params(("id" = String, Path)),
    responses((status = 200), (status = 206), (status = 304),
        (status = 404, description = "no such upload for the caller, or its file is missing or damaged"),
        (status = 412), (status = 416, description = "the range is not satisfiable (`bad_range`)"),
        (status = 503, description = "the file could not be read (`storage_unavailable`)")))]
async fn download(
    State(app): State<AppState>,
    auth: UserAuth,
    Path(id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    let id = parse_id(&id)?;
    if !app.store.may_read_media(id, auth.user.id).await? {
        return Err(ApiError::not_found("media"));
    }
    let media = app.store.media(id).await?;
    send_media(&app, &media, req, "private, max-age=86400").await
}

/// Answers a request for a stored upload (see [`super::downloads`]), with `cache` as its
/// `Cache-Control`. The caller has checked that the requester may read it.
pub(crate) async fn send_media(
    app: &AppState,
    media: &doorplate_store::Media,
    req: Request,
    cache: &'static str,
) -> ApiResult<Response> {
    let (parts, _) = req.into_parts();
    super::downloads::send(app.media_bytes.as_ref(), media, &parts.headers, &parts.method, cache).await
}
