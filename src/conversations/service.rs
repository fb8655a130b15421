//! Conversation use cases. `get_for` is the single authorization check that history, read
//! markers and the socket's subscribe all go through; read markers live here too.
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    actor::{Actor, SenderType},
    db::entities::{conversation, read_marker},
    error::{AppError, AppResult},
    events::{DomainEvent, Events},
};

#[derive(Clone, Debug, Serialize)]
pub struct ConversationView {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub contact_id: Uuid,
    pub status: super::state::Status,
    pub assignee_id: Option<Uuid>,
    pub last_seq: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub last_message_at: Option<chrono::DateTime<Utc>>,
}

impl From<conversation::Model> for ConversationView {
    fn from(c: conversation::Model) -> Self {
        Self {
            id: c.id,
            inbox_id: c.inbox_id,
            contact_id: c.contact_id,
            status: c.status,
            assignee_id: c.assignee_id,
            last_seq: c.last_seq,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
        }
    }
}

/// Loads a conversation the actor may see; anything else is "not found" (ids of other tenants
/// and customers are neither confirmed nor denied).
pub async fn get_for(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> AppResult<conversation::Model> {
    let conv = conversation::Entity::find_by_id(id)
        .filter(conversation::Column::AccountId.eq(actor.account_id()))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("conversation"))?;
    if actor.can_access(conv.account_id, conv.id, conv.contact_id) {
        Ok(conv)
    } else {
        Err(AppError::NotFound("conversation"))
    }
}

/// Records that the actor has read up to `seq` (never moves backwards) and tells the others.
pub async fn mark_read(
    db: &DatabaseConnection,
    events: &Events,
    actor: &Actor,
    conversation_id: Uuid,
    seq: i64,
) -> AppResult<i64> {
    let conv = get_for(db, actor, conversation_id).await?;
    if seq < 0 || seq > conv.last_seq {
        return Err(AppError::Invalid(format!(
            "seq must be between 0 and {}",
            conv.last_seq
        )));
    }
    let reader_type = actor.sender_type();
    if reader_type == SenderType::Bot {
        return Err(AppError::Forbidden("the bot has no read state"));
    }
    // Only ever forward: a stale marker from another tab or transport must not win. The insert
    // covers the first marker; if a concurrent first marker won that race, move forward again.
    let moved = advance_marker(db, conversation_id, actor.sender_id(), seq).await?;
    if !moved {
        let inserted = read_marker::Entity::insert(read_marker::ActiveModel {
            conversation_id: Set(conversation_id),
            reader_id: Set(actor.sender_id()),
            reader_type: Set(reader_type.as_str().into()),
            last_read_seq: Set(seq),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                read_marker::Column::ConversationId,
                read_marker::Column::ReaderId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        if inserted == 0 && !advance_marker(db, conversation_id, actor.sender_id(), seq).await? {
            // Already at or past `seq`: nothing changes, nobody is told.
            let current = read_marker::Entity::find_by_id((conversation_id, actor.sender_id()))
                .one(db)
                .await?
                .map_or(seq, |m| m.last_read_seq);
            return Ok(current);
        }
    }
    events
        .publish(DomainEvent::ReadUpdated {
            account_id: conv.account_id,
            conversation_id,
            reader_type,
            reader_id: actor.sender_id(),
            seq,
        })
        .await;
    Ok(seq)
}

/// Moves a reader's marker to `seq` if it is behind; false when there is no marker or it is not.
async fn advance_marker(
    db: &DatabaseConnection,
    conversation_id: Uuid,
    reader_id: Uuid,
    seq: i64,
) -> AppResult<bool> {
    let res = read_marker::Entity::update_many()
        .col_expr(read_marker::Column::LastReadSeq, Expr::value(seq))
        .col_expr(read_marker::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(read_marker::Column::ConversationId.eq(conversation_id))
        .filter(read_marker::Column::ReaderId.eq(reader_id))
        .filter(read_marker::Column::LastReadSeq.lt(seq))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Read markers of everyone in a conversation.
pub async fn read_markers(
    db: &DatabaseConnection,
    actor: &Actor,
    conversation_id: Uuid,
) -> AppResult<Vec<read_marker::Model>> {
    get_for(db, actor, conversation_id).await?;
    Ok(read_marker::Entity::find()
        .filter(read_marker::Column::ConversationId.eq(conversation_id))
        .all(db)
        .await?)
}
