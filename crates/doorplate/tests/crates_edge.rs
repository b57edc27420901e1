//! Issue 9's "use the well-kept crate": the CSV import read by `csv` (Windows files, BOM,
//! quoted line breaks, the line of each error), import passwords hashed under the
//! two-at-a-time cap, media served by tower-http's `ServeFile` (ranges, 416,
//! conditional requests), compressed faces and JSON but never media, and the embedded
//! assets' ETag and 304.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The display name of the user with this username, if there is one.
async fn display_name(api: &Api, admin: &str, username: &str) -> Option<String> {
    let (st, v) = api.get("/api/v1/users", admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let users = v["users"].as_array().or(v.as_array()).cloned().unwrap_or_default();
    users
        .iter()
        .find(|u| u["username"] == username)
        .map(|u| u["display_name"].as_str().unwrap().to_string())
}

// ---- 1. the CSV import ---------------------------------------------------------------

/// A file as a spreadsheet on Windows saves it: a BOM, `\r\n`, blank lines, a name with
/// a comma and one with a line break in quotes. Each wrong row is reported on the line it
/// starts on (counting the blank lines and the quoted break, which stays inside its
/// cell), and the file imports once it is fixed, with the names exactly as written.
#[tokio::test]
async fn a_windows_csv_reports_the_right_line_and_imports_as_written() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let file = |break_: &str, role: &str| {
        format!(
            "\u{feff}role,display_name,username\r\n\
             student,\"Lee, Ann\",csv-ann\r\n\
             \r\n\
             student,\"Two{break_}Lines\",csv-two\r\n\
             ,,\r\n\
             {role},Bo,csv-bo\r\n\
             \r\n"
        )
    };
    let (st, v) = import_csv(&api, &admin, "users", &file("\r\n", "wizard"), true).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let lines: Vec<&Value> = v["errors"].as_array().unwrap().iter().map(|e| &e["line"]).collect();
    assert_eq!(
        lines,
        [4, 7],
        "a break in a name (line 4), an unknown role (line 7): {v}"
    );
    assert!(
        v["errors"][0]["message"].as_str().unwrap().contains("display_name"),
        "{v}"
    );

    let (st, v) = import_csv(&api, &admin, "users", &file(" ", "teacher"), false).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["errors"].as_array().map(Vec::len)),
        (Some(3), Some(0)),
        "{v}"
    );
    assert_eq!(display_name(&api, &admin, "csv-ann").await.as_deref(), Some("Lee, Ann"));
    assert_eq!(
        display_name(&api, &admin, "csv-two").await.as_deref(),
        Some("Two Lines")
    );
    assert_eq!(display_name(&api, &admin, "csv-bo").await.as_deref(), Some("Bo"));
}

/// A quote left open runs to the end of the file: the import refuses the file and names
/// the line where that record starts, instead of importing a swallowed tail.
#[tokio::test]
async fn an_open_quote_is_refused_with_its_line() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let csv = "role,display_name,username\nstudent,Ann,csv-open-1\n\nstudent,\"Bo,csv-open-2\nstudent,Cy,csv-open-3\n";
    let (st, v) = import_csv(&api, &admin, "users", csv, false).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::BAD_REQUEST, "bad_csv"),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().starts_with("line 4:"), "{v}");
    assert_eq!(
        display_name(&api, &admin, "csv-open-1").await,
        None,
        "nothing was imported"
    );
}

// ---- 2. passwords in an import ---------------------------------------------------------

/// `n` guardians with passwords, usernames starting with `prefix`.
fn guardians_csv(prefix: &str, n: usize) -> String {
    let mut csv = String::from("role,display_name,username,password\n");
    for i in 0..n {
        csv.push_str(&format!("guardian,Parent {i},{prefix}{i},horse-battery-{i}\n"));
    }
    csv
}

/// An import's passwords are hashed side by side, but within argon2's cap of two at a
/// time, which they share with logins: an import alone uses both slots, and an import
/// beside a burst of logins never has a third hash running. (The peak is counted per
/// process: nextest runs each test in a process of its own.)
#[tokio::test]
async fn import_passwords_hash_two_at_a_time_and_share_the_cap_with_logins() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let (st, v) = import_csv(&api, &admin, "users", &guardians_csv("pw-a", 12), false).await;
    assert_eq!((st, v["created"].as_u64()), (StatusCode::OK, Some(12)), "{v}");
    assert_eq!(
        doorplate_server::crypto::argon2_peak(),
        2,
        "the import hashed on both slots at once"
    );

    let logins = futures_util::future::join_all((0..6).map(|i| {
        let api = api.clone();
        async move { api.login(&format!("pw-a{i}"), &format!("horse-battery-{i}")).await }
    }));
    let csv = guardians_csv("pw-b", 12);
    let ((st, v), tokens) = tokio::join!(import_csv(&api, &admin, "users", &csv, false), logins);
    assert_eq!((st, v["created"].as_u64()), (StatusCode::OK, Some(12)), "{v}");
    assert_eq!(tokens.len(), 6, "the imported passwords sign in");
    assert_eq!(
        doorplate_server::crypto::argon2_peak(),
        2,
        "never more than two argon2 runs at once"
    );
    api.login("pw-b11", "horse-battery-11").await;
}

// ---- 3. media downloads by ServeFile -----------------------------------------------------

/// Uploads [`PNG`] as `token`'s; returns its download path.
async fn upload_png(api: &Api, token: &str) -> String {
    format!("/api/v1/media/{}", common::upload_png(api, token).await)
}

/// A GET with these extra headers: status, headers, body.
async fn fetch(
    api: &Api,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = api.http.get(format!("{}{path}", api.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    let (st, h) = (res.status(), res.headers().clone());
    (st, h, res.bytes().await.unwrap().to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

/// A suffix range is the file's tail; a range past the end and a request for two ranges
/// are 416 with `bytes */size` and the error body; the pieces keep the sniffed type, the
/// private cache header and `nosniff`.
#[tokio::test]
async fn media_ranges_suffix_and_unsatisfiable() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let path = upload_png(&s.api, &s.gwen_token).await;
    let n = PNG.len();

    let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[("range", "bytes=-5")]).await;
    assert_eq!(st, StatusCode::PARTIAL_CONTENT);
    assert_eq!(body, &PNG[n - 5..]);
    let tail = format!("bytes {}-{}/{n}", n - 5, n - 1);
    assert_eq!(header(&h, "content-range"), Some(tail.as_str()));
    assert_eq!(header(&h, "content-length"), Some("5"));
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    assert_eq!(header(&h, "cache-control"), Some("private, max-age=86400"));
    assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));

    let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[("range", "bytes=-9999")]).await;
    assert_eq!(
        (st, body.as_slice()),
        (StatusCode::PARTIAL_CONTENT, PNG),
        "a suffix longer than the file is all of it"
    );
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 0-{}/{n}", n - 1).as_str())
    );

    for range in ["bytes=9999-", "bytes=0-1,4-5", "bytes=-0", "pages=1-2"] {
        let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[("range", range)]).await;
        assert_eq!(st, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(
            header(&h, "content-range"),
            Some(format!("bytes */{n}").as_str()),
            "{range}"
        );
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error_code(&v), "bad_range", "{range}");
    }
}

/// A client that has the file revalidates with its ETag or date and gets 304 (keeping the
/// cache header); an `If-Range` that names another version gets the whole file, one that
/// names this one gets the piece.
#[tokio::test]
async fn media_revalidates_with_304_and_honours_if_range() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let path = upload_png(&s.api, &s.gwen_token).await;
    let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[]).await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, PNG));
    let etag = header(&h, "etag").expect("an ETag").to_string();
    let date = header(&h, "last-modified").expect("a Last-Modified").to_string();

    for cond in [("if-none-match", etag.as_str()), ("if-modified-since", date.as_str())] {
        let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[cond]).await;
        assert_eq!(st, StatusCode::NOT_MODIFIED, "{cond:?}");
        assert!(body.is_empty());
        assert_eq!(header(&h, "cache-control"), Some("private, max-age=86400"));
        assert_eq!(header(&h, "etag"), Some(etag.as_str()));
    }
    let (st, _, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[("if-none-match", "\"other\"")]).await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, PNG));

    let piece = [("range", "bytes=0-3"), ("if-range", etag.as_str())];
    let (st, _, body) = fetch(&s.api, &path, Some(&s.gwen_token), &piece).await;
    assert_eq!((st, body.as_slice()), (StatusCode::PARTIAL_CONTENT, &PNG[..4]));
    let piece = [("range", "bytes=0-3"), ("if-range", date.as_str())];
    let (st, _, body) = fetch(&s.api, &path, Some(&s.gwen_token), &piece).await;
    assert_eq!((st, body.as_slice()), (StatusCode::PARTIAL_CONTENT, &PNG[..4]));
    for stale in ["\"an-older-version\"", "Mon, 01 Jan 2001 00:00:00 GMT", "W/\"weak\""] {
        let (st, h, body) = fetch(
            &s.api,
            &path,
            Some(&s.gwen_token),
            &[("range", "bytes=0-3"), ("if-range", stale)],
        )
        .await;
        assert_eq!((st, body.as_slice()), (StatusCode::OK, PNG), "{stale}");
        assert_eq!(header(&h, "content-range"), None);
    }
    // A range past the end with a stale If-Range is no range at all: the whole file.
    let (st, _, body) = fetch(
        &s.api,
        &path,
        Some(&s.gwen_token),
        &[("range", "bytes=9999-"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, PNG));

    // Someone who may not read it learns nothing from its validators either.
    let (st, _, _) = fetch(&s.api, &path, Some(&s.hal_token), &[("if-none-match", etag.as_str())]).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

/// A notice's picture, fetched all day by every kiosk, is revalidated with a 304 too.
#[tokio::test]
async fn notice_images_revalidate_with_304() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let media = upload_png(&api, &admin).await;
    let media_id = media.rsplit('/').next().unwrap();
    let notice = api
        .ok(
            "/api/v1/notices",
            &admin,
            json!({"kind": "notice", "title": "Fair", "image_media_id": media_id}),
        )
        .await;
    let url = notice["notice"]["image_url"].as_str().unwrap();
    let (st, h, body) = fetch(&api, url, Some(&admin), &[]).await;
    assert_eq!((st, body.as_slice()), (StatusCode::OK, PNG));
    assert_eq!(header(&h, "content-type"), Some("image/png"));
    assert_eq!(header(&h, "cache-control"), Some("private, max-age=3600"));
    let etag = header(&h, "etag").expect("an ETag").to_string();
    let (st, _, body) = fetch(&api, url, Some(&admin), &[("if-none-match", etag.as_str())]).await;
    assert_eq!((st, body.len()), (StatusCode::NOT_MODIFIED, 0));
}

// ---- 4. compression and the faces' caching -----------------------------------------------

/// Un-gzips a body.
fn gunzip(body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).unwrap();
    out
}

/// The faces' files and the API's JSON come gzip- or brotli-compressed to a client that
/// asks (and plain to one that does not), with `Vary: Accept-Encoding`; the security
/// headers stay.
#[tokio::test]
async fn faces_and_json_are_compressed_when_asked() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    for (path, token) in [
        ("/app/app.js", None),
        ("/app", None),
        ("/kiosk/kiosk.css", None),
        ("/api/v1/openapi.json", None),
        ("/api/v1/users", Some(admin.as_str())),
    ] {
        let (st, h, plain) = fetch(&api, path, token, &[]).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert_eq!(
            header(&h, "content-encoding"),
            None,
            "{path}: not asked, not compressed"
        );
        if path == "/api/v1/users" && plain.len() < 1024 {
            continue; // too small to compress: checked below with a longer list
        }
        let (st, h, gz) = fetch(&api, path, token, &[("accept-encoding", "gzip")]).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert_eq!(header(&h, "content-encoding"), Some("gzip"), "{path}");
        assert!(
            header(&h, "vary").is_some_and(|v| v.contains("accept-encoding")),
            "{path}"
        );
        assert!(gz.len() < plain.len() / 2, "{path}: {} of {}", gz.len(), plain.len());
        assert_eq!(gunzip(&gz), plain, "{path}: the same bytes once unpacked");
        let (_, h, br) = fetch(&api, path, token, &[("accept-encoding", "br;q=1, gzip;q=0.5")]).await;
        assert_eq!(header(&h, "content-encoding"), Some("br"), "{path}");
        assert!(br.len() < plain.len() / 2, "{path}");
        if !path.starts_with("/api/") {
            assert!(header(&h, "content-security-policy").is_some(), "{path}");
            assert_eq!(header(&h, "x-content-type-options"), Some("nosniff"));
        }
    }
    // A list of users long enough to be worth it.
    let mut csv = String::from("role,display_name,username\n");
    for i in 0..40 {
        csv.push_str(&format!("student,Pupil number {i},gz-pupil-{i}\n"));
    }
    let (st, _) = import_csv(&api, &admin, "users", &csv, false).await;
    assert_eq!(st, StatusCode::OK);
    let (_, _, plain) = fetch(&api, "/api/v1/users", Some(&admin), &[]).await;
    let (_, h, gz) = fetch(&api, "/api/v1/users", Some(&admin), &[("accept-encoding", "gzip")]).await;
    assert_eq!(header(&h, "content-type"), Some("application/json"));
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(gunzip(&gz), plain);
}

/// Media are never compressed, whatever the client accepts: a picture and a voice
/// message of 8 KiB (of zeros, which would shrink to almost nothing) come as stored,
/// whole or in a range; and an event socket still opens and delivers.
#[tokio::test]
async fn media_and_event_sockets_are_never_compressed() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let mut png = PNG.to_vec();
    png.resize(8192, 0);
    let mut wav = b"RIFF\0\x20\0\0WAVEfmt ".to_vec();
    wav.resize(8192, 0);
    for (ty, bytes) in [("image/png", &png), ("audio/wav", &wav)] {
        let res = s
            .api
            .http
            .post(format!("{}/api/v1/media", s.api.base))
            .bearer_auth(&s.gwen_token)
            .header("content-type", ty)
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "{ty}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["mime"], ty);
        let path = format!("/api/v1/media/{}", v["media_id"].as_str().unwrap());
        let accept = ("accept-encoding", "gzip, br, deflate, zstd");
        let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[accept]).await;
        assert_eq!((st, header(&h, "content-encoding")), (StatusCode::OK, None), "{ty}");
        assert_eq!(header(&h, "content-length"), Some("8192"), "{ty}");
        assert_eq!(header(&h, "accept-ranges"), Some("bytes"), "{ty}");
        assert_eq!(&body, bytes, "{ty}");
        let (st, h, body) = fetch(&s.api, &path, Some(&s.gwen_token), &[accept, ("range", "bytes=0-4095")]).await;
        assert_eq!(
            (st, header(&h, "content-encoding")),
            (StatusCode::PARTIAL_CONTENT, None),
            "{ty}"
        );
        assert_eq!(&body, &bytes[..4096], "{ty}");
    }

    let (mut ev, h) = Events::open_with_headers(&s.api.base, &s.gwen_token, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(h.get("content-encoding"), None);
    let conv = s.conversation(&s.teacher_token, &s.gwen).await;
    let (st, v) = s.send_text(&s.teacher_token, &conv, "gz-1", "hello").await;
    assert!(st.is_success(), "{st} {v}");
    assert_eq!(ev.expect("message.new").await["message"]["text"], "hello");
}

/// The faces' files carry their content hash as ETag with `no-cache`: the next load
/// revalidates and gets an empty 304 (still with the CSP), until the file changes.
#[tokio::test]
async fn faces_revalidate_with_their_etag() {
    let server = TestServer::start().await;
    let api = server.api();
    let (st, h, page) = fetch(&api, "/kiosk", None, &[]).await;
    assert_eq!(st, StatusCode::OK);
    let etag = header(&h, "etag").expect("an ETag").to_string();
    assert!(etag.starts_with('"') && etag.len() == 34, "a strong ETag: {etag}");
    assert_eq!(header(&h, "cache-control"), Some("no-cache"));
    for asked in [etag.clone(), format!("W/{etag}"), format!("\"nope\", {etag}")] {
        let (st, h, body) = fetch(&api, "/kiosk/", None, &[("if-none-match", &asked)]).await;
        assert_eq!(st, StatusCode::NOT_MODIFIED, "{asked}");
        assert!(body.is_empty());
        assert_eq!(header(&h, "etag"), Some(etag.as_str()));
        assert!(header(&h, "content-security-policy").is_some());
    }
    let (st, _, body) = fetch(&api, "/kiosk", None, &[("if-none-match", "\"an-old-build\"")]).await;
    assert_eq!((st, body), (StatusCode::OK, page));
    // Another file has another tag, and a gzip answer keeps it.
    let (_, h, _) = fetch(&api, "/common/api.js", None, &[("accept-encoding", "gzip")]).await;
    let other = header(&h, "etag").expect("an ETag");
    assert_ne!(other, etag);
    let (st, _, _) = fetch(&api, "/common/api.js", None, &[("if-none-match", other)]).await;
    assert_eq!(st, StatusCode::NOT_MODIFIED);
}

// ---- 5. media sniffing by infer ------------------------------------------------------------

/// Uploads `bytes` declared as `ty`: status and body.
async fn upload(api: &Api, token: &str, ty: &str, bytes: &[u8]) -> (StatusCode, Value) {
    let res = api
        .http
        .post(format!("{}/api/v1/media", api.base))
        .bearer_auth(token)
        .header("content-type", ty)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

/// Safari records voice as MP4 with a video brand: declared as audio it is a voice
/// message (it was refused as "video/mp4, not audio"). An MP3 whose frames carry a CRC
/// is a voice message too. An iPhone's HEIC photo is refused as a kind we do not show,
/// never stored as MP4 video, even when sent as a plain download.
#[tokio::test]
async fn safari_voice_mp3_with_crc_and_heic_photos() {
    let server = TestServer::start().await;
    let s = School::new(&server).await;
    let conv = s.conversation(&s.gwen_token, &s.ann).await;
    let pad = |head: &[u8]| {
        let mut b = head.to_vec();
        b.resize(4096, 0);
        b
    };
    let safari = pad(b"\0\0\0\x1cftypiso5\0\0\x02\0iso5iso6mp41\0\0\0\x08free");
    let mp3 = pad(&[0xFF, 0xFA, 0x90, 0x64]);
    for (i, (ty, bytes, stored)) in [("audio/mp4", &safari, "audio/mp4"), ("audio/mpeg", &mp3, "audio/mpeg")]
        .into_iter()
        .enumerate()
    {
        let (st, v) = upload(&s.api, &s.gwen_token, ty, bytes).await;
        assert_eq!(
            (st, v["mime"].as_str()),
            (StatusCode::CREATED, Some(stored)),
            "{ty}: {v}"
        );
        let (st, m) = s
            .api
            .post(
                &format!("/api/v1/conversations/{conv}/messages"),
                &s.gwen_token,
                json!({"client_id": format!("voice-{i}"), "kind": "voice", "media_id": v["media_id"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{ty}: {m}");
    }
    // A real video is still a video when it says so.
    let (st, v) = upload(&s.api, &s.gwen_token, "video/mp4", &safari).await;
    assert_eq!(
        (st, v["mime"].as_str()),
        (StatusCode::CREATED, Some("video/mp4")),
        "{v}"
    );

    let heic = pad(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic");
    for ty in ["image/heic", "application/octet-stream"] {
        let (st, v) = upload(&s.api, &s.gwen_token, ty, &heic).await;
        assert_eq!(
            (st, error_code(&v).as_str()),
            (StatusCode::BAD_REQUEST, "unsupported_media"),
            "{ty}: {v}"
        );
    }
}
