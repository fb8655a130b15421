//! `switchboard-bench connections`: how many idle sockets one server node holds, and what each
//! costs. The server runs as a child process (`switchboard serve` on a fresh SQLite database)
//! so that its resident memory and CPU time can be read from `/proc/<pid>`. The bench opens
//! `--connections` customer sockets (each its own visitor, subscribed to its own conversation)
//! plus `--agents` agent sockets, keeps them open (tungstenite answers the server's pings while
//! the sockets are read), and reports the time to open them, the server's RSS per socket and its
//! CPU use while they sit idle. See docs/benchmarks.md.
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMsg;

use super::sockets::{self, Dialer, Ws, parse, progress};
use switchboard::config::Settings;

/// Issue 6: sockets one node must hold, and the most RSS each may cost.
const TARGET_SOCKETS: usize = 50_000;
const TARGET_KIB_PER_SOCKET: f64 = 16.0;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: sockets::ServerBin,
    /// Customer sockets to open (each its own visitor, subscribed to its own conversation).
    #[arg(long, default_value_t = 50_000)]
    pub connections: usize,
    /// Agent sockets on top (one agent, logged in once; each receives the account's events).
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Sockets being opened at the same time.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Seconds over which the server's idle CPU is measured once every socket is open.
    #[arg(long, default_value_t = 10.0)]
    pub idle_secs: f64,
    /// Seconds left out between the memory reading and the idle CPU window (the last opens'
    /// database work and the first routing pass over the new conversations are not idle).
    #[arg(long, default_value_t = 5.0)]
    pub idle_warmup_secs: f64,
    /// Print one JSON object on stdout instead of the report (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    /// Customer sockets asked for.
    connections: usize,
    agents: usize,
    /// Sockets (customers + agents) open and (customers) subscribed.
    established: usize,
    failed: usize,
    failures: BTreeMap<String, u64>,
    /// From the first connect to the last `replay_done`.
    open_s: f64,
    opens_per_s: f64,
    concurrency: usize,
    source_addresses: usize,
    /// Server RSS once started and settled, before any socket.
    rss_before_kib: u64,
    /// Server RSS with every socket open (2 s after the last one).
    rss_open_kib: u64,
    rss_total_mib: f64,
    /// (rss_open − rss_before) / established.
    rss_per_conn_kib: f64,
    /// Server RSS at the end of the idle window.
    rss_after_idle_kib: u64,
    /// Server CPU over the idle window, in % of one core (100 = one core busy).
    idle_cpu_percent: f64,
    idle_window_s: f64,
    /// Server CPU during the warm-up before the idle window, in % of one core.
    warmup_cpu_percent: f64,
    /// The bench's own CPU over the same window (its tasks answer the server's pings).
    client_cpu_percent: f64,
    /// Sockets that the server closed (or that failed) while they should have stayed open.
    dropped: usize,
    drop_reasons: BTreeMap<String, u64>,
    /// The server's `ws_heartbeat_secs`: each socket is pinged this often.
    heartbeat_secs: u64,
    server_threads: usize,
    cpus: usize,
}

/// What the socket tasks share with the coordinator.
#[derive(Default)]
struct Tally {
    opened: AtomicUsize,
    failed: AtomicUsize,
    dropped: AtomicUsize,
    failures: Mutex<BTreeMap<String, u64>>,
    drops: Mutex<BTreeMap<String, u64>>,
}

fn count(map: &Mutex<BTreeMap<String, u64>>, key: String) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}

/// Error texts carry addresses and ports: keep what identifies the kind of failure.
fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

pub async fn run(a: Args, settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(a.connections >= 1, "--connections must be at least 1");
    anyhow::ensure!(a.concurrency >= 1, "--concurrency must be at least 1");
    anyhow::ensure!(
        a.idle_secs > 0.0 && a.idle_secs.is_finite(),
        "--idle-secs must be positive"
    );
    anyhow::ensure!(
        a.idle_warmup_secs >= 0.0 && a.idle_warmup_secs.is_finite(),
        "--idle-warmup-secs must be 0 or more"
    );
    let total = a.connections + a.agents;
    sockets::prepare_machine(total)?;
    let heartbeat_secs = settings.ws_heartbeat_secs.max(1);
    let ws = sockets::Workspace::new(settings, &a.server)?;
    progress(format_args!(
        "seeding {} visitors with a conversation each",
        a.connections
    ));
    let seeded = ws.seed(a.connections, usize::from(a.agents > 0)).await?;
    progress(format_args!("starting the server (child process)"));
    let mut server = ws.spawn_server(&[])?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    server.wait_ready(&http).await?;
    let agent_token = match seeded.agents.first() {
        Some((email, password)) if a.agents > 0 => Some(
            sockets::agent_tokens(&http, &server.base, email, password)
                .await?
                .1,
        ),
        _ => None,
    };
    progress(format_args!(
        "waiting for the server to settle (pid {})",
        server.pid
    ));
    server.settle(Duration::from_secs(60)).await?;
    let rss_before = server.rss_kib()?;

    let dialer = Arc::new(Dialer::new(server.addr, total));
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel::<()>();
    let permits = Arc::new(Semaphore::new(a.concurrency));
    progress(format_args!(
        "opening {} customer + {} agent sockets ({} at a time, from {} source addresses)",
        a.connections,
        a.agents,
        a.concurrency,
        dialer.sources()
    ));
    let paths = seeded
        .visitors
        .iter()
        .map(|v| (format!("/ws/widget?token={}", v.token), true))
        .chain(
            agent_token
                .iter()
                .flat_map(|t| std::iter::repeat_n(format!("/ws/agent?token={t}"), a.agents))
                .map(|p| (p, false)),
        );
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for (i, (path, customer)) in paths.enumerate() {
        let (dialer, tally, permits) = (dialer.clone(), tally.clone(), permits.clone());
        let (stop, opened) = (stop_rx.clone(), opened_tx.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(permit) = permits.acquire_owned().await else {
                return;
            };
            let ws = match open_one(&dialer, i, &path, customer).await {
                Ok(ws) => ws,
                Err(e) => {
                    tally.failed.fetch_add(1, Ordering::Relaxed);
                    count(&tally.failures, short(&e));
                    let _ = opened.send(());
                    return;
                }
            };
            drop(permit);
            tally.opened.fetch_add(1, Ordering::Relaxed);
            let _ = opened.send(());
            hold(ws, stop, &tally).await;
        }));
    }
    drop(opened_tx);
    let mut done = 0;
    let mut last_note = Instant::now();
    while done < total {
        if opened_rx.recv().await.is_none() {
            break;
        }
        done += 1;
        if last_note.elapsed() > Duration::from_secs(5) {
            last_note = Instant::now();
            progress(format_args!(
                "{} open, {} failed, {:.0} s",
                tally.opened.load(Ordering::Relaxed),
                tally.failed.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            ));
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    let established = tally.opened.load(Ordering::Relaxed);
    progress(format_args!(
        "{established} sockets open in {open_s:.1} s; measuring memory, then {:.0} s of idle CPU \
         after {:.0} s",
        a.idle_secs, a.idle_warmup_secs
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = server.rss_kib()?;
    let warmup_cpu = server
        .cpu_percent(Duration::from_secs_f64(a.idle_warmup_secs.max(0.0)))
        .await?;
    let me = std::process::id();
    let client_cpu0 = sockets::proc_cpu_s(me)?;
    let window = Duration::from_secs_f64(a.idle_secs);
    let idle_cpu = server.cpu_percent(window).await?;
    let client_cpu = (sockets::proc_cpu_s(me)? - client_cpu0) / a.idle_secs * 100.0;
    let rss_after_idle = server.rss_kib()?;
    let server_threads = std::fs::read_dir(format!("/proc/{}/task", server.pid))
        .map(|d| d.count())
        .unwrap_or(0);
    if !server.is_running() {
        anyhow::bail!("the server died during the run:\n{}", server.log_tail());
    }

    progress(format_args!("closing the sockets and stopping the server"));
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    if let Err(e) = server.stop().await {
        eprintln!("warning: {e:#}");
    }

    let take = |m: &Mutex<BTreeMap<String, u64>>| m.lock().map(|m| m.clone()).unwrap_or_default();
    let report = Report {
        connections: a.connections,
        agents: a.agents,
        established,
        failed: tally.failed.load(Ordering::Relaxed),
        failures: take(&tally.failures),
        open_s,
        opens_per_s: established as f64 / open_s.max(1e-9),
        concurrency: a.concurrency,
        source_addresses: dialer.sources(),
        rss_before_kib: rss_before,
        rss_open_kib: rss_open,
        rss_total_mib: rss_open as f64 / 1024.0,
        rss_per_conn_kib: if established > 0 {
            rss_open.saturating_sub(rss_before) as f64 / established as f64
        } else {
            0.0
        },
        rss_after_idle_kib: rss_after_idle,
        idle_cpu_percent: idle_cpu,
        idle_window_s: a.idle_secs,
        warmup_cpu_percent: warmup_cpu,
        client_cpu_percent: client_cpu,
        dropped: tally.dropped.load(Ordering::Relaxed),
        drop_reasons: take(&tally.drops),
        heartbeat_secs,
        server_threads,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// Opens one socket; a customer then subscribes to its conversation and waits for the end of
/// the (empty) replay, so that it counts as open only once it is live.
async fn open_one(dialer: &Dialer, i: usize, path: &str, customer: bool) -> Result<Ws, String> {
    let mut ws = dialer.open(i, path).await.map_err(|e| e.to_string())?;
    if !customer {
        return Ok(ws);
    }
    sockets::send_text(&mut ws, r#"{"type":"subscribe","after_seq":0}"#.into())
        .await
        .map_err(|e| format!("subscribe: {e}"))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(WsMsg::Text(t)))) => match parse(&t) {
                Some(f) if f.kind == "replay_done" => return Ok(ws),
                Some(f) if f.kind == "error" || f.kind == "resync" => {
                    return Err(format!("subscribe: {} {}", f.kind, f.code.unwrap_or("")));
                }
                _ => {}
            },
            Ok(Some(Ok(_))) => {}
            Ok(other) => return Err(format!("subscribe: socket ended: {other:?}")),
            Err(_) => return Err("subscribe: no replay_done within 30 s".into()),
        }
    }
}

/// Keeps a socket open until told to stop: reading it is what makes tungstenite answer the
/// server's pings (which also keep it clear of the idle timeout).
async fn hold(mut ws: Ws, mut stop: watch::Receiver<bool>, tally: &Tally) {
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(WsMsg::Close(f))) => {
                    let why = f.map(|f| format!("closed {} {}", u16::from(f.code), f.reason)).unwrap_or_else(|| "closed".into());
                    tally.dropped.fetch_add(1, Ordering::Relaxed);
                    count(&tally.drops, short(&why));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tally.dropped.fetch_add(1, Ordering::Relaxed);
                    count(&tally.drops, short(&e.to_string()));
                    return;
                }
                None => {
                    tally.dropped.fetch_add(1, Ordering::Relaxed);
                    count(&tally.drops, "ended".into());
                    return;
                }
            },
            _ = stop.changed() => break,
        }
    }
    // The end of the run: close without waiting for the server's answer.
    sockets::abort(ws);
}

fn print_report(r: &Report) {
    println!(
        "switchboard-bench connections — one server node (child process), {} CPUs",
        r.cpus
    );
    println!(
        "  asked {} customer + {} agent sockets; open {}  failed {}  (from {} source addresses, {} at a time)",
        r.connections, r.agents, r.established, r.failed, r.source_addresses, r.concurrency
    );
    for (why, n) in &r.failures {
        println!("    failed: {why} ×{n}");
    }
    println!(
        "  time to open them: {:.1} s ({:.0} sockets/s, each subscribed and live)",
        r.open_s, r.opens_per_s
    );
    println!(
        "  server RSS: {:.1} MiB before, {:.1} MiB with the sockets open, {:.1} MiB after {:.0} s idle",
        r.rss_before_kib as f64 / 1024.0,
        r.rss_total_mib,
        r.rss_after_idle_kib as f64 / 1024.0,
        r.idle_window_s
    );
    println!("  RSS per connection: {:.2} KiB", r.rss_per_conn_kib);
    println!(
        "  idle CPU ({:.0} s window, server pings every {} s): server {:.1} % of a core, bench {:.1} % \
         (server {:.1} % in the warm-up before)",
        r.idle_window_s,
        r.heartbeat_secs,
        r.idle_cpu_percent,
        r.client_cpu_percent,
        r.warmup_cpu_percent
    );
    if r.dropped > 0 {
        println!("  dropped while open: {}", r.dropped);
        for (why, n) in &r.drop_reasons {
            println!("    {why} ×{n}");
        }
    }
    let sockets_ok = r.established >= TARGET_SOCKETS && r.dropped == 0;
    let mem_ok = r.rss_per_conn_kib <= TARGET_KIB_PER_SOCKET;
    println!(
        "  targets: ≥ {TARGET_SOCKETS} sockets: {}; ≤ {TARGET_KIB_PER_SOCKET} KiB each: {}",
        if sockets_ok { "met" } else { "NOT met" },
        if mem_ok { "met" } else { "NOT met" }
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(super::sockets::proc_rss_kib(me).is_ok_and(|k| k > 0));
        assert!(super::sockets::proc_cpu_s(me).is_ok_and(|s| s >= 0.0));
    }
}
