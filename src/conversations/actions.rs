//! What agents do to a conversation besides writing: assign / transfer / unassign, and move it
//! between open, pending, snoozed (until a time) and resolved. Every change is announced to the
//! agents and the customer (`conversation_updated`).
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    service::get_for,
    state::{self, Status},
};
use crate::{
    actor::{Actor, AgentIdentity},
    db::entities::{agent, conversation},
    error::{AppError, AppResult},
    events::Events,
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

/// Assigns to an active agent of the same account, or unassigns (back to the queue).
pub async fn assign(
    db: &DatabaseConnection,
    events: &Events,
    who: &AgentIdentity,
    id: Uuid,
    body: AssignBody,
) -> AppResult<conversation::Model> {
    let conv = get_for(db, &Actor::Agent(*who), id).await?;
    if let Some(target) = body.agent_id {
        agent::Entity::find_by_id(target)
            .filter(agent::Column::AccountId.eq(who.account_id))
            .filter(agent::Column::Active.eq(true))
            .one(db)
            .await?
            .ok_or(AppError::NotFound("agent"))?;
    }
    if body.only_if_unassigned {
        return claim(db, events, conv, body.agent_id).await;
    }
    if conv.assignee_id == body.agent_id {
        return Ok(conv);
    }
    state::assign(db, events, conv.id, body.agent_id)
        .await?
        .ok_or(AppError::NotFound("conversation"))
}

/// A conditional `UPDATE … WHERE assignee_id IS NULL`: the database picks the one winner.
async fn claim(
    db: &DatabaseConnection,
    events: &Events,
    conv: conversation::Model,
    agent_id: Option<Uuid>,
) -> AppResult<conversation::Model> {
    let Some(agent_id) = agent_id else {
        return Err(AppError::Invalid(
            "only_if_unassigned needs an agent_id".into(),
        ));
    };
    if let Some(saved) = state::claim(db, events, conv.id, agent_id).await? {
        return Ok(saved);
    }
    // Lost the race, or asked twice: a claim of one's own conversation succeeds.
    let now = conversation::Entity::find_by_id(conv.id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("conversation"))?;
    if now.assignee_id == Some(agent_id) {
        Ok(now)
    } else {
        Err(AppError::Conflict(
            "the conversation is already assigned".into(),
        ))
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub status: String,
    pub snoozed_until: Option<DateTime<Utc>>,
}

pub async fn set_status(
    db: &DatabaseConnection,
    events: &Events,
    who: &AgentIdentity,
    id: Uuid,
    body: StatusBody,
) -> AppResult<conversation::Model> {
    let Some(status) = Status::parse(&body.status) else {
        return Err(AppError::Invalid(format!(
            "status must be one of {}",
            Status::list()
        )));
    };
    let snooze = match (status, body.snoozed_until) {
        (Status::Snoozed, Some(t)) if t > Utc::now() => Some(t),
        (Status::Snoozed, _) => {
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
    let conv = get_for(db, &Actor::Agent(*who), id).await?;
    if conv.status == status && conv.snoozed_until == snooze {
        return Ok(conv);
    }
    state::set_status(db, events, conv.id, status, snooze)
        .await?
        .ok_or(AppError::NotFound("conversation"))
}

/// Reopens conversations whose snooze has ended; returns how many woke up.
pub async fn wake_snoozed(
    db: &DatabaseConnection,
    events: &Events,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    Ok(state::wake_due_snoozes(db, events, now).await?.len())
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsBody {
    pub tags: Vec<String>,
}

/// Replaces the conversation's tags (labels).
pub async fn set_tags(
    db: &DatabaseConnection,
    events: &Events,
    who: &AgentIdentity,
    id: Uuid,
    body: TagsBody,
) -> AppResult<conversation::Model> {
    let tags = crate::tags::clean(&body.tags)?.join("\n");
    let conv = get_for(db, &Actor::Agent(*who), id).await?;
    if conv.tags == tags {
        return Ok(conv);
    }
    state::set_tags(db, events, conv.id, tags)
        .await?
        .ok_or(AppError::NotFound("conversation"))
}
