//! The hub: one task that owns the map of live connections (agents by account, customers by
//! conversation) and agent presence. It turns domain events into frames — serialized once,
//! shared by every recipient — and pushes them into each connection's bounded queue. A full
//! queue means the client is not reading: that connection is closed as a slow consumer, and
//! nobody else waits for it.
//!
//! Queue slots are spent only on what a socket will deliver: a customer socket gets the messages
//! of its conversation once it has subscribed (before that it would drop them), and the events
//! waiting together when the hub wakes up (a group commit's messages, typically) reach each
//! socket as one [`Outbound::Batch`], one slot. So a client that reads is never cut off by a
//! burst, even with the smallest queue.
//!
//! With a cluster bus the hub also publishes what happens here (events, typing, presence,
//! kicks) and applies what other nodes publish to its own sockets. Presence is cluster-wide:
//! each node announces its agents every [`PRESENCE_EVERY`]; a node not heard from for
//! [`PRESENCE_TTL`] (killed, cut off) has its agents dropped.
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    bus::{BusTx, Notice},
    protocol::{PresenceEntry, PresenceStatus, ServerFrame, close},
};
use crate::{actor::SenderType, events::DomainEvent};

/// What a connection receives from the hub. Small on purpose: every socket's queue allocates
/// its first block of 32 slots up front (24-byte slots instead of 48 save ~0.8 KiB per socket),
/// and a message fanned out to many sockets is one shared allocation.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A stored message; the session uses `conversation_id`/`seq` to drop duplicates and fill gaps.
    Message(Arc<LiveMessage>),
    Frame(Arc<str>),
    /// Several of the above, in order, that arrived together: one queue slot.
    Batch(Box<[Outbound]>),
}

const _: () = assert!(std::mem::size_of::<Outbound>() <= 24);

#[derive(Debug)]
pub struct LiveMessage {
    pub conversation_id: Uuid,
    pub seq: i64,
    /// The serialized `message` frame.
    pub frame: Box<str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnKind {
    Agent {
        agent_id: Uuid,
        account_id: Uuid,
    },
    Customer {
        account_id: Uuid,
        conversation_id: Uuid,
        contact_id: Uuid,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
}

pub struct Conn {
    pub id: u64,
    pub kind: ConnKind,
    /// For agents: the login session the socket was opened from.
    pub session: Option<Uuid>,
    /// For customers: messages of the conversation are queued from the start (SSE, which
    /// streams them all), or only after [`HubHandle::subscribe`] (a WebSocket delivers only
    /// what it subscribed to). Agents get every message of their account either way.
    pub subscribed: bool,
    /// For a verified visitor: the inbox and the identity epoch its token was issued in; the
    /// socket closes when the inbox's identity secret is rotated ([`HubHandle::revoke_verified`]).
    pub verified: Option<(Uuid, i32)>,
    pub tx: mpsc::Sender<Outbound>,
    pub kick: oneshot::Sender<CloseReason>,
}

enum Cmd {
    Join(Conn, oneshot::Sender<Vec<PresenceEntry>>),
    Leave(u64),
    /// A customer socket (un)subscribed to its conversation's messages.
    Subscribe {
        id: u64,
        conversation_id: Uuid,
        on: bool,
        done: oneshot::Sender<()>,
    },
    Typing {
        from: u64,
        conversation_id: Uuid,
        typing: bool,
        private: bool,
    },
    Presence {
        from: u64,
        status: PresenceStatus,
    },
    KickAgent(Uuid),
    KickSession(Uuid),
    /// The inbox's identity secret was rotated into `epoch`.
    RevokeVerified {
        inbox_id: Uuid,
        epoch: i32,
    },
    /// A notice from another node.
    Remote(Uuid, Notice),
    /// Login sessions of the agent sockets on this node.
    Sessions(oneshot::Sender<Vec<Uuid>>),
    /// Publish this node's presence now (the bus just came back).
    Announce,
    /// Drain: close every socket (and any that joins later) with this reason, but keep
    /// running so the events of writes still in flight reach the other nodes.
    CloseAll(CloseReason),
    Online(Uuid, oneshot::Sender<Vec<PresenceEntry>>),
    OnlineAccounts(oneshot::Sender<Vec<Uuid>>),
    /// Typing reported over HTTP (SSE clients): relayed to the account's agents.
    CustomerTyping {
        account_id: Uuid,
        conversation_id: Uuid,
        contact_id: Uuid,
        typing: bool,
    },
    /// The first-line bot is composing an answer: shown to the customer and the agents.
    BotTyping {
        account_id: Uuid,
        conversation_id: Uuid,
        typing: bool,
    },
    Shutdown(CloseReason),
}

#[derive(Clone)]
pub struct HubHandle {
    cmd: mpsc::Sender<Cmd>,
    next_id: Arc<AtomicU64>,
}

impl HubHandle {
    pub fn next_conn_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers a connection. Once this returns, every later event reaches its queue.
    pub async fn join(&self, conn: Conn) -> Option<Vec<PresenceEntry>> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(Cmd::Join(conn, tx)).await.ok()?;
        rx.await.ok()
    }

    /// A customer socket starts (or stops) taking its conversation's messages. Once this
    /// returns, every later message reaches its queue. Other conversations are ignored: a
    /// customer only ever gets its own.
    pub async fn subscribe(&self, id: u64, conversation_id: Uuid, on: bool) {
        let (done, rx) = oneshot::channel();
        let cmd = Cmd::Subscribe {
            id,
            conversation_id,
            on,
            done,
        };
        if self.cmd.send(cmd).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Forgets a connection without waiting (usable from `Drop`); if the hub's queue is full,
    /// a task delivers the command.
    pub fn leave_now(&self, id: u64) {
        if let Err(mpsc::error::TrySendError::Full(cmd)) = self.cmd.try_send(Cmd::Leave(id)) {
            let tx = self.cmd.clone();
            tokio::spawn(async move {
                let _ = tx.send(cmd).await;
            });
        }
    }

    pub async fn typing(&self, from: u64, conversation_id: Uuid, typing: bool, private: bool) {
        let _ = self
            .cmd
            .send(Cmd::Typing {
                from,
                conversation_id,
                typing,
                private,
            })
            .await;
    }

    pub async fn presence(&self, from: u64, status: PresenceStatus) {
        let _ = self.cmd.send(Cmd::Presence { from, status }).await;
    }

    /// A customer without a socket (SSE + HTTP) is typing, or stopped.
    pub async fn customer_typing(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        contact_id: Uuid,
        typing: bool,
    ) {
        let _ = self
            .cmd
            .send(Cmd::CustomerTyping {
                account_id,
                conversation_id,
                contact_id,
                typing,
            })
            .await;
    }

    /// Accounts with at least one agent socket (routing only looks at their queues).
    /// The bot is working on an answer in this conversation (or stopped).
    pub async fn bot_typing(&self, account_id: Uuid, conversation_id: Uuid, typing: bool) {
        let _ = self
            .cmd
            .send(Cmd::BotTyping {
                account_id,
                conversation_id,
                typing,
            })
            .await;
    }

    pub async fn accounts_with_agents(&self) -> Vec<Uuid> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::OnlineAccounts(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Agents of an account with at least one socket, and their status.
    pub async fn agents_present(&self, account_id: Uuid) -> Vec<PresenceEntry> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Online(account_id, tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Closes every socket of an agent (logout, deactivation).
    pub async fn kick_agent(&self, agent_id: Uuid) {
        let _ = self.cmd.send(Cmd::KickAgent(agent_id)).await;
    }

    /// Closes the sockets opened from one login session (logout).
    pub async fn kick_session(&self, session: Uuid) {
        let _ = self.cmd.send(Cmd::KickSession(session)).await;
    }

    /// Closes the sockets of visitors verified in `inbox_id` under an identity epoch other than
    /// `epoch` (the secret was just rotated), on every node.
    pub async fn revoke_verified(&self, inbox_id: Uuid, epoch: i32) {
        let _ = self.cmd.send(Cmd::RevokeVerified { inbox_id, epoch }).await;
    }

    /// Closes every socket with "going away" so clients reconnect elsewhere.
    pub async fn shutdown(&self) {
        self.shutdown_with(CloseReason {
            code: close::GOING_AWAY,
            reason: "server shutting down",
        })
        .await;
    }

    /// Closes every socket with `why` and stops the hub.
    pub async fn shutdown_with(&self, why: CloseReason) {
        let _ = self.cmd.send(Cmd::Shutdown(why)).await;
    }

    /// Drain: closes every socket with `why` (and refuses new ones) while the hub keeps
    /// publishing events for the other nodes until [`HubHandle::shutdown`].
    pub async fn close_all(&self, why: CloseReason) {
        let _ = self.cmd.send(Cmd::CloseAll(why)).await;
    }

    /// Applies a notice from another node to this node's sockets.
    pub async fn remote(&self, node: Uuid, notice: Notice) {
        let _ = self.cmd.send(Cmd::Remote(node, notice)).await;
    }

    /// Delivers an event read back from the database (catch-up) to this node's sockets only.
    pub async fn replay(&self, event: &DomainEvent) {
        let event = event.clone();
        self.remote(Uuid::nil(), Notice::Event { event }).await;
    }

    pub async fn agent_sessions(&self) -> Vec<Uuid> {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Sessions(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    pub async fn announce_presence(&self) {
        let _ = self.cmd.send(Cmd::Announce).await;
    }
}

fn typing_frame(
    conversation_id: Uuid,
    sender_type: SenderType,
    sender_id: Uuid,
    typing: bool,
) -> Outbound {
    let frame = ServerFrame::Typing {
        conversation_id,
        sender_type,
        sender_id,
        typing,
    };
    Outbound::Frame(frame.to_text().into())
}

/// How often a node announces its agents on the bus…
pub const PRESENCE_EVERY: Duration = Duration::from_secs(5);
/// …and how long without news before another node counts them offline.
pub const PRESENCE_TTL: Duration = Duration::from_secs(16);

/// Starts the hub; `events` is its subscription to domain events, `bus` (if any) where it
/// publishes for the other nodes.
pub fn spawn(
    events: mpsc::Receiver<DomainEvent>,
    bus: Option<BusTx>,
) -> (HubHandle, tokio::task::JoinHandle<()>) {
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let hub = Hub {
        bus,
        ..Hub::default()
    };
    let task = tokio::spawn(hub.run(cmd_rx, events));
    (
        HubHandle {
            cmd: cmd_tx,
            next_id: Arc::new(AtomicU64::new(1)),
        },
        task,
    )
}

struct Entry {
    kind: ConnKind,
    session: Option<Uuid>,
    /// The conversation this socket last said it was typing in, to clear it when it leaves.
    typing_in: Option<(Uuid, bool)>,
    tx: mpsc::Sender<Outbound>,
    kick: Option<oneshot::Sender<CloseReason>>,
    status: PresenceStatus,
    /// Customers: takes its conversation's messages (see [`Conn::subscribed`]).
    subscribed: bool,
    verified: Option<(Uuid, i32)>,
}

/// What another node last said about its agents.
struct RemoteNode {
    seen: Instant,
    agents: HashMap<(Uuid, Uuid), PresenceStatus>,
}

#[derive(Default)]
struct Hub {
    conns: HashMap<u64, Entry>,
    agents_by_account: HashMap<Uuid, HashSet<u64>>,
    customers_by_conversation: HashMap<Uuid, HashSet<u64>>,
    bus: Option<BusTx>,
    remote: HashMap<Uuid, RemoteNode>,
    /// Set by a drain: sockets are closed with this as soon as they join.
    closing: Option<CloseReason>,
    /// While a batch of events is applied: what each connection gets, queued as one
    /// `Outbound` when the batch is done ([`Hub::flush_staged`]).
    staged: Option<HashMap<u64, Vec<Outbound>>>,
}

/// Events applied together (and so queued together, one slot per socket) at most.
const MAX_EVENT_BATCH: usize = 1024;

fn rank(s: PresenceStatus) -> u8 {
    match s {
        PresenceStatus::Online => 2,
        PresenceStatus::Away => 1,
        PresenceStatus::Offline => 0,
    }
}

const SLOW: CloseReason = CloseReason {
    code: close::SLOW_CONSUMER,
    reason: "slow consumer",
};

impl Hub {
    async fn run(mut self, mut cmds: mpsc::Receiver<Cmd>, mut events: mpsc::Receiver<DomainEvent>) {
        // The first announcement one period in, not at once: a node starting has no agents yet,
        // and an immediate one raced with the first joins (an extra full notice, at random).
        let mut heartbeat =
            tokio::time::interval_at(tokio::time::Instant::now() + PRESENCE_EVERY, PRESENCE_EVERY);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut why = CloseReason {
            code: close::GOING_AWAY,
            reason: "server shutting down",
        };
        loop {
            // Commands first (joins must be prompt). Measured: unbiased polling cost ~5 % of
            // throughput at 20k msgs/s; a command flood is prevented upstream instead (typing is
            // throttled per socket, joins need a valid token).
            tokio::select! {
                biased;
                cmd = cmds.recv() => match cmd {
                    Some(Cmd::Shutdown(w)) => { why = w; break; }
                    None => break,
                    Some(cmd) => self.command(cmd),
                },
                ev = events.recv() => match ev {
                    Some(ev) => {
                        // Whatever else is already waiting (the rest of a group commit) goes
                        // out with it, one queue slot per socket. A lone event skips the staging.
                        let next = events.try_recv().ok();
                        if next.is_some() {
                            self.staged = Some(HashMap::new());
                        }
                        for ev in std::iter::once(ev).chain(next) {
                            self.publish(|| Notice::Event { event: ev.clone() });
                            self.event(ev);
                        }
                        if self.staged.is_some() {
                            for _ in 2..MAX_EVENT_BATCH {
                                let Ok(ev) = events.try_recv() else { break };
                                self.publish(|| Notice::Event { event: ev.clone() });
                                self.event(ev);
                            }
                            self.flush_staged();
                        }
                    }
                    None => break,
                },
                _ = heartbeat.tick(), if self.bus.is_some() => self.heartbeat(),
            }
        }
        self.publish(|| Notice::Leaving);
        let ids: Vec<u64> = self.conns.keys().copied().collect();
        for id in ids {
            self.close(id, why);
        }
    }

    fn publish(&self, notice: impl FnOnce() -> Notice) {
        if let Some(bus) = &self.bus {
            bus.publish(notice());
        }
    }

    /// Announces this node's agents and forgets nodes that went quiet.
    fn heartbeat(&mut self) {
        if self.closing.is_none() {
            self.announce();
        }
        let dead: Vec<Uuid> = self
            .remote
            .iter()
            .filter(|(_, n)| n.seen.elapsed() > PRESENCE_TTL)
            .map(|(id, _)| *id)
            .collect();
        for node in dead {
            tracing::info!(%node, "no presence from a node: its agents are offline");
            self.forget_node(node);
        }
    }

    fn announce(&self) {
        let Some(bus) = &self.bus else { return };
        let mut agents = Vec::new();
        for (account_id, ids) in &self.agents_by_account {
            let mut seen = HashSet::new();
            for id in ids {
                if let Some(ConnKind::Agent { agent_id, .. }) = self.conns.get(id).map(|e| e.kind)
                    && seen.insert(agent_id)
                {
                    agents.push((
                        *account_id,
                        agent_id,
                        self.local_status(*account_id, agent_id),
                    ));
                }
            }
        }
        bus.publish(Notice::Presence { full: true, agents });
    }

    fn forget_node(&mut self, node: Uuid) {
        self.remote_presence(node, true, Vec::new());
        self.remote.remove(&node);
    }

    /// Another node's agents changed (or all of them, `full`): local agents see the combined
    /// status change, if it changed.
    fn remote_presence(
        &mut self,
        node: Uuid,
        full: bool,
        agents: Vec<(Uuid, Uuid, PresenceStatus)>,
    ) {
        let mut touched: Vec<(Uuid, Uuid)> = agents.iter().map(|(a, g, _)| (*a, *g)).collect();
        if full && let Some(n) = self.remote.get(&node) {
            touched.extend(n.agents.keys().copied());
        }
        touched.sort_unstable();
        touched.dedup();
        let before: Vec<PresenceStatus> = touched
            .iter()
            .map(|(a, g)| self.agent_status(*a, *g))
            .collect();
        let n = self.remote.entry(node).or_insert_with(|| RemoteNode {
            seen: Instant::now(),
            agents: HashMap::new(),
        });
        n.seen = Instant::now();
        if full {
            n.agents.clear();
        }
        for (a, g, s) in agents {
            if s == PresenceStatus::Offline {
                n.agents.remove(&(a, g));
            } else {
                n.agents.insert((a, g), s);
            }
        }
        for ((account_id, agent_id), was) in touched.into_iter().zip(before) {
            let now = self.agent_status(account_id, agent_id);
            if now != was {
                self.push_presence(account_id, agent_id, now);
            }
        }
    }

    fn remote_notice(&mut self, node: Uuid, notice: Notice) {
        match notice {
            Notice::Typing {
                account_id,
                conversation_id,
                sender_type,
                sender_id,
                typing,
                private,
            } => {
                let frame = typing_frame(conversation_id, sender_type, sender_id, typing);
                let targets = self.audience(account_id, conversation_id, !private);
                self.push_all(&targets, frame);
            }
            Notice::Presence { full, agents } => self.remote_presence(node, full, agents),
            Notice::Kick {
                agent_id,
                session_id,
            } => {
                if let Some(agent) = agent_id {
                    self.kick_where(
                        |e| matches!(e.kind, ConnKind::Agent { agent_id, .. } if agent_id == agent),
                    );
                }
                if let Some(session) = session_id {
                    self.kick_where(|e| e.session == Some(session));
                }
            }
            Notice::RevokeVisitors { inbox_id, epoch } => self.revoke_verified(inbox_id, epoch),
            Notice::Leaving => self.forget_node(node),
            Notice::Resync { .. } => {}
            Notice::Event { event } => self.event(event),
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Join(conn, ready) => self.join(conn, ready),
            Cmd::Leave(id) => self.remove(id),
            Cmd::Subscribe {
                id,
                conversation_id,
                on,
                done,
            } => {
                if let Some(e) = self.conns.get_mut(&id)
                    && matches!(e.kind, ConnKind::Customer { conversation_id: c, .. } if c == conversation_id)
                {
                    e.subscribed = on;
                }
                let _ = done.send(());
            }
            Cmd::Typing {
                from,
                conversation_id,
                typing,
                private,
            } => self.typing(from, conversation_id, typing, private),
            Cmd::Presence { from, status } => {
                if let Some(e) = self.conns.get_mut(&from) {
                    e.status = status;
                    if let ConnKind::Agent {
                        agent_id,
                        account_id,
                    } = e.kind
                    {
                        self.broadcast_presence(account_id, agent_id);
                    }
                }
            }
            Cmd::KickAgent(agent) => {
                self.publish(|| Notice::Kick {
                    agent_id: Some(agent),
                    session_id: None,
                });
                self.kick_where(
                    |e| matches!(e.kind, ConnKind::Agent { agent_id, .. } if agent_id == agent),
                )
            }
            Cmd::KickSession(session) => {
                self.publish(|| Notice::Kick {
                    agent_id: None,
                    session_id: Some(session),
                });
                self.kick_where(|e| e.session == Some(session))
            }
            Cmd::RevokeVerified { inbox_id, epoch } => {
                self.publish(|| Notice::RevokeVisitors { inbox_id, epoch });
                self.revoke_verified(inbox_id, epoch);
            }
            Cmd::Remote(node, notice) => self.remote_notice(node, notice),
            Cmd::Sessions(reply) => {
                let mut s: Vec<Uuid> = self.conns.values().filter_map(|e| e.session).collect();
                s.sort_unstable();
                s.dedup();
                let _ = reply.send(s);
            }
            Cmd::Announce => self.announce(),
            Cmd::CloseAll(why) => {
                self.closing = Some(why);
                // The others forget this node's agents now, not at the presence timeout.
                self.publish(|| Notice::Leaving);
                let ids: Vec<u64> = self.conns.keys().copied().collect();
                for id in ids {
                    self.close(id, why);
                }
            }
            Cmd::Online(account_id, reply) => {
                let _ = reply.send(self.presence_of(account_id));
            }
            Cmd::OnlineAccounts(reply) => {
                let mut accounts: HashSet<Uuid> = self.agents_by_account.keys().copied().collect();
                for n in self.remote.values() {
                    accounts.extend(n.agents.keys().map(|(a, _)| *a));
                }
                let _ = reply.send(accounts.into_iter().collect());
            }
            Cmd::CustomerTyping {
                account_id,
                conversation_id,
                contact_id,
                typing,
            } => {
                let frame = typing_frame(conversation_id, SenderType::Customer, contact_id, typing);
                let targets = self.agents_of(account_id);
                self.push_all(&targets, frame);
                self.publish(|| Notice::Typing {
                    account_id,
                    conversation_id,
                    sender_type: SenderType::Customer,
                    sender_id: contact_id,
                    typing,
                    private: true,
                });
            }
            Cmd::BotTyping {
                account_id,
                conversation_id,
                typing,
            } => {
                let frame = typing_frame(conversation_id, SenderType::Bot, Uuid::nil(), typing);
                let targets = self.audience(account_id, conversation_id, true);
                self.push_all(&targets, frame);
                self.publish(|| Notice::Typing {
                    account_id,
                    conversation_id,
                    sender_type: SenderType::Bot,
                    sender_id: Uuid::nil(),
                    typing,
                    private: false,
                });
            }
            Cmd::Shutdown(_) => {}
        }
    }

    fn revoke_verified(&mut self, inbox_id: Uuid, epoch: i32) {
        self.close_where(
            |e| matches!(e.verified, Some((i, ep)) if i == inbox_id && ep != epoch),
            CloseReason {
                code: close::REVOKED,
                reason: "identity secret rotated",
            },
        );
    }

    fn kick_where(&mut self, pred: impl Fn(&Entry) -> bool) {
        self.close_where(
            pred,
            CloseReason {
                code: close::REVOKED,
                reason: "session ended",
            },
        );
    }

    fn close_where(&mut self, pred: impl Fn(&Entry) -> bool, why: CloseReason) {
        let ids: Vec<u64> = self
            .conns
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close(id, why);
        }
    }

    fn join(&mut self, conn: Conn, ready: oneshot::Sender<Vec<PresenceEntry>>) {
        if let Some(why) = self.closing {
            let _ = conn.kick.send(why);
            let _ = ready.send(Vec::new());
            return;
        }
        let account = match conn.kind {
            ConnKind::Agent { account_id, .. } => {
                self.agents_by_account
                    .entry(account_id)
                    .or_default()
                    .insert(conn.id);
                Some(account_id)
            }
            ConnKind::Customer {
                conversation_id, ..
            } => {
                self.customers_by_conversation
                    .entry(conversation_id)
                    .or_default()
                    .insert(conn.id);
                None
            }
        };
        let kind = conn.kind;
        self.conns.insert(
            conn.id,
            Entry {
                kind,
                session: conn.session,
                typing_in: None,
                tx: conn.tx,
                kick: Some(conn.kick),
                status: PresenceStatus::Online,
                subscribed: conn.subscribed,
                verified: conn.verified,
            },
        );
        let presence = account.map(|a| self.presence_of(a)).unwrap_or_default();
        let _ = ready.send(presence);
        if let ConnKind::Agent {
            agent_id,
            account_id,
        } = kind
        {
            self.broadcast_presence(account_id, agent_id);
        }
    }

    /// Forgets a connection; an agent whose last socket left goes offline for the others.
    fn remove(&mut self, id: u64) {
        // Whoever disappears mid-sentence stops typing for the others.
        if let Some((conv, private)) = self.conns.get(&id).and_then(|e| e.typing_in) {
            self.typing(id, conv, false, private);
        }
        let Some(e) = self.conns.remove(&id) else {
            return;
        };
        match e.kind {
            ConnKind::Agent {
                agent_id,
                account_id,
            } => {
                if let Some(set) = self.agents_by_account.get_mut(&account_id) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.agents_by_account.remove(&account_id);
                    }
                }
                self.broadcast_presence(account_id, agent_id);
            }
            ConnKind::Customer {
                conversation_id, ..
            } => {
                if let Some(set) = self.customers_by_conversation.get_mut(&conversation_id) {
                    set.remove(&id);
                    if set.is_empty() {
                        self.customers_by_conversation.remove(&conversation_id);
                    }
                }
            }
        }
    }

    fn close(&mut self, id: u64, why: CloseReason) {
        if let Some(e) = self.conns.get_mut(&id)
            && let Some(k) = e.kick.take()
        {
            let _ = k.send(why);
        }
        self.remove(id);
    }

    /// An agent's status across the cluster: the "most present" of this node's view and what
    /// other nodes announced.
    fn agent_status(&self, account_id: Uuid, agent: Uuid) -> PresenceStatus {
        let mut best = self.local_status(account_id, agent);
        for n in self.remote.values() {
            if let Some(s) = n.agents.get(&(account_id, agent))
                && rank(*s) > rank(best)
            {
                best = *s;
            }
        }
        best
    }

    /// An agent's status on this node: the "most present" of its sockets, offline when it has none.
    fn local_status(&self, account_id: Uuid, agent: Uuid) -> PresenceStatus {
        let mut best = PresenceStatus::Offline;
        for id in self
            .agents_by_account
            .get(&account_id)
            .into_iter()
            .flatten()
        {
            if let Some(e) = self.conns.get(id)
                && matches!(e.kind, ConnKind::Agent { agent_id, .. } if agent_id == agent)
            {
                match e.status {
                    PresenceStatus::Online => return PresenceStatus::Online,
                    s => best = s,
                }
            }
        }
        best
    }

    fn presence_of(&self, account_id: Uuid) -> Vec<PresenceEntry> {
        let mut agents: Vec<Uuid> = self
            .agents_by_account
            .get(&account_id)
            .into_iter()
            .flatten()
            .filter_map(|id| match self.conns.get(id)?.kind {
                ConnKind::Agent { agent_id, .. } => Some(agent_id),
                ConnKind::Customer { .. } => None,
            })
            .collect();
        for n in self.remote.values() {
            agents.extend(
                n.agents
                    .keys()
                    .filter(|(a, _)| *a == account_id)
                    .map(|(_, g)| *g),
            );
        }
        agents.sort_unstable();
        agents.dedup();
        agents
            .into_iter()
            .map(|agent_id| PresenceEntry {
                agent_id,
                status: self.agent_status(account_id, agent_id),
            })
            .collect()
    }

    /// An agent's sockets on this node changed: tell the local agents (cluster-wide status) and
    /// the other nodes (this node's part).
    fn broadcast_presence(&mut self, account_id: Uuid, agent_id: Uuid) {
        let status = self.agent_status(account_id, agent_id);
        self.publish(|| Notice::Presence {
            full: false,
            agents: vec![(
                account_id,
                agent_id,
                self.local_status(account_id, agent_id),
            )],
        });
        self.push_presence(account_id, agent_id, status);
    }

    fn push_presence(&mut self, account_id: Uuid, agent_id: Uuid, status: PresenceStatus) {
        let frame: Arc<str> = ServerFrame::Presence { agent_id, status }.to_text().into();
        let targets = self.agents_of(account_id);
        self.push_all(&targets, Outbound::Frame(frame));
    }

    fn agents_of(&self, account_id: Uuid) -> Vec<u64> {
        let agents = self.agents_by_account.get(&account_id);
        agents.into_iter().flatten().copied().collect()
    }

    fn typing(&mut self, from: u64, conversation_id: Uuid, typing: bool, private: bool) {
        let Some(sender) = self.conns.get_mut(&from) else {
            return;
        };
        sender.typing_in = typing.then_some((conversation_id, private));
        let (account_id, sender_type, sender_id) = match sender.kind {
            ConnKind::Agent {
                agent_id,
                account_id,
            } => (account_id, SenderType::Agent, agent_id),
            ConnKind::Customer {
                account_id,
                contact_id,
                ..
            } => (account_id, SenderType::Customer, contact_id),
        };
        let frame = typing_frame(conversation_id, sender_type, sender_id, typing);
        let mut targets = self.audience(account_id, conversation_id, !private);
        targets.retain(|id| *id != from);
        self.push_all(&targets, frame);
        self.publish(|| Notice::Typing {
            account_id,
            conversation_id,
            sender_type,
            sender_id,
            typing,
            private,
        });
    }

    /// Agents of the account, plus (if `customers`) the customer sockets of the conversation —
    /// only those in the same account, so a forged conversation id reaches nobody else.
    fn audience(&self, account_id: Uuid, conversation_id: Uuid, customers: bool) -> Vec<u64> {
        self.audience_where(account_id, conversation_id, customers, |_| true)
    }

    /// [`Hub::audience`], for a message: customers only once they subscribed.
    fn message_audience(&self, account_id: Uuid, conversation_id: Uuid, public: bool) -> Vec<u64> {
        self.audience_where(account_id, conversation_id, public, |e| e.subscribed)
    }

    fn audience_where(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        customers: bool,
        takes: impl Fn(&Entry) -> bool,
    ) -> Vec<u64> {
        let mut out = self.agents_of(account_id);
        if customers {
            out.extend(
                self.customers_by_conversation
                    .get(&conversation_id)
                    .into_iter()
                    .flatten()
                    .filter(|id| {
                        self.conns.get(id).is_some_and(|e| {
                            matches!(e.kind, ConnKind::Customer { account_id: a, .. } if a == account_id)
                                && takes(e)
                        })
                    })
                    .copied(),
            );
        }
        out
    }

    fn event(&mut self, ev: DomainEvent) {
        match ev {
            DomainEvent::MessageCreated {
                account_id,
                message,
            } => {
                let targets =
                    self.message_audience(account_id, message.conversation_id, !message.private);
                let out = Outbound::Message(Arc::new(LiveMessage {
                    conversation_id: message.conversation_id,
                    seq: message.seq,
                    frame: ServerFrame::Message(&message).to_text().into(),
                }));
                self.push_all(&targets, out);
            }
            DomainEvent::ReadUpdated {
                account_id,
                conversation_id,
                reader_type,
                reader_id,
                seq,
            } => {
                let frame: Arc<str> = ServerFrame::Read {
                    conversation_id,
                    reader_type,
                    reader_id,
                    seq,
                }
                .to_text()
                .into();
                let targets = self.audience(account_id, conversation_id, true);
                self.push_all(&targets, Outbound::Frame(frame));
            }
            DomainEvent::ConversationCreated {
                account_id,
                conversation_id,
            } => {
                let frame: Arc<str> = ServerFrame::ConversationCreated { conversation_id }
                    .to_text()
                    .into();
                let targets = self.audience(account_id, conversation_id, false);
                self.push_all(&targets, Outbound::Frame(frame));
            }
            DomainEvent::MessageDeleted { .. } | DomainEvent::ContactErased { .. } => {}
            DomainEvent::ConversationUpdated { account_id, state } => {
                let frame: Arc<str> = ServerFrame::ConversationUpdated {
                    conversation_id: state.conversation_id,
                    status: state.status.as_str(),
                    assignee_id: state.assignee_id,
                    snoozed_until: state.snoozed_until,
                    bot_state: state
                        .bot_state
                        .map(crate::conversations::state::BotState::as_str),
                }
                .to_text()
                .into();
                let targets = self.audience(account_id, state.conversation_id, true);
                self.push_all(&targets, Outbound::Frame(frame));
            }
        }
    }

    fn push_all(&mut self, targets: &[u64], out: Outbound) {
        if let Some(staged) = &mut self.staged {
            for id in targets {
                staged.entry(*id).or_default().push(out.clone());
            }
            return;
        }
        let mut dead = Vec::new();
        for id in targets {
            if let Some(e) = self.conns.get(id) {
                Self::try_push(e, *id, out.clone(), &mut dead);
            }
        }
        self.bury(dead);
    }

    /// Ends a batch: each connection gets what the batch staged for it as one queue entry.
    fn flush_staged(&mut self) {
        // Taken first: closing a slow consumer below pushes (typing stopped…) right away.
        let Some(staged) = self.staged.take() else {
            return;
        };
        let mut dead = Vec::new();
        for (id, mut items) in staged {
            let Some(e) = self.conns.get(&id) else {
                continue;
            };
            let out = if items.len() == 1 {
                items.swap_remove(0)
            } else {
                Outbound::Batch(items.into_boxed_slice())
            };
            Self::try_push(e, id, out, &mut dead);
        }
        self.bury(dead);
    }

    fn try_push(e: &Entry, id: u64, out: Outbound, dead: &mut Vec<(u64, bool)>) {
        match e.tx.try_send(out) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => dead.push((id, true)),
            Err(mpsc::error::TrySendError::Closed(_)) => dead.push((id, false)),
        }
    }

    /// Closes the slow connections among `dead` and forgets the gone ones.
    fn bury(&mut self, dead: Vec<(u64, bool)>) {
        for (id, slow) in dead {
            if slow {
                tracing::info!(conn = id, "closing slow consumer");
                self.close(id, SLOW);
            } else {
                self.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::realtime::bus::Envelope;

    fn agent_conn(
        hub: &HubHandle,
        account_id: Uuid,
        agent_id: Uuid,
    ) -> (Conn, mpsc::Receiver<Outbound>) {
        let (tx, rx) = mpsc::channel(64);
        let (kick, _) = oneshot::channel();
        let conn = Conn {
            id: hub.next_conn_id(),
            kind: ConnKind::Agent {
                agent_id,
                account_id,
            },
            session: None,
            subscribed: false,
            verified: None,
            tx,
            kick,
        };
        (conn, rx)
    }

    fn frames(rx: &mut mpsc::Receiver<Outbound>) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        fn add(o: &Outbound, out: &mut Vec<serde_json::Value>) {
            let text = match o {
                Outbound::Frame(f) => f.as_ref(),
                Outbound::Message(m) => m.frame.as_ref(),
                Outbound::Batch(items) => {
                    items.iter().for_each(|o| add(o, out));
                    return;
                }
            };
            out.push(serde_json::from_str(text).unwrap_or_default());
        }
        while let Ok(o) = rx.try_recv() {
            add(&o, &mut out);
        }
        out
    }

    #[tokio::test]
    async fn presence_is_merged_across_nodes_and_a_leaving_node_takes_its_agents() {
        let (bus, mut published) = BusTx::for_test();
        let (_events_tx, events_rx) = mpsc::channel(8);
        let (hub, _task) = spawn(events_rx, Some(bus));
        let account = Uuid::new_v4();
        let (local_agent, remote_agent, other_node) =
            (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());

        let (conn, mut rx) = agent_conn(&hub, account, local_agent);
        assert!(hub.join(conn).await.is_some());
        // The join was announced to the other nodes with this node's status.
        let sent: Envelope = serde_json::from_slice(&published.recv().await.unwrap_or_default())
            .expect("a presence notice");
        assert!(
            matches!(sent.notice, Notice::Presence { full: false, ref agents }
            if agents == &vec![(account, local_agent, PresenceStatus::Online)])
        );

        // Another node announces an agent: local agents see it, routing counts it.
        let agents = vec![(account, remote_agent, PresenceStatus::Away)];
        hub.remote(other_node, Notice::Presence { full: true, agents })
            .await;
        let present = hub.agents_present(account).await;
        assert_eq!(present.len(), 2);
        assert!(
            present
                .iter()
                .any(|p| p.agent_id == remote_agent && p.status == PresenceStatus::Away)
        );
        assert!(hub.accounts_with_agents().await.contains(&account));
        let seen = frames(&mut rx);
        assert!(
            seen.iter().any(|f| f["type"] == "presence"
                && f["agent_id"] == remote_agent.to_string()
                && f["status"] == "away"),
            "{seen:?}"
        );

        // Its typing reaches local agents without being published again.
        hub.remote(
            other_node,
            Notice::Typing {
                account_id: account,
                conversation_id: Uuid::new_v4(),
                sender_type: SenderType::Customer,
                sender_id: Uuid::new_v4(),
                typing: true,
                private: false,
            },
        )
        .await;
        let _ = hub.agents_present(account).await; // a round trip: the notice was applied
        assert!(frames(&mut rx).iter().any(|f| f["type"] == "typing"));
        assert!(
            published.try_recv().is_err(),
            "remote notices are not re-published"
        );

        // The node leaves: its agent goes offline here at once.
        hub.remote(other_node, Notice::Leaving).await;
        let present = hub.agents_present(account).await;
        assert_eq!(
            present.iter().map(|p| p.agent_id).collect::<Vec<_>>(),
            vec![local_agent]
        );
        let seen = frames(&mut rx);
        assert!(
            seen.iter().any(|f| f["type"] == "presence"
                && f["agent_id"] == remote_agent.to_string()
                && f["status"] == "offline"),
            "{seen:?}"
        );
    }
}
