//! Typed settings: built-in defaults, then an optional TOML file, then `SWITCHBOARD_*` environment
//! variables (e.g. `SWITCHBOARD_BIND`, `SWITCHBOARD_DATA_DIR`, `SWITCHBOARD_DATABASE_URL`).
//! Secrets are never printed: `Debug` redacts them.
use std::time::Duration;
use std::{fmt, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// SQLite durability. `Full` fsyncs the WAL on every commit: an acknowledged message survives
/// power loss. `Normal` fsyncs only at checkpoints: a process crash loses nothing, but a power
/// cut or kernel crash can lose the last commits that were already acknowledged.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address to listen on.
    pub bind: String,
    /// Where the SQLite database, the signing key and the search index live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty = `sqlite://<data_dir>/switchboard.db`.
    pub database_url: String,
    /// Public base URL (used for links printed by `demo` and for the default origin check).
    pub public_url: String,
    pub sqlite_synchronous: SqliteSync,
    /// SQLite page cache per connection, in MiB (grows only as used).
    pub sqlite_cache_mb: u64,
    /// Maximum database connections in the pool.
    pub db_max_connections: u32,
    /// HMAC key for visitor and socket tokens; empty = generated once into `<data_dir>/secret.key`.
    pub secret_key: String,
    /// Extra origins allowed to open agent sockets (the server's own origin is always allowed).
    pub allowed_origins: Vec<String>,
    /// Largest accepted WebSocket message (a frame, or fragments together), in bytes.
    pub max_frame_bytes: usize,
    /// Largest message body, in bytes (UTF-8).
    pub max_body_bytes: usize,
    /// Frames queued for one socket before it is closed as a slow consumer.
    pub ws_outbound_queue: usize,
    pub ws_heartbeat_secs: u64,
    pub ws_idle_timeout_secs: u64,
    /// Messages per group-commit transaction, at most.
    pub group_commit_max_batch: usize,
    /// Messages per page when replaying history to a resuming client.
    pub replay_page_size: u64,
    /// Agent login session lifetime.
    pub session_ttl_secs: i64,
    /// Lifetime of the short-lived token that opens an agent socket.
    pub socket_token_ttl_secs: i64,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Take the client address from `X-Forwarded-For`/`Forwarded` (only behind a reverse proxy
    /// that sets them); used by rate limits.
    pub trust_proxy_headers: bool,
    /// With `trust_proxy_headers`: the addresses (IPs or CIDR ranges, e.g. `10.0.0.0/8`) of the
    /// reverse proxies in front of the server. The client is the right-most address in
    /// `X-Forwarded-For` that is not one of them. Empty = only the direct peer is a proxy (one
    /// nginx in front): the right-most entry is the client.
    #[serde(deserialize_with = "comma_list")]
    pub trusted_proxies: Vec<String>,
    /// Per-IP / per-email rate limits on login and the public widget endpoints. Off only for
    /// load tests from a single address.
    pub rate_limits: bool,
    /// Messages one visitor (contact) may send per minute, after a burst of
    /// `visitor_message_burst` (per node; see docs/deployment.md).
    pub visitor_messages_per_minute: u32,
    pub visitor_message_burst: u32,
    /// Customer messages one conversation accepts per minute, after a burst.
    pub conversation_messages_per_minute: u32,
    pub conversation_message_burst: u32,
    /// Bytes of message text one visitor may store per day (a rolling budget).
    pub visitor_bytes_per_day: u64,
    /// Bytes of customer message text one inbox accepts per day (a rolling budget).
    pub inbox_bytes_per_day: u64,
    /// Serve `static/` files from this directory instead of the copies built into the binary
    /// (front-end development: edits show up without a rebuild). Empty = built-in.
    pub static_dir: String,
    /// Directory of the sentence-embedding model (all-MiniLM-L6-v2: `model.safetensors`,
    /// `tokenizer.json`, `config.json`; see src/embed.rs). Empty = the cache directory that
    /// `scripts/install-models` fills: `$SWITCHBOARD_MODELS_DIR/all-minilm-l6-v2`, else
    /// `${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/models/all-minilm-l6-v2`.
    pub embedding_model_dir: String,
    /// OpenAI-compatible endpoint, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8081/v1`
    /// (`SWITCHBOARD_LLM_BASE_URL`). Empty = no model: the offline responder answers.
    pub llm_base_url: String,
    /// Bearer key for the endpoint (`SWITCHBOARD_LLM_API_KEY`); may be empty for local servers.
    pub llm_api_key: String,
    /// Model name sent to the endpoint (`SWITCHBOARD_LLM_MODEL`).
    pub llm_model: String,
    /// Longest wait for a whole completion, or between two streamed tokens.
    pub llm_timeout_secs: u64,
    /// Longest wait for the first streamed token.
    pub llm_first_token_timeout_secs: u64,
    /// Extra attempts after a 429, a 5xx, a timeout or a transport error (with backoff).
    pub llm_max_retries: u32,
    /// Consecutive failures that open the circuit breaker…
    pub llm_breaker_failures: u32,
    /// …for this long (then one trial call decides).
    pub llm_breaker_cooldown_secs: u64,
    /// Tokens (prompt + completion) one conversation may use in all; 0 = unlimited.
    pub llm_conversation_token_budget: u64,
    /// Tokens one account may use per UTC day; 0 = unlimited.
    pub llm_daily_token_budget: u64,
    /// Longest answer asked of the model, in tokens.
    pub llm_max_tokens: u32,
    /// The message bus that links several nodes: `nats://host:4222` or `redis://host:6379`
    /// (`SWITCHBOARD_BUS_URL`). Empty = a single node (in-process delivery only).
    pub bus_url: String,
    /// Subject (NATS) / channel (Redis) prefix: nodes with the same prefix form one cluster.
    pub bus_prefix: String,
    /// What this node does: `web` (HTTP API, sockets, pages) and/or `indexer` (keeps a local
    /// replica of the transcript search index and answers searches). See docs/deployment.md.
    /// A list, or a comma-separated string (`SWITCHBOARD_ROLES=web,indexer`).
    #[serde(deserialize_with = "comma_list")]
    pub roles: Vec<String>,
    /// On SIGTERM: seconds `/readyz` answers 503 before sockets are closed, so the load balancer
    /// stops sending new clients here first.
    pub drain_grace_secs: u64,
    /// Connections (sockets included) each HTTP worker thread holds at most; there is one
    /// worker per core. actix's own default, 25,600, is below what one node should hold.
    pub http_max_connections: usize,
    /// Connections the kernel queues until the server accepts them (capped by
    /// `net.core.somaxconn`). A reconnect storm of thousands of clients overflows a small
    /// queue, and each refused connect is retried only after a 1 s SYN timeout.
    pub http_backlog: u32,
    /// `Strict-Transport-Security: max-age=<this>` on every response; 0 = not sent. Set it only
    /// when the server is reached over HTTPS alone (see docs/deployment.md).
    pub hsts_max_age_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            public_url: String::new(),
            sqlite_synchronous: SqliteSync::Full,
            sqlite_cache_mb: 64,
            db_max_connections: 8,
            secret_key: String::new(),
            allowed_origins: Vec::new(),
            max_frame_bytes: 64 * 1024,
            max_body_bytes: 16 * 1024,
            ws_outbound_queue: 4096,
            ws_heartbeat_secs: 20,
            ws_idle_timeout_secs: 60,
            group_commit_max_batch: 1024,
            replay_page_size: 500,
            session_ttl_secs: 7 * 24 * 3600,
            socket_token_ttl_secs: 60,
            log_format: "text".into(),
            trust_proxy_headers: false,
            trusted_proxies: Vec::new(),
            rate_limits: true,
            visitor_messages_per_minute: 60,
            visitor_message_burst: 60,
            conversation_messages_per_minute: 120,
            conversation_message_burst: 120,
            visitor_bytes_per_day: 4 * 1024 * 1024,
            inbox_bytes_per_day: 1024 * 1024 * 1024,
            static_dir: String::new(),
            embedding_model_dir: String::new(),
            llm_base_url: String::new(),
            llm_api_key: String::new(),
            llm_model: "gpt-4o-mini".into(),
            llm_timeout_secs: 60,
            llm_first_token_timeout_secs: 30,
            llm_max_retries: 2,
            llm_breaker_failures: 5,
            llm_breaker_cooldown_secs: 30,
            llm_conversation_token_budget: 50_000,
            llm_daily_token_budget: 2_000_000,
            llm_max_tokens: 400,
            bus_url: String::new(),
            bus_prefix: "switchboard".into(),
            roles: vec!["web".into(), "indexer".into()],
            drain_grace_secs: 0,
            http_max_connections: 100_000,
            http_backlog: 4096,
            hsts_max_age_secs: 0,
        }
    }
}

/// A list of strings given as a list or as one comma-separated string.
fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(str::to_string).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect())
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = redact_url(&self.database_url);
        f.debug_struct("Settings")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &db)
            .field("public_url", &self.public_url)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("secret_key", &"<redacted>")
            .field("allowed_origins", &self.allowed_origins)
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("llm_base_url", &redact_url(&self.llm_base_url))
            .field("llm_api_key", &"<redacted>")
            .field("llm_model", &self.llm_model)
            .field("bus_url", &redact_url(&self.bus_url))
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Hides the password part of `scheme://user:password@host/...`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Messages per history page, at most (the HTTP API's `limit` and `replay_page_size`).
pub const MAX_HISTORY_PAGE: u64 = 500;

/// The durations of the settings, typed: the `*_secs` keys are read in one place.
impl Settings {
    pub fn ws_heartbeat(&self) -> Duration {
        Duration::from_secs(self.ws_heartbeat_secs)
    }

    pub fn ws_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.ws_idle_timeout_secs)
    }

    /// An agent's login lifetime (the cookie and the database session).
    pub fn session_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.session_ttl_secs)
    }

    pub fn socket_token_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.socket_token_ttl_secs)
    }

    pub fn llm_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_timeout_secs)
    }

    pub fn llm_first_token_timeout(&self) -> Duration {
        Duration::from_secs(self.llm_first_token_timeout_secs)
    }

    pub fn llm_breaker_cooldown(&self) -> Duration {
        Duration::from_secs(self.llm_breaker_cooldown_secs)
    }

    pub fn drain_grace(&self) -> Duration {
        Duration::from_secs(self.drain_grace_secs)
    }
}

impl Settings {
    /// Defaults → `file` (TOML, if given or `SWITCHBOARD_CONFIG` names one) → `SWITCHBOARD_*` env.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        let env_file = std::env::var_os("SWITCHBOARD_CONFIG").map(PathBuf::from);
        if let Some(path) = file.map(PathBuf::from).or(env_file) {
            fig = fig.merge(Toml::file_exact(path));
        }
        fig.merge(Env::prefixed("SWITCHBOARD_").ignore(&["config"]))
            .extract()
            .map_err(Box::new)
    }

    /// The database URL actually used.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}/switchboard.db", self.data_dir.display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.trim().eq_ignore_ascii_case(role))
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url().starts_with("sqlite:")
    }

    /// Base URL clients use to reach this server.
    pub fn public_base(&self, bound_port: u16) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_string();
        }
        let host = self
            .bind
            .rsplit_once(':')
            .map(|(h, _)| h)
            .unwrap_or("127.0.0.1");
        let host = if host == "0.0.0.0" || host == "[::]" {
            "127.0.0.1"
        } else {
            host
        };
        format!("http://{host}:{bound_port}")
    }

    /// What the types cannot check; run once, by `Application::build`, before anything starts.
    pub fn validate(&self) -> Result<(), String> {
        // Visitor and socket tokens are HMACs under this key: a short one can be brute-forced
        // offline from a single token, and then every token can be forged.
        if !self.secret_key.is_empty() && self.secret_key.len() < MIN_SECRET_KEY_BYTES {
            return Err(format!(
                "secret_key is {} bytes; it must be at least {MIN_SECRET_KEY_BYTES} \
                 (e.g. `openssl rand -hex 32`), or empty to use a generated <data_dir>/secret.key",
                self.secret_key.len()
            ));
        }
        self.check_ranges()
    }

    /// Sizes and durations the server relies on being in range: refused at load with the key's
    /// name, instead of being clamped where they are used.
    fn check_ranges(&self) -> Result<(), String> {
        fn at_least(key: &str, value: u64, min: u64) -> Result<(), String> {
            if value < min {
                return Err(format!("{key} is {value}; it must be at least {min}"));
            }
            Ok(())
        }
        let usize_ = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        at_least("ws_outbound_queue", usize_(self.ws_outbound_queue), 16)?;
        at_least("ws_heartbeat_secs", self.ws_heartbeat_secs, 1)?;
        at_least(
            "ws_idle_timeout_secs",
            self.ws_idle_timeout_secs,
            self.ws_heartbeat_secs + 1,
        )?;
        at_least("db_max_connections", u64::from(self.db_max_connections), 2)?;
        at_least("sqlite_cache_mb", self.sqlite_cache_mb, 2)?;
        at_least("http_max_connections", usize_(self.http_max_connections), 1)?;
        at_least("http_backlog", u64::from(self.http_backlog), 1)?;
        at_least(
            "group_commit_max_batch",
            usize_(self.group_commit_max_batch),
            1,
        )?;
        at_least("replay_page_size", self.replay_page_size, 1)?;
        if self.replay_page_size > MAX_HISTORY_PAGE {
            return Err(format!(
                "replay_page_size is {}; it must be at most {MAX_HISTORY_PAGE}",
                self.replay_page_size
            ));
        }
        at_least("max_body_bytes", usize_(self.max_body_bytes), 1)?;
        // A frame must hold at least a small message; a frame limit under the body limit still
        // lets long messages go over HTTP, so that is allowed.
        at_least("max_frame_bytes", usize_(self.max_frame_bytes), 1024)?;
        at_least("llm_timeout_secs", self.llm_timeout_secs, 1)?;
        at_least(
            "llm_first_token_timeout_secs",
            self.llm_first_token_timeout_secs,
            1,
        )?;
        at_least(
            "visitor_messages_per_minute",
            u64::from(self.visitor_messages_per_minute),
            1,
        )?;
        at_least(
            "visitor_message_burst",
            u64::from(self.visitor_message_burst),
            1,
        )?;
        at_least(
            "conversation_messages_per_minute",
            u64::from(self.conversation_messages_per_minute),
            1,
        )?;
        at_least(
            "conversation_message_burst",
            u64::from(self.conversation_message_burst),
            1,
        )?;
        at_least("visitor_bytes_per_day", self.visitor_bytes_per_day, 1)?;
        at_least("inbox_bytes_per_day", self.inbox_bytes_per_day, 1)
    }
}

/// Shortest accepted `secret_key`, in bytes (the HMAC-SHA256 block of security).
pub const MIN_SECRET_KEY_BYTES: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_settings_are_refused_naming_the_key() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let s = Settings {
            ws_outbound_queue: 4,
            ..Settings::default()
        };
        assert_eq!(
            s.validate(),
            Err("ws_outbound_queue is 4; it must be at least 16".into())
        );
        let s = Settings {
            ws_heartbeat_secs: 30,
            ws_idle_timeout_secs: 20,
            ..Settings::default()
        };
        assert!(
            s.validate()
                .is_err_and(|e| e.starts_with("ws_idle_timeout_secs"))
        );
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn env_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHBOARD_BIND", "0.0.0.0:9999");
            jail.set_env("SWITCHBOARD_SQLITE_SYNCHRONOUS", "normal");
            let s = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(s.bind, "0.0.0.0:9999");
            assert_eq!(s.sqlite_synchronous, SqliteSync::Normal);
            assert_eq!(s.database_url(), "sqlite://./data/switchboard.db");
            assert_eq!(s.roles, vec!["web", "indexer"]);
            jail.set_env("SWITCHBOARD_ROLES", "Web");
            let s = Settings::load(None).map_err(|e| *e)?;
            assert!(s.has_role("web") && !s.has_role("indexer"));
            jail.set_env("SWITCHBOARD_ROLES", "web, indexer");
            let s = Settings::load(None).map_err(|e| *e)?;
            assert_eq!(s.roles, vec!["web", "indexer"]);
            Ok(())
        });
    }
}
