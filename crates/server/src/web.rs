//! The three web faces (kiosk, family app, console) and their shared modules, served as
//! plain files. Release builds embed them; debug builds read `web/` from disk, so a page
//! can be edited and reloaded without rebuilding.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/"]
struct Assets;

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/", get(|| async { Redirect::temporary("/app") }))
        .route("/favicon.ico", get(|| async { asset("app/icons/icon.svg") }));
    for face in ["kiosk", "app", "admin"] {
        r = r
            .route(
                &format!("/{face}"),
                get(move || async move { asset(&format!("{face}/index.html")) }),
            )
            .route(
                &format!("/{face}/"),
                get(move || async move { asset(&format!("{face}/index.html")) }),
            )
            .route(
                &format!("/{face}/{{*path}}"),
                get(move |Path(p): Path<String>| async move { asset(&format!("{face}/{p}")) }),
            );
    }
    r.route(
        "/common/{*path}",
        get(|Path(p): Path<String>| async move { asset(&format!("common/{p}")) }),
    )
}

fn asset(path: &str) -> Response {
    if path.contains("..") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match Assets::get(path) {
        Some(file) => {
            let mime = mime_of(path);
            let mut res = file.data.into_owned().into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
            // Pages revalidate so an update reaches every kiosk at its next reload.
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            res
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn mime_of(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}
