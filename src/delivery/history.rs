//! History reads for every transport: resume after a seq, page upward before one. The
//! conversation is authorized first (`conversations::service::get_for`).
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sea_orm::DatabaseConnection;

use crate::{
    actor::Actor,
    conversations,
    error::{AppError, AppResult},
    messages::{Message, repo},
};

#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct HistoryQuery {
    /// Messages after this seq (oldest first): used to resume.
    pub after_seq: Option<i64>,
    /// Messages before this seq (the newest of them): used to page upward.
    pub before_seq: Option<i64>,
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct HistoryPage {
    pub conversation_id: Uuid,
    pub messages: Vec<Message>,
    /// The conversation's newest seq when the page was read.
    pub last_seq: i64,
    /// More messages exist in the direction that was read.
    pub has_more: bool,
}

pub const MAX_PAGE: u64 = crate::config::MAX_HISTORY_PAGE;

pub async fn history(
    db: &DatabaseConnection,
    actor: &Actor,
    conversation_id: Uuid,
    q: HistoryQuery,
) -> AppResult<HistoryPage> {
    let conv = conversations::service::get_for(db, actor, conversation_id).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let include_private = !actor.is_customer();
    let rows = match (q.after_seq, q.before_seq) {
        (Some(_), Some(_)) => {
            return Err(AppError::Invalid(
                "give after_seq or before_seq, not both".into(),
            ));
        }
        (Some(after), None) => {
            if after < 0 || after > conv.last_seq {
                return Err(AppError::Conflict(format!(
                    "after_seq {after} is outside this conversation (last_seq {}); resync from 0",
                    conv.last_seq
                )));
            }
            repo::range(db, conversation_id, after, None, limit + 1, include_private).await?
        }
        (None, before) => {
            let before = before.unwrap_or(i64::MAX);
            let mut rows =
                repo::before(db, conversation_id, before, limit + 1, include_private).await?;
            if rows.len() as u64 > limit {
                rows.remove(0);
                let messages = rows.into_iter().map(Message::from).collect();
                return Ok(HistoryPage {
                    conversation_id,
                    messages,
                    last_seq: conv.last_seq,
                    has_more: true,
                });
            }
            rows
        }
    };
    let mut rows = rows;
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok(HistoryPage {
        conversation_id,
        messages: rows.into_iter().map(Message::from).collect(),
        last_seq: conv.last_seq,
        has_more,
    })
}

/// The stored messages strictly between `after` and `upto` the actor may see (private notes are
/// for agents only), for a conversation the caller has already authorized (a gap fill).
pub async fn between(
    db: &DatabaseConnection,
    actor: &Actor,
    conversation_id: Uuid,
    after: i64,
    upto: i64,
) -> AppResult<Vec<Message>> {
    let include_private = !actor.is_customer();
    let rows = repo::range(
        db,
        conversation_id,
        after,
        Some(upto),
        (upto - after).max(0) as u64,
        include_private,
    )
    .await?;
    Ok(rows.into_iter().map(Message::from).collect())
}
