//! `switchboard-bench messages`: durable message throughput and latency over real WebSockets.
//! C customers (each its own visitor session and socket) send to one inbox at a target rate (open
//! loop) or flat out; A agent sockets of the same account receive every message live. It reports
//! ack latency (send → ack at the customer), delivery latency (send → every agent receipt),
//! durable msgs/s, this disk's fsync median for comparison, and checks afterwards that nothing
//! was lost or duplicated. See docs/benchmarks.md.
mod cluster;
pub(crate) mod load;
pub(crate) mod target;
mod verify;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use tokio::{runtime::Handle, sync::watch};
use uuid::Uuid;

use self::{
    load::{AgentOutcome, CustomerOutcome, Mode, Plan, Progress, Ws},
    target::{LocalOptions, RemoteOptions, Target},
    verify::Verdict,
};
use super::{
    cpu::{self, GroupUsage},
    fsync,
    stats::Summary,
};
use switchboard::config::{Settings, SqliteSync};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Total send rate in messages/s, spread evenly over the customers (open loop: sends follow
    /// the schedule, never wait for acks). 0 = flat out, with `--window` sends in flight per customer.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// Length of the send phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Customer sockets (each its own visitor and conversation).
    #[arg(long, default_value_t = 200)]
    pub customers: usize,
    /// Agent sockets (each receives every message of the account).
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Un-acked sends per customer at which scheduled sends are skipped (and counted as not sent).
    #[arg(long, default_value_t = 2000)]
    pub max_outstanding: usize,
    /// Sends in flight per customer with `--rate 0`.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 64)]
    pub body_bytes: usize,
    /// Longest wait for outstanding acks and deliveries after the send phase, in seconds.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Benchmark a running server (`http://host:port`) instead of starting one in-process. Needs
    /// `--email`, `--password` (or `SWITCHBOARD_BENCH_PASSWORD`) and `--inbox-token`.
    #[arg(long, conflicts_with_all = ["database_url", "sqlite_synchronous"])]
    pub url: Option<String>,
    /// With `--url`: an agent of the inbox's account; every agent socket logs in as it.
    #[arg(long)]
    pub email: Option<String>,
    /// With `--url`: that agent's password.
    #[arg(long, env = "SWITCHBOARD_BENCH_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// With `--url`: the inbox's widget token (`wt_…`); the run opens new conversations in it.
    #[arg(long)]
    pub inbox_token: Option<String>,
    /// In-process server on PostgreSQL: a fresh `sb_bench_<random>` database is created on this
    /// server (e.g. postgres://postgres@127.0.0.1:5432/postgres) and dropped afterwards.
    #[arg(long)]
    pub database_url: Option<String>,
    /// SQLite durability of the in-process server (default: the configured one, normally full).
    #[arg(long, value_parser = ["full", "normal"])]
    pub sqlite_synchronous: Option<String>,
    /// Where the fsync probe writes with `--url` (default: the system temp dir).
    #[arg(long)]
    pub fsync_dir: Option<PathBuf>,
    /// Worker threads of the runtime the client sockets run on. The in-process server keeps
    /// its own runtime (as in `serve`), so a busy client does not queue ahead of the message
    /// writer; 0 = run the clients on the server's runtime. Both share the same CPUs.
    #[arg(long, default_value_t = 2)]
    pub client_threads: usize,
    /// 4 KiB write + fsync round trips in the fsync probe.
    #[arg(long, default_value_t = 200)]
    pub fsync_samples: usize,
    /// Server nodes: 1, or 2 = a cluster on one PostgreSQL database (`--database-url`) linked by
    /// `--bus`, customers on node A and agents on node B, so every delivery crosses the bus. With
    /// 2 the same load first runs on a single node (no bus), and both are reported side by side.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    pub nodes: u8,
    /// With `--nodes 2`: the bus linking the nodes (default nats).
    #[arg(long, value_parser = ["nats", "redis"])]
    pub bus: Option<String>,
    /// With `--nodes 2`: the bus server (default nats://127.0.0.1:4222 or redis://127.0.0.1:6379).
    #[arg(long)]
    pub bus_url: Option<String>,
    /// Print one JSON object on stdout instead of the report (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

/// Everything the run measured; `--json` prints exactly this.
#[derive(Serialize)]
struct Report {
    backend: &'static str,
    sqlite_synchronous: Option<&'static str>,
    server: String,
    cpus: usize,
    mode: &'static str,
    /// Total messages/s asked for (0 = flat out).
    offered_rate: u64,
    window: Option<usize>,
    customers: usize,
    agents: usize,
    /// Threads of the clients' own runtime (0 = they ran on the server's).
    client_threads: usize,
    body_bytes: usize,
    duration_s: f64,
    sent: u64,
    acked: u64,
    errors: u64,
    error_codes: BTreeMap<String, u64>,
    /// Scheduled sends skipped because the customer had `max_outstanding` un-acked.
    not_sent_cap: u64,
    sent_per_s: f64,
    /// Acked messages / send-phase duration (acks that arrive during the drain count too, so
    /// compare with `msgs_per_s_to_last_ack` and `drain_s` when the server fell behind).
    msgs_per_s: f64,
    /// Acked messages / time from the first send to the last ack (lower when the server lags).
    msgs_per_s_to_last_ack: f64,
    /// From the end of the send phase until every ack and delivery was in.
    drain_s: f64,
    /// The drain hit `--drain-timeout`: unanswered messages missing from the database then count
    /// as lost.
    drain_timed_out: bool,
    ack_p50_ms: f64,
    ack_p90_ms: f64,
    ack_p99_ms: f64,
    ack_max_ms: f64,
    deliver_p50_ms: f64,
    deliver_p90_ms: f64,
    deliver_p99_ms: f64,
    deliver_max_ms: f64,
    deliveries: usize,
    fsync_p50_ms: f64,
    fsync_p99_ms: f64,
    fsync_dir: String,
    deliver_p99_over_fsync_p50: f64,
    deliver_p50_minus_fsync_p50_ms: f64,
    /// How late sends left against their schedule (rate mode; a busy client shows here).
    sched_lag_p99_ms: f64,
    sched_lag_max_ms: f64,
    #[serde(flatten)]
    verdict: Verdict,
    /// Stored messages per group-commit transaction (rows / distinct `created_at`).
    avg_commit_batch: f64,
    customer_disconnects: usize,
    agent_disconnects: usize,
    disconnect_reasons: Vec<String>,
    foreign_deliveries: u64,
    bad_frames: u64,
    /// Process CPU time during the send phase (client and server together).
    cpu_s: f64,
    cpu_busy_cores: f64,
    cpu_by_thread: Vec<GroupUsage>,
    /// All processes (this one, PostgreSQL, anything else), in cores busy during the send phase.
    machine_busy_cores: Option<f64>,
}

pub async fn run(a: Args, settings: Settings) -> anyhow::Result<()> {
    if std::env::var_os("RUST_LOG").is_some() {
        switchboard::telemetry::init(&settings.log_format);
    }
    anyhow::ensure!(a.customers >= 1, "--customers must be at least 1");
    anyhow::ensure!(
        a.duration > 0.0 && a.duration.is_finite(),
        "--duration must be positive"
    );
    anyhow::ensure!(
        a.window >= 1 && a.max_outstanding >= 1,
        "--window and --max-outstanding must be at least 1"
    );
    anyhow::ensure!(
        (1..=16 * 1024).contains(&a.body_bytes),
        "--body-bytes must be 1 to 16384"
    );
    anyhow::ensure!(
        a.agents <= 1000 && a.customers <= 100_000,
        "too many sockets"
    );
    if a.nodes > 1 {
        return cluster::run(a, settings).await;
    }
    anyhow::ensure!(
        a.bus.is_none() && a.bus_url.is_none(),
        "--bus and --bus-url need --nodes 2"
    );
    let target = match &a.url {
        Some(url) => {
            anyhow::ensure!(
                a.agents >= 1,
                "--url needs --agents 1 or more (the check reads history as an agent)"
            );
            let (Some(email), Some(password), Some(inbox_token)) =
                (&a.email, &a.password, &a.inbox_token)
            else {
                anyhow::bail!(
                    "--url needs --email, --password (or SWITCHBOARD_BENCH_PASSWORD) and --inbox-token"
                );
            };
            Target::remote(RemoteOptions {
                url: url.clone(),
                email: email.clone(),
                password: password.clone(),
                inbox_token: inbox_token.clone(),
                agents: a.agents,
                fsync_dir: a.fsync_dir.clone(),
            })?
        }
        None => {
            let sync = match a.sqlite_synchronous.as_deref() {
                Some("normal") => Some(SqliteSync::Normal),
                Some(_) => Some(SqliteSync::Full),
                None => None,
            };
            let o = LocalOptions {
                database_url: a.database_url.clone(),
                sqlite_synchronous: sync,
                agents: a.agents,
                cluster: None,
            };
            progress(format_args!(
                "starting an in-process server on a fresh database"
            ));
            Target::local(settings, o).await?
        }
    };
    let result = bench(&a, &target).await;
    if let Err(e) = target.shutdown().await {
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

fn progress(msg: std::fmt::Arguments<'_>) {
    eprintln!("bench: {msg}");
}

#[derive(Deserialize)]
struct WidgetSession {
    visitor_token: String,
    conversation_id: Uuid,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

pub(crate) async fn post_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> anyhow::Result<T> {
    let mut req = http.post(url).json(body);
    if let Some(b) = bearer {
        req = req.bearer_auth(b);
    }
    let resp = req.send().await?;
    let status = resp.status();
    if !status.is_success() {
        anyhow::bail!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
    }
    Ok(resp.json().await?)
}

/// Opens the customers' visitor sessions (16 at a time); returns their conversations and
/// socket URLs.
async fn open_customers(t: &Target, n: usize) -> anyhow::Result<Vec<(Uuid, String)>> {
    let session_url = format!("{}/api/v1/widget/session", t.base);
    let body = serde_json::json!({ "inbox_token": t.inbox_token });
    let mut opened: Vec<(usize, Uuid, String)> = stream::iter(0..n)
        .map(|i| {
            let (session_url, body) = (&session_url, &body);
            async move {
                let s: WidgetSession = post_json(&t.http, session_url, None, body)
                    .await
                    .context("opening a visitor session")?;
                let url = format!("{}/ws/widget?token={}", t.ws_base, s.visitor_token);
                anyhow::Ok((i, s.conversation_id, url))
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    opened.sort_by_key(|(i, _, _)| *i);
    Ok(opened.into_iter().map(|(_, c, url)| (c, url)).collect())
}

/// Logs the agents in (argon2: slow on purpose, not measured) and mints their socket tokens;
/// returns the socket URLs and one session token (for the history API).
async fn open_agents(t: &Target) -> anyhow::Result<(Vec<String>, String)> {
    let login_url = format!("{}/api/v1/auth/login", t.agent_base);
    let token_url = format!("{}/api/v1/auth/socket-token", t.agent_base);
    let opened: Vec<(String, String)> = stream::iter(t.logins.iter())
        .map(|(email, password)| {
            let (login_url, token_url) = (&login_url, &token_url);
            async move {
                let body = serde_json::json!({ "email": email, "password": password });
                let session: TokenBody = post_json(&t.http, login_url, None, &body)
                    .await
                    .with_context(|| format!("logging in {email}"))?;
                let socket: TokenBody = post_json(
                    &t.http,
                    token_url,
                    Some(&session.token),
                    &serde_json::json!({}),
                )
                .await
                .context("minting a socket token")?;
                let url = format!("{}/ws/agent?token={}", t.agent_ws_base, socket.token);
                anyhow::Ok((session.token, url))
            }
        })
        .buffered(8)
        .try_collect()
        .await?;
    let bearer = opened.first().map(|(s, _)| s.clone()).unwrap_or_default();
    Ok((opened.into_iter().map(|(_, url)| url).collect(), bearer))
}

/// Opens sockets on the client runtime (so their I/O is driven there), all at once.
async fn connect_all(
    rt: &Handle,
    urls: Vec<String>,
    what: &'static str,
) -> anyhow::Result<Vec<Ws>> {
    let tasks: Vec<_> = urls
        .into_iter()
        .map(|url| rt.spawn(async move { load::connect(&url, what).await }))
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.context("connect task")??);
    }
    Ok(out)
}

/// The runtime the client sockets run on, apart from the server's (see `--client-threads`);
/// shut down without blocking when dropped, even on an early error.
struct ClientRuntime(Option<tokio::runtime::Runtime>);

impl ClientRuntime {
    fn new(threads: usize) -> anyhow::Result<Self> {
        if threads == 0 {
            return Ok(Self(None));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("bench-client")
            .enable_all()
            .build()
            .context("starting the client runtime")?;
        Ok(Self(Some(rt)))
    }

    fn handle(&self) -> Handle {
        match &self.0 {
            Some(rt) => rt.handle().clone(),
            None => Handle::current(),
        }
    }
}

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

async fn bench(a: &Args, t: &Target) -> anyhow::Result<Report> {
    let epoch = Instant::now();
    let fsync_dir = t.fsync_dir.clone();
    let samples = a.fsync_samples;
    progress(format_args!(
        "fsync probe: {samples} × (4 KiB write + fdatasync) in {}",
        fsync_dir.display()
    ));
    let fsync = tokio::task::spawn_blocking(move || fsync::probe(&fsync_dir, samples)).await??;

    let client_rt = ClientRuntime::new(a.client_threads)?;
    let rt = client_rt.handle();
    progress(format_args!(
        "opening {} customer sessions and sockets",
        a.customers
    ));
    let customers = open_customers(t, a.customers).await?;
    let (conversations, urls): (Vec<Uuid>, Vec<String>) = customers.into_iter().unzip();
    let customer_sockets = connect_all(&rt, urls, "customer").await?;
    progress(format_args!(
        "logging in {} agents and opening their sockets",
        a.agents
    ));
    let (agent_urls, bearer) = open_agents(t).await?;
    let agent_sockets = connect_all(&rt, agent_urls, "agent").await?;

    let send_phase = Duration::from_secs_f64(a.duration);
    let start = Instant::now() + Duration::from_millis(300);
    let mode = if a.rate == 0 {
        Mode::FlatOut { window: a.window }
    } else {
        let period = Duration::from_secs_f64(a.customers as f64 / a.rate as f64);
        Mode::Rate {
            period,
            max_outstanding: a.max_outstanding,
        }
    };
    let plan = Arc::new(Plan {
        epoch,
        start,
        end: start + send_phase,
        deadline: start + send_phase + Duration::from_secs(a.drain_timeout),
        mode,
        customers: a.customers,
        body: body_text(a.body_bytes),
    });
    let shared = Arc::new(Progress::new(a.agents));
    let conv_strings = Arc::new(
        conversations
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let agent_tasks: Vec<_> = agent_sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| {
            rt.spawn(load::agent(
                i,
                ws,
                conv_strings.clone(),
                plan.clone(),
                shared.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    let customer_tasks: Vec<_> = customer_sockets
        .into_iter()
        .enumerate()
        .map(|(i, ws)| rt.spawn(load::customer(i, ws, plan.clone(), shared.clone())))
        .collect();
    match plan.mode {
        Mode::Rate { .. } => progress(format_args!(
            "sending {} msgs/s for {:.1} s ({} customers, {} agents)",
            a.rate, a.duration, a.customers, a.agents
        )),
        Mode::FlatOut { window } => progress(format_args!(
            "sending flat out ({window} in flight per customer) for {:.1} s ({} customers, {} agents)",
            a.duration, a.customers, a.agents
        )),
    }

    tokio::time::sleep_until(plan.start.into()).await;
    let cpu_before = cpu::snapshot();
    tokio::time::sleep_until(plan.end.into()).await;
    let cpu_after = cpu::snapshot();
    progress(format_args!(
        "send phase over; waiting for the last acks and deliveries"
    ));

    let mut outcomes: Vec<CustomerOutcome> = Vec::with_capacity(customer_tasks.len());
    for task in customer_tasks {
        outcomes.push(task.await.context("customer task")?);
    }
    let acked_total = shared.acked.load(Ordering::Relaxed);
    // Every agent should now receive (at least) every acked message; a closed socket never will.
    loop {
        let behind = shared
            .received
            .iter()
            .zip(&agent_tasks)
            .any(|(r, task)| !task.is_finished() && r.load(Ordering::Relaxed) < acked_total);
        if !behind || Instant::now() >= plan.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drain_s = plan.end.elapsed().as_secs_f64();
    let drain_timed_out = Instant::now() >= plan.deadline;
    let _ = stop_tx.send(true);
    let mut agents: Vec<AgentOutcome> = Vec::with_capacity(agent_tasks.len());
    for task in agent_tasks {
        agents.push(task.await.context("agent task")?);
    }

    progress(format_args!("verifying against the database"));
    let rows = t.stored(&conversations, &bearer).await?;
    let verdict = verify::check(&outcomes, &agents, &rows, &target::index(&conversations));
    let (cpu_s, cpu_by_thread) = cpu::usage(&cpu_before, &cpu_after);
    let machine = cpu::machine_busy(&cpu_before, &cpu_after);
    Ok(summarize(
        a,
        t,
        &plan,
        outcomes,
        agents,
        verdict,
        fsync,
        (drain_s, drain_timed_out),
        (cpu_s, cpu_by_thread, machine),
    ))
}

/// Printable ASCII filler of exactly `n` bytes (no characters JSON would escape).
fn body_text(n: usize) -> String {
    "benchmark message; the quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(n)
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    a: &Args,
    t: &Target,
    plan: &Plan,
    customers: Vec<CustomerOutcome>,
    agents: Vec<AgentOutcome>,
    verdict: Verdict,
    fsync: Summary,
    (drain_s, drain_timed_out): (f64, bool),
    (cpu_s, cpu_by_thread, machine): (f64, Vec<GroupUsage>, Option<f64>),
) -> Report {
    let phase_s = (plan.end - plan.start).as_secs_f64();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let sent: u64 = customers.iter().map(|c| c.sent() as u64).sum();
    let acked: u64 = customers
        .iter()
        .map(|c| c.state.iter().filter(|&&s| s > 0).count() as u64)
        .sum();
    let mut error_codes: BTreeMap<String, u64> = BTreeMap::new();
    for c in &customers {
        for (k, v) in &c.errors {
            *error_codes.entry(k.clone()).or_default() += v;
        }
    }
    let start_us = (plan.start - plan.epoch).as_micros() as u64;
    let last_ack_us = customers.iter().map(|c| c.last_ack_us).max().unwrap_or(0);
    let to_last_ack_s = (last_ack_us.saturating_sub(start_us) as f64 / 1e6).max(phase_s);
    let mut ack_us: Vec<u32> = customers
        .iter()
        .flat_map(|c| c.ack_us.iter().copied())
        .collect();
    let mut lag_us: Vec<u32> = customers
        .iter()
        .flat_map(|c| c.lag_us.iter().copied())
        .collect();
    let mut deliver_us: Vec<u32> = agents
        .iter()
        .flat_map(|a| a.deliver_us.iter().copied())
        .collect();
    let ack = Summary::of_micros(&mut ack_us);
    let lag = Summary::of_micros(&mut lag_us);
    let deliver = Summary::of_micros(&mut deliver_us);
    let disconnect_reasons: Vec<String> = customers
        .iter()
        .filter_map(|c| c.closed.as_ref().map(|r| format!("customer: {r}")))
        .chain(
            agents
                .iter()
                .filter_map(|a| a.closed.as_ref().map(|r| format!("agent: {r}"))),
        )
        .take(10)
        .collect();
    let ratio = |x: f64| {
        if fsync.p50_ms > 0.0 {
            x / fsync.p50_ms
        } else {
            0.0
        }
    };
    let avg_commit_batch = if verdict.commit_batches > 0 {
        verdict.stored_rows as f64 / verdict.commit_batches as f64
    } else {
        0.0
    };
    Report {
        backend: t.backend,
        sqlite_synchronous: t.sqlite_synchronous,
        server: if t.is_local() {
            "in-process".into()
        } else {
            t.base.clone()
        },
        cpus,
        mode: if a.rate == 0 { "flat-out" } else { "rate" },
        offered_rate: a.rate,
        window: (a.rate == 0).then_some(a.window),
        customers: a.customers,
        agents: a.agents,
        client_threads: a.client_threads,
        body_bytes: a.body_bytes,
        duration_s: phase_s,
        sent,
        acked,
        errors: error_codes.values().sum(),
        error_codes,
        not_sent_cap: customers.iter().map(|c| c.capped).sum(),
        sent_per_s: sent as f64 / phase_s,
        msgs_per_s: acked as f64 / phase_s,
        msgs_per_s_to_last_ack: acked as f64 / to_last_ack_s,
        drain_s,
        drain_timed_out,
        ack_p50_ms: ack.p50_ms,
        ack_p90_ms: ack.p90_ms,
        ack_p99_ms: ack.p99_ms,
        ack_max_ms: ack.max_ms,
        deliver_p50_ms: deliver.p50_ms,
        deliver_p90_ms: deliver.p90_ms,
        deliver_p99_ms: deliver.p99_ms,
        deliver_max_ms: deliver.max_ms,
        deliveries: deliver.n,
        fsync_p50_ms: fsync.p50_ms,
        fsync_p99_ms: fsync.p99_ms,
        fsync_dir: t.fsync_dir.display().to_string(),
        deliver_p99_over_fsync_p50: ratio(deliver.p99_ms),
        deliver_p50_minus_fsync_p50_ms: deliver.p50_ms - fsync.p50_ms,
        sched_lag_p99_ms: lag.p99_ms,
        sched_lag_max_ms: lag.max_ms,
        verdict,
        avg_commit_batch,
        customer_disconnects: customers.iter().filter(|c| c.closed.is_some()).count(),
        agent_disconnects: agents.iter().filter(|a| a.closed.is_some()).count(),
        disconnect_reasons,
        foreign_deliveries: agents.iter().map(|a| a.foreign).sum(),
        bad_frames: customers.iter().map(|c| c.bad_frames).sum::<u64>()
            + agents.iter().map(|a| a.bad_frames).sum::<u64>(),
        cpu_s,
        cpu_busy_cores: cpu_s / phase_s,
        cpu_by_thread,
        machine_busy_cores: machine.map(|m| m * cpus as f64),
    }
}

fn print_report(r: &Report) {
    let backend = match r.sqlite_synchronous {
        Some(s) => format!("{} (synchronous={s})", r.backend),
        None => r.backend.to_string(),
    };
    let offered = match r.window {
        Some(w) => format!("flat out, {w} in flight per customer"),
        None => format!("{} msgs/s offered (open loop)", r.offered_rate),
    };
    println!(
        "switchboard-bench messages — {backend}, server {}, {} CPUs",
        r.server, r.cpus
    );
    println!(
        "  {} customers, {} agents, {:.1} s, {offered}, {}-byte bodies",
        r.customers, r.agents, r.duration_s, r.body_bytes
    );
    println!(
        "  sent {}  acked {}  errors {}  not sent (cap) {}  unanswered {}",
        r.sent, r.acked, r.errors, r.not_sent_cap, r.verdict.unanswered
    );
    for (code, n) in &r.error_codes {
        println!("    error {code}: {n}");
    }
    println!(
        "  durable throughput  {:.0} msgs/s  ({:.0} msgs/s up to the last ack; drained in {:.2} s)",
        r.msgs_per_s, r.msgs_per_s_to_last_ack, r.drain_s
    );
    if r.drain_s > 1.0 {
        println!(
            "  NOTE: the server fell behind: acks kept coming {:.1} s after sending stopped, so it \
             sustained about {:.0} msgs/s, not {:.0}",
            r.drain_s, r.msgs_per_s_to_last_ack, r.msgs_per_s
        );
    }
    if r.drain_timed_out {
        println!(
            "  WARNING: the drain timed out; {} sends were still unanswered (those not stored count as lost)",
            r.verdict.unanswered
        );
    }
    let line = |p50: f64, p90: f64, p99: f64, max: f64, n: usize| {
        format!(
            "p50 {p50:>8.3} ms  p90 {p90:>8.3} ms  p99 {p99:>8.3} ms  max {max:>8.3} ms  (n={n})"
        )
    };
    println!(
        "  ack latency      {}",
        line(
            r.ack_p50_ms,
            r.ack_p90_ms,
            r.ack_p99_ms,
            r.ack_max_ms,
            r.acked as usize
        )
    );
    println!(
        "  deliver latency  {}",
        line(
            r.deliver_p50_ms,
            r.deliver_p90_ms,
            r.deliver_p99_ms,
            r.deliver_max_ms,
            r.deliveries
        )
    );
    println!(
        "  fsync (4 KiB + fdatasync)  p50 {:.3} ms  p99 {:.3} ms  in {}",
        r.fsync_p50_ms, r.fsync_p99_ms, r.fsync_dir
    );
    println!(
        "  deliver p99 / fsync p50 = {:.2}×   deliver p50 − fsync p50 = {:+.3} ms",
        r.deliver_p99_over_fsync_p50, r.deliver_p50_minus_fsync_p50_ms
    );
    if r.window.is_none() {
        println!(
            "  send schedule lag  p99 {:.3} ms  max {:.3} ms",
            r.sched_lag_p99_ms, r.sched_lag_max_ms
        );
    }
    let v = &r.verdict;
    println!(
        "  verification: lost {}  duplicated {}  ({} rows read back, {} commits, {:.1} msgs per commit)",
        v.lost, v.duplicated, v.stored_rows, v.commit_batches, r.avg_commit_batch
    );
    let extra = [
        ("missing in db", v.missing_in_db),
        ("missing at agents", v.missing_at_agents),
        ("seq mismatch", v.seq_mismatch),
        ("stored despite error", v.stored_despite_error),
        ("phantom deliveries", v.phantom_deliveries),
        ("stray rows", v.stray_rows),
        ("agent dup receipts", v.agent_dup_receipts),
        ("db dup rows", v.db_dup_rows),
        ("ack conflicts", v.ack_conflicts),
        ("foreign deliveries", r.foreign_deliveries),
        ("bad frames", r.bad_frames),
    ];
    let nonzero: Vec<String> = extra
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !nonzero.is_empty() {
        println!("    {}", nonzero.join(", "));
    }
    if r.customer_disconnects + r.agent_disconnects > 0 {
        println!(
            "  disconnects: {} customers, {} agents",
            r.customer_disconnects, r.agent_disconnects
        );
        for reason in &r.disconnect_reasons {
            println!("    {reason}");
        }
    }
    let groups: Vec<String> = r
        .cpu_by_thread
        .iter()
        .take(6)
        .map(|g| format!("{} {:.2} s", g.threads, g.cpu_s))
        .collect();
    println!(
        "  CPU during the send phase: {:.2} s = {:.2} of {} cores busy ({})",
        r.cpu_s,
        r.cpu_busy_cores,
        r.cpus,
        groups.join(", ")
    );
    if let Some(m) = r.machine_busy_cores {
        println!(
            "  whole machine meanwhile: {m:.2} of {} cores busy (all processes)",
            r.cpus
        );
    }
}
