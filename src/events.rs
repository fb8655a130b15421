//! Domain events, published only after the transaction that caused them has committed. Listeners
//! (the realtime hub, routing, the search indexer and the first-line bot) each own a bounded
//! channel: a slow listener slows the publisher instead of losing events.
use std::sync::Arc;

use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{actor::SenderType, messages::Message};

/// Serializable: other nodes receive them as they are (`realtime::bus`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DomainEvent {
    MessageCreated {
        account_id: Uuid,
        message: Arc<Message>,
    },
    ReadUpdated {
        account_id: Uuid,
        conversation_id: Uuid,
        reader_type: SenderType,
        reader_id: Uuid,
        seq: i64,
    },
    ConversationCreated {
        account_id: Uuid,
        conversation_id: Uuid,
    },
    /// An admin deleted one message (GDPR request, pasted secret…).
    MessageDeleted {
        account_id: Uuid,
        conversation_id: Uuid,
        message_id: Uuid,
    },
    /// An admin erased a contact and, with it, its conversations and messages.
    ContactErased {
        account_id: Uuid,
        contact_id: Uuid,
        conversation_ids: Vec<Uuid>,
    },
    /// The first-line bot in shadow mode drafted an answer or a handoff, or an agent rated a
    /// draft: agents only (customers never see drafts).
    BotDraft {
        account_id: Uuid,
        draft: Arc<crate::db::entities::bot_draft::View>,
    },
    /// Status, assignee or snooze changed (by an agent, routing, or a customer reopening it).
    ConversationUpdated {
        account_id: Uuid,
        state: ConversationState,
    },
}

/// The routing-relevant state of a conversation after a change.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConversationState {
    pub conversation_id: Uuid,
    pub inbox_id: Uuid,
    pub status: crate::db::entities::conversation::Status,
    pub assignee_id: Option<Uuid>,
    pub snoozed_until: Option<chrono::DateTime<chrono::Utc>>,
    /// The first-line bot's hold on it.
    pub bot_state: Option<crate::db::entities::conversation::BotState>,
}

impl From<&crate::db::entities::conversation::Model> for ConversationState {
    fn from(c: &crate::db::entities::conversation::Model) -> Self {
        Self {
            conversation_id: c.id,
            inbox_id: c.inbox_id,
            status: c.status,
            assignee_id: c.assignee_id,
            snoozed_until: c.snoozed_until,
            bot_state: c.bot_state,
        }
    }
}

#[derive(Clone, Default)]
pub struct Events {
    listeners: Arc<Vec<mpsc::Sender<DomainEvent>>>,
}

impl Events {
    pub fn new(listeners: Vec<mpsc::Sender<DomainEvent>>) -> Self {
        Self {
            listeners: Arc::new(listeners),
        }
    }

    /// Delivers to every listener, waiting for room. A listener that has gone away is skipped.
    pub async fn publish(&self, event: DomainEvent) {
        for l in self.listeners.iter() {
            let _ = l.send(event.clone()).await;
        }
    }
}
