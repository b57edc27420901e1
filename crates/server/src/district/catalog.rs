//! Which schools a data folder holds, and where each keeps its files.
//!
//! The school that was there first — the data folder's own `doorplate.db`, `media/`,
//! hashed with `secret.key` itself — is the *root school*: a one-school install and every
//! data folder from before many schools keep working unchanged. Each school added later
//! has a folder of its own, `schools/<slug>/` (database, media, `school.json`), and a key
//! derived from `secret.key` and its slug. A school's `school.json` is written last, so a
//! folder without one is a school still being made (or a failed attempt): it is not
//! listed, and the slug stays free.

use super::{SchoolInfo, SlugError, check_slug};
use crate::crypto::Secrets;
use doorplate_domain::Settings;
use doorplate_store::media_bytes::{MediaBytes, files::FileBytes};
use doorplate_store::{SettingsStore, sqlite::SqliteStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A school moved in from another deployment keeps the key its card, badge, doorplate
/// and token hashes were made with in this file of its folder (mode 0600), preferred to
/// the key derived from the deployment's and its slug.
pub const KEY_FILE: &str = "school.key";

/// The school's own key file's key, or `derived` when it has none.
fn own_key_or(dir: &Path, derived: Secrets) -> std::io::Result<Secrets> {
    Ok(Secrets::load_at(&dir.join(KEY_FILE))?.unwrap_or(derived))
}

/// The root school's slug when its `school.json` names none.
pub use crate::school::info::ROOT_SLUG;

/// A data folder's schools.
#[derive(Clone, Debug)]
pub struct FolderCatalog {
    pub data_dir: PathBuf,
}

/// One school of a data folder: what it is, and where its files are.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub info: SchoolInfo,
    /// `true` for the root school (the data folder's own database and key).
    pub root: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error(transparent)]
    Slug(#[from] SlugError),
    #[error("a school with the slug {0:?} already exists")]
    Taken(String),
    #[error("unknown time zone {0:?} (an IANA name such as Asia/Shanghai)")]
    TimeZone(String),
    #[error("the name must be 1 to 100 characters")]
    Name,
    #[error("no school with the slug {0:?}")]
    Unknown(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Json(PathBuf, serde_json::Error),
    #[error("database: {0}")]
    Store(#[from] doorplate_store::StoreError),
}

impl FolderCatalog {
    pub fn new(data_dir: &Path) -> FolderCatalog {
        FolderCatalog {
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// Where a school keeps its database and media.
    pub fn dir_of(&self, entry: &Entry) -> PathBuf {
        if entry.root {
            self.data_dir.clone()
        } else {
            self.data_dir.join("schools").join(&entry.info.slug)
        }
    }

    /// The school's own hashing key: the deployment's for the root school, derived for
    /// every other — unless the school was moved in and brought its own (`school.key`,
    /// see [`KEY_FILE`]).
    pub fn secrets_of(&self, entry: &Entry, master: &Secrets) -> std::io::Result<Secrets> {
        if entry.root {
            Ok(master.clone())
        } else {
            own_key_or(&self.dir_of(entry), master.for_school(&entry.info.slug))
        }
    }

    /// The root school: its `school.json`, or the defaults for a folder from before.
    pub fn root(&self) -> Result<Entry, CatalogError> {
        let path = self.data_dir.join("school.json");
        let info = match read_info(&path)? {
            Some(info) => info,
            None => SchoolInfo {
                slug: ROOT_SLUG.into(),
                name: "Doorplate".into(),
                timezone: Settings::default().timezone,
            },
        };
        Ok(Entry { info, root: true })
    }

    /// Every school, the root first, then the others by slug.
    pub fn list(&self) -> Result<Vec<Entry>, CatalogError> {
        let mut all = vec![self.root()?];
        let dir = self.data_dir.join("schools");
        let read = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(all),
            Err(e) => return Err(CatalogError::Io(dir, e)),
        };
        let mut others = Vec::new();
        for item in read {
            let item = item.map_err(|e| CatalogError::Io(dir.clone(), e))?;
            let name = item.file_name().to_string_lossy().into_owned();
            if check_slug(&name).is_err() {
                continue;
            }
            if let Some(info) = read_info(&item.path().join("school.json"))? {
                if info.slug == name {
                    others.push(Entry { info, root: false });
                } else {
                    tracing::warn!(folder = %name, slug = %info.slug, "school.json names another slug; skipped");
                }
            }
        }
        others.sort_by(|a, b| a.info.slug.cmp(&b.info.slug));
        all.extend(others);
        Ok(all)
    }

    /// Finds one school by slug.
    pub fn get(&self, slug: &str) -> Result<Entry, CatalogError> {
        self.list()?
            .into_iter()
            .find(|e| e.info.slug == slug)
            .ok_or_else(|| CatalogError::Unknown(slug.into()))
    }

    /// Makes a new school: its folder, database (migrated) and settings (the zone), then
    /// its `school.json` — last, so a school half made is never listed. A running server
    /// sees it within seconds.
    pub async fn create(&self, info: SchoolInfo) -> Result<Entry, CatalogError> {
        let info = checked(info)?;
        let settings = Settings {
            timezone: info.timezone.clone(),
            ..Settings::default()
        };
        if self.list()?.iter().any(|e| e.info.slug == info.slug) {
            return Err(CatalogError::Taken(info.slug));
        }
        let entry = Entry { info, root: false };
        let dir = self.dir_of(&entry);
        let io = |e| CatalogError::Io(dir.clone(), e);
        std::fs::create_dir_all(dir.join("media")).map_err(io)?;
        crate::storage::private_dir(&dir).map_err(io)?;
        crate::storage::private_dir(&dir.join("media")).map_err(io)?;
        {
            let store = SqliteStore::open(&dir.join("doorplate.db"))?;
            store.save_settings(settings).await?;
        }
        write_info(&dir.join("school.json"), &entry.info)?;
        Ok(entry)
    }

    /// Names the root school (its slug, name and zone), e.g. when a district is made from
    /// a one-school install.
    pub fn set_root(&self, info: &SchoolInfo) -> Result<(), CatalogError> {
        check_slug(&info.slug)?;
        write_info(&self.data_dir.join("school.json"), info)
    }
}

/// A new school's fields as given: a valid slug, a name of 1 to 100 characters (trimmed),
/// a known time zone — whichever store it goes to.
fn checked(info: SchoolInfo) -> Result<SchoolInfo, CatalogError> {
    check_slug(&info.slug)?;
    let name = info.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CatalogError::Name);
    }
    if jiff::tz::TimeZone::get(&info.timezone).is_err() {
        return Err(CatalogError::TimeZone(info.timezone));
    }
    Ok(SchoolInfo {
        name: name.to_string(),
        ..info
    })
}

fn read_info(path: &Path) -> Result<Option<SchoolInfo>, CatalogError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CatalogError::Json(path.to_path_buf(), e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CatalogError::Io(path.to_path_buf(), e)),
    }
}

/// Writes `school.json` whole or not at all: a temporary file, synced, renamed.
pub(super) fn write_info(path: &Path, info: &SchoolInfo) -> Result<(), CatalogError> {
    let io = |e| CatalogError::Io(path.to_path_buf(), e);
    let tmp = path.with_extension("json.part");
    let body = serde_json::to_vec_pretty(info).expect("plain data serialises");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = std::fs::File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "doorplate-catalog-{}-{}",
            std::process::id(),
            crate::crypto::new_token("")
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn info(slug: &str) -> SchoolInfo {
        SchoolInfo {
            slug: slug.into(),
            name: format!("School {slug}"),
            timezone: "Asia/Shanghai".into(),
        }
    }

    #[tokio::test]
    async fn schools_are_listed_root_first_and_a_slug_is_taken_once() {
        let dir = temp();
        let c = FolderCatalog::new(&dir);
        assert_eq!(c.list().unwrap().len(), 1, "a fresh folder holds the root school");
        c.create(info("south")).await.unwrap();
        c.create(info("north")).await.unwrap();
        let slugs: Vec<_> = c.list().unwrap().into_iter().map(|e| e.info.slug).collect();
        assert_eq!(slugs, ["main", "north", "south"]);
        assert!(matches!(c.create(info("north")).await, Err(CatalogError::Taken(_))));
        assert!(matches!(c.create(info("main")).await, Err(CatalogError::Taken(_))));
        assert!(matches!(c.create(info("No_Way")).await, Err(CatalogError::Slug(_))));
        let bad_zone = SchoolInfo {
            timezone: "Mars/Olympus".into(),
            ..info("east")
        };
        assert!(matches!(c.create(bad_zone).await, Err(CatalogError::TimeZone(_))));
        assert!(!dir.join("schools/east").exists(), "a refused school leaves no folder");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_folder_without_its_school_json_is_not_a_school() {
        let dir = temp();
        std::fs::create_dir_all(dir.join("schools/half")).unwrap();
        let c = FolderCatalog::new(&dir);
        assert_eq!(c.list().unwrap().len(), 1);
        c.create(info("half")).await.unwrap();
        assert_eq!(c.get("half").unwrap().info.name, "School half");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Where a deployment's schools are: a data folder (SQLite, a file per school), or a
/// PostgreSQL database (a schema per school with its media, the list in its `district`
/// schema) with a data folder for the deployment's key.
#[derive(Clone, Debug)]
pub enum Catalog {
    Folder(FolderCatalog),
    Postgres {
        district: Box<doorplate_store::postgres::district::PgDistrict>,
        /// The deployment's key, and a school's own key when it was moved in
        /// (`schools/<slug>/school.key`).
        data_dir: PathBuf,
    },
}

/// A school's store and the bytes of its media, open.
pub struct OpenSchool {
    pub store: Arc<dyn doorplate_store::Store>,
    pub media: Arc<dyn MediaBytes>,
}

/// The database a deployment keeps its schools in, when not its data folder.
#[derive(Clone, Debug)]
pub struct Database {
    /// `postgres://user@host:port/db`.
    pub url: String,
    /// Prefix of the schemas (`<ns>district`, `<ns>school_<slug>`): empty unless several
    /// districts share one database (the tests do).
    pub namespace: String,
}

impl Catalog {
    /// The schools of a data folder, or of a database. A database with no school yet gets
    /// its first one, `main` (as a fresh data folder has its own school).
    pub async fn open(data_dir: &Path, database: Option<&Database>) -> Result<Catalog, CatalogError> {
        let Some(db) = database else {
            return Ok(Catalog::Folder(FolderCatalog::new(data_dir)));
        };
        let district = doorplate_store::postgres::district::PgDistrict::connect(&db.url, &db.namespace).await?;
        let catalog = Catalog::Postgres {
            district: Box::new(district),
            data_dir: data_dir.to_path_buf(),
        };
        if catalog.list().await?.is_empty() {
            catalog
                .create(SchoolInfo {
                    slug: ROOT_SLUG.into(),
                    name: "Doorplate".into(),
                    timezone: Settings::default().timezone,
                })
                .await?;
        }
        Ok(catalog)
    }

    /// Every school; on a data folder the root one first.
    pub async fn list(&self) -> Result<Vec<Entry>, CatalogError> {
        match self {
            Catalog::Folder(f) => f.list(),
            Catalog::Postgres { district, .. } => Ok(district
                .schools()
                .await?
                .into_iter()
                .map(|r| Entry {
                    info: SchoolInfo {
                        slug: r.slug,
                        name: r.name,
                        timezone: r.timezone,
                    },
                    root: false,
                })
                .collect()),
        }
    }

    /// One school by slug; `None` for the default one (the data folder's own, or the
    /// database's first).
    pub async fn get(&self, slug: Option<&str>) -> Result<Entry, CatalogError> {
        let all = self.list().await?;
        match slug {
            Some(s) => all
                .into_iter()
                .find(|e| e.info.slug == s)
                .ok_or_else(|| CatalogError::Unknown(s.into())),
            None => all
                .into_iter()
                .next()
                .ok_or_else(|| CatalogError::Unknown(ROOT_SLUG.into())),
        }
    }

    /// Where a school keeps its media (and, on a data folder, its database).
    pub fn dir_of(&self, entry: &Entry) -> PathBuf {
        match self {
            Catalog::Folder(f) => f.dir_of(entry),
            Catalog::Postgres { data_dir, .. } => data_dir.join("schools").join(&entry.info.slug),
        }
    }

    /// The school's own key (see [`FolderCatalog::secrets_of`]; on a database every
    /// school's is derived).
    pub fn secrets_of(&self, entry: &Entry, master: &Secrets) -> std::io::Result<Secrets> {
        match self {
            Catalog::Folder(f) => f.secrets_of(entry, master),
            Catalog::Postgres { .. } => own_key_or(&self.dir_of(entry), master.for_school(&entry.info.slug)),
        }
    }

    /// The key a new school of this slug gets without a key file of its own.
    pub fn derived_secrets(&self, slug: &str, master: &Secrets) -> Secrets {
        master.for_school(slug)
    }

    /// Opens a school's store (no one hears its writer: see [`Catalog::open_school`]).
    pub async fn open_store(&self, entry: &Entry) -> Result<Arc<dyn doorplate_store::Store>, CatalogError> {
        Ok(self.open_school(entry, None).await?.store)
    }

    /// The district's tables on PostgreSQL (schools, servers, leases); `None` on a data
    /// folder.
    pub fn pg_district(&self) -> Option<&doorplate_store::postgres::district::PgDistrict> {
        match self {
            Catalog::Folder(_) => None,
            Catalog::Postgres { district, .. } => Some(district),
        }
    }

    /// Opens a school this server holds the lease of, at `epoch`: every write
    /// transaction (its media's pieces too) checks the lease first (`on_fenced` hears when
    /// it moved on). A data folder has no leases: its plain store and files.
    pub async fn open_school_fenced(
        &self,
        entry: &Entry,
        epoch: i64,
        on_fenced: Arc<dyn Fn() + Send + Sync>,
        observer: Arc<dyn doorplate_store::WriterObserver>,
    ) -> Result<OpenSchool, CatalogError> {
        Ok(match self {
            Catalog::Folder(_) => self.open_school(entry, Some(observer)).await?,
            Catalog::Postgres { district, .. } => {
                let store = district
                    .open_school_fenced(&entry.info.slug, epoch, on_fenced, observer)
                    .await?;
                OpenSchool {
                    media: Arc::new(store.media_bytes()),
                    store: Arc::new(store),
                }
            }
        })
    }

    /// Opens a school's store and the bytes of its media: on a data folder the SQLite
    /// file and the files of `media/` (which must exist), on a database the school's
    /// schema for both. `observer` hears the writer's queue and commits (the metrics),
    /// on either store.
    pub async fn open_school(
        &self,
        entry: &Entry,
        observer: Option<Arc<dyn doorplate_store::WriterObserver>>,
    ) -> Result<OpenSchool, CatalogError> {
        Ok(match self {
            Catalog::Folder(f) => {
                let dir = f.dir_of(entry);
                let db = dir.join("doorplate.db");
                let store = match observer {
                    Some(o) => SqliteStore::open_observed(&db, o)?,
                    None => SqliteStore::open(&db)?,
                };
                OpenSchool {
                    store: Arc::new(store),
                    media: Arc::new(FileBytes::new(dir.join("media"))),
                }
            }
            Catalog::Postgres { district, .. } => {
                let store = match observer {
                    Some(o) => district.open_school_observed(&entry.info.slug, o).await?,
                    None => district.open_school(&entry.info.slug).await?,
                };
                OpenSchool {
                    media: Arc::new(store.media_bytes()),
                    store: Arc::new(store),
                }
            }
        })
    }

    /// Makes a new school (see [`FolderCatalog::create`]); on a database its schema and
    /// settings first, its row last.
    pub async fn create(&self, info: SchoolInfo) -> Result<Entry, CatalogError> {
        let district = match self {
            Catalog::Folder(f) => return f.create(info).await,
            Catalog::Postgres { district, .. } => district,
        };
        let info = checked(info)?;
        let row = doorplate_store::postgres::district::SchoolRow {
            slug: info.slug.clone(),
            name: info.name.clone(),
            timezone: info.timezone.clone(),
        };
        if self.list().await?.iter().any(|e| e.info.slug == info.slug) {
            return Err(CatalogError::Taken(info.slug));
        }
        let store = district.open_school(&info.slug).await?;
        store
            .save_settings(Settings {
                timezone: info.timezone.clone(),
                ..Settings::default()
            })
            .await?;
        drop(store);
        match district.register_school(row, crate::school::now_micros()).await {
            Err(doorplate_store::StoreError::Conflict(_)) => return Err(CatalogError::Taken(info.slug)),
            other => other?,
        }
        Ok(Entry { info, root: false })
    }
}
