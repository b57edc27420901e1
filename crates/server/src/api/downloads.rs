//! Answering a request for a stored upload's bytes, whichever store holds them
//! ([`doorplate_store::media_bytes::MediaBytes`]): validators made from the media row (a
//! strong ETag and `Last-Modified`; an upload never changes), the conditional requests
//! of RFC 9110 §13 (`If-Match`, `If-Unmodified-Since`, `If-None-Match`,
//! `If-Modified-Since`, `If-Range`), and one `Range` — several ranges, or one that is not
//! satisfiable, are 416 with `bytes */len`. The body streams a piece at a time from the
//! store, so no download holds the whole file in memory.
//!
//! The decisions are pure ([`decide`]); [`send`] reads the store and builds the answer.

use crate::error::{ApiError, ApiResult};
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorplate_store::StoreError;
use doorplate_store::media_bytes::MediaBytes;
use futures_util::StreamExt;

/// What a request gets, given the upload's validators and length.
#[derive(Debug, PartialEq)]
pub(crate) enum Answer {
    /// 200 with every byte.
    Whole,
    /// 206 with bytes `start..end` (end exclusive).
    Piece { start: u64, end: u64 },
    /// 304: the client's copy is this one.
    NotModified,
    /// 412: a precondition of the client's does not hold.
    Failed,
    /// 416: the range cannot be served.
    Unsatisfiable,
}

/// An upload's validators.
pub(crate) struct Validators {
    /// Strong, quoted.
    pub etag: String,
    /// Seconds since the epoch (HTTP dates have no finer unit).
    pub modified: i64,
}

impl Validators {
    pub(crate) fn of(media: &doorplate_store::Media) -> Validators {
        Validators {
            etag: format!("\"m{:x}-{:x}-{:x}\"", media.id, media.created_at, media.size),
            modified: media.created_at.div_euclid(1_000_000),
        }
    }

    fn last_modified(&self) -> String {
        let ts = jiff::Timestamp::from_second(self.modified).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        jiff::fmt::rfc2822::DateTimePrinter::new()
            .timestamp_to_rfc9110_string(&ts)
            .unwrap_or_default()
    }
}

fn text(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn http_date(s: &str) -> Option<i64> {
    jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(s)
        .ok()
        .map(|t| t.as_second())
}

/// Whether a list of entity tags (`If-Match`, `If-None-Match`) names `etag`: `*` always
/// does; `weak` compares without the `W/` prefix (RFC 9110 §8.8.3.2).
fn lists(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|t| {
        if t == "*" {
            return true;
        }
        match t.strip_prefix("W/") {
            Some(bare) => weak && bare == etag,
            None => t == etag,
        }
    })
}

/// The one range a `Range` header asks for, for a body of `len` bytes: `Ok(None)` for
/// none, `Err(())` for one that cannot be served (several ranges, another unit, past the
/// end). A suffix longer than the body is all of it (RFC 9110 §14.1.2).
fn range(value: &str, len: u64) -> Result<(u64, u64), ()> {
    let spec = value.trim().strip_prefix("bytes=").ok_or(())?.trim();
    if spec.contains(',') {
        return Err(());
    }
    let (first, last) = spec.split_once('-').ok_or(())?;
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| -> Result<u64, ()> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        s.parse().map_err(drop)
    };
    if first.is_empty() {
        let n = number(last)?;
        if n == 0 || len == 0 {
            return Err(());
        }
        return Ok((len.saturating_sub(n), len));
    }
    let start = number(first)?;
    if start >= len {
        return Err(());
    }
    let end = if last.is_empty() {
        len
    } else {
        let last = number(last)?;
        if last < start {
            return Err(());
        }
        last.saturating_add(1).min(len)
    };
    Ok((start, end))
}

/// What the request gets (RFC 9110 §13.2.2's order: If-Match, If-Unmodified-Since,
/// If-None-Match, If-Modified-Since, then If-Range and Range).
pub(crate) fn decide(h: &HeaderMap, method: &Method, v: &Validators, len: u64) -> Answer {
    let read = *method == Method::GET || *method == Method::HEAD;
    if let Some(list) = text(h, header::IF_MATCH) {
        if !lists(list, &v.etag, false) {
            return Answer::Failed;
        }
    } else if let Some(since) = text(h, header::IF_UNMODIFIED_SINCE).and_then(http_date)
        && v.modified > since
    {
        return Answer::Failed;
    }
    if let Some(list) = text(h, header::IF_NONE_MATCH) {
        if lists(list, &v.etag, true) {
            return if read { Answer::NotModified } else { Answer::Failed };
        }
    } else if read
        && let Some(since) = text(h, header::IF_MODIFIED_SINCE).and_then(http_date)
        && v.modified <= since
    {
        return Answer::NotModified;
    }
    let Some(asked) = text(h, header::RANGE) else {
        return Answer::Whole;
    };
    if *method != Method::GET {
        return Answer::Whole;
    }
    if let Some(cond) = text(h, header::IF_RANGE) {
        // Only this exact upload: its strong ETag, or its date.
        let holds = if cond.starts_with('"') {
            cond == v.etag
        } else if cond.starts_with("W/") {
            false
        } else {
            http_date(cond) == Some(v.modified)
        };
        if !holds {
            return Answer::Whole;
        }
    }
    match range(asked, len) {
        Ok((start, end)) => Answer::Piece { start, end },
        Err(()) => Answer::Unsatisfiable,
    }
}

/// Answers a request for the stored upload `media`: checks its bytes are there and
/// whole, then [`decide`]s and streams. `cache` becomes `Cache-Control`; the type is
/// the one sniffed at upload, with `nosniff`. The caller has checked that the requester
/// may read it.
pub(crate) async fn send(
    bytes: &dyn MediaBytes,
    media: &doorplate_store::Media,
    headers: &HeaderMap,
    method: &Method,
    cache: &'static str,
) -> ApiResult<Response> {
    let stored = match bytes.stored_len(&media.file).await {
        Ok(n) => n,
        Err(StoreError::NotFound) => {
            tracing::error!(file = %media.file, "a stored upload's bytes are missing");
            return Err(ApiError::NotFound("the file of this upload is missing".into()));
        }
        Err(e) => return Err(e.into()),
    };
    if stored < media.size {
        // Sending it would promise a `Content-Length` the body never reaches, and the
        // client would see a dropped connection.
        tracing::error!(file = %media.file, stored, size = media.size, "a stored upload is shorter than its row");
        return Err(ApiError::NotFound("the file of this upload is damaged".into()));
    }
    let len = media.size;
    let v = Validators::of(media);
    let answer = decide(headers, method, &v, len);
    let (status, start, end) = match answer {
        Answer::Whole => (StatusCode::OK, 0, len),
        Answer::Piece { start, end } => (StatusCode::PARTIAL_CONTENT, start, end),
        Answer::NotModified => (StatusCode::NOT_MODIFIED, 0, 0),
        Answer::Failed => (StatusCode::PRECONDITION_FAILED, 0, 0),
        Answer::Unsatisfiable => {
            let mut refused = ApiError::bad("bad_range", "the requested range is not satisfiable").into_response();
            *refused.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
            let h = refused.headers_mut();
            h.insert(header::CONTENT_RANGE, value(format!("bytes */{len}")));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            return Ok(refused);
        }
    };
    let body = if status.is_success() && end > start && *method != Method::HEAD {
        let pieces = bytes
            .read(&media.file, start, end)
            .map(|piece| piece.inspect_err(|e| tracing::error!(error = %e, "reading an upload failed mid-way")));
        Body::from_stream(pieces)
    } else {
        Body::empty()
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::ETAG, value(v.etag.clone()));
    h.insert(header::LAST_MODIFIED, value(v.last_modified()));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if status == StatusCode::PRECONDITION_FAILED {
        return Ok(res);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if status == StatusCode::NOT_MODIFIED {
        return Ok(res);
    }
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&media.mime).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, value((end - start).to_string()));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, value(format!("bytes {start}-{}/{len}", end - 1)));
    }
    Ok(res)
}

fn value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validators {
        Validators {
            etag: "\"m1-2-3\"".into(),
            modified: 1_000_000,
        }
    }

    fn ask(pairs: &[(&str, &str)]) -> Answer {
        let mut h = HeaderMap::new();
        for (k, val) in pairs {
            h.insert(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(val).unwrap(),
            );
        }
        decide(&h, &Method::GET, &v(), 100)
    }

    fn date(secs: i64) -> String {
        Validators {
            etag: String::new(),
            modified: secs,
        }
        .last_modified()
    }

    #[test]
    fn one_range_is_a_piece_and_anything_else_is_refused() {
        let piece = |s, e| Answer::Piece { start: s, end: e };
        assert_eq!(ask(&[]), Answer::Whole);
        assert_eq!(ask(&[("range", "bytes=0-3")]), piece(0, 4));
        assert_eq!(ask(&[("range", "bytes=90-")]), piece(90, 100));
        assert_eq!(ask(&[("range", "bytes=90-500")]), piece(90, 100));
        assert_eq!(ask(&[("range", "bytes=-5")]), piece(95, 100));
        assert_eq!(
            ask(&[("range", "bytes=-101")]),
            piece(0, 100),
            "a suffix past the start is all"
        );
        for bad in [
            "bytes=100-",
            "bytes=0-1,4-5",
            "bytes=-0",
            "pages=1-2",
            "bytes=5-1",
            "bytes=a-",
        ] {
            assert_eq!(ask(&[("range", bad)]), Answer::Unsatisfiable, "{bad}");
        }
    }

    #[test]
    fn validators_answer_304_412_and_if_range() {
        let etag = "\"m1-2-3\"";
        assert_eq!(ask(&[("if-none-match", etag)]), Answer::NotModified);
        assert_eq!(ask(&[("if-none-match", "W/\"m1-2-3\"")]), Answer::NotModified);
        assert_eq!(ask(&[("if-none-match", "\"other\", *")]), Answer::NotModified);
        assert_eq!(ask(&[("if-none-match", "\"other\"")]), Answer::Whole);
        assert_eq!(ask(&[("if-modified-since", &date(1_000_000))]), Answer::NotModified);
        assert_eq!(ask(&[("if-modified-since", &date(999_999))]), Answer::Whole);
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            ask(&[("if-none-match", "\"other\""), ("if-modified-since", &date(2_000_000))]),
            Answer::Whole
        );
        assert_eq!(ask(&[("if-match", "\"other\"")]), Answer::Failed);
        assert_eq!(ask(&[("if-match", etag)]), Answer::Whole);
        assert_eq!(ask(&[("if-unmodified-since", &date(999_999))]), Answer::Failed);
        let piece = Answer::Piece { start: 0, end: 4 };
        assert_eq!(ask(&[("range", "bytes=0-3"), ("if-range", etag)]), piece);
        assert_eq!(
            ask(&[("range", "bytes=0-3"), ("if-range", &date(1_000_000))]),
            Answer::Piece { start: 0, end: 4 }
        );
        for stale in ["\"old\"", "W/\"m1-2-3\"", "Mon, 01 Jan 2001 00:00:00 GMT"] {
            assert_eq!(
                ask(&[("range", "bytes=0-3"), ("if-range", stale)]),
                Answer::Whole,
                "{stale}"
            );
        }
        assert_eq!(ask(&[("range", "bytes=9999-"), ("if-range", "\"old\"")]), Answer::Whole);
    }
}
