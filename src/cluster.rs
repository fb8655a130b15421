//! The node's side of the cluster: applies what the bus brings (notices from other nodes) and
//! catches up from the database whenever notices may have been missed — this node's
//! subscription was interrupted, NATS dropped notices for it, or another node announced that
//! it could not publish for a while (`resync`).
//!
//! Catch-up re-delivers, from the database, the state and the messages of every conversation
//! changed since the moment of the loss (`conversation.updated_at`, indexed). Sessions drop
//! the seqs they already have and fill any gap from the database, so delivering twice is
//! harmless. It also re-checks the login sessions of this node's agent sockets: a logout
//! announced while the bus was down still closes them.
use std::sync::{Arc, atomic::Ordering};

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::mpsc;

use crate::{
    context::AppContext,
    db::entities::{conversation, message},
    events::{ConversationState, DomainEvent},
    messages::Message,
    realtime::bus::{BusIn, CATCH_UP_MARGIN, Notice},
};

/// Conversations re-announced by one catch-up, most recent first; older ones still converge
/// through the sessions' gap detection on their next message.
const MAX_CONVERSATIONS: u64 = 5_000;
const MESSAGES_PER_CONVERSATION: u64 = 500;

/// Runs until the bus goes away. `search` gets the events the indexer acts on at once
/// (erasures); everything else reaches it through the database.
pub fn spawn(
    ctx: AppContext,
    mut rx: mpsc::Receiver<BusIn>,
    search: Option<mpsc::Sender<DomainEvent>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(input) = rx.recv().await {
            match input {
                BusIn::Notice(env) => match env.notice {
                    Notice::Resync { since } => start_catch_up(&ctx, since),
                    Notice::Event {
                        event:
                            ev
                            @ (DomainEvent::ContactErased { .. } | DomainEvent::MessageDeleted { .. }),
                    } => {
                        if let Some(tx) = &search {
                            let _ = tx.try_send(ev);
                        }
                    }
                    n => ctx.hub.remote(env.node, n).await,
                },
                BusIn::Up { missed_since } => {
                    ctx.bus_up.store(true, Ordering::Relaxed);
                    ctx.hub.announce_presence().await;
                    if let Some(since) = missed_since {
                        start_catch_up(&ctx, since - CATCH_UP_MARGIN);
                    }
                }
                BusIn::Down => ctx.bus_up.store(false, Ordering::Relaxed),
            }
        }
    })
}

fn start_catch_up(ctx: &AppContext, since: DateTime<Utc>) {
    let ctx = ctx.clone();
    tokio::spawn(async move {
        match catch_up(&ctx, since).await {
            Ok((convs, msgs)) => {
                tracing::info!(%since, conversations = convs, messages = msgs, "caught up from the database");
            }
            Err(e) => tracing::warn!(error = %e, "cluster catch-up failed"),
        }
        revalidate_sessions(&ctx).await;
        ctx.passes.cluster_catch_up.done();
    });
}

/// Re-delivers to this node's sockets what changed since `since`. Returns (conversations,
/// messages) delivered.
pub async fn catch_up(
    ctx: &AppContext,
    since: DateTime<Utc>,
) -> Result<(usize, usize), sea_orm::DbErr> {
    let convs = conversation::Entity::find()
        .filter(conversation::Column::UpdatedAt.gte(since))
        .order_by_desc(conversation::Column::UpdatedAt)
        .limit(MAX_CONVERSATIONS)
        .all(&ctx.db)
        .await?;
    let mut delivered = 0;
    for conv in &convs {
        let rows = message::Entity::find()
            .filter(message::Column::ConversationId.eq(conv.id))
            .filter(message::Column::CreatedAt.gte(since))
            .order_by_asc(message::Column::Seq)
            .limit(MESSAGES_PER_CONVERSATION)
            .all(&ctx.db)
            .await?;
        for m in rows {
            delivered += 1;
            let ev = DomainEvent::MessageCreated {
                account_id: conv.account_id,
                message: Arc::new(Message::from(m)),
            };
            ctx.hub.replay(&ev).await;
        }
        let ev = DomainEvent::ConversationUpdated {
            account_id: conv.account_id,
            state: ConversationState::from(conv),
        };
        ctx.hub.replay(&ev).await;
    }
    Ok((convs.len(), delivered))
}

/// Closes this node's agent sockets whose login session ended (a kick may have been lost).
async fn revalidate_sessions(ctx: &AppContext) {
    for sid in ctx.hub.agent_sessions().await {
        if let Ok(false) = crate::accounts::service::session_is_open(ctx, sid).await {
            let kick = Notice::Kick {
                agent_id: None,
                session_id: Some(sid),
            };
            ctx.hub.remote(uuid::Uuid::nil(), kick).await;
        }
    }
}
