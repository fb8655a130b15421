//! Token accounting: every model call records its prompt and completion tokens per conversation
//! and per UTC day; before a call, the conversation's and the account's daily budget are
//! checked (`llm_conversation_token_budget`, `llm_daily_token_budget`; 0 = unlimited).
use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{LlmError, Usage};
use crate::{config::Settings, db::entities::llm_usage};

#[derive(FromQueryResult)]
struct Total {
    n: i64,
}

fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

async fn total(
    db: &impl ConnectionTrait,
    filter: sea_orm::Condition,
) -> Result<i64, sea_orm::DbErr> {
    let t = llm_usage::Entity::find()
        .select_only()
        // CAST keeps the type BIGINT on PostgreSQL (SUM of bigint is numeric there).
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS BIGINT)"),
            "n",
        )
        .filter(filter)
        .into_model::<Total>()
        .one(db)
        .await?;
    Ok(t.map_or(0, |t| t.n))
}

/// Tokens used so far by one conversation.
pub async fn used_by_conversation(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
) -> Result<i64, sea_orm::DbErr> {
    total(
        db,
        sea_orm::Condition::all().add(llm_usage::Column::ConversationId.eq(conversation_id)),
    )
    .await
}

/// Fails with `BudgetExceeded` when a budget is spent. A database error lets the call through
/// (the budget is a cost guard, not a security boundary) and is logged.
pub async fn check(
    db: &impl ConnectionTrait,
    s: &Settings,
    account_id: Uuid,
    conversation_id: Option<Uuid>,
) -> Result<(), LlmError> {
    if s.llm_daily_token_budget > 0 {
        let day = total(
            db,
            sea_orm::Condition::all()
                .add(llm_usage::Column::AccountId.eq(account_id))
                .add(llm_usage::Column::Day.eq(today())),
        )
        .await;
        match day {
            Ok(n) if n >= i64::try_from(s.llm_daily_token_budget).unwrap_or(i64::MAX) => {
                return Err(LlmError::BudgetExceeded("daily"));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading token usage failed"),
        }
    }
    if let (Some(c), true) = (conversation_id, s.llm_conversation_token_budget > 0) {
        match used_by_conversation(db, c).await {
            Ok(n) if n >= i64::try_from(s.llm_conversation_token_budget).unwrap_or(i64::MAX) => {
                return Err(LlmError::BudgetExceeded("conversation"));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading token usage failed"),
        }
    }
    Ok(())
}

/// Records one call's tokens (errors are logged: the answer already went out).
pub async fn record(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    conversation_id: Option<Uuid>,
    kind: &str,
    model: &str,
    usage: Usage,
) {
    let m = llm_usage::Model {
        id: Uuid::now_v7(),
        account_id,
        conversation_id,
        day: today(),
        kind: kind.to_string(),
        model: model.chars().take(120).collect(),
        prompt_tokens: i64::from(usage.prompt_tokens),
        completion_tokens: i64::from(usage.completion_tokens),
        created_at: Utc::now(),
    };
    let am: llm_usage::ActiveModel = m.into();
    if let Err(e) = llm_usage::Entity::insert(am)
        .exec_without_returning(db)
        .await
    {
        tracing::warn!(error = %e, "recording token usage failed");
    }
}
