//! `switchboard-bench reconnect`: a mass reconnect. `--clients` customer sockets (each its own
//! visitor, subscribed to its own conversation) are dropped at once — TCP reset, no closing
//! handshake, as when a load balancer or a network goes away — while an agent socket keeps
//! writing messages into `--active` of their conversations. After `--outage-secs` every client
//! reconnects at the same instant and resumes with `subscribe {after_seq: <last seq it has>}`.
//! The bench reports the time until all of them are live again (`replay_done`), then checks each
//! client's messages against the database: every seq from 1 to the last stored, once, in order.
//! The server is the same child process as in `bench connections`; see docs/benchmarks.md.
use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::tungstenite::Message as WsMsg;
use uuid::Uuid;

use super::{
    sockets::{self, Dialer, Ws, parse, progress},
    stats::Summary,
};
use switchboard::{config::Settings, db::entities::message};

/// Issue 6: every dropped client live again within this many seconds.
const TARGET_S: f64 = 10.0;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub server: sockets::ServerBin,
    /// Customer sockets (each its own visitor, subscribed to its own conversation).
    #[arg(long, default_value_t = 10_000)]
    pub clients: usize,
    /// Conversations (of the first clients) that an agent writes into during the run.
    #[arg(long, default_value_t = 1_000)]
    pub active: usize,
    /// Messages per second the agent writes (round-robin over the active conversations), from
    /// `--live-secs` before the drop until a second after every client is live again.
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
    /// Seconds of live delivery before the drop.
    #[arg(long, default_value_t = 2.0)]
    pub live_secs: f64,
    /// Seconds between the drop and the reconnect.
    #[arg(long, default_value_t = 3.0)]
    pub outage_secs: f64,
    /// How the clients go away: `rst` (TCP reset) or `fin` (TCP close); neither sends a
    /// WebSocket close frame.
    #[arg(long, default_value = "rst", value_parser = ["rst", "fin"])]
    pub drop: String,
    /// Sockets being opened at the same time before the drop (the reconnect is all at once).
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Longest wait for every client to be live again, in seconds.
    #[arg(long, default_value_t = 60)]
    pub deadline_secs: u64,
    /// Print one JSON object on stdout instead of the report (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Live,
    Drop,
    Reconnect,
    Finish,
}

/// What the client tasks share with the coordinator.
struct Shared {
    /// Highest seq each client has received.
    last: Vec<AtomicI64>,
    live_again: AtomicUsize,
    failed_again: AtomicUsize,
    /// When the reconnect was signalled (set just before the signal).
    reconnect_at: OnceLock<Instant>,
}

#[derive(Default)]
struct Outcome {
    /// Seqs of `message` frames in the order they arrived, over both connections.
    received: Vec<i64>,
    /// The socket was open and subscribed before the drop.
    opened: bool,
    /// Time from the reconnect signal to `replay_done` on the new socket.
    live_after: Option<Duration>,
    /// Connection attempts the reconnect took (1 = first try).
    attempts: u32,
    /// Messages replayed on the new socket (missed during the outage).
    replayed: usize,
    errors: Vec<String>,
    /// The first socket ended before the drop, or the second before the end.
    unexpected_end: Option<String>,
}

#[derive(Serialize)]
struct Report {
    clients: usize,
    /// Clients open and subscribed before the drop.
    opened: usize,
    active_conversations: usize,
    offered_rate: u64,
    drop: String,
    outage_s: f64,
    /// Clients live again (new socket, `replay_done` received) before the deadline.
    live_again: usize,
    not_live_again: usize,
    /// From the reconnect signal until the last client received `replay_done`.
    all_live_s: f64,
    reconnect_p50_ms: f64,
    reconnect_p90_ms: f64,
    reconnect_p99_ms: f64,
    /// Connection attempts beyond the first (failed connects, handshakes, subscribes).
    retries: u64,
    reconnect_errors: BTreeMap<String, u64>,
    /// Server CPU from the reconnect signal until all were live, in seconds.
    server_cpu_s: f64,
    server_rss_mib: f64,
    /// Messages the agent wrote (acked) in all; between the drop and the moment all were live.
    messages_acked: u64,
    messages_during_outage: u64,
    writer_errors: u64,
    /// Messages the clients got from the resume replay (they were missed while disconnected).
    replayed: u64,
    /// Stored messages in the active conversations, read back from the database.
    stored: u64,
    /// Each client's received seqs compared with the database: missing, extra copies, arriving
    /// after a higher seq, not in the database.
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    phantom: u64,
    /// Acked messages missing from the database.
    acked_not_stored: u64,
    /// Clients whose seqs were exactly 1..=last stored, in order.
    clients_exact: usize,
    unexpected_ends: usize,
    cpus: usize,
}

pub async fn run(a: Args, settings: Settings) -> anyhow::Result<()> {
    anyhow::ensure!(a.clients >= 1, "--clients must be at least 1");
    anyhow::ensure!(
        a.active <= a.clients,
        "--active cannot be more than --clients"
    );
    anyhow::ensure!(a.concurrency >= 1, "--concurrency must be at least 1");
    for (name, v) in [
        ("--live-secs", a.live_secs),
        ("--outage-secs", a.outage_secs),
    ] {
        anyhow::ensure!(v >= 0.0 && v.is_finite(), "{name} must be 0 or more");
    }
    sockets::prepare_machine(a.clients + 16)?;
    let ws = sockets::Workspace::new(settings, &a.server)?;
    progress(format_args!(
        "seeding {} visitors with a conversation each",
        a.clients
    ));
    let seeded = ws.seed(a.clients, 1).await?;
    progress(format_args!("starting the server (child process)"));
    let mut server = ws.spawn_server(&[])?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    server.wait_ready(&http).await?;
    let (email, password) = seeded
        .agents
        .first()
        .context("the seed has no agent")?
        .clone();
    let (_, agent_token) = sockets::agent_tokens(&http, &server.base, &email, &password).await?;
    server.settle(Duration::from_secs(60)).await?;

    let dialer = Arc::new(Dialer::new(server.addr, a.clients + 1));
    let shared = Arc::new(Shared {
        last: (0..a.clients).map(|_| AtomicI64::new(0)).collect(),
        live_again: AtomicUsize::new(0),
        failed_again: AtomicUsize::new(0),
        reconnect_at: OnceLock::new(),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Live);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel::<bool>();
    let permits = Arc::new(Semaphore::new(a.concurrency));
    progress(format_args!(
        "opening {} customer sockets ({} at a time, from {} source addresses)",
        a.clients,
        a.concurrency,
        dialer.sources()
    ));
    let deadline = Duration::from_secs(a.deadline_secs);
    let rst = a.drop == "rst";
    let mut tasks = Vec::with_capacity(a.clients);
    for (i, v) in seeded.visitors.iter().enumerate() {
        let c = Client {
            i,
            path: format!("/ws/widget?token={}", v.token),
            dialer: dialer.clone(),
            shared: shared.clone(),
            phase: phase_rx.clone(),
            out: Outcome::default(),
            last: 0,
            rst,
            deadline,
        };
        let (permits, opened) = (permits.clone(), opened_tx.clone());
        tasks.push(tokio::spawn(c.run(permits, opened)));
    }
    drop(opened_tx);
    let mut opened = 0;
    for _ in 0..a.clients {
        match opened_rx.recv().await {
            Some(true) => opened += 1,
            Some(false) => {}
            None => break,
        }
    }
    anyhow::ensure!(opened > 0, "no client socket could be opened");

    progress(format_args!(
        "{opened} clients live; an agent writes {} msgs/s into {} conversations",
        a.rate, a.active
    ));
    let writer_ws = dialer
        .open(a.clients, &format!("/ws/agent?token={agent_token}"))
        .await
        .map_err(|e| anyhow::anyhow!("opening the agent socket: {e}"))?;
    let active: Vec<String> = seeded.visitors[..a.active]
        .iter()
        .map(|v| v.conversation_id.to_string())
        .collect();
    let wstats = Arc::new(WriterStats::default());
    let (stop_writer, stop_rx) = watch::channel(false);
    let writer = tokio::spawn(write_messages(
        writer_ws,
        active.clone(),
        a.rate,
        stop_rx,
        wstats.clone(),
    ));

    tokio::time::sleep(Duration::from_secs_f64(a.live_secs)).await;
    let acked_at_drop = wstats.acked.load(Ordering::Relaxed);
    progress(format_args!(
        "dropping all {opened} client sockets ({}); reconnecting in {:.1} s",
        if rst { "TCP reset" } else { "TCP close" },
        a.outage_secs
    ));
    let _ = phase_tx.send(Phase::Drop);
    tokio::time::sleep(Duration::from_secs_f64(a.outage_secs)).await;

    let cpu0 = server.cpu_s()?;
    let t_reconnect = Instant::now();
    let _ = shared.reconnect_at.set(t_reconnect);
    let _ = phase_tx.send(Phase::Reconnect);
    progress(format_args!("all clients reconnect now"));
    let mut rss_peak = 0;
    loop {
        let live = shared.live_again.load(Ordering::Relaxed);
        let failed = shared.failed_again.load(Ordering::Relaxed);
        if let Ok(r) = server.rss_kib() {
            rss_peak = rss_peak.max(r);
        }
        if live + failed >= opened || t_reconnect.elapsed() > deadline + Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let all_live_s = t_reconnect.elapsed().as_secs_f64();
    let server_cpu_s = server.cpu_s()? - cpu0;
    let acked_at_live = wstats.acked.load(Ordering::Relaxed);
    progress(format_args!(
        "{} of {opened} live again after {all_live_s:.2} s; writing one more second",
        shared.live_again.load(Ordering::Relaxed)
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = stop_writer.send(true);
    let acks = writer.await.context("writer task")??;

    progress(format_args!("reading the stored messages back"));
    let stored = stored_seqs(&ws, seeded.account_id).await?;
    // Every client should now catch up with what is stored (live delivery of the last ones).
    let want: Vec<i64> = seeded
        .visitors
        .iter()
        .map(|v| {
            stored
                .get(&v.conversation_id)
                .and_then(|s| s.last().copied())
                .unwrap_or(0)
        })
        .collect();
    let catch_up = Instant::now() + Duration::from_secs(30);
    while Instant::now() < catch_up {
        let behind = want
            .iter()
            .zip(&shared.last)
            .filter(|(w, l)| l.load(Ordering::Relaxed) < **w)
            .count();
        if behind == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = phase_tx.send(Phase::Finish);
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(t.await.context("client task")?);
    }
    if !server.is_running() {
        anyhow::bail!("the server died during the run:\n{}", server.log_tail());
    }
    if let Err(e) = server.stop().await {
        eprintln!("warning: {e:#}");
    }

    let report = summarize(
        &a,
        &seeded.visitors,
        &outcomes,
        &stored,
        &acks,
        Figures {
            all_live_s,
            server_cpu_s,
            rss_peak_kib: rss_peak,
            acked: wstats.acked.load(Ordering::Relaxed),
            during_outage: acked_at_live.saturating_sub(acked_at_drop),
            writer_errors: wstats.errors.load(Ordering::Relaxed),
        },
    );
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

/// One customer: open and subscribe, receive live, drop, reconnect and resume, receive live.
struct Client {
    i: usize,
    path: String,
    dialer: Arc<Dialer>,
    shared: Arc<Shared>,
    phase: watch::Receiver<Phase>,
    out: Outcome,
    /// Highest seq received.
    last: i64,
    rst: bool,
    deadline: Duration,
}

impl Client {
    async fn run(
        mut self,
        permits: Arc<Semaphore>,
        opened: mpsc::UnboundedSender<bool>,
    ) -> Outcome {
        let first = match permits.acquire_owned().await {
            Ok(_permit) => self.open().await,
            Err(e) => Err(e.to_string()),
        };
        let ws = match first {
            Ok(ws) => ws,
            Err(e) => {
                self.out.errors.push(format!("first open: {e}"));
                let _ = opened.send(false);
                return self.out;
            }
        };
        self.out.opened = true;
        let _ = opened.send(true);
        drop(opened);
        let ws = self.receive_until(ws, Phase::Drop).await;
        if let Some(ws) = ws {
            if self.rst {
                sockets::abort(ws);
            } else {
                drop(ws);
            }
        }
        if self.wait_for(Phase::Reconnect).await.is_err() {
            return self.out;
        }
        match self.reconnect().await {
            Some(ws) => {
                self.shared.live_again.fetch_add(1, Ordering::Relaxed);
                if let Some(ws) = self.receive_until(ws, Phase::Finish).await {
                    sockets::abort(ws);
                }
            }
            None => {
                self.shared.failed_again.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.out
    }

    async fn wait_for(&mut self, phase: Phase) -> Result<(), ()> {
        self.phase
            .wait_for(|p| *p == phase || *p == Phase::Finish)
            .await
            .map(|_| ())
            .map_err(|_| ())
    }

    /// Connects, subscribes after the last seq it has and reads the replay up to `replay_done`.
    async fn open(&mut self) -> Result<Ws, String> {
        let mut ws = self
            .dialer
            .open(self.i, &self.path)
            .await
            .map_err(|e| e.to_string())?;
        let sub = format!(r#"{{"type":"subscribe","after_seq":{}}}"#, self.last);
        sockets::send_text(&mut ws, sub)
            .await
            .map_err(|e| format!("subscribe: {e}"))?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut replayed = 0;
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Ok(Some(Ok(WsMsg::Text(t)))) => {
                    let Some(f) = parse(&t) else { continue };
                    match f.kind {
                        "message" => {
                            if let Some(seq) = f.seq {
                                self.record(seq);
                                replayed += 1;
                            }
                        }
                        "replay_done" => {
                            self.out.replayed += replayed;
                            return Ok(ws);
                        }
                        "error" | "resync" => {
                            return Err(format!(
                                "subscribe: {} {}{}",
                                f.kind,
                                f.code.unwrap_or(""),
                                f.reason.unwrap_or("")
                            ));
                        }
                        _ => {}
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => return Err(format!("subscribe: socket ended: {other:?}")),
                Err(_) => return Err("subscribe: no replay_done within 30 s".into()),
            }
        }
    }

    fn record(&mut self, seq: i64) {
        self.out.received.push(seq);
        if seq > self.last {
            self.last = seq;
            self.shared.last[self.i].store(seq, Ordering::Relaxed);
        }
    }

    /// Reads live frames until the phase reaches `until`; returns the socket if it is still open.
    async fn receive_until(&mut self, mut ws: Ws, until: Phase) -> Option<Ws> {
        let mut phase = self.phase.clone();
        loop {
            if *phase.borrow_and_update() == until || *phase.borrow() == Phase::Finish {
                return Some(ws);
            }
            tokio::select! {
                m = ws.next() => match m {
                    Some(Ok(WsMsg::Text(t))) => {
                        if let Some(f) = parse(&t)
                            && f.kind == "message"
                            && let Some(seq) = f.seq
                        {
                            self.record(seq);
                        }
                    }
                    Some(Ok(WsMsg::Close(f))) => {
                        self.out.unexpected_end = Some(format!("closed by the server: {f:?}"));
                        return None;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        self.out.unexpected_end = Some(e.to_string());
                        return None;
                    }
                    None => {
                        self.out.unexpected_end = Some("ended".into());
                        return None;
                    }
                },
                r = phase.changed() => if r.is_err() { return Some(ws) },
            }
        }
    }

    /// Reconnects at once, then with jittered backoff (100 ms doubling to 2 s) until live or
    /// past the deadline.
    async fn reconnect(&mut self) -> Option<Ws> {
        let start = self
            .shared
            .reconnect_at
            .get()
            .copied()
            .unwrap_or_else(Instant::now);
        let mut backoff = Duration::from_millis(100);
        loop {
            self.out.attempts += 1;
            match self.open().await {
                Ok(ws) => {
                    self.out.live_after = Some(start.elapsed());
                    return Some(ws);
                }
                Err(e) => self.out.errors.push(e),
            }
            if start.elapsed() > self.deadline {
                return None;
            }
            // Cheap per-client jitter: 50–100 % of the backoff.
            let jitter = 0.5
                + ((self.i as u64 * 2_654_435_761 + self.out.attempts as u64) % 1000) as f64
                    / 2000.0;
            tokio::time::sleep(backoff.mul_f64(jitter)).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}

#[derive(Default)]
struct WriterStats {
    acked: AtomicU64,
    errors: AtomicU64,
}

/// Acked (conversation, seq) pairs.
type Acks = Vec<(Uuid, i64)>;

/// The agent: sends `rate` msgs/s round-robin over `convs` (open loop, at most 2,000 un-acked)
/// until told to stop, then waits for the outstanding acks.
async fn write_messages(
    mut ws: Ws,
    convs: Vec<String>,
    rate: u64,
    mut stop: watch::Receiver<bool>,
    stats: Arc<WriterStats>,
) -> anyhow::Result<Acks> {
    let mut acks = Acks::new();
    if convs.is_empty() || rate == 0 {
        let _ = stop.wait_for(|s| *s).await;
        return Ok(acks);
    }
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut sent, mut answered): (u64, u64) = (0, 0);
    let mut stopping = false;
    let mut drain_deadline = None;
    loop {
        if stopping && answered >= sent {
            break;
        }
        if drain_deadline.is_some_and(|d| Instant::now() > d) {
            anyhow::bail!(
                "{} sends still unanswered 30 s after the writer stopped",
                sent - answered
            );
        }
        tokio::select! {
            _ = tick.tick(), if !stopping => {
                let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                let mut fed = false;
                while sent < due && sent - answered < 2_000 {
                    let conv = &convs[sent as usize % convs.len()];
                    let frame = format!(
                        r#"{{"type":"send","conversation_id":"{conv}","client_msg_id":"rb-{sent}","body":"reconnect bench message {sent}"}}"#
                    );
                    ws.feed(WsMsg::text(frame)).await.context("agent socket send")?;
                    sent += 1;
                    fed = true;
                }
                if fed {
                    ws.flush().await.context("agent socket flush")?;
                }
            }
            m = ws.next() => match m {
                Some(Ok(WsMsg::Text(t))) => {
                    let Some(f) = parse(&t) else { continue };
                    match f.kind {
                        "ack" => {
                            answered += 1;
                            stats.acked.fetch_add(1, Ordering::Relaxed);
                            if let (Some(c), Some(seq)) = (f.conversation_id.and_then(|c| c.parse().ok()), f.seq) {
                                acks.push((c, seq));
                            }
                        }
                        "error" if f.client_msg_id.is_some() => {
                            answered += 1;
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                }
                Some(Ok(WsMsg::Close(f))) => anyhow::bail!("the server closed the agent socket: {f:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => anyhow::bail!("agent socket: {e}"),
                None => anyhow::bail!("the agent socket ended"),
            },
            r = stop.changed(), if !stopping => {
                if r.is_err() || *stop.borrow() {
                    stopping = true;
                    drain_deadline = Some(Instant::now() + Duration::from_secs(30));
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    Ok(acks)
}

/// Seqs of the messages customers may see (not private), per conversation, ascending.
async fn stored_seqs(
    ws: &sockets::Workspace,
    account_id: Uuid,
) -> anyhow::Result<HashMap<Uuid, Vec<i64>>> {
    let db = ws.connect_db().await?;
    let rows: Vec<(Uuid, i64)> = message::Entity::find()
        .select_only()
        .column(message::Column::ConversationId)
        .column(message::Column::Seq)
        .filter(message::Column::AccountId.eq(account_id))
        .filter(message::Column::Private.eq(false))
        .into_tuple()
        .all(&db)
        .await
        .context("reading back the stored messages")?;
    let _ = db.close().await;
    let mut out: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for (c, s) in rows {
        out.entry(c).or_default().push(s);
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    Ok(out)
}

struct Figures {
    all_live_s: f64,
    server_cpu_s: f64,
    rss_peak_kib: u64,
    acked: u64,
    during_outage: u64,
    writer_errors: u64,
}

/// Per client: (lost, duplicated, out of order, phantom) against the stored seqs.
fn compare(received: &[i64], stored: &[i64]) -> (u64, u64, u64, u64) {
    let mut seen: HashMap<i64, u32> = HashMap::with_capacity(received.len());
    let mut out_of_order = 0;
    for (k, &s) in received.iter().enumerate() {
        *seen.entry(s).or_default() += 1;
        if k > 0 && s < received[k - 1] {
            out_of_order += 1;
        }
    }
    let lost = stored.iter().filter(|s| !seen.contains_key(s)).count() as u64;
    let duplicated = seen.values().map(|&n| u64::from(n - 1)).sum();
    let phantom = seen
        .keys()
        .filter(|s| stored.binary_search(s).is_err())
        .count() as u64;
    (lost, duplicated, out_of_order, phantom)
}

fn summarize(
    a: &Args,
    visitors: &[sockets::Visitor],
    outcomes: &[Outcome],
    stored: &HashMap<Uuid, Vec<i64>>,
    acks: &Acks,
    f: Figures,
) -> Report {
    let empty = Vec::new();
    let (mut lost, mut duplicated, mut out_of_order, mut phantom) = (0, 0, 0, 0);
    let mut exact = 0;
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut live_us: Vec<u32> = Vec::new();
    for (v, o) in visitors.iter().zip(outcomes) {
        for e in &o.errors {
            *errors.entry(e.chars().take(100).collect()).or_default() += 1;
        }
        if !o.opened {
            continue;
        }
        if let Some(d) = o.live_after {
            live_us.push(d.as_micros().min(u32::MAX as u128) as u32);
        }
        let s = stored.get(&v.conversation_id).unwrap_or(&empty);
        let (l, d, oo, p) = compare(&o.received, s);
        lost += l;
        duplicated += d;
        out_of_order += oo;
        phantom += p;
        let contiguous = s.iter().enumerate().all(|(k, &seq)| seq == k as i64 + 1);
        if contiguous && o.received == *s {
            exact += 1;
        }
    }
    let acked_not_stored = acks
        .iter()
        .filter(|(c, seq)| stored.get(c).is_none_or(|s| s.binary_search(seq).is_err()))
        .count() as u64;
    let opened = outcomes.iter().filter(|o| o.opened).count();
    let live_again = live_us.len();
    let lat = Summary::of_micros(&mut live_us);
    Report {
        clients: a.clients,
        opened,
        active_conversations: a.active,
        offered_rate: a.rate,
        drop: a.drop.clone(),
        outage_s: a.outage_secs,
        live_again,
        not_live_again: opened - live_again,
        all_live_s: if live_again > 0 {
            lat.max_ms / 1000.0
        } else {
            f.all_live_s
        },
        reconnect_p50_ms: lat.p50_ms,
        reconnect_p90_ms: lat.p90_ms,
        reconnect_p99_ms: lat.p99_ms,
        retries: outcomes
            .iter()
            .map(|o| u64::from(o.attempts.saturating_sub(1)))
            .sum(),
        reconnect_errors: errors,
        server_cpu_s: f.server_cpu_s,
        server_rss_mib: f.rss_peak_kib as f64 / 1024.0,
        messages_acked: f.acked,
        messages_during_outage: f.during_outage,
        writer_errors: f.writer_errors,
        replayed: outcomes.iter().map(|o| o.replayed as u64).sum(),
        stored: stored.values().map(|v| v.len() as u64).sum(),
        lost,
        duplicated,
        out_of_order,
        phantom,
        acked_not_stored,
        clients_exact: exact,
        unexpected_ends: outcomes
            .iter()
            .filter(|o| o.unexpected_end.is_some())
            .count(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    }
}

fn print_report(r: &Report) {
    println!(
        "switchboard-bench reconnect — one server node (child process), {} CPUs",
        r.cpus
    );
    println!(
        "  {} clients ({} opened), an agent writing {} msgs/s into {} of their conversations",
        r.clients, r.opened, r.offered_rate, r.active_conversations
    );
    println!(
        "  all dropped at once ({}), reconnecting all at once after {:.1} s",
        if r.drop == "rst" {
            "TCP reset"
        } else {
            "TCP close"
        },
        r.outage_s
    );
    println!(
        "  live again: {} of {} in {:.2} s  (per client p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms; {} retries)",
        r.live_again,
        r.opened,
        r.all_live_s,
        r.reconnect_p50_ms,
        r.reconnect_p90_ms,
        r.reconnect_p99_ms,
        r.retries
    );
    for (why, n) in &r.reconnect_errors {
        println!("    {why} ×{n}");
    }
    println!(
        "  server during the reconnect: {:.2} CPU s, peak RSS {:.1} MiB",
        r.server_cpu_s, r.server_rss_mib
    );
    println!(
        "  messages: {} acked ({} between the drop and all live, {} errors); {} replayed to resuming clients",
        r.messages_acked, r.messages_during_outage, r.writer_errors, r.replayed
    );
    println!(
        "  verification against the database ({} stored): lost {}  duplicated {}  out of order {}  phantom {}  acked-not-stored {}; {} of {} clients exact",
        r.stored,
        r.lost,
        r.duplicated,
        r.out_of_order,
        r.phantom,
        r.acked_not_stored,
        r.clients_exact,
        r.opened
    );
    if r.unexpected_ends > 0 {
        println!("  sockets that ended unexpectedly: {}", r.unexpected_ends);
    }
    let ok = r.not_live_again == 0 && r.all_live_s <= TARGET_S;
    let clean = r.lost + r.duplicated + r.out_of_order + r.phantom + r.acked_not_stored == 0;
    println!(
        "  targets: all live within {TARGET_S} s: {}; nothing lost or duplicated: {}",
        if ok { "met" } else { "NOT met" },
        if clean { "met" } else { "NOT met" }
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn compares_received_with_stored() {
        use super::compare;
        assert_eq!(compare(&[1, 2, 3], &[1, 2, 3]), (0, 0, 0, 0));
        assert_eq!(compare(&[1, 3], &[1, 2, 3]), (1, 0, 0, 0));
        assert_eq!(compare(&[1, 2, 2, 3], &[1, 2, 3]), (0, 1, 0, 0));
        assert_eq!(compare(&[2, 1, 3], &[1, 2, 3]), (0, 0, 1, 0));
        assert_eq!(compare(&[1, 2, 3, 4], &[1, 2, 3]), (0, 0, 0, 1));
    }
}
