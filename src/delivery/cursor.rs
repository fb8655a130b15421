//! What a streaming transport (the WebSocket session, the widget's SSE stream) keeps per client
//! to honour the delivery contract of `docs/protocol.md`: each seq once, in order, no gaps.
//!
//! - **Replay.** `replay` sends the stored messages after the client's `after_seq` in pages while
//!   live events keep arriving; they are taken off the hub queue into a backlog (so a long replay
//!   does not make a reading client look like a slow consumer) and delivered right after it.
//! - **Live.** For a subscribed conversation, `live` drops events at or below what was delivered
//!   and fills a gap (a lost live event, or private notes a customer must not see) from the
//!   database before the event itself.
//! - **Order.** `next` hands out the backlog first, then the hub queue, batches taken apart.
//!
//! The transport says how a message reaches its client through a [`Sink`].
use std::{
    collections::{HashMap, VecDeque},
    future::Future,
};

use tokio::sync::mpsc;
use uuid::Uuid;

use super::history::{self, HistoryQuery};
use crate::{
    actor::Actor, context::AppContext, conversations, error::AppError, messages::Message,
    realtime::hub::Outbound,
};

/// Live events held back during one replay before the client counts as too far behind.
pub const MAX_BACKLOG: usize = 100_000;

/// How a transport hands one stored (replayed or gap-filled) message to its client.
pub trait Sink {
    /// Why the transport cannot go on (the client left, a write timed out…).
    type Stop;
    fn message(&mut self, m: &Message) -> impl Future<Output = Result<(), Self::Stop>>;
}

/// How a replay ended (the transport tells its client).
#[derive(Debug)]
pub enum Replayed {
    /// Everything up to `last_seq` was sent; the conversation is live from here.
    Done { last_seq: i64 },
    /// `after_seq` lies beyond the conversation (a cache from another database).
    Beyond { last_seq: i64 },
    /// The conversation could not be read (not found, not allowed, database down).
    Failed(AppError),
    /// More than [`MAX_BACKLOG`] live events arrived during the replay.
    TooFarBehind,
}

/// What to do with a live message event.
#[derive(Debug, PartialEq, Eq)]
pub enum Live {
    /// Send the event's frame.
    Deliver,
    /// Already delivered, or not for this client.
    Skip,
    /// The gap before it could not be read: the subscription was dropped; the client must
    /// resubscribe after `last_seq`.
    Resync { last_seq: i64 },
}

/// The delivery state of one client connection.
#[derive(Default)]
pub struct Cursor {
    /// Highest seq delivered per subscribed conversation.
    delivered: HashMap<Uuid, i64>,
    /// Live events taken off the queue during a replay, delivered (in order) before the queue.
    backlog: VecDeque<Outbound>,
}

impl Cursor {
    pub fn is_subscribed(&self, conversation_id: Uuid) -> bool {
        self.delivered.contains_key(&conversation_id)
    }

    pub fn unsubscribe(&mut self, conversation_id: Uuid) {
        self.delivered.remove(&conversation_id);
    }

    /// Whether live events wait in the backlog.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// The next event for the client: the backlog first, then the hub queue, batches taken
    /// apart in order. Cancel-safe: a batch is moved into the backlog and its first item
    /// returned in the same poll. None once the hub dropped the queue.
    pub async fn next(&mut self, rx: &mut mpsc::Receiver<Outbound>) -> Option<Outbound> {
        loop {
            match self.backlog.pop_front() {
                Some(Outbound::Batch(items)) => self.push_front(items),
                Some(out) => return Some(out),
                None => match rx.recv().await? {
                    Outbound::Batch(items) => self.push_front(items),
                    out => return Some(out),
                },
            }
        }
    }

    fn push_front(&mut self, items: Box<[Outbound]>) {
        for item in items.into_vec().into_iter().rev() {
            self.backlog.push_front(item);
        }
    }

    /// Sends every stored message after `after_seq` the actor may see, page by page, then marks
    /// the conversation live at the last seq sent. Live events arriving meanwhile are moved from
    /// `rx` to the backlog.
    pub async fn replay<S: Sink>(
        &mut self,
        ctx: &AppContext,
        actor: &Actor,
        conversation_id: Uuid,
        after_seq: i64,
        sink: &mut S,
        rx: &mut mpsc::Receiver<Outbound>,
    ) -> Result<Replayed, S::Stop> {
        self.delivered.remove(&conversation_id);
        let page = ctx.settings.replay_page_size;
        let mut cursor = after_seq;
        loop {
            let q = HistoryQuery {
                after_seq: Some(cursor),
                before_seq: None,
                limit: Some(page),
            };
            let hp = match history::history(&ctx.db, actor, conversation_id, q).await {
                Ok(p) => p,
                Err(AppError::Conflict(_)) => {
                    let last_seq = conversations::service::get_for(&ctx.db, actor, conversation_id)
                        .await
                        .map_or(0, |c| c.last_seq);
                    return Ok(Replayed::Beyond { last_seq });
                }
                Err(e) => return Ok(Replayed::Failed(e)),
            };
            for m in &hp.messages {
                sink.message(m).await?;
                cursor = m.seq;
            }
            while let Ok(out) = rx.try_recv() {
                if self.backlog.len() >= MAX_BACKLOG {
                    return Ok(Replayed::TooFarBehind);
                }
                self.backlog.push_back(out);
            }
            if !hp.has_more {
                break;
            }
        }
        self.delivered.insert(conversation_id, cursor);
        Ok(Replayed::Done { last_seq: cursor })
    }

    /// Decides on a live message event for `conversation_id` at `seq`, first sending what lies
    /// between it and what was delivered. Agents see every conversation of their account live
    /// (the inbox view), subscribed or not; customers only the ones they subscribed to.
    pub async fn live<S: Sink>(
        &mut self,
        ctx: &AppContext,
        actor: &Actor,
        conversation_id: Uuid,
        seq: i64,
        sink: &mut S,
    ) -> Result<Live, S::Stop> {
        let Some(done) = self.delivered.get(&conversation_id).copied() else {
            return Ok(if actor.is_customer() {
                Live::Skip
            } else {
                Live::Deliver
            });
        };
        if seq <= done {
            return Ok(Live::Skip);
        }
        if seq > done + 1 {
            match history::between(&ctx.db, actor, conversation_id, done, seq).await {
                Ok(rows) => {
                    for m in &rows {
                        sink.message(m).await?;
                    }
                }
                Err(e) => {
                    // Without the gap the client would silently miss messages.
                    tracing::warn!(error = %e, "gap fill failed");
                    self.delivered.remove(&conversation_id);
                    return Ok(Live::Resync { last_seq: done });
                }
            }
        }
        self.delivered.insert(conversation_id, seq);
        Ok(Live::Deliver)
    }
}
