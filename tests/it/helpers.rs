//! Test harness: `spawn_app` starts a server with a seeded account (an admin, a second agent and
//! an inbox); `Ws` is a small WebSocket client that speaks protocol v1.
#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard::{accounts, actor::Role, config::Settings, inboxes, startup::Application};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message as WsMsg, client::IntoClientRequest, protocol::CloseFrame},
};
use uuid::Uuid;

pub const PASSWORD: &str = "correct-horse-battery";
pub const ADMIN: &str = "admin@acme.example";
pub const AGENT2: &str = "agent2@acme.example";
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How a test talks to one server over HTTP and WebSockets (an in-process [`TestApp`] derefs
/// to it; the cluster tests build one per node process).
pub struct Endpoint {
    pub base: String,
    pub ws_base: String,
    pub http: reqwest::Client,
    pub inbox_token: String,
}

impl Endpoint {
    pub fn new(base: &str, inbox_token: &str) -> Endpoint {
        Endpoint {
            base: base.to_string(),
            ws_base: base.replacen("http", "ws", 1),
            http: reqwest::Client::new(),
            inbox_token: inbox_token.to_string(),
        }
    }
}

pub struct TestApp {
    pub endpoint: Endpoint,
    pub settings: Settings,
    /// The running server's context, for setting up what has no API yet.
    pub ctx: switchboard::context::AppContext,
    pub dir: Arc<tempfile::TempDir>,
    handle: switchboard::startup::StopHandle,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// A fresh PostgreSQL database on the server named by `TEST_DATABASE_URL`, or None for SQLite.
pub async fn fresh_database_url() -> Option<String> {
    let admin_url = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!("sb_test_{}", Uuid::new_v4().simple());
    let conn = sea_orm::Database::connect(&admin_url)
        .await
        .expect("connect TEST_DATABASE_URL");
    sea_orm::ConnectionTrait::execute_unprepared(&conn, &format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let _ = conn.close().await;
    let (prefix, _) = admin_url.rsplit_once('/').expect("database URL has a path");
    Some(format!("{prefix}/{name}"))
}

/// Drops a database made by `fresh_database_url` (no-op for SQLite).
pub async fn drop_database(url: &str) {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    let Some(name) = url.rsplit('/').next().filter(|n| n.starts_with("sb_test_")) else {
        return;
    };
    if let Ok(conn) = sea_orm::Database::connect(&admin_url).await {
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let _ = sea_orm::ConnectionTrait::execute_unprepared(&conn, &sql).await;
        let _ = conn.close().await;
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    switchboard::install_crypto_provider();
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    if let Some(url) = fresh_database_url().await {
        settings.database_url = url;
    }
    tweak(&mut settings);
    let app = Application::build(settings.clone())
        .await
        .expect("build app");
    let db = &app.context().db;
    let acc = accounts::service::create_account(db, "Acme")
        .await
        .expect("account");
    accounts::service::create_agent(db, acc.id, ADMIN, "Ada Admin", PASSWORD, Role::Admin)
        .await
        .expect("admin");
    accounts::service::create_agent(db, acc.id, AGENT2, "Bo Agent", PASSWORD, Role::Agent)
        .await
        .expect("agent2");
    let inbox = inboxes::create(db, acc.id, "Website", &[])
        .await
        .expect("inbox");
    start(app, settings, dir, inbox.widget_token).await
}

async fn start(
    app: Application,
    settings: Settings,
    dir: Arc<tempfile::TempDir>,
    inbox_token: String,
) -> TestApp {
    let port = app.port();
    let handle = app.handle();
    let ctx = app.context().clone();
    let join = tokio::spawn(app.run_until_stopped(false));
    TestApp {
        endpoint: Endpoint::new(&format!("http://127.0.0.1:{port}"), &inbox_token),
        settings,
        ctx,
        dir,
        handle,
        join,
    }
}

pub struct Customer {
    pub token: String,
    pub conversation_id: Uuid,
}

pub struct Agent {
    pub session: String,
}

impl std::ops::Deref for TestApp {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl TestApp {
    /// Stops the server (sockets first, then HTTP) and waits until it is down; returns what a
    /// restart on the same database needs.
    async fn shut_down(self) -> (Settings, Arc<tempfile::TempDir>, String) {
        let TestApp {
            settings,
            dir,
            endpoint,
            handle,
            join,
            ctx,
            ..
        } = self;
        let inbox_token = endpoint.inbox_token;
        drop(ctx); // the server drains its writer once the last handle is gone
        handle.stop().await;
        join.await
            .expect("server task")
            .expect("server stopped cleanly");
        (settings, dir, inbox_token)
    }

    /// Stops the server and starts a new one on the same database and data dir.
    pub async fn restart(self) -> TestApp {
        let (mut settings, dir, inbox_token) = self.shut_down().await;
        settings.bind = "127.0.0.1:0".into();
        let app = Application::build(settings.clone())
            .await
            .expect("rebuild app");
        start(app, settings, dir, inbox_token).await
    }

    pub async fn stop(self) {
        let (settings, _, _) = self.shut_down().await;
        drop_database(&settings.database_url).await;
    }
}

impl Endpoint {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn customer(&self) -> Customer {
        let r: Value = self
            .http
            .post(self.url("/api/v1/widget/session"))
            .json(&json!({"inbox_token": self.inbox_token}))
            .send()
            .await
            .expect("widget session")
            .json()
            .await
            .expect("json");
        Customer {
            token: r["visitor_token"]
                .as_str()
                .expect("visitor_token")
                .to_string(),
            conversation_id: r["conversation_id"]
                .as_str()
                .expect("conversation_id")
                .parse()
                .expect("uuid"),
        }
    }

    pub async fn login(&self, email: &str) -> Agent {
        let r = self
            .http
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 200, "login of {email}");
        let v: Value = r.json().await.expect("json");
        Agent {
            session: v["token"].as_str().expect("token").to_string(),
        }
    }

    pub async fn socket_token(&self, agent: &Agent) -> String {
        let v: Value = self
            .http
            .post(self.url("/api/v1/auth/socket-token"))
            .bearer_auth(&agent.session)
            .send()
            .await
            .expect("socket token")
            .json()
            .await
            .expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    pub async fn agent_ws(&self, agent: &Agent) -> Ws {
        let token = self.socket_token(agent).await;
        let mut ws = Ws::connect(&format!("{}/ws/agent?token={token}", self.ws_base), None)
            .await
            .expect("agent ws");
        ws.expect_type("hello").await;
        ws
    }

    pub async fn customer_ws(&self, c: &Customer) -> Ws {
        let mut ws = Ws::connect(
            &format!("{}/ws/widget?token={}", self.ws_base, c.token),
            None,
        )
        .await
        .expect("widget ws");
        ws.expect_type("hello").await;
        ws
    }

    /// Connects and resumes after `after_seq`; returns the socket and the replayed messages.
    pub async fn customer_resume(&self, c: &Customer, after_seq: i64) -> (Ws, Vec<Value>) {
        let mut ws = self.customer_ws(c).await;
        ws.send(json!({"type": "subscribe", "after_seq": after_seq}))
            .await;
        let replayed = ws.until_replay_done().await;
        (ws, replayed)
    }

    /// POST a message over HTTP with the given bearer token.
    pub async fn post_message(
        &self,
        bearer: &str,
        conv: Uuid,
        client_msg_id: &str,
        body: &str,
        private: bool,
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/api/v1/conversations/{conv}/messages")))
            .bearer_auth(bearer)
            .json(&json!({"client_msg_id": client_msg_id, "body": body, "private": private}))
            .send()
            .await
            .expect("post message")
    }

    /// Posts `n` public messages `"<prefix> <i>"` (ids `<prefix>-<i>`) one after the other over
    /// HTTP, asserting each was stored as new.
    pub async fn post_many(&self, bearer: &str, conv: Uuid, prefix: &str, n: usize) {
        for i in 0..n {
            let r = self
                .post_message(
                    bearer,
                    conv,
                    &format!("{prefix}-{i}"),
                    &format!("{prefix} {i}"),
                    false,
                )
                .await;
            assert_eq!(r.status(), 201, "{prefix} {i}");
        }
    }

    /// Every message of a conversation as `bearer` sees it, via paged HTTP history.
    pub async fn history(&self, bearer: &str, conv: Uuid) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let r = self
                .http
                .get(self.url(&format!(
                    "/api/v1/conversations/{conv}/messages?after_seq={after}&limit=100"
                )))
                .bearer_auth(bearer)
                .send()
                .await
                .expect("history");
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.expect("json");
            let page = v["messages"].as_array().expect("messages").clone();
            if let Some(last) = page.last() {
                after = last["seq"].as_i64().expect("seq");
            }
            out.extend(page);
            if !v["has_more"].as_bool().expect("has_more") {
                return out;
            }
        }
    }
}

pub struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames that matter (message, ack, error, …) read past while looking for another type;
    /// every read takes from here first, so nothing is lost or reordered.
    stash: std::collections::VecDeque<Value>,
}

pub enum Next {
    Frame(Value),
    Closed(Option<CloseFrame>),
}

impl Ws {
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Ws, tungstenite::Error> {
        Self::connect_with(url, origin, None).await
    }

    /// Connects offering `Sec-WebSocket-Protocol: <protocols>` (as browsers do with
    /// `new WebSocket(url, protocols)`); the handshake fails unless the server selects one.
    pub async fn connect_with(
        url: &str,
        origin: Option<&str>,
        protocols: Option<&str>,
    ) -> Result<Ws, tungstenite::Error> {
        let mut req = url.into_client_request()?;
        if let Some(o) = origin {
            req.headers_mut()
                .insert("Origin", o.parse().expect("origin header"));
        }
        if let Some(p) = protocols {
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                p.parse().expect("protocol header"),
            );
        }
        let (inner, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Ws {
            inner,
            stash: Default::default(),
        })
    }

    pub async fn send(&mut self, v: Value) {
        self.inner
            .send(WsMsg::text(v.to_string()))
            .await
            .expect("ws send");
    }

    pub async fn send_raw(&mut self, m: WsMsg) {
        let _ = self.inner.send(m).await;
    }

    /// The next JSON frame (first any read past earlier) or the close, skipping transport pings.
    pub async fn next(&mut self) -> Next {
        if let Some(v) = self.stash.pop_front() {
            return Next::Frame(v);
        }
        loop {
            let item = tokio::time::timeout(TIMEOUT, self.inner.next())
                .await
                .expect("timed out waiting for a frame");
            match item {
                None => return Next::Closed(None),
                Some(Err(e)) => {
                    eprintln!("websocket error: {e}");
                    return Next::Closed(None);
                }
                Some(Ok(WsMsg::Text(t))) => {
                    return Next::Frame(serde_json::from_str(&t).expect("server sent JSON"));
                }
                Some(Ok(WsMsg::Close(f))) => return Next::Closed(f),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next JSON frame, waiting up to `within` (for slow peers such as a real model).
    pub async fn frame_within(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let item = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()??;
            match item {
                Ok(WsMsg::Text(t)) => return serde_json::from_str(&t).ok(),
                Ok(WsMsg::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    pub async fn frame(&mut self) -> Value {
        match self.next().await {
            Next::Frame(v) => v,
            Next::Closed(f) => panic!("socket closed unexpectedly: {f:?}"),
        }
    }

    /// The next frame of type `ty`. Presence, typing, read and conversation updates on the way
    /// are skipped (chatter every test may see); any other frame is kept for the next read.
    pub async fn expect_type(&mut self, ty: &str) -> Value {
        if let Some(i) = self.stash.iter().position(|v| v["type"] == ty) {
            return self.stash.remove(i).expect("index from position");
        }
        loop {
            let v = self.read_frame().await;
            if v["type"] == ty {
                return v;
            }
            let t = v["type"].as_str().unwrap_or_default();
            if !matches!(
                t,
                "presence" | "typing" | "read" | "conversation_created" | "conversation_updated"
            ) {
                self.stash.push_back(v);
            }
        }
    }

    /// The next frame off the socket itself (not the stash).
    async fn read_frame(&mut self) -> Value {
        let kept = std::mem::take(&mut self.stash);
        let v = self.frame().await;
        self.stash = kept;
        v
    }

    /// Collects `message` frames until `replay_done`.
    pub async fn until_replay_done(&mut self) -> Vec<Value> {
        let mut out: Vec<Value> = self.stash.drain(..).collect();
        loop {
            let v = self.frame().await;
            match v["type"].as_str() {
                Some("message") => out.push(v),
                Some("replay_done") => return out,
                Some(
                    "presence"
                    | "typing"
                    | "read"
                    | "conversation_created"
                    | "conversation_updated",
                ) => {}
                _ => panic!("unexpected frame during replay: {v}"),
            }
        }
    }

    /// The next `n` message frames (other chatter skipped).
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n
            && let Some(v) = self.stash.pop_front()
        {
            out.push(v);
        }
        while out.len() < n {
            let v = self.frame().await;
            if v["type"] == "message" {
                out.push(v);
            }
        }
        out
    }

    /// Asserts that no message frame arrives within `wait`.
    pub async fn assert_no_message(&mut self, wait: Duration) {
        self.assert_no_frame_of("message", wait).await;
    }

    /// Asserts that no frame of type `ty` arrives within `wait`.
    pub async fn assert_no_frame_of(&mut self, ty: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) | Ok(None) => return,
                Ok(Some(Ok(WsMsg::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    assert_ne!(v["type"], ty, "unexpected {ty}: {v}");
                }
                Ok(_) => {}
            }
        }
    }

    /// Reads until the server closes; returns the close frame (if one was sent) and the number
    /// of message frames read on the way.
    pub async fn until_closed(&mut self) -> (Option<CloseFrame>, usize) {
        let mut n = 0;
        loop {
            match self.next().await {
                Next::Frame(v) => n += usize::from(v["type"] == "message"),
                Next::Closed(f) => return (f, n),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.inner.close(None).await;
    }
}

pub fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .map(|v| v["seq"].as_i64().expect("seq"))
        .collect()
}
