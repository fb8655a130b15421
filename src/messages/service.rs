//! The use cases every transport calls: `send` (the one write path) and `history` (replay and
//! paging). Authorization happens here and in the writer, never in a handler.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    model::{Message, SendCommand, Sent},
    repo,
    writer::PendingSend,
};
use crate::{
    actor::Actor,
    context::AppContext,
    conversations,
    error::{AppError, AppResult},
};

/// Validates and queues a send; await the returned receiver for the committed result. Sends
/// queued by one caller are stored in queue order, so a socket can pipeline without reordering.
pub async fn submit(ctx: &AppContext, actor: Actor, cmd: SendCommand) -> AppResult<PendingSend> {
    cmd.validate(ctx.settings.max_body_bytes)?;
    if let Actor::Customer(visitor) = &actor {
        // Agents write notes; the bot writes its handoff note. Customers never do.
        if cmd.private {
            return Err(AppError::Forbidden("only agents can write private notes"));
        }
        // Every transport (socket, HTTP, the SSE fallback's POST) sends through here.
        ctx.limits.customer_message(visitor, cmd.body.len())?;
    }
    ctx.writer.submit(actor, cmd).await
}

/// Waits for a queued send to commit.
pub async fn settle(pending: PendingSend) -> AppResult<Sent> {
    pending
        .await
        .map_err(|_| AppError::Unavailable(anyhow::anyhow!("message writer stopped")))?
}

/// Stores a message (or finds the one stored under the same `client_msg_id`) and returns it once
/// committed.
pub async fn send(ctx: &AppContext, actor: Actor, cmd: SendCommand) -> AppResult<Sent> {
    settle(submit(ctx, actor, cmd).await?).await
}

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct HistoryQuery {
    /// Messages after this seq (oldest first): used to resume.
    pub after_seq: Option<i64>,
    /// Messages before this seq (the newest of them): used to page upward.
    pub before_seq: Option<i64>,
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HistoryPage {
    pub conversation_id: Uuid,
    pub messages: Vec<Message>,
    /// The conversation's newest seq when the page was read.
    pub last_seq: i64,
    /// More messages exist in the direction that was read.
    pub has_more: bool,
}

pub const MAX_PAGE: u64 = 500;

pub async fn history(
    ctx: &AppContext,
    actor: &Actor,
    conversation_id: Uuid,
    q: HistoryQuery,
) -> AppResult<HistoryPage> {
    let conv = conversations::service::get_for(ctx, actor, conversation_id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let include_private = !actor.is_customer();
    let rows = match (q.after_seq, q.before_seq) {
        (Some(_), Some(_)) => {
            return Err(AppError::Invalid(
                "give after_seq or before_seq, not both".into(),
            ));
        }
        (Some(after), None) => {
            if after < 0 || after > conv.last_seq {
                return Err(AppError::Conflict(format!(
                    "after_seq {after} is outside this conversation (last_seq {}); resync from 0",
                    conv.last_seq
                )));
            }
            repo::range(
                &ctx.db,
                conversation_id,
                after,
                None,
                limit + 1,
                include_private,
            )
            .await?
        }
        (None, before) => {
            let before = before.unwrap_or(i64::MAX);
            let mut rows =
                repo::before(&ctx.db, conversation_id, before, limit + 1, include_private).await?;
            if rows.len() as u64 > limit {
                rows.remove(0);
                let messages = rows.into_iter().map(Message::from).collect();
                return Ok(HistoryPage {
                    conversation_id,
                    messages,
                    last_seq: conv.last_seq,
                    has_more: true,
                });
            }
            rows
        }
    };
    let mut rows = rows;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(HistoryPage {
        conversation_id,
        messages: rows.into_iter().map(Message::from).collect(),
        last_seq: conv.last_seq,
        has_more,
    })
}
