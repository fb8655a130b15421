//! The first-line bot at work: an event listener that answers each customer message of a
//! conversation the bot holds (`bot_state = active`, status `pending`, no assignee) **exactly
//! once** — its reply is stored under `client_msg_id = bot-<customer message id>`, which the
//! message writer deduplicates, so a retry, a catch-up or a second node cannot answer twice.
//! Messages of one conversation are handled in order (one lock per conversation); the model
//! is called with no transaction open, while the customer sees "typing".
//!
//! Handing off posts a short message to the customer, a private note with the reason and a
//! summary for the agent, and moves the conversation to `open` + `handed_off` with a
//! conditional update (only from `active`), which routing then assigns. `handed_off` is final: the bot
//! never takes that conversation back, so there are no loops. An agent replying or being assigned
//! also ends the bot's turn. Every 5 s a catch-up pass answers bot conversations whose customer
//! still waits (a crash between the customer's message and the answer, or a missed event).
//!
//! With several nodes, the node that stored the customer's message answers it; before working
//! on a conversation a node takes its **lease** (`bot_lease_until`, a conditional update), so
//! another node's catch-up pass does not start a second model call meanwhile. A lease left by a
//! node that died expires and the catch-up pass of any node takes over.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use super::{assist, decide::Decision, intent::IntentModel, rules::HandoffReason, shadow};
use crate::{
    actor::{Actor, SenderType},
    context::AppContext,
    conversations::state::{self, BotState, Status},
    db::entities::{conversation, inbox, message},
    error::AppResult,
    events::DomainEvent,
    messages::{self, Message, SendCommand},
};

const CATCH_UP_EVERY: Duration = Duration::from_secs(5);
/// A customer message is left to the event path this long before a catch-up pass takes it.
pub const CATCH_UP_GRACE: Duration = Duration::from_secs(3);
/// Model calls in flight at once (each holds a conversation's turn).
const CONCURRENCY: usize = 16;

pub fn spawn(ctx: AppContext, rx: mpsc::Receiver<DomainEvent>) -> tokio::task::JoinHandle<()> {
    let bot = Bot {
        ctx,
        locks: Arc::new(Mutex::new(HashMap::new())),
        permits: Arc::new(Semaphore::new(CONCURRENCY)),
        done_with: Arc::new(Mutex::new(HashSet::new())),
        intents: Arc::new(tokio::sync::OnceCell::new()),
        shadow: Arc::new(shadow::Cache::default()),
    };
    tokio::spawn(bot.run(rx))
}

/// Conversations remembered as done with, at most (then forgotten wholesale).
const MAX_DONE_WITH: usize = 100_000;

#[derive(Clone)]
struct Bot {
    ctx: AppContext,
    locks: Arc<Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>>,
    permits: Arc<Semaphore>,
    /// Conversations the bot will never answer again (`bot_state` NULL or `handed_off`, both
    /// final): their messages cost no database read. Without this every customer message of a
    /// human-only inbox read its conversation row, which cut sustained throughput by more than
    /// half in `switchboard-bench messages`.
    done_with: Arc<Mutex<HashSet<Uuid>>>,
    /// Intents by meaning, when the sentence model is installed (else the lexical rules); built
    /// at the first decision, so a node whose inboxes have no bot never embeds the exemplars.
    intents: Arc<tokio::sync::OnceCell<Option<Arc<IntentModel>>>>,
    /// Inboxes in shadow mode (the bot drafts for agents, sends nothing).
    shadow: Arc<shadow::Cache>,
}

impl Bot {
    /// The intent model, built once (None without the sentence model: the lexical rules).
    async fn intents(&self) -> Option<Arc<IntentModel>> {
        self.intents
            .get_or_init(|| async {
                let embedder = self.ctx.embedder.clone()?;
                match tokio::task::spawn_blocking(move || IntentModel::build(embedder)).await {
                    Ok(Ok(m)) => Some(Arc::new(m)),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "intent model unusable; lexical rules");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "intent model task failed; lexical rules");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    async fn run(self, mut rx: mpsc::Receiver<DomainEvent>) {
        let mut tick = tokio::time::interval(CATCH_UP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => self.on_event(ev).await,
                    None => break,
                },
                _ = tick.tick() => {
                    let me = self.clone();
                    tokio::spawn(async move { me.catch_up().await });
                }
            }
        }
    }

    fn is_done_with(&self, conversation_id: Uuid) -> bool {
        self.done_with
            .lock()
            .map(|s| s.contains(&conversation_id))
            .unwrap_or(false)
    }

    fn done_with(&self, conversation_id: Uuid) {
        if let Ok(mut s) = self.done_with.lock() {
            if s.len() >= MAX_DONE_WITH {
                s.clear();
            }
            s.insert(conversation_id);
        }
    }

    async fn on_event(&self, ev: DomainEvent) {
        let conversation_id = match &ev {
            DomainEvent::MessageCreated { message, .. } => Some(message.conversation_id),
            DomainEvent::ConversationUpdated { state, .. } => {
                if state.bot_state != Some(BotState::Active) {
                    self.done_with(state.conversation_id);
                }
                Some(state.conversation_id)
            }
            _ => None,
        };
        let from_customer = matches!(&ev, DomainEvent::MessageCreated { message, .. }
            if message.sender_type == SenderType::Customer && !message.private);
        if let DomainEvent::MessageCreated {
            account_id,
            message,
        } = &ev
            && from_customer
        {
            // Shadow mode: a draft for the agents, nothing for the customer. Shadow
            // conversations are never bot-held, so the live path below ignores them.
            let (me, account_id, message) = (self.clone(), *account_id, message.clone());
            self.shadow.in_order(message.conversation_id, async move {
                if me.shadow.in_shadow(&me.ctx, message.conversation_id).await {
                    me.shadow_draft(account_id, &message).await;
                }
            });
        }
        if conversation_id.is_some_and(|c| self.is_done_with(c)) {
            if from_customer {
                self.ctx.passes.bot_messages.done();
            }
            return;
        }
        match ev {
            DomainEvent::MessageCreated {
                account_id,
                message,
            } if from_customer => {
                let me = self.clone();
                tokio::spawn(async move {
                    me.handle(account_id, message.conversation_id, Some(message))
                        .await;
                    me.ctx.passes.bot_messages.done();
                });
            }
            DomainEvent::MessageCreated {
                account_id,
                message,
            } if message.sender_type == SenderType::Agent && !message.private => {
                // A person answered: the conversation is theirs from now on.
                let me = self.clone();
                tokio::spawn(async move {
                    me.end_bot_turn(account_id, message.conversation_id, None)
                        .await;
                });
            }
            DomainEvent::ConversationUpdated { account_id, state }
                if state.assignee_id.is_some() =>
            {
                let me = self.clone();
                tokio::spawn(async move {
                    me.end_bot_turn(account_id, state.conversation_id, None)
                        .await;
                });
            }
            _ => {}
        }
    }

    fn lock_for(&self, conversation_id: Uuid) -> Arc<tokio::sync::Mutex<()>> {
        let Ok(mut m) = self.locks.lock() else {
            return Arc::new(tokio::sync::Mutex::new(()));
        };
        if m.len() > 10_000 {
            m.retain(|_, l| Arc::strong_count(l) > 1);
        }
        m.entry(conversation_id).or_default().clone()
    }

    /// Answers `msg` (or, on catch-up, the conversation's latest customer message) if the bot
    /// holds the conversation and has not answered it yet.
    async fn handle(&self, account_id: Uuid, conversation_id: Uuid, msg: Option<Arc<Message>>) {
        let lock = self.lock_for(conversation_id);
        let _turn = lock.lock().await;
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        if let Err(e) = self.answer(account_id, conversation_id, msg).await {
            tracing::warn!(error = %e, %conversation_id, "the bot could not answer; will retry on catch-up");
            self.ctx
                .hub
                .bot_typing(account_id, conversation_id, false)
                .await;
        }
    }

    /// Shadow mode's draft for one customer message, in the conversation's turn.
    async fn shadow_draft(&self, account_id: Uuid, msg: &Message) {
        let lock = self.lock_for(msg.conversation_id);
        let _turn = lock.lock().await;
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        if let Err(e) = shadow::draft(&self.ctx, account_id, msg, self.intents().await).await {
            tracing::warn!(error = %e, conversation_id = %msg.conversation_id, "the shadow bot could not draft");
        }
    }

    async fn answer(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        msg: Option<Arc<Message>>,
    ) -> AppResult<()> {
        let ctx = &self.ctx;
        let Some(conv) = conversation::Entity::find_by_id(conversation_id)
            .one(&ctx.db)
            .await?
        else {
            return Ok(());
        };
        if conv.bot_state != Some(BotState::Active) {
            self.done_with(conversation_id);
            return Ok(());
        }
        if conv.assignee_id.is_some() || conv.status != Status::Pending {
            return Ok(());
        }
        let msg = match msg {
            Some(m) => m,
            None => match latest_customer_message(ctx, conversation_id).await? {
                Some(m) => Arc::new(m),
                None => return Ok(()),
            },
        };
        let reply_id = format!("bot-{}", msg.id);
        if already_answered(ctx, conversation_id, &reply_id).await? {
            return Ok(());
        }
        let Some(lease) = take_lease(ctx, conversation_id).await? else {
            return Ok(()); // another node is answering it
        };
        let res = self
            .answer_with_lease(&conv, account_id, msg, &reply_id)
            .await;
        release_lease(ctx, conversation_id, lease).await;
        res
    }

    async fn answer_with_lease(
        &self,
        conv: &conversation::Model,
        account_id: Uuid,
        msg: Arc<Message>,
        reply_id: &str,
    ) -> AppResult<()> {
        let ctx = &self.ctx;
        let conversation_id = conv.id;
        let Some(inbox) = inbox::Entity::find_by_id(conv.inbox_id)
            .one(&ctx.db)
            .await?
        else {
            return Ok(());
        };
        ctx.hub.bot_typing(account_id, conversation_id, true).await;
        let (decision, history) = super::turn::decide_for(
            ctx,
            conv,
            &inbox,
            &msg,
            conv.bot_turns,
            "bot",
            self.intents().await,
        )
        .await?;
        let result = match decision.handoff {
            None => {
                self.reply(account_id, conversation_id, reply_id, &decision)
                    .await
            }
            Some(reason) => {
                self.hand_off(
                    account_id,
                    conversation_id,
                    reply_id,
                    &decision,
                    reason,
                    &history,
                    &msg,
                )
                .await
            }
        };
        ctx.hub.bot_typing(account_id, conversation_id, false).await;
        result
    }

    async fn reply(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        reply_id: &str,
        d: &Decision,
    ) -> AppResult<()> {
        let mut body = d.text.clone();
        if !d.citations.is_empty() {
            let list: Vec<String> = d
                .citations
                .iter()
                .map(|c| match &c.url {
                    Some(u) => format!("{} ({u})", c.title),
                    None => c.title.clone(),
                })
                .collect();
            let label = if list.len() == 1 { "Source" } else { "Sources" };
            body.push_str(&format!("\n\n{label}: {}", list.join("; ")));
        }
        let sent = self
            .send(account_id, conversation_id, reply_id, body, false)
            .await?;
        if !sent.duplicate {
            state::count_bot_turn(&self.ctx.db, conversation_id).await?;
        }
        Ok(())
    }

    async fn send(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        client_msg_id: &str,
        body: String,
        private: bool,
    ) -> AppResult<messages::Sent> {
        let max = self.ctx.settings.max_body_bytes;
        let body = if body.len() > max {
            let mut cut = max.saturating_sub(3);
            while !body.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &body[..cut])
        } else {
            body
        };
        crate::delivery::send::send(
            &self.ctx,
            Actor::Bot { account_id },
            SendCommand {
                conversation_id,
                client_msg_id: client_msg_id.to_string(),
                body,
                private,
            },
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn hand_off(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        reply_id: &str,
        d: &Decision,
        reason: HandoffReason,
        history: &[Message],
        msg: &Message,
    ) -> AppResult<()> {
        self.send(account_id, conversation_id, reply_id, d.text.clone(), false)
            .await?;
        let mut all: Vec<Message> = history.to_vec();
        all.push(msg.clone());
        let mut note = format!(
            "Bot handed off: {}.\n{}",
            reason.describe(),
            assist::offline_summary(&all)
        );
        if !d.retrieved.is_empty() {
            note.push_str(&format!(
                "\nRelated articles: {}",
                d.retrieved
                    .iter()
                    .take(3)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if d.injection {
            note.push_str("\nNote: the message tried to give the assistant instructions.");
        }
        self.send(
            account_id,
            conversation_id,
            &format!("bot-note-{}", msg.id),
            note,
            true,
        )
        .await?;
        self.end_bot_turn(account_id, conversation_id, Some(reason))
            .await;
        Ok(())
    }

    /// `active` → `handed_off` (once; a no-op otherwise), opening a pending conversation for
    /// routing, with the customer waiting from now.
    async fn end_bot_turn(
        &self,
        account_id: Uuid,
        conversation_id: Uuid,
        reason: Option<HandoffReason>,
    ) {
        if let Err(e) = state::hand_off(
            &self.ctx.db,
            &self.ctx.events,
            conversation_id,
            reason.is_some(),
        )
        .await
        {
            tracing::warn!(error = %e, %account_id, "ending the bot's turn failed");
        }
    }

    /// Answers bot conversations whose customer still waits (missed events, restarts).
    async fn catch_up(&self) {
        let grace = chrono::Duration::from_std(CATCH_UP_GRACE).unwrap_or_default();
        let cutoff = Utc::now() - grace;
        let waiting = conversation::Entity::find()
            .filter(conversation::Column::BotState.eq(BotState::Active))
            .filter(conversation::Column::Status.eq(Status::Pending))
            .filter(conversation::Column::AssigneeId.is_null())
            .filter(conversation::Column::WaitingSince.lt(cutoff))
            .order_by_asc(conversation::Column::WaitingSince)
            .limit(50)
            .all(&self.ctx.db)
            .await;
        match waiting {
            Ok(rows) => {
                for c in rows {
                    self.handle(c.account_id, c.id, None).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "bot catch-up failed"),
        }
        self.ctx.passes.bot_catch_up.done();
    }
}

/// How long a node may work on one answer before another node may take over: the model's
/// whole retry budget, bounded.
fn lease_length(ctx: &AppContext) -> chrono::Duration {
    let s = &ctx.settings;
    let per_try = std::cmp::max(s.llm_first_token_timeout(), s.llm_timeout());
    let budget = per_try * (s.llm_max_retries + 1) + Duration::from_secs(15);
    let bounded = budget.clamp(Duration::from_secs(30), Duration::from_secs(300));
    chrono::Duration::from_std(bounded).unwrap_or(chrono::Duration::minutes(5))
}

/// Takes the conversation's bot lease; None when another worker holds it. The value returned
/// (millisecond precision, as every database stores it) identifies this holder.
async fn take_lease(
    ctx: &AppContext,
    conversation_id: Uuid,
) -> AppResult<Option<chrono::DateTime<Utc>>> {
    let now = Utc::now();
    let Some(until) =
        chrono::DateTime::from_timestamp_millis((now + lease_length(ctx)).timestamp_millis())
    else {
        return Ok(None);
    };
    let taken = state::take_bot_lease(&ctx.db, conversation_id, now, until).await?;
    Ok(taken.then_some(until))
}

async fn release_lease(ctx: &AppContext, conversation_id: Uuid, lease: chrono::DateTime<Utc>) {
    let res = state::release_bot_lease(&ctx.db, conversation_id, lease).await;
    if let Err(e) = res {
        tracing::warn!(error = %e, "releasing the bot lease failed (it expires by itself)");
    }
}

async fn latest_customer_message(
    ctx: &AppContext,
    conversation_id: Uuid,
) -> AppResult<Option<Message>> {
    Ok(message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::SenderType.eq("customer"))
        .filter(message::Column::Private.eq(false))
        .order_by_desc(message::Column::Seq)
        .one(&ctx.db)
        .await?
        .map(Message::from))
}

async fn already_answered(
    ctx: &AppContext,
    conversation_id: Uuid,
    reply_id: &str,
) -> AppResult<bool> {
    Ok(message::Entity::find()
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::ClientMsgId.eq(reply_id))
        .filter(message::Column::SenderType.eq("bot"))
        .one(&ctx.db)
        .await?
        .is_some())
}
