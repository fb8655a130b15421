//! Shadow mode: in an inbox whose bot runs in shadow (`inbox.bot_shadow`), every public customer
//! message gets the decision the live bot would take — the same [`runner::decide_for`] inputs —
//! stored as a `bot_draft` row and shown to the account's agents (a `bot_draft` frame), while
//! nothing is sent to the customer and the conversation is routed to humans as with the bot off.
//! Agents rate each draft (👍 / 👎 / "should have handed off"); [`stats`] turns the ratings of
//! the last 30 days into the figures the KB admin page shows (definitions in docs/ai.md).
//!
//! Exactly once per message: the draft's `message_id` is unique, a second attempt (a retry, a
//! second node) finds the row and stops before calling the model, and a race that gets that far
//! loses at the insert (`ON CONFLICT DO NOTHING`) and announces nothing.
use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::OnConflict,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    actor::{Actor, AgentIdentity},
    context::AppContext,
    db::entities::{
        bot_draft::{self, Source, View},
        conversation, inbox,
    },
    error::{AppError, AppResult},
    events::DomainEvent,
    inboxes::settings::{BotMode, settings_epoch},
    messages::Message,
};

/// The runner's set of shadow inboxes reloads when an inbox changes on this node
/// ([`settings_epoch`]) and at least this often (other nodes' changes).
const SHADOW_TTL: Duration = Duration::from_secs(2);
/// Conversations whose inbox is remembered, at most (then forgotten wholesale).
const MAX_REMEMBERED: usize = 100_000;
/// The window of the figures.
pub const STATS_DAYS: i64 = 30;

/// Which inboxes run in shadow, and which inbox each conversation is in: a customer message
/// of a human-only or live-bot inbox costs no database read once the set is known.
#[derive(Default)]
pub(super) struct Cache {
    shadow: Mutex<Option<(Instant, u64, HashSet<Uuid>)>>,
    inbox_of: Mutex<HashMap<Uuid, Uuid>>,
    /// The last shadow task of each conversation: the next one waits for it, so a conversation's
    /// messages are drafted in the order their events came.
    tails: Mutex<HashMap<Uuid, tokio::task::JoinHandle<()>>>,
}

impl Cache {
    /// Runs `work` after the shadow work already queued for `conversation_id`.
    pub(super) fn in_order(
        &self,
        conversation_id: Uuid,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let Ok(mut tails) = self.tails.lock() else {
            tokio::spawn(work);
            return;
        };
        if tails.len() >= 10_000 {
            tails.retain(|_, h| !h.is_finished());
        }
        let prev = tails.remove(&conversation_id);
        let next = tokio::spawn(async move {
            if let Some(p) = prev {
                let _ = p.await;
            }
            work.await;
        });
        tails.insert(conversation_id, next);
    }

    async fn shadow_inboxes(&self, ctx: &AppContext) -> AppResult<HashSet<Uuid>> {
        let epoch = settings_epoch();
        if let Ok(g) = self.shadow.lock()
            && let Some((at, e, set)) = g.as_ref()
            && *e == epoch
            && at.elapsed() < SHADOW_TTL
        {
            return Ok(set.clone());
        }
        let ids: Vec<Uuid> = inbox::Entity::find()
            .select_only()
            .column(inbox::Column::Id)
            .filter(inbox::Column::BotShadow.eq(true))
            .filter(inbox::Column::BotEnabled.eq(false))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        let set: HashSet<Uuid> = ids.into_iter().collect();
        if let Ok(mut g) = self.shadow.lock() {
            *g = Some((Instant::now(), epoch, set.clone()));
        }
        Ok(set)
    }

    /// Whether `conversation_id` is in an inbox that runs in shadow right now.
    pub(super) async fn in_shadow(&self, ctx: &AppContext, conversation_id: Uuid) -> bool {
        let set = match self.shadow_inboxes(ctx).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "loading shadow inboxes failed");
                return false;
            }
        };
        if set.is_empty() {
            return false;
        }
        let known = self
            .inbox_of
            .lock()
            .ok()
            .and_then(|m| m.get(&conversation_id).copied());
        let inbox_id = match known {
            Some(i) => i,
            None => {
                let Ok(Some(c)) = conversation::Entity::find_by_id(conversation_id)
                    .one(&ctx.db)
                    .await
                else {
                    return false;
                };
                if let Ok(mut m) = self.inbox_of.lock() {
                    if m.len() >= MAX_REMEMBERED {
                        m.clear();
                    }
                    m.insert(conversation_id, c.inbox_id);
                }
                c.inbox_id
            }
        };
        set.contains(&inbox_id)
    }
}

fn sources(m: &bot_draft::Model) -> Vec<Source> {
    serde_json::from_str(&m.sources).unwrap_or_default()
}

fn reason_text(code: &str) -> Option<String> {
    serde_json::from_value::<super::rules::HandoffReason>(serde_json::Value::String(code.into()))
        .ok()
        .map(|r| r.describe().to_string())
}

pub fn view(m: &bot_draft::Model) -> View {
    let handoff = m.action == "handoff";
    View {
        id: m.id,
        inbox_id: m.inbox_id,
        conversation_id: m.conversation_id,
        message_id: m.message_id,
        action: m.action.clone(),
        reason: handoff.then(|| m.reason.clone()),
        reason_text: if handoff {
            reason_text(&m.reason)
        } else {
            None
        },
        text: m.text.clone(),
        sources: sources(m),
        created_at: m.created_at,
        feedback: m.feedback.clone(),
        feedback_by: m.feedback_by,
        feedback_at: m.feedback_at,
    }
}

async fn draft_exists(ctx: &AppContext, message_id: Uuid) -> AppResult<bool> {
    Ok(bot_draft::Entity::find()
        .filter(bot_draft::Column::MessageId.eq(message_id))
        .count(&ctx.db)
        .await?
        > 0)
}

/// Drafts what the bot would do with the customer message `msg` (once per message; a no-op
/// when the inbox is no longer in shadow). The caller holds the conversation's turn.
pub(super) async fn draft(
    ctx: &AppContext,
    account_id: Uuid,
    msg: &Message,
    intents: Option<std::sync::Arc<super::intent::IntentModel>>,
) -> AppResult<()> {
    if draft_exists(ctx, msg.id).await? {
        return Ok(());
    }
    let Some(conv) = conversation::Entity::find_by_id(msg.conversation_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    if conv.account_id != account_id {
        return Ok(());
    }
    let Some(inbox) = inbox::Entity::find_by_id(conv.inbox_id)
        .one(&ctx.db)
        .await?
    else {
        return Ok(());
    };
    if BotMode::of(&inbox) != BotMode::Shadow {
        return Ok(());
    }
    // What the live bot would have counted: its answers so far in this conversation.
    let answered = bot_draft::Entity::find()
        .filter(bot_draft::Column::ConversationId.eq(conv.id))
        .filter(bot_draft::Column::Action.eq("answer"))
        .count(&ctx.db)
        .await?;
    let bot_turns = i32::try_from(answered).unwrap_or(i32::MAX);
    let (d, _) =
        super::turn::decide_for(ctx, &conv, &inbox, msg, bot_turns, "bot_shadow", intents).await?;
    let (action, reason) = match d.handoff {
        None => ("answer", String::new()),
        Some(r) => (
            "handoff",
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
    };
    let cited: Vec<Source> = d
        .citations
        .iter()
        .map(|c| Source {
            slug: c.slug.clone(),
            title: c.title.clone(),
            url: c.url.clone(),
        })
        .collect();
    let row = bot_draft::Model {
        id: Uuid::now_v7(),
        account_id,
        inbox_id: conv.inbox_id,
        conversation_id: conv.id,
        message_id: msg.id,
        action: action.into(),
        reason,
        text: d.text,
        sources: serde_json::to_string(&cited).unwrap_or_else(|_| "[]".into()),
        created_at: Utc::now(),
        feedback: "none".into(),
        feedback_by: None,
        feedback_at: None,
    };
    let am: bot_draft::ActiveModel = row.clone().into();
    let inserted = bot_draft::Entity::insert(am)
        .on_conflict(
            OnConflict::column(bot_draft::Column::MessageId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&ctx.db)
        .await?;
    if inserted == 1 {
        ctx.events
            .publish(DomainEvent::BotDraft {
                account_id,
                draft: std::sync::Arc::new(view(&row)),
            })
            .await;
    }
    Ok(())
}

/// The drafts of a conversation, oldest first (agents of its account).
pub async fn list(
    ctx: &AppContext,
    who: &AgentIdentity,
    conversation_id: Uuid,
) -> AppResult<Vec<View>> {
    let conv =
        crate::conversations::service::get_for(&ctx.db, &Actor::Agent(*who), conversation_id)
            .await?;
    let rows = bot_draft::Entity::find()
        .filter(bot_draft::Column::ConversationId.eq(conv.id))
        .filter(bot_draft::Column::AccountId.eq(who.account_id))
        .order_by_asc(bot_draft::Column::CreatedAt)
        .order_by_asc(bot_draft::Column::Id)
        .limit(1000)
        .all(&ctx.db)
        .await?;
    Ok(rows.iter().map(view).collect())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feedback {
    Up,
    Down,
    ShouldHandoff,
}

impl Feedback {
    pub fn as_str(self) -> &'static str {
        match self {
            Feedback::Up => "up",
            Feedback::Down => "down",
            Feedback::ShouldHandoff => "should_handoff",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    pub feedback: String,
}

/// An agent's verdict on a draft (the last one wins). 404 outside the agent's account.
pub async fn feedback(
    ctx: &AppContext,
    who: &AgentIdentity,
    draft_id: Uuid,
    input: FeedbackInput,
) -> AppResult<View> {
    let row = bot_draft::Entity::find_by_id(draft_id)
        .filter(bot_draft::Column::AccountId.eq(who.account_id))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("bot draft"))?;
    let fb: Feedback =
        serde_json::from_value(serde_json::Value::String(input.feedback)).map_err(|_| {
            AppError::Invalid("feedback must be \"up\", \"down\" or \"should_handoff\"".into())
        })?;
    if fb == Feedback::ShouldHandoff && row.action == "handoff" {
        return Err(AppError::Invalid(
            "this draft already hands off: rate it \"up\" to agree".into(),
        ));
    }
    let mut am: bot_draft::ActiveModel = row.into();
    am.feedback = Set(fb.as_str().into());
    am.feedback_by = Set(Some(who.agent_id));
    am.feedback_at = Set(Some(Utc::now()));
    let saved = bot_draft::Entity::update(am).exec(&ctx.db).await?;
    let v = view(&saved);
    ctx.events
        .publish(DomainEvent::BotDraft {
            account_id: who.account_id,
            draft: std::sync::Arc::new(v.clone()),
        })
        .await;
    Ok(v)
}

/// The shadow figures over [`STATS_DAYS`] days; a rate is None while its denominator is 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Stats {
    pub days: i64,
    pub inbox_id: Option<Uuid>,
    pub drafts: u64,
    pub would_answer: u64,
    pub would_handoff: u64,
    pub would_answer_rate: Option<f64>,
    pub rated: u64,
    pub up: u64,
    pub down: u64,
    pub should_handoff: u64,
    /// up / rated.
    pub agreement: Option<f64>,
    /// Would-handoff drafts rated, and of those rated up.
    pub handoff_rated: u64,
    pub handoff_up: u64,
    /// handoff_up / handoff_rated.
    pub handoff_precision: Option<f64>,
    /// handoff_up / (handoff_up + should_handoff on would-answer drafts).
    pub handoff_recall: Option<f64>,
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// The figures from `(action, feedback, count)` groups.
pub fn compute(groups: &[(String, String, i64)]) -> Stats {
    let mut s = Stats {
        days: STATS_DAYS,
        ..Stats::default()
    };
    let mut missed = 0u64; // would answer, agents say it should have handed off
    for (action, fb, n) in groups {
        let n = u64::try_from(*n).unwrap_or(0);
        let handoff = action == "handoff";
        s.drafts += n;
        if handoff {
            s.would_handoff += n;
        } else {
            s.would_answer += n;
        }
        if fb == "none" {
            continue;
        }
        s.rated += n;
        match fb.as_str() {
            "up" => s.up += n,
            "down" => s.down += n,
            "should_handoff" => s.should_handoff += n,
            _ => {}
        }
        if handoff {
            s.handoff_rated += n;
            if fb == "up" {
                s.handoff_up += n;
            }
        } else if fb == "should_handoff" {
            missed += n;
        }
    }
    s.would_answer_rate = ratio(s.would_answer, s.drafts);
    s.agreement = ratio(s.up, s.rated);
    s.handoff_precision = ratio(s.handoff_up, s.handoff_rated);
    s.handoff_recall = ratio(s.handoff_up, s.handoff_up + missed);
    s
}

/// The figures for the account (or one of its inboxes) from the drafts of the last 30 days.
pub async fn stats(
    ctx: &AppContext,
    who: &AgentIdentity,
    inbox_id: Option<Uuid>,
) -> AppResult<Stats> {
    if let Some(id) = inbox_id {
        inbox::Entity::find_by_id(id)
            .filter(inbox::Column::AccountId.eq(who.account_id))
            .one(&ctx.db)
            .await?
            .ok_or(AppError::NotFound("inbox"))?;
    }
    let since = Utc::now() - chrono::Duration::days(STATS_DAYS);
    let mut q = bot_draft::Entity::find()
        .select_only()
        .column(bot_draft::Column::Action)
        .column(bot_draft::Column::Feedback)
        .column_as(bot_draft::Column::Id.count(), "n")
        .filter(bot_draft::Column::AccountId.eq(who.account_id))
        .filter(bot_draft::Column::CreatedAt.gte(since));
    if let Some(id) = inbox_id {
        q = q.filter(bot_draft::Column::InboxId.eq(id));
    }
    let groups: Vec<(String, String, i64)> = q
        .group_by(bot_draft::Column::Action)
        .group_by(bot_draft::Column::Feedback)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let mut s = compute(&groups);
    s.inbox_id = inbox_id;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(a: &str, f: &str, n: i64) -> (String, String, i64) {
        (a.into(), f.into(), n)
    }

    #[test]
    fn figures_follow_the_definitions() {
        let s = compute(&[
            g("answer", "none", 4),
            g("answer", "up", 3),
            g("answer", "down", 1),
            g("answer", "should_handoff", 1),
            g("handoff", "up", 2),
            g("handoff", "down", 1),
            g("handoff", "none", 2),
        ]);
        assert_eq!(s.drafts, 14);
        assert_eq!((s.would_answer, s.would_handoff), (9, 5));
        assert_eq!(s.would_answer_rate, Some(9.0 / 14.0));
        assert_eq!(s.rated, 8);
        assert_eq!(s.agreement, Some(5.0 / 8.0));
        assert_eq!((s.handoff_rated, s.handoff_up), (3, 2));
        assert_eq!(s.handoff_precision, Some(2.0 / 3.0));
        assert_eq!(s.handoff_recall, Some(2.0 / 3.0));
    }

    #[test]
    fn empty_figures_have_no_rates() {
        let s = compute(&[]);
        assert_eq!(s.drafts, 0);
        assert_eq!(s.would_answer_rate, None);
        assert_eq!(s.agreement, None);
        assert_eq!(s.handoff_precision, None);
        assert_eq!(s.handoff_recall, None);
    }
}
