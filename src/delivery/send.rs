//! The one write path every transport calls: validate, apply the customer limits, queue on the
//! group-commit writer, and (for `send`) wait for the commit. Authorization happens here and in
//! the writer, never in a handler.
use crate::{
    actor::Actor,
    context::AppContext,
    error::{AppError, AppResult},
    messages::{SendCommand, Sent},
    writer::PendingSend,
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
