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
//!
//! This module owns the [`HubHandle`] API, the task loop and the command dispatch; the
//! connections are in [`registry`], agent presence in [`presence`] (a pure struct) and the
//! building and delivery of frames in [`fanout`].
mod fanout;
mod presence;
mod registry;

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use self::{
    fanout::{LiveMessage, Outbound},
    registry::{Conn, ConnKind},
};
use self::{
    fanout::{MAX_EVENT_BATCH, typing_frame},
    presence::Presence,
    registry::Registry,
};
use super::{
    bus::{BusTx, Notice},
    protocol::{PresenceEntry, PresenceStatus, close},
};
use crate::{actor::SenderType, events::DomainEvent};

#[derive(Debug, Clone, Copy)]
pub struct CloseReason {
    pub code: u16,
    pub reason: &'static str,
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

#[derive(Default)]
struct Hub {
    conns: Registry,
    presence: Presence,
    bus: Option<BusTx>,
    /// Set by a drain: sockets are closed with this as soon as they join.
    closing: Option<CloseReason>,
    /// While a batch of events is applied: what each connection gets, queued as one
    /// `Outbound` when the batch is done ([`Hub::flush_staged`]).
    staged: Option<HashMap<u64, Vec<Outbound>>>,
}

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
                            self.stage();
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
        self.close_all(why);
    }

    /// Announces this node's agents and forgets nodes that went quiet.
    fn heartbeat(&mut self) {
        if self.closing.is_none() {
            self.announce();
        }
        for node in self.presence.expired(Instant::now(), PRESENCE_TTL) {
            tracing::info!(%node, "no presence from a node: its agents are offline");
            self.forget_node(node);
        }
    }

    fn announce(&self) {
        self.publish(|| Notice::Presence {
            full: true,
            agents: self.presence.local_agents(),
        });
    }

    fn forget_node(&mut self, node: Uuid) {
        for (account_id, agent_id, status) in self.presence.forget(node) {
            self.push_presence(account_id, agent_id, status);
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
                let targets = self.conns.audience(account_id, conversation_id, !private);
                self.push_all(&targets, frame);
            }
            Notice::Presence { full, agents } => {
                // Local agents see the combined status change, if it changed.
                let changed = self.presence.remote(node, full, agents, Instant::now());
                for (account_id, agent_id, status) in changed {
                    self.push_presence(account_id, agent_id, status);
                }
            }
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
                if let Some(e) = self.conns.get_mut(id)
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
                if let Some(ConnKind::Agent {
                    agent_id,
                    account_id,
                }) = self.conns.get(from).map(|e| e.kind)
                {
                    self.presence.set(from, (account_id, agent_id), status);
                    self.broadcast_presence(account_id, agent_id);
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
                let _ = reply.send(self.conns.sessions());
            }
            Cmd::Announce => self.announce(),
            Cmd::CloseAll(why) => {
                self.closing = Some(why);
                // The others forget this node's agents now, not at the presence timeout.
                self.publish(|| Notice::Leaving);
                self.close_all(why);
            }
            Cmd::Online(account_id, reply) => {
                let _ = reply.send(self.presence.of_account(account_id));
            }
            Cmd::OnlineAccounts(reply) => {
                let _ = reply.send(self.presence.accounts());
            }
            Cmd::CustomerTyping {
                account_id,
                conversation_id,
                contact_id,
                typing,
            } => {
                let frame = typing_frame(conversation_id, SenderType::Customer, contact_id, typing);
                let targets = self.conns.agents_of(account_id);
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
                let targets = self.conns.audience(account_id, conversation_id, true);
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
