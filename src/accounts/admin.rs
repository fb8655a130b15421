//! Agent management for admins: list (with presence), invite, change role/name/capacity,
//! deactivate. Deactivation and demotion end the agent's sessions and close its sockets at once;
//! a deactivated agent's unresolved conversations go back to the queue.
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::service::{AgentView, MIN_PASSWORD, create_agent};
use crate::{
    actor::{AgentIdentity, Role},
    auth::tokens,
    context::AppContext,
    db::entities::{agent, agent_session},
    error::{AppError, AppResult},
    presence::PresenceStatus,
};

#[derive(Clone, Debug, Serialize)]
pub struct AgentRow {
    #[serde(flatten)]
    pub agent: AgentView,
    pub status: PresenceStatus,
}

/// Agents of the caller's account with their live presence.
pub async fn list(ctx: &AppContext, who: &AgentIdentity) -> AppResult<Vec<AgentRow>> {
    let rows = agent::Entity::find()
        .filter(agent::Column::AccountId.eq(who.account_id))
        .order_by_asc(agent::Column::Name)
        .all(&ctx.db)
        .await?;
    let present = ctx.hub.agents_present(who.account_id).await;
    Ok(rows
        .into_iter()
        .map(|a| {
            let status = present
                .iter()
                .find(|p| p.agent_id == a.id)
                .map_or(PresenceStatus::Offline, |p| p.status);
            AgentRow {
                agent: a.into(),
                status,
            }
        })
        .collect())
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Invited {
    pub agent: AgentView,
    /// The password to hand over (generated when none was given); shown once, never stored.
    pub password: String,
}

pub async fn invite(ctx: &AppContext, who: &AgentIdentity, inv: Invite) -> AppResult<Invited> {
    who.require_admin()?;
    let name = inv.name.trim();
    if name.is_empty() || name.chars().count() > 120 {
        return Err(AppError::Invalid(
            "name must have 1 to 120 characters".into(),
        ));
    }
    let password = match inv.password.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None => tokens::random_hex(9).map_err(AppError::Internal)?,
    };
    debug_assert!(password.len() >= MIN_PASSWORD);
    let agent = create_agent(
        &ctx.db,
        who.account_id,
        &inv.email,
        name,
        &password,
        inv.role,
    )
    .await?;
    Ok(Invited { agent, password })
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentPatch {
    pub name: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    pub max_open: Option<i32>,
}

pub async fn update(
    ctx: &AppContext,
    who: &AgentIdentity,
    id: Uuid,
    patch: AgentPatch,
) -> AppResult<AgentView> {
    who.require_admin()?;
    let found = agent::Entity::find_by_id(id)
        .filter(agent::Column::AccountId.eq(who.account_id))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("agent"))?;
    if id == who.agent_id && (patch.active == Some(false) || patch.role == Some(Role::Agent)) {
        return Err(AppError::Invalid(
            "you cannot deactivate or demote yourself; ask another admin".into(),
        ));
    }
    let mut am: agent::ActiveModel = found.clone().into();
    if let Some(n) = patch.name {
        let n = n.trim().to_string();
        if n.is_empty() || n.chars().count() > 120 {
            return Err(AppError::Invalid(
                "name must have 1 to 120 characters".into(),
            ));
        }
        am.name = Set(n);
    }
    if let Some(r) = patch.role {
        am.role = Set(r.as_str().into());
    }
    if let Some(a) = patch.active {
        am.active = Set(a);
    }
    if let Some(m) = patch.max_open {
        if !(0..=1000).contains(&m) {
            return Err(AppError::Invalid(
                "max_open must be between 0 and 1000".into(),
            ));
        }
        am.max_open = Set(m);
    }
    let updated = agent::Entity::update(am).exec(&ctx.db).await?;
    let deactivated = found.active && !updated.active;
    let demoted = found.role == "admin" && updated.role != "admin";
    if deactivated || demoted {
        // Sessions carry no role: a demoted agent logs in again; a deactivated one cannot.
        agent_session::Entity::delete_many()
            .filter(agent_session::Column::AgentId.eq(id))
            .exec(&ctx.db)
            .await?;
        ctx.hub.kick_agent(id).await;
    }
    if deactivated {
        requeue(ctx, id).await?;
    }
    Ok(updated.into())
}

/// A deactivated agent's unresolved conversations go back to the queue (routing hands them on).
async fn requeue(ctx: &AppContext, agent_id: Uuid) -> AppResult<()> {
    crate::conversations::state::requeue(&ctx.db, &ctx.events, agent_id).await?;
    Ok(())
}
