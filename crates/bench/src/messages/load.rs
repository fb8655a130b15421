//! The load itself: one task per customer socket (sends on a schedule or flat out, reads acks)
//! and one per agent socket (reads live `message` frames). Both stay cheap because they share two
//! cores with the server: frames are parsed into a struct of borrowed `&str`s, sends are fed into
//! the socket's buffer and flushed once per burst, and the send time travels inside the
//! `client_msg_id` (`c<customer>-<n>-<micros since epoch>`) so receivers need no shared map.
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use tokio::{net::TcpStream, sync::watch};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message as WsMsg, protocol::WebSocketConfig},
};

use crate::stats::micros;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Bytes tungstenite reads per `read()` call. Its default (128 KiB) is zero-filled before every
/// read, which for small frames cost more CPU than everything else the clients do.
const READ_BUFFER: usize = 16 * 1024;

/// Opens a socket (Nagle off) and waits for the server's `hello`.
pub async fn connect(url: &str, what: &str) -> anyhow::Result<Ws> {
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .with_context(|| format!("opening the {what} socket"))?;
    let first = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .with_context(|| format!("no hello on the {what} socket"))?;
    match first {
        Some(Ok(WsMsg::Text(t))) if parse(&t).is_some_and(|f| f.kind == "hello") => Ok(ws),
        other => anyhow::bail!("expected hello on the {what} socket, got {other:?}"),
    }
}

/// The fields of a server frame the bench looks at; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(default, borrow)]
    client_msg_id: Option<&'a str>,
    #[serde(default, borrow)]
    conversation_id: Option<&'a str>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(default)]
    duplicate: Option<bool>,
    #[serde(default, borrow)]
    code: Option<&'a str>,
    #[serde(default, rename = "ref", borrow)]
    reference: Option<&'a str>,
}

fn parse(text: &str) -> Option<Frame<'_>> {
    serde_json::from_str(text).ok()
}

/// A bench `client_msg_id`: (customer, message number, send time in µs since the epoch).
pub fn parse_id(id: &str) -> Option<(usize, usize, u64)> {
    let mut parts = id.strip_prefix('c')?.splitn(3, '-');
    let c = parts.next()?.parse().ok()?;
    let n = parts.next()?.parse().ok()?;
    let us = parts.next()?.parse().ok()?;
    Some((c, n, us))
}

/// A fixed-size set of small integers (seqs), one bit each.
#[derive(Clone, Default)]
pub struct BitSet(Vec<u64>);

impl BitSet {
    /// Sets bit `i`; returns whether it was already set.
    pub fn insert(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, i % 64);
        if w >= self.0.len() {
            self.0.resize(w + 1, 0);
        }
        let was = self.0[w] & (1 << b) != 0;
        self.0[w] |= 1 << b;
        was
    }

    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Open loop: customer `i` sends every `period`, offset by `i/customers` of a period, never
    /// waiting for acks; a slot is skipped (and counted) when `max_outstanding` are un-acked.
    Rate {
        period: Duration,
        max_outstanding: usize,
    },
    /// Closed loop: keep `window` sends in flight per customer.
    FlatOut { window: usize },
}

/// What every socket task shares: the clock and the phase boundaries.
pub struct Plan {
    /// Send times are µs since this instant.
    pub epoch: Instant,
    pub start: Instant,
    pub end: Instant,
    /// No socket waits for acks or messages after this.
    pub deadline: Instant,
    pub mode: Mode,
    pub customers: usize,
    pub body: String,
}

impl Plan {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// Progress counters the coordinator polls while draining.
#[derive(Default)]
pub struct Progress {
    pub acked: AtomicU64,
    /// Distinct bench messages received, per agent socket.
    pub received: Vec<AtomicU64>,
}

impl Progress {
    pub fn new(agents: usize) -> Self {
        Self {
            acked: AtomicU64::new(0),
            received: (0..agents).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Per message number: 0 = no answer yet, > 0 = acked with that seq, `ERRORED` = error frame.
pub const ERRORED: i64 = -1;

#[derive(Default)]
pub struct CustomerOutcome {
    pub state: Vec<i64>,
    pub ack_us: Vec<u32>,
    /// How late each send was against its schedule (rate mode).
    pub lag_us: Vec<u32>,
    pub capped: u64,
    pub errors: BTreeMap<String, u64>,
    /// One `client_msg_id` acked with two different seqs.
    pub ack_conflicts: u64,
    /// The same ack twice, or an ack flagged `duplicate` (the bench never resends).
    pub odd_acks: u64,
    pub bad_frames: u64,
    /// When the last ack arrived, in µs since the epoch.
    pub last_ack_us: u64,
    pub closed: Option<String>,
}

impl CustomerOutcome {
    pub fn sent(&self) -> usize {
        self.state.len()
    }
}

struct Customer {
    idx: usize,
    ws: Ws,
    plan: Arc<Plan>,
    progress: Arc<Progress>,
    out: CustomerOutcome,
    pending: usize,
    buf: String,
}

pub async fn customer(
    idx: usize,
    ws: Ws,
    plan: Arc<Plan>,
    progress: Arc<Progress>,
) -> CustomerOutcome {
    let mut c = Customer {
        idx,
        ws,
        plan,
        progress,
        out: CustomerOutcome::default(),
        pending: 0,
        buf: String::new(),
    };
    if let Err(e) = c.run().await {
        c.out.closed = Some(e);
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), c.ws.close(None)).await;
    c.out
}

impl Customer {
    async fn run(&mut self) -> Result<(), String> {
        let plan = self.plan.clone();
        tokio::time::sleep_until(plan.start.into()).await;
        // Rate mode: slot n of this customer is due at start + offset + n·period.
        let (period, offset) = match plan.mode {
            Mode::Rate { period, .. } => {
                let off = period.as_nanos() * self.idx as u128 / plan.customers.max(1) as u128;
                (period, Duration::from_nanos(off as u64))
            }
            Mode::FlatOut { .. } => (Duration::ZERO, Duration::ZERO),
        };
        let mut slot: u32 = 0;
        if let Mode::FlatOut { window } = plan.mode {
            self.top_up(window).await?;
        }
        loop {
            let now = Instant::now();
            // Rate mode sends every slot due before the end, even if the timer fires late.
            let next_due = plan.start + offset + period * slot;
            let sending = match plan.mode {
                Mode::Rate { .. } => next_due < plan.end,
                Mode::FlatOut { .. } => now < plan.end,
            };
            if (!sending && self.pending == 0) || now >= plan.deadline {
                return Ok(());
            }
            let wake = match plan.mode {
                Mode::Rate { .. } if sending => next_due,
                Mode::FlatOut { .. } if sending => plan.end,
                _ => plan.deadline,
            };
            tokio::select! {
                biased;
                frame = self.ws.next() => {
                    self.on_ws(frame)?;
                    // Take everything already readable before writing again.
                    while let Some(frame) = self.ws.next().now_or_never() {
                        self.on_ws(frame)?;
                    }
                    if let Mode::FlatOut { window } = plan.mode
                        && Instant::now() < plan.end
                    {
                        self.top_up(window).await?;
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    if let Mode::Rate { max_outstanding, .. } = plan.mode {
                        let now = Instant::now();
                        let mut fed = false;
                        loop {
                            let due = plan.start + offset + period * slot;
                            if due > now || due >= plan.end {
                                break;
                            }
                            slot += 1;
                            if self.pending >= max_outstanding {
                                self.out.capped += 1;
                                continue;
                            }
                            self.out.lag_us.push(micros(now.saturating_duration_since(due)));
                            self.feed().await?;
                            fed = true;
                        }
                        if fed {
                            self.ws.flush().await.map_err(|e| format!("send failed: {e}"))?;
                        }
                    }
                }
            }
        }
    }

    /// Sends until `window` are in flight (flat-out mode).
    async fn top_up(&mut self, window: usize) -> Result<(), String> {
        let mut fed = false;
        while self.pending < window {
            self.feed().await?;
            fed = true;
        }
        if fed {
            self.ws
                .flush()
                .await
                .map_err(|e| format!("send failed: {e}"))?;
        }
        Ok(())
    }

    /// Queues the next message in the socket's write buffer (written on flush).
    async fn feed(&mut self) -> Result<(), String> {
        let n = self.out.state.len();
        self.buf.clear();
        let us = self.plan.now_us();
        let _ = write!(
            self.buf,
            r#"{{"type":"send","client_msg_id":"c{}-{n}-{us}","body":"{}"}}"#,
            self.idx, self.plan.body
        );
        self.out.state.push(0);
        self.pending += 1;
        self.ws
            .feed(WsMsg::text(self.buf.as_str()))
            .await
            .map_err(|e| format!("send failed: {e}"))
    }

    fn on_ws(
        &mut self,
        frame: Option<Result<WsMsg, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<(), String> {
        let text = match frame {
            None => return Err("socket closed by the server".into()),
            Some(Err(e)) => return Err(format!("socket error: {e}")),
            Some(Ok(WsMsg::Text(t))) => t,
            Some(Ok(WsMsg::Close(f))) => return Err(format!("closed by the server: {f:?}")),
            Some(Ok(_)) => return Ok(()),
        };
        let Some(f) = parse(&text) else {
            self.out.bad_frames += 1;
            return Ok(());
        };
        match f.kind {
            "ack" => {
                let now = self.plan.now_us();
                let (Some((c, n, us)), Some(seq)) = (f.client_msg_id.and_then(parse_id), f.seq)
                else {
                    self.out.bad_frames += 1;
                    return Ok(());
                };
                if c != self.idx || n >= self.out.state.len() || seq <= 0 {
                    self.out.bad_frames += 1;
                    return Ok(());
                }
                if f.duplicate == Some(true) {
                    self.out.odd_acks += 1;
                }
                match self.out.state[n] {
                    0 => {
                        self.out.state[n] = seq;
                        self.pending -= 1;
                        self.out
                            .ack_us
                            .push(u32::try_from(now.saturating_sub(us)).unwrap_or(u32::MAX));
                        self.out.last_ack_us = now;
                        self.progress.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    s if s == seq => self.out.odd_acks += 1,
                    _ => self.out.ack_conflicts += 1,
                }
            }
            "error" => {
                let code = f.code.unwrap_or("?");
                match f.reference.and_then(parse_id) {
                    Some((c, n, _)) if c == self.idx && n < self.out.state.len() => {
                        if self.out.state[n] == 0 {
                            self.out.state[n] = ERRORED;
                            self.pending -= 1;
                        }
                        *self.out.errors.entry(code.to_string()).or_default() += 1;
                    }
                    _ => {
                        *self
                            .out
                            .errors
                            .entry(format!("{code} (no ref)"))
                            .or_default() += 1
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

pub struct AgentOutcome {
    /// Seqs received, per customer.
    pub seen: Vec<BitSet>,
    pub deliver_us: Vec<u32>,
    /// The same (conversation, seq) received twice.
    pub dups: u64,
    /// Messages of conversations this run did not create (other traffic on a shared server).
    pub foreign: u64,
    pub bad_frames: u64,
    pub closed: Option<String>,
}

/// Reads live frames until `stop` flips to true (or the socket ends).
pub async fn agent(
    idx: usize,
    mut ws: Ws,
    conversations: Arc<Vec<String>>,
    plan: Arc<Plan>,
    progress: Arc<Progress>,
    mut stop: watch::Receiver<bool>,
) -> AgentOutcome {
    let mut out = AgentOutcome {
        seen: vec![BitSet::default(); conversations.len()],
        deliver_us: Vec::new(),
        dups: 0,
        foreign: 0,
        bad_frames: 0,
        closed: None,
    };
    let counter = &progress.received[idx];
    loop {
        let frame = tokio::select! {
            biased;
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    break;
                }
                continue;
            }
            frame = ws.next() => frame,
        };
        let text = match frame {
            None => {
                out.closed = Some("socket closed by the server".into());
                break;
            }
            Some(Err(e)) => {
                out.closed = Some(format!("socket error: {e}"));
                break;
            }
            Some(Ok(WsMsg::Text(t))) => t,
            Some(Ok(WsMsg::Close(f))) => {
                out.closed = Some(format!("closed by the server: {f:?}"));
                break;
            }
            Some(Ok(_)) => continue,
        };
        let Some(f) = parse(&text) else {
            out.bad_frames += 1;
            continue;
        };
        if f.kind != "message" {
            continue;
        }
        let now = plan.now_us();
        let ours = f.client_msg_id.and_then(parse_id).filter(|&(c, _, _)| {
            conversations
                .get(c)
                .is_some_and(|conv| f.conversation_id == Some(conv.as_str()))
        });
        let (Some((c, _, us)), Some(seq)) = (ours, f.seq.and_then(|s| usize::try_from(s).ok()))
        else {
            out.foreign += 1;
            continue;
        };
        if out.seen[c].insert(seq) {
            out.dups += 1;
            continue;
        }
        counter.fetch_add(1, Ordering::Relaxed);
        out.deliver_us
            .push(u32::try_from(now.saturating_sub(us)).unwrap_or(u32::MAX));
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        assert_eq!(parse_id("c17-42-123456789"), Some((17, 42, 123_456_789)));
        assert_eq!(parse_id("x17-42-1"), None);
        assert_eq!(parse_id("c17-42"), None);
    }

    #[test]
    fn frames_parse_borrowed() {
        let f = parse(r#"{"type":"ack","client_msg_id":"c1-2-3","conversation_id":"x","id":"y","seq":5,"duplicate":false}"#).unwrap();
        assert_eq!(
            (f.kind, f.seq, f.client_msg_id),
            ("ack", Some(5), Some("c1-2-3"))
        );
        let f = parse(r#"{"type":"message","id":"y","body":"say \"hi\"","seq":1,"client_msg_id":"c0-0-1","conversation_id":"x"}"#).unwrap();
        assert_eq!(f.kind, "message");
        let f = parse(r#"{"type":"error","code":"invalid","message":"no \"x\"","ref":"c0-1-2","retryable":false}"#).unwrap();
        assert_eq!((f.code, f.reference), (Some("invalid"), Some("c0-1-2")));
    }

    #[test]
    fn bitset() {
        let mut b = BitSet::default();
        assert!(!b.insert(3));
        assert!(b.insert(3));
        assert!(!b.insert(200));
        assert!(b.contains(200) && !b.contains(199) && !b.contains(10_000));
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![3, 200]);
    }
}
