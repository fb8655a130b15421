//! Fan-out: turning events, typing and presence changes into frames — serialized once, shared by
//! every recipient — and pushing them into each connection's bounded queue, one slot per socket
//! for the events applied together ([`Outbound::Batch`]). A full queue closes that connection as
//! a slow consumer; nobody else waits for it.
use std::{collections::HashMap, sync::Arc};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::{CloseReason, Hub, registry::Entry};
use crate::{
    actor::SenderType,
    events::DomainEvent,
    realtime::{
        bus::Notice,
        protocol::{PresenceStatus, ServerFrame, close},
    },
};

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

/// Events applied together (and so queued together, one slot per socket) at most.
pub(super) const MAX_EVENT_BATCH: usize = 1024;

const SLOW: CloseReason = CloseReason {
    code: close::SLOW_CONSUMER,
    reason: "slow consumer",
};

pub(super) fn typing_frame(
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

impl Hub {
    pub(super) fn publish(&self, notice: impl FnOnce() -> Notice) {
        if let Some(bus) = &self.bus {
            bus.publish(notice());
        }
    }

    /// A socket of this node is typing (or stopped): its audience here and the other nodes.
    pub(super) fn typing(&mut self, from: u64, conversation_id: Uuid, typing: bool, private: bool) {
        let Some(sender) = self.conns.get_mut(from) else {
            return;
        };
        sender.typing_in = typing.then_some((conversation_id, private));
        let (account_id, sender_type, sender_id) = match sender.kind {
            super::ConnKind::Agent {
                agent_id,
                account_id,
            } => (account_id, SenderType::Agent, agent_id),
            super::ConnKind::Customer {
                account_id,
                contact_id,
                ..
            } => (account_id, SenderType::Customer, contact_id),
        };
        let frame = typing_frame(conversation_id, sender_type, sender_id, typing);
        let mut targets = self.conns.audience(account_id, conversation_id, !private);
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

    /// An agent's sockets on this node changed: tell the local agents (cluster-wide status) and
    /// the other nodes (this node's part).
    pub(super) fn broadcast_presence(&mut self, account_id: Uuid, agent_id: Uuid) {
        let status = self.presence.status((account_id, agent_id));
        self.publish(|| Notice::Presence {
            full: false,
            agents: vec![(
                account_id,
                agent_id,
                self.presence.local_status((account_id, agent_id)),
            )],
        });
        self.push_presence(account_id, agent_id, status);
    }

    pub(super) fn push_presence(
        &mut self,
        account_id: Uuid,
        agent_id: Uuid,
        status: PresenceStatus,
    ) {
        let frame: Arc<str> = ServerFrame::Presence { agent_id, status }.to_text().into();
        let targets = self.conns.agents_of(account_id);
        self.push_all(&targets, Outbound::Frame(frame));
    }

    pub(super) fn event(&mut self, ev: DomainEvent) {
        match ev {
            DomainEvent::MessageCreated {
                account_id,
                message,
            } => {
                let targets = (self.conns).message_audience(
                    account_id,
                    message.conversation_id,
                    !message.private,
                );
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
                let targets = self.conns.audience(account_id, conversation_id, true);
                self.push_all(&targets, Outbound::Frame(frame));
            }
            DomainEvent::ConversationCreated {
                account_id,
                conversation_id,
            } => {
                let frame: Arc<str> = ServerFrame::ConversationCreated { conversation_id }
                    .to_text()
                    .into();
                let targets = self.conns.audience(account_id, conversation_id, false);
                self.push_all(&targets, Outbound::Frame(frame));
            }
            DomainEvent::MessageDeleted { .. } | DomainEvent::ContactErased { .. } => {}
            DomainEvent::BotDraft { account_id, draft } => {
                let frame: Arc<str> = ServerFrame::BotDraft { draft: &draft }.to_text().into();
                // Agents only: `customers: false`.
                let targets = self
                    .conns
                    .audience(account_id, draft.conversation_id, false);
                self.push_all(&targets, Outbound::Frame(frame));
            }
            DomainEvent::ConversationUpdated { account_id, state } => {
                let frame: Arc<str> = ServerFrame::ConversationUpdated {
                    conversation_id: state.conversation_id,
                    status: state.status.as_str(),
                    assignee_id: state.assignee_id,
                    snoozed_until: state.snoozed_until,
                    bot_state: state
                        .bot_state
                        .map(crate::db::entities::conversation::BotState::as_str),
                }
                .to_text()
                .into();
                let targets = self.conns.audience(account_id, state.conversation_id, true);
                self.push_all(&targets, Outbound::Frame(frame));
            }
        }
    }

    /// Queues `out` for each of `targets` — or stages it, while a batch of events is applied.
    pub(super) fn push_all(&mut self, targets: &[u64], out: Outbound) {
        if let Some(staged) = &mut self.staged {
            for id in targets {
                staged.entry(*id).or_default().push(out.clone());
            }
            return;
        }
        let mut dead = Vec::new();
        for id in targets {
            if let Some(e) = self.conns.get(*id) {
                try_push(e, *id, out.clone(), &mut dead);
            }
        }
        self.bury(dead);
    }

    /// Starts a batch: what [`Hub::push_all`] gets is staged until [`Hub::flush_staged`].
    pub(super) fn stage(&mut self) {
        self.staged = Some(HashMap::new());
    }

    /// Ends a batch: each connection gets what the batch staged for it as one queue entry.
    pub(super) fn flush_staged(&mut self) {
        // Taken first: closing a slow consumer below pushes (typing stopped…) right away.
        let Some(staged) = self.staged.take() else {
            return;
        };
        let mut dead = Vec::new();
        for (id, mut items) in staged {
            let Some(e) = self.conns.get(id) else {
                continue;
            };
            let out = if items.len() == 1 {
                items.swap_remove(0)
            } else {
                Outbound::Batch(items.into_boxed_slice())
            };
            try_push(e, id, out, &mut dead);
        }
        self.bury(dead);
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

fn try_push(e: &Entry, id: u64, out: Outbound, dead: &mut Vec<(u64, bool)>) {
    match e.tx.try_send(out) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => dead.push((id, true)),
        Err(mpsc::error::TrySendError::Closed(_)) => dead.push((id, false)),
    }
}
