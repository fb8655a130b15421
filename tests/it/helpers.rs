//! Test harness: `spawn_app` starts a server with a seeded account (an admin, a second agent and
//! an inbox); `Ws` (from `testkit::ws`) is a small WebSocket client that speaks protocol v1.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{Value, json};
use switchboard::{actor::Role, config::Settings, startup::Application};
use testkit::seed::NewAgent;
pub use testkit::ws::{Next, TIMEOUT, Ws, seqs};
use uuid::Uuid;

pub const PASSWORD: &str = "correct-horse-battery";
pub const ADMIN: &str = "admin@acme.example";
pub const AGENT2: &str = "agent2@acme.example";

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
    let db = testkit::pg::ScratchDb::create(&admin_url, "sb_test_")
        .await
        .expect("create test database on TEST_DATABASE_URL");
    Some(db.url().to_string())
}

/// The PostgreSQL server of the tests that need one whatever the run's backend (outages, killed
/// connections): `TEST_DATABASE_URL`, else `TEST_POSTGRES_URL`, else the local server `.ci/test`
/// starts.
pub fn postgres_admin_url() -> String {
    ["TEST_DATABASE_URL", "TEST_POSTGRES_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh PostgreSQL database for a test that needs PostgreSQL. Without one the test fails,
/// saying so: it never passes by skipping.
pub async fn fresh_postgres_url() -> String {
    let admin_url = postgres_admin_url();
    match testkit::pg::ScratchDb::create(&admin_url, "sb_test_").await {
        Ok(db) => db.url().to_string(),
        Err(e) => panic!(
            "this test needs PostgreSQL at {admin_url} ({e:#}): start it (`.ci/test` does) or \
             set TEST_POSTGRES_URL"
        ),
    }
}

/// Drops a database made by `fresh_database_url` or `fresh_postgres_url` (no-op for SQLite).
pub async fn drop_database(url: &str) {
    if !url.starts_with("postgres") {
        return;
    }
    let Some(name) = testkit::pg::database_name(url).filter(|n| n.starts_with("sb_test_")) else {
        return;
    };
    let _ = testkit::pg::drop_named(&postgres_admin_url(), name).await;
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
    let agents = [
        NewAgent::new(ADMIN, "Ada Admin", Role::Admin),
        NewAgent::new(AGENT2, "Bo Agent", Role::Agent),
    ];
    let seeded = testkit::seed::account(&app.context().db, "Acme", &agents, PASSWORD, "Website")
        .await
        .expect("seed account");
    start(app, settings, dir, seeded.inbox.widget_token).await
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
