//! One bot turn's decision with its conversation around it: the recent history, the account's
//! KB, the model within its token budgets (an exhausted budget hands off), the usage recorded.
//! The live bot (`runner`) and shadow mode (`shadow`) take the same decision through here.
use std::sync::Arc;

use super::{
    assist,
    decide::{self, DecideInput, Decision},
    intent::IntentModel,
    rules::HandoffReason,
};
use crate::{
    context::AppContext,
    db::entities::{conversation, inbox},
    error::AppResult,
    llm,
    messages::Message,
};

/// The bot's decision on `msg` exactly as the live bot takes it (recent history, the KB, the
/// model within its token budgets; an exhausted budget hands off), with the usage recorded as
/// `kind`. Shared by the live bot and shadow mode. Returns the decision and the history used.
pub async fn decide_for(
    ctx: &AppContext,
    conv: &conversation::Model,
    inbox: &inbox::Model,
    msg: &Message,
    bot_turns: i32,
    kind: &str,
    intents: Option<Arc<IntentModel>>,
) -> AppResult<(Decision, Vec<Message>)> {
    let account_id = conv.account_id;
    let conversation_id = conv.id;
    let history = assist::recent(ctx, conversation_id, msg.seq).await?;
    let kb = ctx.kb.get(&ctx.db, account_id).await?;
    let budget = match &ctx.llm {
        Some(_) => {
            llm::usage::check(&ctx.db, &ctx.settings, account_id, Some(conversation_id)).await
        }
        None => Ok(()),
    };
    let hosts = allowed_hosts(ctx);
    let decision = match budget {
        Ok(()) => {
            decide::decide(
                &kb,
                ctx.llm.as_deref(),
                DecideInput {
                    question: &msg.body,
                    history: &assist::turns(&history),
                    bot_turns,
                    max_turns: inbox.bot_max_turns,
                    allowed_hosts: &hosts,
                    max_tokens: ctx.settings.llm_max_tokens,
                    intents,
                },
            )
            .await
        }
        Err(e) => {
            tracing::warn!(error = %e, "bot model budget exhausted; handing off");
            let mut d = decide::decide(
                &kb,
                None,
                DecideInput {
                    question: &msg.body,
                    history: &[],
                    bot_turns: i32::MAX,
                    max_turns: 0,
                    allowed_hosts: &hosts,
                    max_tokens: 0,
                    intents: None,
                },
            )
            .await;
            d.handoff = Some(HandoffReason::ModelFailure);
            d
        }
    };
    if let (Some(u), Some(l)) = (decision.usage, &ctx.llm) {
        llm::usage::record(
            &ctx.db,
            account_id,
            Some(conversation_id),
            kind,
            l.model(),
            u,
        )
        .await;
    }
    Ok((decision, history))
}

fn allowed_hosts(ctx: &AppContext) -> Vec<String> {
    let mut hosts = Vec::new();
    if let Some(h) = crate::urls::link_host(&ctx.settings.public_url) {
        hosts.push(h);
    }
    hosts
}
