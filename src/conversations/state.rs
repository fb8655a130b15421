//! Conversation state: every transition of a conversation row, by name (the `Status` and
//! `BotState` enums are the entity's, re-exported here). Each transition is one conditional `UPDATE … RETURNING` (the condition is the
//! rule: a refused or lost move touches nothing) and every change agents and customers see goes
//! out through [`announce`], built from the row the database returned. Nothing else writes the
//! conversation table; the group-commit writer's set-based statement takes its clause from
//! [`batch_bump_assignments`], written next to the single-row rule [`customer_wrote`].
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{CaseStatement, Expr, ExprTrait},
};
use uuid::Uuid;

pub use crate::db::entities::conversation::{BotState, Status};
use crate::{
    db::entities::conversation::{self, Column as C},
    error::AppResult,
    events::{ConversationState, DomainEvent, Events},
};

/// Whether a customer's message brings a conversation in `status` back to `open`: the reopen
/// rule, used by the single-row rule below and the writer's batch clause.
pub fn reopens_on_customer_message(status: Status) -> bool {
    matches!(status, Status::Resolved | Status::Snoozed)
}

/// Tells everyone watching (agents, the customer, routing, other nodes) about a changed row.
pub async fn announce(events: &Events, saved: &conversation::Model) {
    events
        .publish(DomainEvent::ConversationUpdated {
            account_id: saved.account_id,
            state: ConversationState::from(saved),
        })
        .await;
}

async fn announce_all(events: &Events, rows: &[conversation::Model]) {
    for r in rows {
        announce(events, r).await;
    }
}

fn update() -> sea_orm::UpdateMany<conversation::Entity> {
    conversation::Entity::update_many()
}

/// Runs a conditional update and returns the one row it changed (None: refused or lost).
async fn one(
    db: &impl ConnectionTrait,
    q: sea_orm::UpdateMany<conversation::Entity>,
) -> AppResult<Option<conversation::Model>> {
    Ok(q.exec_with_returning(db).await?.into_iter().next())
}

/// Runs a one-row transition and announces the row it changed, if any.
async fn one_announced(
    db: &impl ConnectionTrait,
    events: &Events,
    q: sea_orm::UpdateMany<conversation::Entity>,
) -> AppResult<Option<conversation::Model>> {
    let saved = one(db, q).await?;
    if let Some(row) = &saved {
        announce(events, row).await;
    }
    Ok(saved)
}

/// Inserts a new conversation (announced by the caller as `ConversationCreated`).
pub async fn create(db: &impl ConnectionTrait, m: conversation::Model) -> AppResult<()> {
    let am: conversation::ActiveModel = m.into();
    conversation::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Deletes conversations (privacy erasure; their messages and markers went first).
pub async fn erase(db: &impl ConnectionTrait, ids: &[Uuid]) -> AppResult<()> {
    conversation::Entity::delete_many()
        .filter(C::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Assigns to `agent` (or unassigns with None) whoever holds it.
pub async fn assign(
    db: &impl ConnectionTrait,
    events: &Events,
    id: Uuid,
    agent: Option<Uuid>,
) -> AppResult<Option<conversation::Model>> {
    let q = update()
        .col_expr(C::AssigneeId, Expr::value(agent))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(id));
    one_announced(db, events, q).await
}

/// Claim: assigns only if nobody holds it. Of two claims at once, one wins; the other gets None.
pub async fn claim(
    db: &impl ConnectionTrait,
    events: &Events,
    id: Uuid,
    agent: Uuid,
) -> AppResult<Option<conversation::Model>> {
    let q = update()
        .col_expr(C::AssigneeId, Expr::value(agent))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(id))
        .filter(C::AssigneeId.is_null());
    one_announced(db, events, q).await
}

/// Routing's pick: assigns an open, unassigned conversation. The announcement is sent from a
/// spawned task, since the router listens to these events and must never wait for itself.
pub async fn assign_next(
    db: &impl ConnectionTrait,
    events: &Events,
    id: Uuid,
    agent: Uuid,
) -> AppResult<Option<conversation::Model>> {
    let q = update()
        .col_expr(C::AssigneeId, Expr::value(agent))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(id))
        .filter(C::AssigneeId.is_null())
        .filter(C::Status.eq(Status::Open));
    let saved = one(db, q).await?;
    if let Some(row) = saved.clone() {
        let events = events.clone();
        tokio::spawn(async move { announce(&events, &row).await });
    }
    Ok(saved)
}

/// A deactivated agent's unresolved conversations go back to the queue; returns those requeued.
pub async fn requeue(
    db: &impl ConnectionTrait,
    events: &Events,
    agent: Uuid,
) -> AppResult<Vec<conversation::Model>> {
    let rows = update()
        .col_expr(C::AssigneeId, Expr::value(Option::<Uuid>::None))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::AssigneeId.eq(agent))
        .filter(C::Status.ne(Status::Resolved))
        .exec_with_returning(db)
        .await?;
    announce_all(events, &rows).await;
    Ok(rows)
}

/// Moves to `status` (with a snooze deadline only for `snoozed`; the caller validated the pair).
pub async fn set_status(
    db: &impl ConnectionTrait,
    events: &Events,
    id: Uuid,
    status: Status,
    snoozed_until: Option<DateTime<Utc>>,
) -> AppResult<Option<conversation::Model>> {
    let q = update()
        .col_expr(C::Status, Expr::value(status))
        .col_expr(C::SnoozedUntil, Expr::value(snoozed_until))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(id));
    one_announced(db, events, q).await
}

/// Replaces the tags (newline-separated, already cleaned).
pub async fn set_tags(
    db: &impl ConnectionTrait,
    events: &Events,
    id: Uuid,
    tags: String,
) -> AppResult<Option<conversation::Model>> {
    let q = update()
        .col_expr(C::Tags, Expr::value(tags))
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(id));
    one_announced(db, events, q).await
}

/// Reopens every conversation whose snooze ended by `now`; returns those woken. An agent who
/// acted meanwhile changed the status, so the condition leaves that conversation alone.
pub async fn wake_due_snoozes(
    db: &impl ConnectionTrait,
    events: &Events,
    now: DateTime<Utc>,
) -> AppResult<Vec<conversation::Model>> {
    let rows = update()
        .col_expr(C::Status, Expr::value(Status::Open))
        .col_expr(C::SnoozedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Status.eq(Status::Snoozed))
        .filter(C::SnoozedUntil.lte(now))
        .exec_with_returning(db)
        .await?;
    announce_all(events, &rows).await;
    Ok(rows)
}

/// The bot lets go: `active` → `handed_off` (once; None otherwise), a `pending` conversation
/// becomes `open` for routing, and with `customer_waits` the customer waits from now.
pub async fn hand_off(
    db: &impl ConnectionTrait,
    events: &Events,
    id: Uuid,
    customer_waits: bool,
) -> AppResult<Option<conversation::Model>> {
    let now = Utc::now();
    let status = CaseStatement::new()
        .case(C::Status.eq(Status::Pending), Expr::value(Status::Open))
        .finally(Expr::col(C::Status));
    let q = update()
        .col_expr(C::BotState, Expr::value(BotState::HandedOff))
        .col_expr(C::Status, status.into())
        .col_expr(
            C::WaitingSince,
            if customer_waits {
                Expr::value(now)
            } else {
                Expr::col(C::WaitingSince)
            },
        )
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Id.eq(id))
        .filter(C::BotState.eq(BotState::Active));
    one_announced(db, events, q).await
}

/// Counts one bot answer. Not announced: nobody watches the count.
pub async fn count_bot_turn(db: &impl ConnectionTrait, id: Uuid) -> AppResult<()> {
    update()
        .col_expr(C::BotTurns, Expr::col(C::BotTurns).add(1))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Takes the bot's lease until `until` if nobody holds an unexpired one; true when taken.
pub async fn take_bot_lease(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> AppResult<bool> {
    let res = update()
        .col_expr(C::BotLeaseUntil, Expr::value(until))
        .filter(C::Id.eq(id))
        .filter(
            Condition::any()
                .add(C::BotLeaseUntil.is_null())
                .add(C::BotLeaseUntil.lt(now)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Gives the lease back, if `lease` still identifies the holder.
pub async fn release_bot_lease(
    db: &impl ConnectionTrait,
    id: Uuid,
    lease: DateTime<Utc>,
) -> AppResult<()> {
    update()
        .col_expr(C::BotLeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(C::Id.eq(id))
        .filter(C::BotLeaseUntil.eq(lease))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks the row changed without a visible change (a message was erased): derived data (the
/// search index) follows `updated_at`. Not announced.
pub async fn touch(db: &impl ConnectionTrait, id: Uuid) -> AppResult<()> {
    update()
        .col_expr(C::UpdatedAt, Expr::value(Utc::now()))
        .filter(C::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The reopen rule for one message, applied by the writer to its in-memory copy of the row: a
/// customer writing to a resolved or snoozed conversation reopens it (true when it did).
pub fn customer_wrote(conv: &mut conversation::Model) -> bool {
    if reopens_on_customer_message(conv.status) {
        conv.status = Status::Open;
        conv.snoozed_until = None;
        true
    } else {
        false
    }
}

/// The `SET` list of the writer's set-based bump (`UPDATE conversation … FROM (VALUES …) AS v`):
/// `v.column3` is the [`customer_wrote`] verdict, `v.column4` the waiting rule (1: a customer
/// waits, keeping the oldest wait; 2: answered; 0: unchanged).
pub fn batch_bump_assignments(msg_at: &str, upd_at: &str, wait_at: &str) -> String {
    let open = Status::Open.as_str();
    format!(
        "last_seq = v.column2, last_message_at = {msg_at}, updated_at = {upd_at}, \
         status = CASE WHEN v.column3 THEN '{open}' ELSE conversation.status END, \
         snoozed_until = CASE WHEN v.column3 THEN NULL ELSE conversation.snoozed_until END, \
         waiting_since = CASE v.column4 WHEN 1 THEN COALESCE(conversation.waiting_since, {wait_at}) \
         WHEN 2 THEN NULL ELSE conversation.waiting_since END"
    )
}

#[cfg(test)]
#[path = "state_tests.rs"]
pub(crate) mod tests;
