//! The test harness: the real server on 127.0.0.1:0 with a fresh SQLite file, real HTTP
//! and WebSocket clients, and a small school set up through the API.
#![allow(dead_code)]

use doorplate_domain::Role;
use doorplate_store::NewUser;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

pub const ADMIN_PASSWORD: &str = "admin-secret";
pub const PASSWORD: &str = "pass1234";

/// A fresh data folder, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let n: u64 = rand_u64();
        let p = std::env::temp_dir().join(format!("doorplate-test-{}-{n:x}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // On PostgreSQL, the schools' schemas of this folder's namespace go too.
        if let Ok(ns) = std::fs::read_to_string(self.0.join(NAMESPACE_FILE)) {
            pgtest::drop_schemas_with_prefix(&pgtest::database_url(), ns.trim());
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `DOORPLATE_TEST_STORE=postgres` runs the integration tests on PostgreSQL: each data
/// folder's schools live in a throwaway cluster (crates/pgtest) under a namespace of
/// their own, the folder keeping media and the key, as `serve --database` does.
pub fn on_postgres() -> bool {
    std::env::var("DOORPLATE_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// Where a test folder's PostgreSQL namespace is noted (so the admin made before the
/// server starts, the server, and the clean-up agree on it).
const NAMESPACE_FILE: &str = "test-namespace";

/// The database a test server on `dir` keeps its schools in: none on SQLite.
pub async fn test_database(dir: &std::path::Path) -> Option<doorplate_server::district::catalog::Database> {
    if !on_postgres() {
        return None;
    }
    let path = dir.join(NAMESPACE_FILE);
    let namespace = match std::fs::read_to_string(&path) {
        Ok(ns) => ns.trim().to_string(),
        Err(_) => {
            let ns = format!("t{:012x}_", rand_u64() & 0xffff_ffff_ffff);
            std::fs::write(&path, &ns).unwrap();
            ns
        }
    };
    let url = tokio::task::spawn_blocking(pgtest::database_url).await.unwrap();
    Some(doorplate_server::district::catalog::Database { url, namespace })
}

pub fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// Creates the first admin straight in the store, as `doorplate admin create` does.
pub async fn create_admin(dir: &std::path::Path) {
    doorplate_server::crypto::Secrets::load_or_create(dir).unwrap();
    let store = default_school_store(dir).await;
    let hash = doorplate_server::crypto::hash_password(ADMIN_PASSWORD);
    store
        .create_user(NewUser {
            role: Some(Role::Admin),
            display_name: "Admin".into(),
            username: Some("admin".into()),
            password_hash: Some(hash),
            card_hash: None,
            now: doorplate_server::school::now_micros(),
        })
        .await
        .unwrap();
}

/// The environment that points the `doorplate` binary at the same store as the test
/// harness (nothing on SQLite: the data folder says it all).
pub async fn store_env(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    match test_database(dir).await {
        Some(db) => vec![
            ("DOORPLATE_DATABASE", db.url),
            ("DOORPLATE_DATABASE_NAMESPACE", db.namespace),
        ],
        None => Vec::new(),
    }
}

/// The store of the default school of a test folder (SQLite, or PostgreSQL when the
/// tests run there), for setting things up before the server starts.
pub async fn default_school_store(dir: &std::path::Path) -> std::sync::Arc<dyn doorplate_store::Store> {
    let database = test_database(dir).await;
    let catalog = doorplate_server::district::catalog::Catalog::open(dir, database.as_ref())
        .await
        .unwrap();
    let entry = catalog.get(None).await.unwrap();
    catalog.open_store(&entry).await.unwrap()
}

/// Where the default school of a test folder keeps the bytes of its uploads: files in
/// its media folder (SQLite), or pieces in its schema (PostgreSQL).
pub async fn default_school_media(
    dir: &std::path::Path,
) -> std::sync::Arc<dyn doorplate_store::media_bytes::MediaBytes> {
    let database = test_database(dir).await;
    let catalog = doorplate_server::district::catalog::Catalog::open(dir, database.as_ref())
        .await
        .unwrap();
    let entry = catalog.get(None).await.unwrap();
    catalog.open_school(&entry, None).await.unwrap().media
}

/// The names of the uploads the default school of a test folder holds, sorted.
pub async fn stored_uploads(dir: &std::path::Path) -> Vec<String> {
    let mut names = default_school_media(dir).await.names().await.unwrap();
    names.sort();
    names
}

/// The hashing key of the default school of a test folder (the folder's own key on
/// SQLite, the key derived for `main` on PostgreSQL).
pub async fn default_school_secrets(dir: &std::path::Path) -> doorplate_server::crypto::Secrets {
    let master = doorplate_server::crypto::Secrets::load_or_create(dir).unwrap();
    let database = test_database(dir).await;
    let catalog = doorplate_server::district::catalog::Catalog::open(dir, database.as_ref())
        .await
        .unwrap();
    let entry = catalog.get(None).await.unwrap();
    catalog.secrets_of(&entry, &master).unwrap()
}

/// Adds a school to the data folder, with an admin `admin` (the same password as the
/// root school's), as `doorplate school create` and `admin create --school` do.
pub async fn add_school(dir: &std::path::Path, slug: &str) {
    let catalog = doorplate_server::district::catalog::FolderCatalog::new(dir);
    let entry = catalog
        .create(doorplate_server::district::SchoolInfo {
            slug: slug.into(),
            name: format!("{slug} school"),
            timezone: "Asia/Shanghai".into(),
        })
        .await
        .unwrap();
    let store = doorplate_store::sqlite::SqliteStore::open(&catalog.dir_of(&entry).join("doorplate.db")).unwrap();
    create_admin_in(&store).await;
}

/// Makes the admin `admin` (password [`ADMIN_PASSWORD`]) in a school's store.
pub async fn create_admin_in(store: &dyn doorplate_store::Store) {
    store
        .create_user(NewUser {
            role: Some(doorplate_domain::Role::Admin),
            display_name: "Admin".into(),
            username: Some("admin".into()),
            password_hash: Some(doorplate_server::crypto::hash_password(ADMIN_PASSWORD)),
            card_hash: None,
            now: doorplate_server::school::now_micros(),
        })
        .await
        .unwrap();
}

/// Uploads `bytes` as a PNG: the status and the JSON answer (with `retry_after` when the
/// answer carries `Retry-After`).
pub async fn upload_bytes(api: &Api, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let res = api
        .http
        .post(format!("{}/api/v1/media", api.base))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry_after = res.headers().get("retry-after").cloned();
    let mut body: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null);
    if let Some(r) = retry_after {
        body["retry_after"] = json!(r.to_str().unwrap());
    }
    (status, body)
}

/// Downloads an upload whole: the status and the bytes.
pub async fn download_media(api: &Api, token: &str, id: &str) -> (StatusCode, Vec<u8>) {
    let res = api
        .http
        .get(format!("{}/api/v1/media/{id}", api.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.bytes().await.unwrap().to_vec())
}

/// Creates the first admin with the real binary (`doorplate admin create`), in the store
/// the harness uses (`env` from [`store_env`]).
pub fn create_admin_with_cli(bin: &str, dir: &std::path::Path, env: &[(&str, String)]) {
    use std::io::Write;
    let mut admin = std::process::Command::new(bin)
        .args([
            "--data",
            dir.to_str().unwrap(),
            "admin",
            "create",
            "--username",
            "admin",
            "--password-stdin",
        ])
        .envs(env.iter().cloned())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    admin
        .stdin
        .take()
        .unwrap()
        .write_all(ADMIN_PASSWORD.as_bytes())
        .unwrap();
    assert!(admin.wait().unwrap().success());
}

/// A 1×1 PNG.
pub const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\x04\0\x09\xfb\x03\xfd\xe3U\xf2\x9c\0\0\0\0IEND\xaeB`\x82";

/// Uploads [`PNG`] as `token`'s; returns its media id.
pub async fn upload_png(api: &Api, token: &str) -> String {
    let res = api
        .http
        .post(format!("{}/api/v1/media", api.base))
        .bearer_auth(token)
        .header("content-type", "image/png")
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["media_id"].as_str().unwrap().to_string()
}

/// A JSON client of the API at `base` (a server, or one school of it: `…/s/{slug}`).
pub fn api_at(base: &str) -> Api {
    Api {
        base: base.to_string(),
        http: reqwest::Client::new(),
    }
}

/// Every message of a conversation, oldest first.
pub async fn all_messages(api: &Api, token: &str, conv: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    loop {
        // Always `after` (0 at first): without it a page is the newest, not the oldest.
        let after = out.last().map_or("0", |m| m["id"].as_str().unwrap()).to_string();
        let (s, page) = api
            .get(
                &format!("/api/v1/conversations/{conv}/messages?limit=200&after={after}"),
                token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let page = page
            .as_array()
            .cloned()
            .unwrap_or_else(|| page["messages"].as_array().unwrap().clone());
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Starts the real binary (`bin serve` on a free port of 127.0.0.1, the store `env`
/// names) and reads its address from the first line it prints.
pub fn spawn_binary_server(bin: &str, dir: &std::path::Path, env: &[(&str, String)]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(bin)
        .args(["--data", dir.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .envs(env.iter().cloned())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("doorplate listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    (child, url)
}

/// The server running in this process.
pub struct TestServer {
    pub base: String,
    pub dir: TempDir,
    /// The school's clock when the test moves time by hand ([`TestServer::start_at`]).
    pub clock: Option<std::sync::Arc<doorplate_server::school::clock::ManualClock>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = TempDir::new();
        create_admin(&dir.0).await;
        Self::start_in(dir).await
    }

    /// The server on a clock that stands at `at` until the test moves it.
    pub async fn start_at(at: jiff::Timestamp) -> TestServer {
        let dir = TempDir::new();
        create_admin(&dir.0).await;
        let clock = std::sync::Arc::new(doorplate_server::school::clock::ManualClock::at(at.as_microsecond()));
        let config = doorplate_server::Config::new(dir.0.clone());
        Self::start_in_on(dir, config, Some(clock)).await
    }

    /// Moves the school's clock forward (the server must run on a manual clock).
    pub fn advance(&self, secs: f64) {
        self.clock
            .as_ref()
            .expect("started with start_at")
            .advance(Duration::from_secs_f64(secs));
    }

    /// Now on the server's clock.
    pub fn now(&self) -> jiff::Timestamp {
        match &self.clock {
            Some(c) => {
                jiff::Timestamp::from_microsecond(doorplate_server::school::clock::Clock::now(c.as_ref())).unwrap()
            }
            None => jiff::Timestamp::now(),
        }
    }

    pub async fn start_in(dir: TempDir) -> TestServer {
        let config = doorplate_server::Config::new(dir.0.clone());
        Self::start_in_on(dir, config, None).await
    }

    /// Starts on `dir` with this configuration (limits a test wants small).
    pub async fn start_with(dir: TempDir, config: doorplate_server::Config) -> TestServer {
        Self::start_in_on(dir, config, None).await
    }

    /// Starts on `dir` with this configuration (its `data_dir` should be `dir`).
    pub async fn start_configured(dir: TempDir, config: doorplate_server::Config) -> TestServer {
        Self::start_in_on(dir, config, None).await
    }

    /// Starts on `dir` with this configuration, on a clock that stands at `at` until the
    /// test moves it.
    pub async fn start_configured_at(
        dir: TempDir,
        config: doorplate_server::Config,
        at: jiff::Timestamp,
    ) -> TestServer {
        let clock = std::sync::Arc::new(doorplate_server::school::clock::ManualClock::at(at.as_microsecond()));
        Self::start_in_on(dir, config, Some(clock)).await
    }

    async fn start_in_on(
        dir: TempDir,
        mut config: doorplate_server::Config,
        clock: Option<std::sync::Arc<doorplate_server::school::clock::ManualClock>>,
    ) -> TestServer {
        if config.database.is_none() {
            config.database = test_database(&dir.0).await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let on: std::sync::Arc<dyn doorplate_server::school::clock::Clock> = match &clock {
            Some(c) => c.clone(),
            None => std::sync::Arc::new(doorplate_server::school::clock::SystemClock),
        };
        let task = tokio::spawn(async move {
            doorplate_server::run_on_clock(listener, config, on, async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        TestServer {
            base,
            dir,
            clock,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops gracefully and gives back the data folder.
    pub async fn stop(mut self) -> TempDir {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }

    pub fn api(&self) -> Api {
        Api {
            base: self.base.clone(),
            http: reqwest::Client::new(),
        }
    }
}

/// A JSON client of the API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, v)
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// POST that must succeed; returns the body.
    pub async fn ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (s, v) = self.post(path, token, body).await;
        assert!(s.is_success(), "POST {path}: {s} {v}");
        v
    }

    pub async fn login(&self, username: &str, password: &str) -> String {
        let (s, v) = self
            .call(
                "POST",
                "/api/v1/auth/login",
                None,
                Some(json!({"username": username, "password": password})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "login {username}: {v}");
        v["token"].as_str().unwrap().to_string()
    }
}

/// Asserts the error shape of API.md and returns the code.
pub fn error_code(v: &Value) -> String {
    let code = v["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {v}"));
    assert!(
        v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "no message in {v}"
    );
    code.to_string()
}

/// A small school made through the API.
pub struct School {
    pub api: Api,
    pub admin: String,
    pub teacher: Value,
    pub teacher_token: String,
    /// Students: `ann` (card C-ANN, guardian `gwen`), `bob` (card C-BOB, guardian `hal`).
    pub ann: Value,
    pub bob: Value,
    pub gwen: Value,
    pub gwen_token: String,
    pub hal: Value,
    pub hal_token: String,
    pub ann_qr: String,
    pub room: Value,
    pub doorplate: Value,
    pub device: String,
}

impl School {
    pub async fn new(server: &TestServer) -> School {
        Self::with_api(server.api()).await
    }

    pub async fn with_api(api: Api) -> School {
        let admin = api.login("admin", ADMIN_PASSWORD).await;
        let user = |role: &str, name: &str, username: &str, card: Option<&str>| {
            let mut b = json!({"role": role, "display_name": name, "username": username, "password": PASSWORD});
            if let Some(c) = card {
                b["card_uid"] = json!(c);
            }
            b
        };
        let teacher = api
            .ok(
                "/api/v1/users",
                &admin,
                user("teacher", "Ms Teach", "teach", Some("T-1")),
            )
            .await["user"]
            .clone();
        let ann = api
            .ok(
                "/api/v1/users",
                &admin,
                user("student", "Ann 安", "ann", Some("04A1B2C3")),
            )
            .await["user"]
            .clone();
        let bob = api
            .ok(
                "/api/v1/users",
                &admin,
                user("student", "Bob 波", "bob", Some("04B0B0B0")),
            )
            .await["user"]
            .clone();
        let gwen = api
            .ok(
                "/api/v1/users",
                &admin,
                user("guardian", "Gwen (Ann's mum)", "gwen", None),
            )
            .await["user"]
            .clone();
        let hal = api
            .ok(
                "/api/v1/users",
                &admin,
                user("guardian", "Hal (Bob's dad)", "hal", None),
            )
            .await["user"]
            .clone();
        api.ok(
            "/api/v1/guardianships",
            &admin,
            json!({"guardian_id": gwen["id"], "student_id": ann["id"]}),
        )
        .await;
        api.ok(
            "/api/v1/guardianships",
            &admin,
            json!({"guardian_id": hal["id"], "student_id": bob["id"]}),
        )
        .await;
        api.ok(
            "/api/v1/groups",
            &admin,
            json!({"name": "Class 1", "member_ids": [ann["id"], bob["id"]], "teacher_id": teacher["id"]}),
        )
        .await;
        let ann_qr = api
            .ok(
                &format!("/api/v1/users/{}/badge", ann["id"].as_str().unwrap()),
                &admin,
                json!({}),
            )
            .await["qr_token"]
            .as_str()
            .unwrap()
            .to_string();
        let room = api
            .ok(
                "/api/v1/rooms",
                &admin,
                json!({"name": "Room 301", "kind": "classroom"}),
            )
            .await["room"]
            .clone();
        let (doorplate, device) = pair(&api, &admin, &room, "Door 301").await;
        let teacher_token = api.login("teach", PASSWORD).await;
        let gwen_token = api.login("gwen", PASSWORD).await;
        let hal_token = api.login("hal", PASSWORD).await;
        School {
            api,
            admin,
            teacher,
            teacher_token,
            ann,
            bob,
            gwen,
            gwen_token,
            hal,
            hal_token,
            ann_qr,
            room,
            doorplate,
            device,
        }
    }

    /// A new room with a paired doorplate: (doorplate, device token).
    pub async fn another_doorplate(&self, name: &str) -> (Value, String) {
        let room = self
            .api
            .ok("/api/v1/rooms", &self.admin, json!({"name": name, "kind": "classroom"}))
            .await["room"]
            .clone();
        pair(&self.api, &self.admin, &room, name).await
    }
    /// Opens a personal session at the school's doorplate with a card; its token.
    pub async fn card_session(&self, card: &str) -> String {
        self.api
            .ok(
                "/api/v1/doorplate/sessions",
                &self.device,
                json!({"credential": {"card": card}}),
            )
            .await["session_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn conversation(&self, token: &str, peer: &Value) -> String {
        let v = self
            .api
            .ok("/api/v1/conversations", token, json!({"peer_id": peer["id"]}))
            .await;
        v["conversation"]["id"].as_str().unwrap().to_string()
    }

    /// `PUT /api/v1/me/quiet-hours` as the holder of `token`.
    pub async fn put_quiet_hours(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.api
            .call("PUT", "/api/v1/me/quiet-hours", Some(token), Some(body))
            .await
    }

    pub async fn send_text(&self, token: &str, conv: &str, client_id: &str, text: &str) -> (StatusCode, Value) {
        self.api
            .post(
                &format!("/api/v1/conversations/{conv}/messages"),
                token,
                json!({"client_id": client_id, "kind": "text", "text": text}),
            )
            .await
    }
}

pub async fn pair(api: &Api, admin: &str, room: &Value, name: &str) -> (Value, String) {
    let created = api
        .ok(
            "/api/v1/doorplates",
            admin,
            json!({"room_id": room["id"], "name": name}),
        )
        .await;
    let code = created["pairing_code"].as_str().unwrap();
    let (s, v) = api
        .call(
            "POST",
            "/api/v1/devices/pair",
            None,
            Some(json!({"pairing_code": code})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    (v["doorplate"].clone(), v["device_token"].as_str().unwrap().to_string())
}

/// A live event socket.
pub struct Events {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub last_seq: u64,
}

impl Events {
    pub async fn open(base: &str, token: &str, after: Option<u64>) -> Events {
        Self::try_open(base, token, after).await.expect("event socket opens")
    }

    /// Opens the socket, or says why it could not (refused, a 503 while the school moves).
    pub async fn try_open(base: &str, token: &str, after: Option<u64>) -> Result<Events, String> {
        let mut url = format!("{}/api/v1/events", base.replacen("http", "ws", 1));
        if let Some(a) = after {
            url.push_str(&format!("?after={a}"));
        }
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.map_err(|e| e.to_string())?;
        Ok(Events { ws, last_seq: 0 })
    }

    /// Opens with extra request headers; also gives the handshake's response headers.
    pub async fn open_with_headers(
        base: &str,
        token: &str,
        headers: &[(&'static str, &str)],
    ) -> (Events, tokio_tungstenite::tungstenite::http::HeaderMap) {
        let url = format!("{}/api/v1/events", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        for (k, v) in headers {
            req.headers_mut().insert(*k, v.parse().unwrap());
        }
        let (ws, res) = tokio_tungstenite::connect_async(req).await.expect("event socket opens");
        (Events { ws, last_seq: 0 }, res.headers().clone())
    }

    /// The next event frame within `ms`, or `None`. `Err` if the socket closed.
    pub async fn next_within(&mut self, ms: u64) -> Result<Option<Value>, String> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => return Err("closed".into()),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    self.last_seq = v["seq"].as_u64().unwrap();
                    return Ok(Some(v));
                }
                Ok(Some(Ok(Message::Close(f)))) => return Err(format!("closed: {f:?}")),
                Ok(Some(Ok(Message::Ping(p)))) => {
                    let _ = self.ws.send(Message::Pong(p)).await;
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Waits (up to 5 s) for an event of this type, skipping others; returns its data.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .as_millis() as u64;
            match self.next_within(left.max(1)).await {
                Ok(Some(v)) if v["type"] == kind => return v["data"].clone(),
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no {kind} event within 5 s"),
                Err(e) => panic!("socket ended while waiting for {kind}: {e}"),
            }
        }
    }

    /// Every event that arrives within `ms`.
    pub async fn drain(&mut self, ms: u64) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(Some(v)) = self.next_within(ms).await {
            out.push(v);
        }
        out
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// A Monday morning on the school's clock (UTC, the default zone), far from midnight:
/// where tests that move time by hand start.
pub fn monday_morning() -> jiff::Timestamp {
    "2026-11-30T08:00:00Z".parse().unwrap()
}

impl TestServer {
    /// A server with a fresh admin and these HTTP settings.
    pub async fn start_http(http: doorplate_server::HttpConfig) -> TestServer {
        let dir = TempDir::new();
        create_admin(&dir.0).await;
        let config = doorplate_server::Config {
            http,
            ..doorplate_server::Config::new(dir.0.clone())
        };
        Self::start_configured(dir, config).await
    }

    /// `host:port` the server listens on.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_string()
    }
}

/// POST /api/v1/import/{kind} with a CSV body, as the console sends it.
pub async fn import_csv(api: &Api, admin: &str, kind: &str, csv: &str, dry_run: bool) -> (StatusCode, Value) {
    let res = api
        .http
        .post(format!("{}/api/v1/import/{kind}?dry_run={dry_run}", api.base))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}
