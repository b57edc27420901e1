//! The deployment's daily backups, as the console shows them.

use crate::auth::AdminAuth;
use crate::backup::schedule::{self, LastBackup};
use crate::school::AppState;
use axum::Extension;
use std::path::PathBuf;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Where the server's daily backups go (`serve --backup-dir`), or `None` when it takes
/// none; a layer of every school's router.
#[derive(Clone, Debug, Default)]
pub struct BackupDir(pub Option<PathBuf>);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(last_backup))
}

/// GET /api/v1/backups/last — the newest backup in the server's backup folder (admin):
/// `{at, size_bytes, file}`, or null when the server takes no backups or has taken none
/// yet. Backups are the deployment's: every school's admin sees the same one.
#[utoipa::path(get, path = "/backups/last", tag = "settings",
    responses((status = 200, body = Option<LastBackup>), (status = 403)))]
async fn last_backup(AdminAuth(_): AdminAuth, dir: Option<Extension<BackupDir>>) -> axum::Json<Option<LastBackup>> {
    let found = match dir.and_then(|Extension(d)| d.0) {
        Some(dir) => tokio::task::spawn_blocking(move || schedule::last(&dir))
            .await
            .unwrap_or(None),
        None => None,
    };
    axum::Json(found)
}
