//! The simulator's clients: JSON over HTTP and event sockets with small buffers.

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("an HTTP client");
        Http {
            base: base.trim_end_matches('/').to_string(),
            client,
        }
    }

    /// The same client (and its pools) for the server at `base`.
    pub fn at(&self, base: &str) -> Http {
        Http {
            base: base.trim_end_matches('/').to_string(),
            client: self.client.clone(),
        }
    }

    /// A request; `Err` carries the status (or "network") as the error kind.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, String> {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                "timeout".to_string()
            } else {
                "network".to_string()
            }
        })?;
        let status = res.status();
        let text = res.text().await.map_err(|_| "network".to_string())?;
        if !status.is_success() {
            return Err(format!("http_{}", status.as_u16()));
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        })
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
            .map_err(|e| anyhow::anyhow!("POST {path}: {e}"))
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
            .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))
    }

    pub async fn csv(&self, kind: &str, token: &str, csv: String) -> anyhow::Result<Value> {
        let res = self
            .client
            .post(format!("{}/api/v1/import/{kind}?dry_run=false", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .timeout(Duration::from_secs(600))
            .body(csv)
            .send()
            .await?;
        let v: Value = res.json().await?;
        if v["errors"].as_array().is_some_and(|e| !e.is_empty()) || v.get("error").is_some() {
            bail!("import {kind}: {v}");
        }
        Ok(v)
    }

    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&serde_json::json!({"username": username, "password": password})),
            )
            .await
            .map_err(|e| anyhow::anyhow!("login {username}: {e}"))?;
        Ok(v["token"].as_str().context("a token")?.to_string())
    }
}

pub type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens an event socket with 4 KiB buffers (the default 128 KiB each would make the
/// simulator, not the server, the limit).
pub async fn events(base: &str, token: &str) -> anyhow::Result<Socket> {
    events_after(base, token, None).await
}

/// [`events`], resuming after the frame `after` (the server replays what followed).
pub async fn events_after(base: &str, token: &str, after: Option<u64>) -> anyhow::Result<Socket> {
    let mut url = format!("{}/api/v1/events", base.replacen("http", "ws", 1));
    if let Some(a) = after {
        url += &format!("?after={a}");
    }
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), false).await?;
    Ok(ws)
}

/// The next JSON frame of a socket (`None` when it closed).
pub async fn next_frame(ws: &mut Socket) -> Option<Value> {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return serde_json::from_str(&t).ok(),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The resident memory of a process, in KiB (Linux).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Raises this process's soft limit of open files to the hard limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        lim.rlim_cur
    }
}
