//! Routing: a task that listens to domain events and assigns waiting conversations round-robin
//! to **online** agents with spare capacity (`agent.max_open` open conversations), else leaves
//! them in the inbox queue. It also wakes snoozed conversations when their time comes. A queued
//! conversation is retried every tick, so an agent coming online picks up the queue.
//!
//! Assignment is a conditional `UPDATE … WHERE assignee_id IS NULL`: an agent's manual
//! assignment (or another node) always wins a race, and nothing is assigned twice.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
    sea_query::Query,
};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{
    actor::SenderType,
    context::AppContext,
    conversations::{
        actions,
        state::{self, Status},
    },
    db::entities::{agent, conversation, inbox},
    error::AppResult,
    events::DomainEvent,
    inboxes,
    presence::PresenceStatus,
};

const TICK: Duration = Duration::from_secs(2);
/// A conversation that could not be placed is not retried on every message, only this often.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// Conversations remembered as assigned (bounded memory: forgotten wholesale when exceeded).
const MAX_KNOWN: usize = 100_000;

pub fn spawn(ctx: AppContext, rx: mpsc::Receiver<DomainEvent>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(
        Router {
            ctx,
            last_pick: HashMap::new(),
            assigned: HashSet::new(),
            tried: HashMap::new(),
            full: HashMap::new(),
        }
        .run(rx),
    )
}

struct Router {
    ctx: AppContext,
    /// Per account, the agent who got the last conversation (the round-robin cursor).
    last_pick: HashMap<Uuid, Uuid>,
    /// Conversations known to have an assignee: their messages need no routing.
    assigned: HashSet<Uuid>,
    tried: HashMap<Uuid, Instant>,
    /// Accounts where the last attempt found nobody online with room: messages do not retry
    /// there until a conversation changes or the next tick (a busy queue costs no queries).
    full: HashMap<Uuid, Instant>,
}

#[derive(FromQueryResult)]
struct Load {
    assignee_id: Uuid,
    n: i64,
}

impl Router {
    async fn run(mut self, mut rx: mpsc::Receiver<DomainEvent>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Some(ev) => self.on_event(ev).await,
                    None => break,
                },
                _ = tick.tick() => {
                    self.on_tick().await;
                    self.ctx.passes.routing.done();
                }
            }
        }
    }

    async fn on_event(&mut self, ev: DomainEvent) {
        let conv_id = match ev {
            DomainEvent::MessageCreated {
                message,
                account_id,
            } if message.sender_type == SenderType::Customer && !message.private => {
                if self
                    .full
                    .get(&account_id)
                    .is_some_and(|t| t.elapsed() < RETRY_EVERY)
                {
                    return;
                }
                message.conversation_id
            }
            DomainEvent::ConversationUpdated { state, account_id } => {
                // Capacity may have changed (resolved, reassigned, unassigned).
                self.full.remove(&account_id);
                if state.assignee_id.is_some() {
                    self.remember(state.conversation_id);
                    return;
                }
                self.assigned.remove(&state.conversation_id);
                if state.status != Status::Open {
                    return;
                }
                state.conversation_id
            }
            _ => return,
        };
        if self.assigned.contains(&conv_id)
            || self
                .tried
                .get(&conv_id)
                .is_some_and(|t| t.elapsed() < RETRY_EVERY)
        {
            return;
        }
        if let Err(e) = self.route(conv_id).await {
            tracing::warn!(error = %e, "routing failed; will retry");
        }
    }

    fn remember(&mut self, id: Uuid) {
        if self.assigned.len() >= MAX_KNOWN {
            self.assigned.clear();
        }
        self.assigned.insert(id);
        self.tried.remove(&id);
    }

    async fn on_tick(&mut self) {
        // Waking publishes events, which this task also receives: do it elsewhere so that a
        // full channel can never make the router wait for itself.
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            if let Err(e) = actions::wake_snoozed(&ctx.db, &ctx.events, Utc::now()).await {
                tracing::warn!(error = %e, "waking snoozed conversations failed");
            }
        });
        self.tried.retain(|_, t| t.elapsed() < RETRY_EVERY * 4);
        self.full.clear();
        self.ctx.limits.prune();
        let accounts = self.ctx.hub.accounts_with_agents().await;
        if accounts.is_empty() {
            return;
        }
        let auto_inboxes = Query::select()
            .column(inbox::Column::Id)
            .from(inbox::Entity)
            .and_where(inbox::Column::AutoAssign.eq(true))
            .to_owned();
        let queued = conversation::Entity::find()
            .filter(conversation::Column::AccountId.is_in(accounts))
            .filter(conversation::Column::InboxId.in_subquery(auto_inboxes))
            .filter(conversation::Column::Status.eq(Status::Open))
            .filter(conversation::Column::AssigneeId.is_null())
            .filter(conversation::Column::WaitingSince.is_not_null())
            .order_by_asc(conversation::Column::WaitingSince)
            .limit(100)
            .all(&self.ctx.db)
            .await;
        match queued {
            Ok(rows) => {
                for c in rows {
                    if self.full.contains_key(&c.account_id) {
                        continue;
                    }
                    if let Err(e) = self.assign(c).await {
                        tracing::warn!(error = %e, "routing failed; will retry");
                        break;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading the queue failed"),
        }
    }

    async fn route(&mut self, conv_id: Uuid) -> AppResult<()> {
        // Whatever the outcome, the next messages of this conversation skip the lookup for a while.
        self.tried.insert(conv_id, Instant::now());
        let Some(conv) = conversation::Entity::find_by_id(conv_id)
            .one(&self.ctx.db)
            .await?
        else {
            return Ok(());
        };
        if conv.assignee_id.is_some() {
            self.remember(conv.id);
            return Ok(());
        }
        if conv.status == Status::Open && conv.waiting_since.is_some() {
            self.assign(conv).await?;
        }
        Ok(())
    }

    /// Gives a waiting, unassigned conversation to the next online agent with room.
    async fn assign(&mut self, conv: conversation::Model) -> AppResult<()> {
        self.tried.insert(conv.id, Instant::now());
        let mut online: Vec<Uuid> = self
            .ctx
            .hub
            .agents_present(conv.account_id)
            .await
            .into_iter()
            .filter(|p| p.status == PresenceStatus::Online)
            .map(|p| p.agent_id)
            .collect();
        if online.is_empty() {
            self.full.insert(conv.account_id, Instant::now());
            return Ok(());
        }
        let Some(inbox) = inboxes::find(&self.ctx.db, conv.inbox_id).await? else {
            return Ok(());
        };
        if !inbox.auto_assign {
            return Ok(());
        }
        online.sort_unstable();
        let agents: HashMap<Uuid, i32> = agent::Entity::find()
            .filter(agent::Column::Id.is_in(online.clone()))
            .filter(agent::Column::AccountId.eq(conv.account_id))
            .filter(agent::Column::Active.eq(true))
            .all(&self.ctx.db)
            .await?
            .into_iter()
            .map(|a| (a.id, a.max_open))
            .collect();
        let loads: HashMap<Uuid, i64> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::AssigneeId)
            .column_as(conversation::Column::Id.count(), "n")
            .filter(conversation::Column::AccountId.eq(conv.account_id))
            .filter(conversation::Column::Status.eq(Status::Open))
            .filter(conversation::Column::AssigneeId.is_in(online.clone()))
            .group_by(conversation::Column::AssigneeId)
            .into_model::<Load>()
            .all(&self.ctx.db)
            .await?
            .into_iter()
            .map(|l| (l.assignee_id, l.n))
            .collect();
        let with_room: Vec<Uuid> = online
            .into_iter()
            .filter(|id| {
                agents
                    .get(id)
                    .is_some_and(|max| loads.get(id).copied().unwrap_or(0) < i64::from(*max))
            })
            .collect();
        let Some(pick) = next_in_turn(&with_room, self.last_pick.get(&conv.account_id)) else {
            // Everyone is full: the conversation waits in the queue.
            self.full.insert(conv.account_id, Instant::now());
            return Ok(());
        };
        if state::assign_next(&self.ctx.db, &self.ctx.events, conv.id, pick)
            .await?
            .is_none()
        {
            return Ok(()); // someone else placed it first
        }
        self.last_pick.insert(conv.account_id, pick);
        self.remember(conv.id);
        Ok(())
    }
}

/// Round robin: the first candidate after the last one picked (candidates sorted).
fn next_in_turn(candidates: &[Uuid], last: Option<&Uuid>) -> Option<Uuid> {
    let after = last.and_then(|l| candidates.iter().find(|c| *c > l));
    after.or_else(|| candidates.first()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_wraps_and_skips_missing() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let c = Uuid::from_u128(3);
        let all = [a, b, c];
        assert_eq!(next_in_turn(&all, None), Some(a));
        assert_eq!(next_in_turn(&all, Some(&a)), Some(b));
        assert_eq!(next_in_turn(&all, Some(&c)), Some(a));
        // The last pick went offline / is full: continue with the next one after it.
        assert_eq!(next_in_turn(&[a, c], Some(&b)), Some(c));
        assert_eq!(next_in_turn(&[], Some(&b)), None);
    }
}
