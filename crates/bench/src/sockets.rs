//! What `bench connections` and `bench reconnect` share: the server under test as a child process
//! (so that its memory and CPU can be read from `/proc/<pid>`), a fresh SQLite database seeded
//! directly (one account, one inbox, visitors with a conversation each, agents), the file
//! descriptor limit, and a WebSocket dialer that spreads its connections over several loopback
//! source addresses (one source address and one server port give only ~28k ephemeral ports).
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::Utc;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{EntityTrait, TransactionTrait};
use serde::Deserialize;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message as WsMsg, protocol::WebSocketConfig},
};
use uuid::Uuid;

use switchboard::{
    auth::{Signer, VisitorClaims, tokens},
    config::Settings,
    db::{
        self,
        entities::{contact, conversation},
    },
};

pub type Ws = WebSocketStream<TcpStream>;

pub fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("bench: {msg}");
}

// ---------------------------------------------------------------------------------------------
// File descriptors and kernel limits

/// Raises this process's `RLIMIT_NOFILE` so that it allows at least `want` descriptors: the soft
/// limit up to the hard one, and the hard one too when that is not enough (root, or
/// CAP_SYS_RESOURCE; never above `fs.nr_open`). Children inherit the result. Returns the new
/// soft limit, which may still be below `want`.
pub fn raise_nofile(want: u64) -> anyhow::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE)");
    }
    let nr_open = read_sysctl_u64("/proc/sys/fs/nr_open").unwrap_or(lim.rlim_max);
    if lim.rlim_max < want {
        let raised = libc::rlimit {
            rlim_cur: want.min(nr_open),
            rlim_max: want.min(nr_open),
        };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(raised.rlim_cur);
        }
    }
    let soft = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft) } != 0 {
        return Err(std::io::Error::last_os_error()).context("setrlimit(RLIMIT_NOFILE)");
    }
    Ok(soft.rlim_cur)
}

fn read_sysctl_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Ephemeral ports one source address has towards one server port
/// (`net.ipv4.ip_local_port_range`).
pub fn ephemeral_ports() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|v| v.parse::<u64>().ok());
            Some((it.next()??, it.next()??))
        })
        .map(|(lo, hi)| hi.saturating_sub(lo) + 1)
        .unwrap_or(28_000)
}

/// Descriptors a process needs besides its sockets: the database and its WAL, the search
/// index, epoll, eventfds, logs (the server uses about 60).
const FD_MARGIN: u64 = 300;

/// Checks what `sockets` client connections to one server need on this machine, raising the
/// descriptor limit; explains what is missing otherwise.
pub fn prepare_machine(sockets: usize) -> anyhow::Result<()> {
    // The bench and the server each hold one descriptor per socket.
    let want = sockets as u64 + FD_MARGIN;
    let got = raise_nofile(want)?;
    anyhow::ensure!(
        got >= want,
        "{sockets} sockets need {want} open files in each of the two processes, but \
         RLIMIT_NOFILE cannot go above {got} here (the hard limit; raising it needs root with \
         CAP_SYS_RESOURCE: `ulimit -Hn {want}`, or LimitNOFILE= in systemd). At most {} \
         sockets fit on this machine",
        got.saturating_sub(FD_MARGIN)
    );
    let file_max = read_sysctl_u64("/proc/sys/fs/file-max").unwrap_or(u64::MAX);
    anyhow::ensure!(
        file_max >= 2 * want,
        "fs.file-max is {file_max}: the two processes together need {} descriptors \
         (sysctl -w fs.file-max={})",
        2 * want,
        4 * want
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// `switchboard serve` in a child process on a fresh data dir; killed when dropped.
pub struct ServerChild {
    child: Child,
    pub pid: u32,
    pub addr: SocketAddr,
    pub base: String,
    log: PathBuf,
}

impl ServerChild {
    /// Starts `exe` (a `switchboard` server) with `serve` on a free loopback port. `SWITCHBOARD_*`
    /// settings of the environment still apply, except the bind address, data dir, database
    /// (SQLite in `data_dir`), secret key and rate limits, which the bench sets.
    pub fn spawn(
        exe: &Path,
        data_dir: &Path,
        secret: &str,
        extra_env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
            l.local_addr()?.port()
        };
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let log = data_dir.join("server.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        // Profiling aid: `SWITCHBOARD_BENCH_SERVER_WRAPPER="heaptrack -o /tmp/sb"` runs the
        // server under that command (RSS and CPU are then read from the wrapper's pid: only the
        // profile is meaningful).
        let wrapper = std::env::var("SWITCHBOARD_BENCH_SERVER_WRAPPER").unwrap_or_default();
        let mut words = wrapper.split_whitespace();
        let mut cmd = match words.next() {
            Some(program) => {
                let mut c = Command::new(program);
                c.args(words).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        // Its own process group, so that stopping it also stops what a wrapper started.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        cmd.arg("serve")
            .env("SWITCHBOARD_BIND", addr.to_string())
            .env("SWITCHBOARD_DATA_DIR", data_dir)
            .env("SWITCHBOARD_DATABASE_URL", "")
            .env("SWITCHBOARD_PUBLIC_URL", "")
            .env("SWITCHBOARD_SECRET_KEY", secret)
            // Tens of thousands of visitors from one address: the per-IP limits would refuse them.
            .env("SWITCHBOARD_RATE_LIMITS", "false")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().context("starting `switchboard serve`")?;
        Ok(Self {
            pid: child.id(),
            child,
            addr,
            base: format!("http://{addr}"),
            log,
        })
    }

    /// Waits until `/healthz` answers.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("{}/healthz", self.base);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "the server exited with {status} before it was ready:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!("the server was not ready within 60 s:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Resident memory (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        proc_rss_kib(self.pid)
    }

    /// User + system CPU time so far, in seconds.
    pub fn cpu_s(&self) -> anyhow::Result<f64> {
        proc_cpu_s(self.pid)
    }

    /// Waits (at most `max`) until the server uses less than 3 % of a core over half a second:
    /// startup work (migrations, the search indexer catching up) must not count as idle.
    pub async fn settle(&self, max: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + max;
        let mut quiet = 0;
        while Instant::now() < deadline && quiet < 2 {
            let (c0, t0) = (self.cpu_s()?, Instant::now());
            tokio::time::sleep(Duration::from_millis(500)).await;
            let busy = (self.cpu_s()? - c0) / t0.elapsed().as_secs_f64();
            quiet = if busy < 0.03 { quiet + 1 } else { 0 };
        }
        Ok(())
    }

    /// CPU use over `window`, in % of one core.
    pub async fn cpu_percent(&self, window: Duration) -> anyhow::Result<f64> {
        let (c0, t0) = (self.cpu_s()?, Instant::now());
        tokio::time::sleep(window).await;
        Ok((self.cpu_s()? - c0) / t0.elapsed().as_secs_f64() * 100.0)
    }

    /// SIGTERM (the server closes its sockets and drains), then SIGKILL after 30 s. Whatever
    /// the server logged goes to stderr.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let r = self.terminate().await;
        let tail = self.log_tail();
        if !tail.trim().is_empty() {
            progress(format_args!("the server logged (last lines):\n{tail}"));
        }
        r
    }

    async fn terminate(&mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
        anyhow::bail!("the server did not stop within 30 s of SIGTERM; killed")
    }
}

impl ServerChild {
    /// Signals the server's process group (the server, or a wrapper and what it started).
    fn signal_group(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the process group of a child we spawned (its leader is not reaped
        // yet, so the group id cannot have been reused).
        unsafe {
            libc::kill(-(self.pid as libc::pid_t), signal);
        }
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal_group(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

pub fn proc_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

pub fn proc_cpu_s(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc/<pid>/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is f[0]; utime and stime are fields 14 and 15.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .context("malformed /proc/<pid>/stat")
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Ok((ticks(11)? + ticks(12)?) as f64 / hz)
}

// ---------------------------------------------------------------------------------------------
// Seeding

pub struct Visitor {
    pub conversation_id: Uuid,
    /// A visitor token for `/ws/widget?token=…`.
    pub token: String,
}

pub struct Seeded {
    pub account_id: Uuid,
    pub visitors: Vec<Visitor>,
    /// (email, password) per agent.
    pub agents: Vec<(String, String)>,
}

/// `--server-bin`: which `switchboard` executable a bench starts in a child process.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerBin {
    /// The `switchboard` server executable to start (default: `switchboard` next to this
    /// `switchboard-bench` executable, as `cargo build --workspace` leaves them).
    #[arg(long = "server-bin", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl ServerBin {
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        let path = match &self.path {
            Some(p) => p.clone(),
            None => {
                let me = std::env::current_exe().context("locating switchboard-bench")?;
                let dir = me
                    .parent()
                    .context("switchboard-bench has no parent directory")?;
                dir.join(format!("switchboard{}", std::env::consts::EXE_SUFFIX))
            }
        };
        anyhow::ensure!(
            path.is_file(),
            "no switchboard server executable at {} (build it with `cargo build --workspace`, \
             or pass --server-bin PATH)",
            path.display()
        );
        Ok(path)
    }
}

/// The data dir, database and secret of a bench run, and the server executable it starts.
pub struct Workspace {
    pub dir: tempfile::TempDir,
    pub secret: String,
    pub settings: Settings,
    pub server_bin: PathBuf,
}

impl Workspace {
    pub fn new(mut settings: Settings, server_bin: &ServerBin) -> anyhow::Result<Self> {
        let server_bin = server_bin.resolve()?;
        let dir = tempfile::Builder::new()
            .prefix("sb-bench-")
            .tempdir()
            .context("creating a temp dir")?;
        let secret = tokens::random_hex(32)?;
        settings.data_dir = dir.path().to_path_buf();
        settings.database_url = String::new();
        settings.secret_key = secret.clone();
        Ok(Self {
            dir,
            secret,
            settings,
            server_bin,
        })
    }

    pub fn spawn_server(&self, extra_env: &[(&str, String)]) -> anyhow::Result<ServerChild> {
        ServerChild::spawn(&self.server_bin, self.dir.path(), &self.secret, extra_env)
    }

    pub async fn connect_db(&self) -> anyhow::Result<sea_orm::DatabaseConnection> {
        db::connect(&self.settings)
            .await
            .context("opening the bench database")
    }

    /// One account, one inbox, `agents` agents and `visitors` visitors with an open, empty
    /// conversation each, written straight into the database (the server is not running yet);
    /// each visitor gets a token signed with the run's secret, as `POST /widget/session` would.
    pub async fn seed(&self, visitors: usize, agents: usize) -> anyhow::Result<Seeded> {
        let db = self.connect_db().await?;
        db::migrate(&db).await.context("running migrations")?;
        let (acc, inbox, logins) = crate::messages::target::seed_account(&db, agents).await?;
        let signer = Signer::new(self.secret.as_bytes());
        let expires = (Utc::now() + chrono::Duration::days(7)).timestamp();
        let now = Utc::now();
        let mut out = Vec::with_capacity(visitors);
        let txn = db.begin().await?;
        let ids: Vec<(Uuid, Uuid)> = (0..visitors)
            .map(|_| (Uuid::now_v7(), Uuid::now_v7()))
            .collect();
        for chunk in ids.chunks(1000) {
            let contacts = chunk.iter().map(|&(contact_id, _)| {
                contact::ActiveModel::from(contact::Model {
                    id: contact_id,
                    account_id: acc.id,
                    inbox_id: inbox.id,
                    name: None,
                    email: None,
                    created_at: now,
                    external_id: None,
                    last_seen_at: Some(now),
                    pages: "[]".into(),
                })
            });
            contact::Entity::insert_many(contacts)
                .exec_without_returning(&txn)
                .await
                .context("inserting contacts")?;
            let conversations = chunk.iter().map(|&(contact_id, conversation_id)| {
                conversation::ActiveModel::from(conversation::Model {
                    id: conversation_id,
                    account_id: acc.id,
                    inbox_id: inbox.id,
                    contact_id,
                    status: if inbox.bot_enabled {
                        conversation::Status::Pending
                    } else {
                        conversation::Status::Open
                    },
                    assignee_id: None,
                    last_seq: 0,
                    created_at: now,
                    updated_at: now,
                    last_message_at: None,
                    snoozed_until: None,
                    waiting_since: None,
                    subject: None,
                    external_id: None,
                    tags: String::new(),
                    bot_state: inbox.bot_enabled.then_some(conversation::BotState::Active),
                    bot_turns: 0,
                    bot_lease_until: None,
                })
            });
            conversation::Entity::insert_many(conversations)
                .exec_without_returning(&txn)
                .await
                .context("inserting conversations")?;
            for &(contact_id, conversation_id) in chunk {
                let claims = VisitorClaims {
                    account_id: acc.id,
                    inbox_id: inbox.id,
                    contact_id,
                    conversation_id,
                    identity: switchboard::auth::VisitorIdentity::Anonymous,
                };
                out.push(Visitor {
                    conversation_id,
                    token: signer.visitor_token(&claims, expires),
                });
            }
        }
        txn.commit().await?;
        let _ = db.close().await;
        Ok(Seeded {
            account_id: acc.id,
            visitors: out,
            agents: logins,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn post_token(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> anyhow::Result<String> {
    let t: TokenBody = crate::messages::post_json(http, url, bearer, body).await?;
    Ok(t.token)
}

/// Logs an agent in; returns (session token, socket token).
pub async fn agent_tokens(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<(String, String)> {
    let body = serde_json::json!({ "email": email, "password": password });
    let session = post_token(http, &format!("{base}/api/v1/auth/login"), None, &body)
        .await
        .with_context(|| format!("logging in {email}"))?;
    let socket = post_token(
        http,
        &format!("{base}/api/v1/auth/socket-token"),
        Some(&session),
        &serde_json::json!({}),
    )
    .await
    .context("minting a socket token")?;
    Ok((session, socket))
}

// ---------------------------------------------------------------------------------------------
// Client sockets

/// The fields of a server frame the benches look at.
#[derive(Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    #[serde(default, borrow)]
    pub conversation_id: Option<&'a str>,
    #[serde(default)]
    pub seq: Option<i64>,
    #[serde(default, borrow)]
    pub client_msg_id: Option<&'a str>,
    #[serde(default, borrow)]
    pub code: Option<&'a str>,
    #[serde(default, borrow)]
    pub reason: Option<&'a str>,
}

pub fn parse(text: &str) -> Option<Frame<'_>> {
    serde_json::from_str(text).ok()
}

/// Opens sockets to one server from several loopback source addresses in turn (127.0.0.2, .3, …;
/// all of 127/8 reaches `lo` on Linux), each with at most `per_source` connections.
pub struct Dialer {
    server: SocketAddr,
    sources: Vec<IpAddr>,
    config: WebSocketConfig,
}

/// Why a socket could not be opened, by stage (counted apart in the reports).
#[derive(Debug)]
pub struct DialError {
    pub stage: &'static str,
    pub detail: String,
}

impl std::fmt::Display for DialError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.stage, self.detail)
    }
}

impl Dialer {
    /// Enough source addresses for `sockets` connections, leaving a quarter of each address's
    /// ephemeral ports free (TIME_WAIT from earlier runs, other programs).
    pub fn new(server: SocketAddr, sockets: usize) -> Self {
        let per_source = (ephemeral_ports() * 3 / 4).max(1000) as usize;
        let n = sockets.div_ceil(per_source).clamp(1, 250);
        let sources = (0..n)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)))
            .collect();
        // Frames are small; tungstenite's 128 KiB read chunk per socket would be wasted here.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        Self {
            server,
            sources,
            config,
        }
    }

    pub fn sources(&self) -> usize {
        self.sources.len()
    }

    /// Connects socket number `i` to `path` (e.g. `/ws/widget?token=…`) and waits for `hello`.
    pub async fn open(&self, i: usize, path: &str) -> Result<Ws, DialError> {
        let e = |stage: &'static str| {
            move |err: &dyn std::fmt::Display| DialError {
                stage,
                detail: err.to_string(),
            }
        };
        let src = self.sources[i % self.sources.len()];
        let sock = TcpSocket::new_v4().map_err(|x| e("socket")(&x))?;
        sock.set_reuseaddr(true).map_err(|x| e("socket")(&x))?;
        sock.bind(SocketAddr::new(src, 0))
            .map_err(|x| e("bind")(&x))?;
        let tcp =
            match tokio::time::timeout(Duration::from_secs(30), sock.connect(self.server)).await {
                Ok(Ok(s)) => s,
                Ok(Err(x)) => return Err(e("connect")(&x)),
                Err(_) => return Err(e("connect")(&"timed out after 30 s")),
            };
        let _ = tcp.set_nodelay(true);
        let url = format!("ws://{}{}", self.server, path);
        let handshake = tokio_tungstenite::client_async_with_config(url, tcp, Some(self.config));
        let mut ws = match tokio::time::timeout(Duration::from_secs(30), handshake).await {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(x)) => return Err(e("handshake")(&x)),
            Err(_) => return Err(e("handshake")(&"timed out after 30 s")),
        };
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(WsMsg::Text(t)))) if parse(&t).is_some_and(|f| f.kind == "hello") => Ok(ws),
            Ok(other) => Err(e("hello")(&format!("{other:?}"))),
            Err(_) => Err(e("hello")(&"timed out after 30 s")),
        }
    }
}

/// Sends one text frame.
pub async fn send_text(ws: &mut Ws, text: String) -> Result<(), String> {
    ws.send(WsMsg::text(text)).await.map_err(|e| e.to_string())
}

/// Drops a socket without the WebSocket closing handshake and with a TCP reset (linger 0), like
/// a client whose network went away and whose OS then noticed.
pub fn abort(ws: Ws) {
    let _ = socket2::SockRef::from(ws.get_ref()).set_linger(Some(Duration::ZERO));
    drop(ws);
}
