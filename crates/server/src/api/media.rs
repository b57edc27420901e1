//! Uploads and downloads of pictures, voice and video.
//!
//! The type is taken from the file's first bytes, never from the `Content-Type` header;
//! the size limits are school settings and are enforced while streaming, so an
//! oversized upload is refused without being held in memory. A file is synced to disk
//! before its row is written, and a failed write is an error, never a 201
//! ([`crate::storage`]); the per-user rate and quota are in [`crate::uploads`].
//! Downloads are for the uploader and the participants of a conversation that carries
//! the file, served by tower-http's `ServeFile` (one `Range`, conditional requests).

use super::parse_id;
use crate::auth::UserAuth;
use crate::error::{ApiError, ApiResult, Path};
use crate::school::AppState;
use crate::storage::MediaFile;
use axum::body::{Body, BodyDataStream};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use tower_http::services::ServeFile;
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
/// once the file is on disk and its row is stored. A full disk is 507, another storage
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
    let mut file = MediaFile::create(app.media_dir.clone(), name.clone()).await?;
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

/// GET /api/v1/media/{id} — the file, for participants only. tower-http's `ServeFile`
/// answers `Range` (one range; 416 otherwise), `If-None-Match`, `If-Modified-Since`,
/// `If-Match` and `If-Unmodified-Since` from the file's ETag and date; `If-Range` is
/// checked here, as `ServeFile` does not. The type is the one sniffed at upload.
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

/// Answers a request for a stored upload: our checks of the file, then `ServeFile`, then
/// the type sniffed at upload, `nosniff`, and `cache` as its `Cache-Control`. The caller
/// has checked that the requester may read it.
pub(crate) async fn send_media(
    app: &AppState,
    media: &doorplate_store::Media,
    req: Request,
    cache: &'static str,
) -> ApiResult<Response> {
    let path = app.media_dir.join(&media.file);
    let on_disk = check_whole(&path, media.size).await?;
    let (mut parts, _) = req.into_parts();
    whole_for_long_suffix(&mut parts.headers, on_disk);
    let mut res = serve(&path, &parts.headers, &parts.method).await?;
    if parts.headers.contains_key(header::RANGE) && !if_range_holds(&parts.headers, &res) {
        // The client's copy is not this file: the whole file, not a piece of it.
        let mut headers = parts.headers.clone();
        headers.remove(header::RANGE);
        res = serve(&path, &headers, &parts.method).await?;
    }
    let status = res.status();
    if status == StatusCode::RANGE_NOT_SATISFIABLE {
        let mut refused = ApiError::bad("bad_range", "the requested range is not satisfiable").into_response();
        *refused.status_mut() = status;
        if let Some(range) = res.headers().get(header::CONTENT_RANGE) {
            refused.headers_mut().insert(header::CONTENT_RANGE, range.clone());
        }
        return Ok(refused);
    }
    let h = res.headers_mut();
    if matches!(status, StatusCode::OK | StatusCode::PARTIAL_CONTENT) {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&media.mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
        );
    }
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(res)
}

/// The stored file answered by `ServeFile` for a request with these headers.
async fn serve(path: &std::path::Path, headers: &HeaderMap, method: &Method) -> ApiResult<Response> {
    let mut req = axum::http::Request::new(Body::empty());
    *req.method_mut() = method.clone();
    *req.headers_mut() = headers.clone();
    match ServeFile::new(path).try_call(req).await {
        Ok(res) => Ok(res.map(Body::new)),
        // Removed between the check and the open (the sweeper, or by hand).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::NotFound("the file of this upload is missing".into()))
        }
        Err(e) => Err(crate::storage::io_error("reading an upload", e)),
    }
}

/// Turns `bytes=-N` with N past the file's length into `bytes=0-`. RFC 9110 §14.1.2
/// reads such a suffix as the whole file, but http-range-header (under `ServeFile`)
/// answers it 416 — a player that asks for "the last 64 KiB" of a short voice message
/// would get nothing.
fn whole_for_long_suffix(headers: &mut HeaderMap, len: u64) {
    let long = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes=-"))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .is_some_and(|n| n > len);
    if long {
        headers.insert(header::RANGE, HeaderValue::from_static("bytes=0-"));
    }
}

/// Whether a range may be served (RFC 9110 §13.1.5): with no `If-Range`, or one that
/// names this file exactly: its strong ETag, or its `Last-Modified` date.
fn if_range_holds(req: &HeaderMap, res: &Response) -> bool {
    let Some(wanted) = req.get(header::IF_RANGE) else {
        return true;
    };
    let is = |name| res.headers().get(name).is_some_and(|v| v == wanted);
    if wanted.as_bytes().starts_with(b"W/") {
        return false;
    }
    is(header::ETAG) || is(header::LAST_MODIFIED)
}

/// Refuses a stored file that is missing or shorter than its row says (a file damaged
/// before uploads were synced, or by hand): sending it would promise a `Content-Length`
/// the body never reaches, and the client would see a dropped connection.
/// Answers the file's length on disk.
async fn check_whole(path: &std::path::Path, size: u64) -> ApiResult<u64> {
    let on_disk = match tokio::fs::metadata(path).await {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::error!(file = %path.display(), "a stored upload's file is missing");
            return Err(ApiError::NotFound("the file of this upload is missing".into()));
        }
        Err(e) => return Err(crate::storage::io_error("opening an upload", e)),
    };
    if on_disk < size {
        tracing::error!(file = %path.display(), on_disk, size, "a stored upload's file is shorter than its row");
        return Err(ApiError::NotFound("the file of this upload is damaged".into()));
    }
    Ok(on_disk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_suffix_past_the_end_asks_for_the_whole_file() {
        let range = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::RANGE, HeaderValue::from_str(v).unwrap());
            whole_for_long_suffix(&mut h, 100);
            h[header::RANGE].to_str().unwrap().to_string()
        };
        assert_eq!(range("bytes=-101"), "bytes=0-");
        assert_eq!(range("bytes=-100"), "bytes=-100", "the whole file already");
        assert_eq!(range("bytes=-5"), "bytes=-5");
        assert_eq!(range("bytes=5-"), "bytes=5-");
        assert_eq!(range("bytes=-200,0-1"), "bytes=-200,0-1", "two ranges stay refused");
    }
}
