//! What agents do to a conversation besides writing: assign / transfer / unassign, and move it
//! between open, pending, snoozed (until a time) and resolved. Every change is announced to the
//! agents and the customer (`conversation_updated`).
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde::Deserialize;
use uuid::Uuid;

use super::service::{STATUSES, get_for};
use crate::{
    actor::{Actor, AgentIdentity},
    context::AppContext,
    db::entities::{agent, conversation},
    error::{AppError, AppResult},
    events::{ConversationState, DomainEvent},
};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    pub agent_id: Option<Uuid>,
    /// Claim: assign only if nobody holds the conversation yet (else 409 `conflict`). Two
    /// agents claiming at once — on the same node or on two nodes — get one winner.
    #[serde(default)]
    pub only_if_unassigned: bool,
}

async fn save(ctx: &AppContext, am: conversation::ActiveModel) -> AppResult<conversation::Model> {
    let saved = conversation::Entity::update(am).exec(&ctx.db).await?;
    announce(ctx, saved).await
}

/// Tells everyone watching (agents, the customer, routing, other nodes) about the change.
async fn announce(ctx: &AppContext, saved: conversation::Model) -> AppResult<conversation::Model> {
    ctx.events
        .publish(DomainEvent::ConversationUpdated {
            account_id: saved.account_id,
            state: ConversationState::from(&saved),
        })
        .await;
    Ok(saved)
}

/// Assigns to an active agent of the same account, or unassigns (back to the queue).
pub async fn assign(
    ctx: &AppContext,
    who: &AgentIdentity,
    id: Uuid,
    body: AssignBody,
) -> AppResult<conversation::Model> {
    let conv = get_for(ctx, &Actor::Agent(*who), id).await?;
    if let Some(target) = body.agent_id {
        agent::Entity::find_by_id(target)
            .filter(agent::Column::AccountId.eq(who.account_id))
            .filter(agent::Column::Active.eq(true))
            .one(&ctx.db)
            .await?
            .ok_or(AppError::NotFound("agent"))?;
    }
    if body.only_if_unassigned {
        return claim(ctx, conv, body.agent_id).await;
    }
    if conv.assignee_id == body.agent_id {
        return Ok(conv);
    }
    let mut am: conversation::ActiveModel = conv.into();
    am.assignee_id = Set(body.agent_id);
    am.updated_at = Set(Utc::now());
    save(ctx, am).await
}

/// A conditional `UPDATE … WHERE assignee_id IS NULL`: the database picks the one winner.
async fn claim(
    ctx: &AppContext,
    conv: conversation::Model,
    agent_id: Option<Uuid>,
) -> AppResult<conversation::Model> {
    let Some(agent_id) = agent_id else {
        return Err(AppError::Invalid(
            "only_if_unassigned needs an agent_id".into(),
        ));
    };
    let res = conversation::Entity::update_many()
        .col_expr(conversation::Column::AssigneeId, Expr::value(agent_id))
        .col_expr(conversation::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(conversation::Column::Id.eq(conv.id))
        .filter(conversation::Column::AssigneeId.is_null())
        .exec(&ctx.db)
        .await?;
    let saved = conversation::Entity::find_by_id(conv.id)
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("conversation"))?;
    if res.rows_affected == 0 {
        return if saved.assignee_id == Some(agent_id) {
            Ok(saved)
        } else {
            Err(AppError::Conflict(
                "the conversation is already assigned".into(),
            ))
        };
    }
    announce(ctx, saved).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: String,
    pub snoozed_until: Option<DateTime<Utc>>,
}

pub async fn set_status(
    ctx: &AppContext,
    who: &AgentIdentity,
    id: Uuid,
    body: StatusBody,
) -> AppResult<conversation::Model> {
    if !STATUSES.contains(&body.status.as_str()) {
        return Err(AppError::Invalid(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let snooze = match (body.status.as_str(), body.snoozed_until) {
        ("snoozed", Some(t)) if t > Utc::now() => Some(t),
        ("snoozed", _) => {
            return Err(AppError::Invalid(
                "snoozing needs a snoozed_until in the future".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AppError::Invalid(
                "snoozed_until only goes with status snoozed".into(),
            ));
        }
        _ => None,
    };
    let conv = get_for(ctx, &Actor::Agent(*who), id).await?;
    if conv.status == body.status && conv.snoozed_until == snooze {
        return Ok(conv);
    }
    let mut am: conversation::ActiveModel = conv.into();
    am.status = Set(body.status);
    am.snoozed_until = Set(snooze);
    am.updated_at = Set(Utc::now());
    save(ctx, am).await
}

/// Reopens conversations whose snooze has ended; returns how many woke up.
pub async fn wake_snoozed(ctx: &AppContext, now: DateTime<Utc>) -> AppResult<usize> {
    let due = conversation::Entity::find()
        .filter(conversation::Column::Status.eq("snoozed"))
        .filter(conversation::Column::SnoozedUntil.lte(now))
        .all(&ctx.db)
        .await?;
    let mut woke = 0;
    for c in due {
        // Only if still snoozed with the same deadline: an agent may have acted meanwhile.
        let res = conversation::Entity::update_many()
            .col_expr(conversation::Column::Status, "open".into())
            .col_expr(
                conversation::Column::SnoozedUntil,
                Option::<DateTime<Utc>>::None.into(),
            )
            .col_expr(conversation::Column::UpdatedAt, now.into())
            .filter(conversation::Column::Id.eq(c.id))
            .filter(conversation::Column::Status.eq("snoozed"))
            .filter(conversation::Column::SnoozedUntil.eq(c.snoozed_until))
            .exec(&ctx.db)
            .await?;
        if res.rows_affected == 1 {
            woke += 1;
            let mut state = ConversationState::from(&c);
            state.status = "open".into();
            state.snoozed_until = None;
            ctx.events
                .publish(DomainEvent::ConversationUpdated {
                    account_id: c.account_id,
                    state,
                })
                .await;
        }
    }
    Ok(woke)
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    pub tags: Vec<String>,
}

/// Normalises tags: trimmed, lower-case, `a-z0-9-_./` and letters of any script, ≤ 40 chars,
/// at most 20, no duplicates.
pub fn clean_tags(tags: &[String]) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_lowercase();
        if t.is_empty() {
            continue;
        }
        let ok = t.chars().count() <= 40
            && t.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if !ok {
            return Err(AppError::Invalid(format!(
                "tag {t:?}: at most 40 letters, digits, '-', '_', '.', '/'"
            )));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > 20 {
        return Err(AppError::Invalid("at most 20 tags".into()));
    }
    Ok(out)
}

/// Replaces the conversation's tags (labels).
pub async fn set_tags(
    ctx: &AppContext,
    who: &AgentIdentity,
    id: Uuid,
    body: TagsBody,
) -> AppResult<conversation::Model> {
    let tags = clean_tags(&body.tags)?.join("\n");
    let conv = get_for(ctx, &Actor::Agent(*who), id).await?;
    if conv.tags == tags {
        return Ok(conv);
    }
    let mut am: conversation::ActiveModel = conv.into();
    am.tags = Set(tags);
    am.updated_at = Set(Utc::now());
    save(ctx, am).await
}
