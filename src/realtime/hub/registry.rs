//! The registry: the live connections of this node, indexed by who they are (agents by account,
//! customers by conversation), and who an event or a typing notice is for. Also the hub's
//! joins, leaves and closes, which keep the registry and presence in step.
use std::collections::{HashMap, HashSet};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{CloseReason, Hub, Outbound};
use crate::realtime::protocol::{PresenceEntry, close};

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

pub struct Conn {
    pub id: u64,
    pub kind: ConnKind,
    /// For agents: the login session the socket was opened from.
    pub session: Option<Uuid>,
    /// For customers: messages of the conversation are queued from the start (SSE, which
    /// streams them all), or only after [`super::HubHandle::subscribe`] (a WebSocket delivers
    /// only what it subscribed to). Agents get every message of their account either way.
    pub subscribed: bool,
    /// For a verified visitor: the inbox and the identity epoch its token was issued in; the
    /// socket closes when the inbox's identity secret is rotated
    /// ([`super::HubHandle::revoke_verified`]).
    pub verified: Option<(Uuid, i32)>,
    pub tx: mpsc::Sender<Outbound>,
    pub kick: oneshot::Sender<CloseReason>,
}

pub(super) struct Entry {
    pub(super) kind: ConnKind,
    pub(super) session: Option<Uuid>,
    /// The conversation this socket last said it was typing in, to clear it when it leaves.
    pub(super) typing_in: Option<(Uuid, bool)>,
    pub(super) tx: mpsc::Sender<Outbound>,
    kick: Option<oneshot::Sender<CloseReason>>,
    /// Customers: takes its conversation's messages (see [`Conn::subscribed`]).
    pub(super) subscribed: bool,
    verified: Option<(Uuid, i32)>,
}

#[derive(Default)]
pub(super) struct Registry {
    conns: HashMap<u64, Entry>,
    agents_by_account: HashMap<Uuid, HashSet<u64>>,
    customers_by_conversation: HashMap<Uuid, HashSet<u64>>,
}

impl Registry {
    fn insert(&mut self, conn: Conn) -> ConnKind {
        match conn.kind {
            ConnKind::Agent { account_id, .. } => {
                let ids = self.agents_by_account.entry(account_id).or_default();
                ids.insert(conn.id);
            }
            ConnKind::Customer {
                conversation_id, ..
            } => {
                let ids = self.customers_by_conversation.entry(conversation_id);
                ids.or_default().insert(conn.id);
            }
        }
        self.conns.insert(
            conn.id,
            Entry {
                kind: conn.kind,
                session: conn.session,
                typing_in: None,
                tx: conn.tx,
                kick: Some(conn.kick),
                subscribed: conn.subscribed,
                verified: conn.verified,
            },
        );
        conn.kind
    }

    fn remove(&mut self, id: u64) -> Option<Entry> {
        let e = self.conns.remove(&id)?;
        let (index, key) = match e.kind {
            ConnKind::Agent { account_id, .. } => (&mut self.agents_by_account, account_id),
            ConnKind::Customer {
                conversation_id, ..
            } => (&mut self.customers_by_conversation, conversation_id),
        };
        if let Some(set) = index.get_mut(&key) {
            set.remove(&id);
            if set.is_empty() {
                index.remove(&key);
            }
        }
        Some(e)
    }

    pub(super) fn get(&self, id: u64) -> Option<&Entry> {
        self.conns.get(&id)
    }

    pub(super) fn get_mut(&mut self, id: u64) -> Option<&mut Entry> {
        self.conns.get_mut(&id)
    }

    pub(super) fn ids(&self) -> Vec<u64> {
        self.conns.keys().copied().collect()
    }

    /// The login sessions of the sockets, each once.
    pub(super) fn sessions(&self) -> Vec<Uuid> {
        let mut s: Vec<Uuid> = self.conns.values().filter_map(|e| e.session).collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    pub(super) fn agents_of(&self, account_id: Uuid) -> Vec<u64> {
        let agents = self.agents_by_account.get(&account_id);
        agents.into_iter().flatten().copied().collect()
    }

    /// Agents of the account, plus (if `customers`) the customer sockets of the conversation —
    /// only those in the same account, so a forged conversation id reaches nobody else.
    pub(super) fn audience(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        customers: bool,
    ) -> Vec<u64> {
        self.audience_where(account_id, conversation_id, customers, |_| true)
    }

    /// [`Registry::audience`], for a message: customers only once they subscribed.
    pub(super) fn message_audience(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        public: bool,
    ) -> Vec<u64> {
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
}

impl Hub {
    pub(super) fn join(&mut self, conn: Conn, ready: oneshot::Sender<Vec<PresenceEntry>>) {
        if let Some(why) = self.closing {
            let _ = conn.kick.send(why);
            let _ = ready.send(Vec::new());
            return;
        }
        let id = conn.id;
        match self.conns.insert(conn) {
            ConnKind::Agent {
                agent_id,
                account_id,
            } => {
                self.presence.join(id, (account_id, agent_id));
                let _ = ready.send(self.presence.of_account(account_id));
                self.broadcast_presence(account_id, agent_id);
            }
            ConnKind::Customer { .. } => {
                let _ = ready.send(Vec::new());
            }
        }
    }

    /// Forgets a connection; an agent whose last socket left goes offline for the others.
    pub(super) fn remove(&mut self, id: u64) {
        // Whoever disappears mid-sentence stops typing for the others.
        if let Some((conv, private)) = self.conns.get(id).and_then(|e| e.typing_in) {
            self.typing(id, conv, false, private);
        }
        let Some(e) = self.conns.remove(id) else {
            return;
        };
        if let ConnKind::Agent {
            agent_id,
            account_id,
        } = e.kind
        {
            self.presence.leave(id, (account_id, agent_id));
            self.broadcast_presence(account_id, agent_id);
        }
    }

    pub(super) fn close(&mut self, id: u64, why: CloseReason) {
        if let Some(e) = self.conns.get_mut(id)
            && let Some(k) = e.kick.take()
        {
            let _ = k.send(why);
        }
        self.remove(id);
    }

    pub(super) fn close_all(&mut self, why: CloseReason) {
        for id in self.conns.ids() {
            self.close(id, why);
        }
    }

    pub(super) fn revoke_verified(&mut self, inbox_id: Uuid, epoch: i32) {
        self.close_where(
            |e| matches!(e.verified, Some((i, ep)) if i == inbox_id && ep != epoch),
            CloseReason {
                code: close::REVOKED,
                reason: "identity secret rotated",
            },
        );
    }

    pub(super) fn kick_where(&mut self, pred: impl Fn(&Entry) -> bool) {
        self.close_where(
            pred,
            CloseReason {
                code: close::REVOKED,
                reason: "session ended",
            },
        );
    }

    fn close_where(&mut self, pred: impl Fn(&Entry) -> bool, why: CloseReason) {
        let ids: Vec<u64> = (self.conns.conns.iter())
            .filter(|(_, e)| pred(e))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.close(id, why);
        }
    }
}
