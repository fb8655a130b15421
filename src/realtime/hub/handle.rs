//! The hub's API: [`HubHandle`], a cheap clone that sends the hub task commands (and waits for
//! its answer where there is one), and the commands themselves.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{CloseReason, Conn};
use crate::{
    events::DomainEvent,
    realtime::{
        bus::Notice,
        protocol::{PresenceEntry, PresenceStatus, close},
    },
};

pub(super) enum Cmd {
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
    pub(super) fn new(cmd: mpsc::Sender<Cmd>) -> Self {
        HubHandle {
            cmd,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

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
