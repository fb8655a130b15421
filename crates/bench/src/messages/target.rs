//! The server under test: started in-process on a fresh temporary database (SQLite in a temp
//! dir, or a new `sb_bench_<random>` database on the PostgreSQL server given by
//! `--database-url`), or an already running server given by `--url`. Also the one place that
//! knows how to read back what was stored (sea-orm in-process, the history API remotely).
use std::{collections::HashMap, path::PathBuf, time::Duration};

use anyhow::Context;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use serde::Deserialize;
use uuid::Uuid;

use crate::nodes::{ClusterLink, Node};
use switchboard::{
    actor::Role,
    auth::tokens,
    config::{Settings, SqliteSync},
    db::entities::message,
    startup::Application,
};
use testkit::{pg::ScratchDb, seed::NewAgent};

/// A stored bench message as read back: (conversation, seq, client_msg_id, created_at).
pub type StoredRow = (Uuid, i64, String, String);

pub struct Target {
    /// `http://host:port`
    pub base: String,
    /// `ws://host:port`
    pub ws_base: String,
    /// Where the agents log in and open their sockets: `base`, or node B of a two-node cluster.
    pub agent_base: String,
    pub agent_ws_base: String,
    /// `sqlite`, `postgres` or `remote`.
    pub backend: &'static str,
    pub sqlite_synchronous: Option<&'static str>,
    pub inbox_token: String,
    /// (email, password) to log in with, one per agent socket.
    pub logins: Vec<(String, String)>,
    /// Where the fsync probe writes.
    pub fsync_dir: PathBuf,
    pub http: reqwest::Client,
    local: Option<Local>,
}

struct Local {
    db: DatabaseConnection,
    account_id: Uuid,
    handle: switchboard::startup::StopHandle,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
    pg: Option<ScratchDb>,
    /// Node B of a two-node cluster (on its own runtime); stopped first.
    node_b: Option<Node>,
    _dir: tempfile::TempDir,
}

pub struct LocalOptions {
    pub database_url: Option<String>,
    pub sqlite_synchronous: Option<SqliteSync>,
    pub agents: usize,
    /// Two nodes on the same (PostgreSQL) database linked by this bus: customers use node A,
    /// agents node B. None = one node, no bus.
    pub cluster: Option<ClusterLink>,
}

pub struct RemoteOptions {
    pub url: String,
    pub email: String,
    pub password: String,
    pub inbox_token: String,
    pub agents: usize,
    pub fsync_dir: Option<PathBuf>,
}

impl Target {
    /// Starts a server in this process on a fresh database, with one account, `agents` agents
    /// (the first an admin) and one inbox.
    pub async fn local(mut settings: Settings, o: LocalOptions) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("sb-bench-")
            .tempdir()
            .context("creating a temp dir")?;
        settings.bind = "127.0.0.1:0".into();
        settings.data_dir = dir.path().to_path_buf();
        settings.public_url = String::new();
        settings.database_url = String::new();
        // Hundreds of visitors from one address in a second: the per-IP limits would (rightly)
        // refuse them.
        settings.rate_limits = false;
        // A fresh database must never join a configured cluster's bus (its nodes would get the
        // bench's notices); a cluster run links its own two nodes under a unique prefix.
        settings.bus_url = String::new();
        if let Some(link) = &o.cluster {
            anyhow::ensure!(
                matches!(&o.database_url, Some(u) if u.starts_with("postgres")),
                "two nodes need a PostgreSQL --database-url (they share one database)"
            );
            link.apply(&mut settings);
        }
        if let Some(s) = o.sqlite_synchronous {
            settings.sqlite_synchronous = s;
        }
        let pg = match &o.database_url {
            Some(url) if url.starts_with("postgres") => {
                let pg = ScratchDb::create(url, "sb_bench_").await?;
                settings.database_url = pg.url().to_string();
                Some(pg)
            }
            Some(url) => anyhow::bail!(
                "--database-url must be a postgres:// URL, not {}",
                switchboard::config::redact_url(url)
            ),
            None => None,
        };
        let settings_b = settings.clone();
        let built = seed(settings, o.agents).await;
        let (app, account_id, inbox_token, logins, sync) = match built {
            Ok(b) => b,
            Err(e) => {
                if let Some(pg) = &pg {
                    let _ = pg.drop_database().await;
                }
                return Err(e);
            }
        };
        let db = app.context().db.clone();
        let port = app.port();
        let handle = app.handle();
        let join = tokio::spawn(app.run_until_stopped(false));
        let node_b = match &o.cluster {
            Some(_) => {
                let mut b = settings_b;
                b.data_dir = dir.path().join("node-b");
                match Node::start(b, "node-b").await {
                    Ok(n) => Some(n),
                    Err(e) => {
                        handle.stop().await;
                        let _ = tokio::time::timeout(Duration::from_secs(30), join).await;
                        if let Some(pg) = &pg {
                            let _ = pg.drop_database().await;
                        }
                        return Err(e.context("starting node B"));
                    }
                }
            }
            None => None,
        };
        let agent_port = node_b.as_ref().map_or(port, |n| n.port);
        let backend = if pg.is_some() { "postgres" } else { "sqlite" };
        Ok(Self {
            base: format!("http://127.0.0.1:{port}"),
            ws_base: format!("ws://127.0.0.1:{port}"),
            agent_base: format!("http://127.0.0.1:{agent_port}"),
            agent_ws_base: format!("ws://127.0.0.1:{agent_port}"),
            backend,
            sqlite_synchronous: if pg.is_some() { None } else { Some(sync) },
            inbox_token,
            logins,
            fsync_dir: dir.path().to_path_buf(),
            http: reqwest::Client::builder().no_proxy().build()?,
            local: Some(Local {
                db,
                account_id,
                handle,
                join,
                pg,
                node_b,
                _dir: dir,
            }),
        })
    }

    /// Targets a running server; every agent socket logs in as the given agent.
    pub fn remote(o: RemoteOptions) -> anyhow::Result<Self> {
        let base = o.url.trim_end_matches('/').to_string();
        let ws_base = match base.strip_prefix("http://") {
            Some(rest) => format!("ws://{rest}"),
            None => anyhow::bail!(
                "--url must be http://host:port (TLS is not supported by the bench client)"
            ),
        };
        Ok(Self {
            agent_base: base.clone(),
            agent_ws_base: ws_base.clone(),
            base,
            ws_base,
            backend: "remote",
            sqlite_synchronous: None,
            inbox_token: o.inbox_token,
            logins: vec![(o.email, o.password); o.agents],
            fsync_dir: o.fsync_dir.unwrap_or_else(std::env::temp_dir),
            http: reqwest::Client::new(),
            local: None,
        })
    }

    pub fn is_local(&self) -> bool {
        self.local.is_some()
    }

    /// Every message stored in the given conversations (in-process: one query on the account;
    /// remote: the paged history API with an agent session `bearer`).
    pub async fn stored(
        &self,
        conversations: &[Uuid],
        bearer: &str,
    ) -> anyhow::Result<Vec<StoredRow>> {
        if let Some(l) = &self.local {
            let rows: Vec<(Uuid, i64, String, chrono::DateTime<chrono::Utc>)> =
                message::Entity::find()
                    .select_only()
                    .column(message::Column::ConversationId)
                    .column(message::Column::Seq)
                    .column(message::Column::ClientMsgId)
                    .column(message::Column::CreatedAt)
                    .filter(message::Column::AccountId.eq(l.account_id))
                    .into_tuple()
                    .all(&l.db)
                    .await
                    .context("reading back the stored messages")?;
            return Ok(rows
                .into_iter()
                .map(|(c, s, m, t)| (c, s, m, t.to_rfc3339()))
                .collect());
        }
        let mut out = Vec::new();
        for &conv in conversations {
            out.extend(self.history(conv, bearer).await?);
        }
        Ok(out)
    }

    async fn history(&self, conv: Uuid, bearer: &str) -> anyhow::Result<Vec<StoredRow>> {
        #[derive(Deserialize)]
        struct Page {
            messages: Vec<Row>,
            has_more: bool,
        }
        #[derive(Deserialize)]
        struct Row {
            seq: i64,
            client_msg_id: String,
            created_at: String,
        }
        let mut after = 0;
        let mut out = Vec::new();
        loop {
            let url = format!(
                "{}/api/v1/conversations/{conv}/messages?after_seq={after}&limit=500",
                self.base
            );
            let resp = self.http.get(&url).bearer_auth(bearer).send().await?;
            let status = resp.status();
            if !status.is_success() {
                anyhow::bail!(
                    "history of {conv}: HTTP {status}: {}",
                    resp.text().await.unwrap_or_default()
                );
            }
            let page: Page = resp
                .json()
                .await
                .with_context(|| format!("history of {conv}"))?;
            for m in &page.messages {
                after = after.max(m.seq);
            }
            let more = page.has_more && !page.messages.is_empty();
            out.extend(
                page.messages
                    .into_iter()
                    .map(|m| (conv, m.seq, m.client_msg_id, m.created_at)),
            );
            if !more {
                return Ok(out);
            }
        }
    }

    /// Stops an in-process server and drops its PostgreSQL database; nothing for `--url`.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let Some(l) = self.local else { return Ok(()) };
        let b = match l.node_b {
            Some(n) => n.stop().await,
            None => Ok(()),
        };
        l.handle.stop().await;
        match tokio::time::timeout(Duration::from_secs(30), l.join).await {
            Ok(Ok(r)) => r?,
            Ok(Err(e)) => anyhow::bail!("server task failed: {e}"),
            Err(_) => anyhow::bail!("server did not stop within 30 s"),
        }
        let _ = l.db.close().await;
        if let Some(pg) = &l.pg {
            pg.drop_database().await?;
        }
        b.context("stopping node B")
    }
}

type Seeded = (
    Application,
    Uuid,
    String,
    Vec<(String, String)>,
    &'static str,
);

async fn seed(settings: Settings, agents: usize) -> anyhow::Result<Seeded> {
    let sync = match settings.sqlite_synchronous {
        SqliteSync::Full => "full",
        SqliteSync::Normal => "normal",
    };
    let app = Application::build(settings).await?;
    let (acc, inbox, logins) = seed_account(&app.context().db, agents).await?;
    Ok((app, acc.id, inbox.widget_token, logins, sync))
}

/// The bench account: `agents` agents (the first an admin) sharing one random password, and
/// an inbox. Returns the account, the inbox and the (email, password) logins.
pub(crate) async fn seed_account(
    db: &DatabaseConnection,
    agents: usize,
) -> anyhow::Result<(
    switchboard::db::entities::account::Model,
    switchboard::db::entities::inbox::Model,
    Vec<(String, String)>,
)> {
    let password = format!("bench-{}", tokens::random_hex(8)?);
    let new: Vec<NewAgent> = (0..agents)
        .map(|i| {
            let (email, role) = if i == 0 {
                ("admin@bench.example".to_string(), Role::Admin)
            } else {
                (format!("agent{i}@bench.example"), Role::Agent)
            };
            NewAgent::new(email, format!("Bench agent {i}"), role)
        })
        .collect();
    let s = testkit::seed::account(db, "Bench", &new, &password, "Bench").await?;
    Ok((s.account, s.inbox, s.logins))
}

/// Conversation ids by customer index, for mapping stored rows back.
pub fn index(conversations: &[Uuid]) -> HashMap<Uuid, usize> {
    conversations
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, i))
        .collect()
}
