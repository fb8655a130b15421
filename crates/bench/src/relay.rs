//! `switchboard-bench relay`: latency of an ephemeral event (a customer's typing indicator) from
//! the customer's socket to an agent's socket, through one node and across two nodes linked by
//! NATS, against a raw NATS publish → subscribe round on the same machine. One event in flight
//! at a time; the three paths take turns round by round, so drift in the machine's load hits
//! them alike. See docs/benchmarks.md.
//!
//! Two in-process nodes (each on its own runtime, see `crate::nodes`) share a fresh PostgreSQL
//! database and one NATS prefix. Two accounts keep the paths apart: account 1's customer and
//! agent are both on node A (path a); account 2's customer is on A and its agent on B (path b),
//! so only path b's events are relayed to a socket by B.
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message as WsMsg;
use uuid::Uuid;

use super::{
    messages::{
        load::{self, Ws},
        post_json,
    },
    nodes::{ClusterLink, Node},
    stats::{Summary, micros},
};
use switchboard::{
    actor::{Role, SenderType},
    auth::tokens,
    config::Settings,
    db,
    realtime::bus::{Envelope, Notice},
};
use testkit::{pg::ScratchDb, seed::NewAgent};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Measured events per path.
    #[arg(long, default_value_t = 1000)]
    pub rounds: usize,
    /// Unmeasured events per path first (connections, caches, the bus subscription).
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// PostgreSQL server the two nodes share: a fresh `sb_bench_<random>` database is created
    /// on it and dropped afterwards.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub database_url: String,
    /// NATS server: the nodes' bus, and the raw publish → subscribe comparison.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Longest wait for one event, in milliseconds; a measured event not seen by then is lost.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Print one JSON object on stdout instead of the report (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    rounds: usize,
    warmup: usize,
    cpus: usize,
    /// (a) customer socket on node A → node A → agent socket on node A.
    typing_one_node: PathReport,
    /// (b) customer socket on node A → node A → NATS → node B → agent socket on node B.
    typing_two_nodes: PathReport,
    /// (c) `publish` + `flush` on one NATS client → the message on another client's
    /// subscription.
    raw_nats: PathReport,
    /// Typing p50 ÷ raw NATS p50 (the target: ≤ 3).
    one_node_over_nats_p50: f64,
    two_nodes_over_nats_p50: f64,
    /// Cross-node typing minus one-node typing, at p50: what the bus hop adds.
    bus_hop_p50_ms: f64,
    payload_bytes: usize,
}

#[derive(Serialize)]
struct PathReport {
    #[serde(flatten)]
    latency: Summary,
    /// Measured events not seen within `--timeout-ms`.
    lost: usize,
    /// Warm-up events not seen in time (e.g. before the bus subscription was up).
    warmup_lost: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    OneNode,
    TwoNodes,
    RawNats,
}

const PATHS: [Path; 3] = [Path::OneNode, Path::TwoNodes, Path::RawNats];

fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("bench: {msg}");
}

pub async fn run(a: Args, settings: Settings) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        switchboard::telemetry::init(&settings.log_format);
    }
    anyhow::ensure!(a.rounds >= 1, "--rounds must be at least 1");
    anyhow::ensure!(
        a.database_url.starts_with("postgres"),
        "--database-url must be a postgres:// URL (the two nodes share one database)"
    );
    anyhow::ensure!(
        a.nats_url.starts_with("nats://"),
        "--nats-url must be a nats:// URL"
    );
    progress(format_args!(
        "creating a fresh database on {}",
        switchboard::config::redact_url(&a.database_url)
    ));
    let pg = ScratchDb::create(&a.database_url, "sb_bench_").await?;
    let result = with_database(&a, settings, pg.url()).await;
    if let Err(e) = pg.drop_database().await {
        eprintln!("warning: {e:#}");
    }
    let report = result?;
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// One account with one agent and one inbox.
struct Seeded {
    email: String,
    password: String,
    inbox_token: String,
    account_id: Uuid,
}

async fn seed(settings: &Settings) -> anyhow::Result<[Seeded; 2]> {
    let conn = db::connect(settings)
        .await
        .context("connecting to the bench database")?;
    db::migrate(&conn).await.context("running migrations")?;
    let mut out = Vec::with_capacity(2);
    for i in 1..=2 {
        let email = format!("agent{i}@relay.example");
        let password = format!("bench-{}", tokens::random_hex(8)?);
        let agent = NewAgent::new(email.clone(), format!("Relay agent {i}"), Role::Agent);
        let s = testkit::seed::account(&conn, &format!("Relay {i}"), &[agent], &password, "Relay")
            .await?;
        out.push(Seeded {
            email,
            password,
            inbox_token: s.inbox.widget_token,
            account_id: s.account.id,
        });
    }
    let _ = conn.close().await;
    let [one, two]: [Seeded; 2] = out
        .try_into()
        .map_err(|_| anyhow::anyhow!("seeding made the wrong number of accounts"))?;
    Ok([one, two])
}

async fn with_database(a: &Args, base: Settings, db_url: &str) -> anyhow::Result<Report> {
    let dir = tempfile::Builder::new()
        .prefix("sb-bench-relay-")
        .tempdir()
        .context("creating a temp dir")?;
    let mut settings = base;
    settings.bind = "127.0.0.1:0".into();
    settings.public_url = String::new();
    settings.database_url = db_url.to_string();
    settings.rate_limits = false;
    let link = ClusterLink::new(&a.nats_url)?;
    link.apply(&mut settings);
    let [acc1, acc2] = seed(&settings).await?;

    progress(format_args!(
        "starting nodes A and B (own runtimes), bus {} prefix {}",
        a.nats_url, link.prefix
    ));
    let mut sa = settings.clone();
    sa.data_dir = dir.path().join("node-a");
    let node_a = Node::start(sa, "node-a").await?;
    let mut sb = settings;
    sb.data_dir = dir.path().join("node-b");
    let node_b = match Node::start(sb, "node-b").await {
        Ok(n) => n,
        Err(e) => {
            let _ = node_a.stop().await;
            return Err(e);
        }
    };
    let result = measure(a, &node_a, &node_b, &acc1, &acc2, &link).await;
    for (name, node) in [("A", node_a), ("B", node_b)] {
        if let Err(e) = node.stop().await {
            eprintln!("warning: stopping node {name}: {e:#}");
        }
    }
    result
}

fn http_base(node: &Node) -> String {
    format!("http://127.0.0.1:{}", node.port)
}

/// A customer socket on `node` (a new visitor in the account's inbox); returns it and its
/// conversation.
async fn customer(http: &reqwest::Client, node: &Node, acc: &Seeded) -> anyhow::Result<(Ws, Uuid)> {
    #[derive(Deserialize)]
    struct Session {
        visitor_token: String,
        conversation_id: Uuid,
    }
    let s: Session = post_json(
        http,
        &format!("{}/api/v1/widget/session", http_base(node)),
        None,
        &serde_json::json!({ "inbox_token": acc.inbox_token }),
    )
    .await
    .context("opening a visitor session")?;
    let url = format!(
        "ws://127.0.0.1:{}/ws/widget?token={}",
        node.port, s.visitor_token
    );
    Ok((load::connect(&url, "customer").await?, s.conversation_id))
}

/// The account's agent, logged in on `node`, with a socket there.
async fn agent(http: &reqwest::Client, node: &Node, acc: &Seeded) -> anyhow::Result<Ws> {
    #[derive(Deserialize)]
    struct Token {
        token: String,
    }
    let base = http_base(node);
    let body = serde_json::json!({ "email": acc.email, "password": acc.password });
    let session: Token = post_json(http, &format!("{base}/api/v1/auth/login"), None, &body)
        .await
        .with_context(|| format!("logging in {}", acc.email))?;
    let socket: Token = post_json(
        http,
        &format!("{base}/api/v1/auth/socket-token"),
        Some(&session.token),
        &serde_json::json!({}),
    )
    .await
    .context("minting a socket token")?;
    let url = format!(
        "ws://127.0.0.1:{}/ws/agent?token={}",
        node.port, socket.token
    );
    load::connect(&url, "agent").await
}

/// A customer → agent typing path.
struct TypingPath {
    customer: Ws,
    agent: Ws,
    conversation: String,
    typing: bool,
}

/// The fields of an agent's frame this bench looks at.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default, borrow)]
    conversation_id: Option<&'a str>,
    #[serde(default, borrow)]
    sender_type: Option<&'a str>,
    #[serde(default)]
    typing: Option<bool>,
}

impl TypingPath {
    /// Sends the opposite typing state (the server drops repeats of one state within 2 s) and
    /// waits until the agent sees it. None = not within `timeout`.
    async fn round(&mut self, timeout: Duration) -> anyhow::Result<Option<Duration>> {
        // Answer the server's pings and drop whatever else the customer was sent.
        while let Some(frame) = self.customer.next().now_or_never() {
            match frame {
                Some(Ok(_)) => {}
                Some(Err(e)) => anyhow::bail!("customer socket: {e}"),
                None => anyhow::bail!("customer socket closed by the server"),
            }
        }
        self.typing = !self.typing;
        let text = if self.typing {
            r#"{"type":"typing","typing":true}"#
        } else {
            r#"{"type":"typing","typing":false}"#
        };
        let t0 = Instant::now();
        self.customer
            .send(WsMsg::text(text))
            .await
            .context("sending typing")?;
        let want = self.typing;
        let seen = async {
            loop {
                match self.agent.next().await {
                    Some(Ok(WsMsg::Text(t))) => {
                        let Ok(f) = serde_json::from_str::<Frame<'_>>(&t) else {
                            continue;
                        };
                        if f.kind == "typing"
                            && f.conversation_id == Some(self.conversation.as_str())
                            && f.sender_type == Some("customer")
                            && f.typing == Some(want)
                        {
                            return Ok(t0.elapsed());
                        }
                    }
                    Some(Ok(WsMsg::Close(f))) => anyhow::bail!("agent socket closed: {f:?}"),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => anyhow::bail!("agent socket: {e}"),
                    None => anyhow::bail!("agent socket closed by the server"),
                }
            }
        };
        match tokio::time::timeout(timeout, seen).await {
            Ok(r) => r.map(Some),
            Err(_) => Ok(None),
        }
    }
}

/// Raw NATS: one client publishes (and flushes its socket, as the bus publisher does when its
/// queue is empty), another client's subscription receives, awaited by the same task.
struct RawNats {
    publisher: async_nats::Client,
    subject: String,
    payload: Vec<u8>,
    sub: async_nats::Subscriber,
    _sub_client: async_nats::Client,
}

impl RawNats {
    async fn connect(url: &str, subject: String, payload: Vec<u8>) -> anyhow::Result<Self> {
        let sub_client = async_nats::connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        let sub = sub_client
            .subscribe(subject.clone())
            .await
            .context("subscribing")?;
        sub_client
            .flush()
            .await
            .context("flushing the subscription")?;
        let publisher = async_nats::connect(url)
            .await
            .with_context(|| format!("connecting to NATS at {url}"))?;
        Ok(Self {
            publisher,
            subject,
            payload,
            sub,
            _sub_client: sub_client,
        })
    }

    async fn round(&mut self, timeout: Duration) -> anyhow::Result<Option<Duration>> {
        // A late arrival from an earlier, timed-out round must not count for this one.
        while let Some(Some(_)) = self.sub.next().now_or_never() {}
        let t0 = Instant::now();
        self.publisher
            .publish(self.subject.clone(), self.payload.clone().into())
            .await
            .context("NATS publish")?;
        // A local socket flush (no round trip to the server).
        self.publisher.flush().await.context("NATS flush")?;
        match tokio::time::timeout(timeout, self.sub.next()).await {
            Ok(Some(_)) => Ok(Some(t0.elapsed())),
            Ok(None) => anyhow::bail!("the NATS subscription ended"),
            Err(_) => Ok(None),
        }
    }
}

async fn measure(
    a: &Args,
    node_a: &Node,
    node_b: &Node,
    acc1: &Seeded,
    acc2: &Seeded,
    link: &ClusterLink,
) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    progress(format_args!(
        "opening sockets: (a) customer and agent on A; (b) customer on A, agent on B"
    ));
    let (c1, conv1) = customer(&http, node_a, acc1).await?;
    let a1 = agent(&http, node_a, acc1).await?;
    let (c2, conv2) = customer(&http, node_a, acc2).await?;
    let a2 = agent(&http, node_b, acc2).await?;
    let mut one = TypingPath {
        customer: c1,
        agent: a1,
        conversation: conv1.to_string(),
        typing: false,
    };
    let mut two = TypingPath {
        customer: c2,
        agent: a2,
        conversation: conv2.to_string(),
        typing: false,
    };
    // The raw messages are the bytes the bus carries for a typing event.
    let payload = serde_json::to_vec(&Envelope {
        node: Uuid::new_v4(),
        notice: Notice::Typing {
            account_id: acc2.account_id,
            conversation_id: conv2,
            sender_type: SenderType::Customer,
            sender_id: Uuid::new_v4(),
            typing: true,
            private: false,
        },
    })?;
    let payload_bytes = payload.len();
    let mut raw = RawNats::connect(&a.nats_url, format!("{}.raw", link.prefix), payload).await?;

    let timeout = Duration::from_millis(a.timeout_ms.max(1));
    let mut samples: [Vec<u32>; 3] = Default::default();
    let mut lost = [0usize; 3];
    let mut warmup_lost = [0usize; 3];
    progress(format_args!(
        "{} warm-up + {} measured events per path, one in flight at a time, paths taking turns",
        a.warmup, a.rounds
    ));
    for round in 0..a.warmup + a.rounds {
        let measured = round >= a.warmup;
        // Rotate which path goes first, so none always follows the same one.
        for k in 0..PATHS.len() {
            let i = (round + k) % PATHS.len();
            let got = match PATHS[i] {
                Path::OneNode => one.round(timeout).await?,
                Path::TwoNodes => two.round(timeout).await?,
                Path::RawNats => raw.round(timeout).await?,
            };
            match (got, measured) {
                (Some(d), true) => samples[i].push(micros(d)),
                (None, true) => lost[i] += 1,
                (None, false) => warmup_lost[i] += 1,
                (Some(_), false) => {}
            }
        }
        if round + 1 == a.warmup {
            progress(format_args!("warm-up done; measuring"));
        }
    }
    for ws in [
        &mut one.customer,
        &mut one.agent,
        &mut two.customer,
        &mut two.agent,
    ] {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }

    let path = |i: usize, samples: &mut Vec<u32>| PathReport {
        latency: Summary::of_micros(samples),
        lost: lost[i],
        warmup_lost: warmup_lost[i],
    };
    let [s0, s1, s2] = &mut samples;
    let (p_one, p_two, p_raw) = (path(0, s0), path(1, s1), path(2, s2));
    let ratio = |x: f64| {
        if p_raw.latency.p50_ms > 0.0 {
            x / p_raw.latency.p50_ms
        } else {
            0.0
        }
    };
    Ok(Report {
        rounds: a.rounds,
        warmup: a.warmup,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        one_node_over_nats_p50: ratio(p_one.latency.p50_ms),
        two_nodes_over_nats_p50: ratio(p_two.latency.p50_ms),
        bus_hop_p50_ms: p_two.latency.p50_ms - p_one.latency.p50_ms,
        typing_one_node: p_one,
        typing_two_nodes: p_two,
        raw_nats: p_raw,
        payload_bytes,
    })
}

fn print_report(r: &Report) {
    println!(
        "switchboard-bench relay — {} measured events per path after {} warm-up, one in flight \
         at a time, {} CPUs",
        r.rounds, r.warmup, r.cpus
    );
    let line = |name: &str, p: &PathReport| {
        let s = &p.latency;
        println!(
            "  {name:<38} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>8.3} ms  (n={}, lost {})",
            s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.n, p.lost
        );
    };
    line("(a) typing through one node", &r.typing_one_node);
    line("(b) typing across two nodes via NATS", &r.typing_two_nodes);
    line(
        &format!("(c) raw NATS pub → sub ({} B)", r.payload_bytes),
        &r.raw_nats,
    );
    let verdict = |x: f64| if x <= 3.0 { "met" } else { "NOT met" };
    println!("  target: typing relay p50 ≤ 3 × raw NATS p50");
    println!(
        "    (a) ÷ (c) = {:.2}×  ({})",
        r.one_node_over_nats_p50,
        verdict(r.one_node_over_nats_p50)
    );
    println!(
        "    (b) ÷ (c) = {:.2}×  ({})",
        r.two_nodes_over_nats_p50,
        verdict(r.two_nodes_over_nats_p50)
    );
    println!(
        "  the bus hop adds {:+.3} ms at p50 ((b) − (a))",
        r.bus_hop_p50_ms
    );
    let warm: Vec<String> = [
        ("a", &r.typing_one_node),
        ("b", &r.typing_two_nodes),
        ("c", &r.raw_nats),
    ]
    .iter()
    .filter(|(_, p)| p.warmup_lost > 0)
    .map(|(k, p)| format!("({k}) {}", p.warmup_lost))
    .collect();
    if !warm.is_empty() {
        println!("  warm-up events not seen in time: {}", warm.join(", "));
    }
}
