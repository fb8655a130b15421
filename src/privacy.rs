//! Erasure (GDPR "right to be forgotten" and the everyday "delete that pasted password"): an
//! admin deletes one message, or a contact with all its conversations and messages. The rows go
//! from the database (with the shadow bot's drafts made from them), then an event tells the derived data (the search index) to drop them too.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use uuid::Uuid;

use crate::{
    actor::AgentIdentity,
    context::AppContext,
    db::entities::{bot_draft, contact, conversation, message},
    error::{AppError, AppResult},
    events::DomainEvent,
};

pub async fn delete_message(
    ctx: &AppContext,
    who: &AgentIdentity,
    conversation_id: Uuid,
    message_id: Uuid,
) -> AppResult<()> {
    who.require_admin()?;
    let res = message::Entity::delete_many()
        .filter(message::Column::Id.eq(message_id))
        .filter(message::Column::ConversationId.eq(conversation_id))
        .filter(message::Column::AccountId.eq(who.account_id))
        .exec(&ctx.db)
        .await?;
    if res.rows_affected == 0 {
        return Err(AppError::NotFound("message"));
    }
    // The shadow bot's draft for it was made from its words.
    bot_draft::Entity::delete_many()
        .filter(bot_draft::Column::MessageId.eq(message_id))
        .filter(bot_draft::Column::AccountId.eq(who.account_id))
        .exec(&ctx.db)
        .await?;
    // Derived data (the search index) follows `updated_at`.
    crate::conversations::state::touch(&ctx.db, conversation_id).await?;
    ctx.events
        .publish(DomainEvent::MessageDeleted {
            account_id: who.account_id,
            conversation_id,
            message_id,
        })
        .await;
    Ok(())
}

/// Deletes a contact, its conversations and their messages and read markers (foreign keys
/// cascade). Returns how many conversations went.
pub async fn erase_contact(
    ctx: &AppContext,
    who: &AgentIdentity,
    contact_id: Uuid,
) -> AppResult<usize> {
    who.require_admin()?;
    let txn = ctx.db.begin().await?;
    let found = contact::Entity::find_by_id(contact_id)
        .filter(contact::Column::AccountId.eq(who.account_id))
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound("contact"))?;
    let conversation_ids: Vec<Uuid> = conversation::Entity::find()
        .filter(conversation::Column::ContactId.eq(found.id))
        .all(&txn)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    // Explicit deletes (children first) rather than relying on every backend's cascade setting.
    if !conversation_ids.is_empty() {
        message::Entity::delete_many()
            .filter(message::Column::ConversationId.is_in(conversation_ids.clone()))
            .exec(&txn)
            .await?;
        crate::db::entities::read_marker::Entity::delete_many()
            .filter(
                crate::db::entities::read_marker::Column::ConversationId
                    .is_in(conversation_ids.clone()),
            )
            .exec(&txn)
            .await?;
        bot_draft::Entity::delete_many()
            .filter(bot_draft::Column::ConversationId.is_in(conversation_ids.clone()))
            .exec(&txn)
            .await?;
        crate::conversations::state::erase(&txn, &conversation_ids).await?;
    }
    contact::Entity::delete_by_id(found.id).exec(&txn).await?;
    txn.commit().await?;
    let n = conversation_ids.len();
    ctx.events
        .publish(DomainEvent::ContactErased {
            account_id: who.account_id,
            contact_id,
            conversation_ids,
        })
        .await;
    Ok(n)
}
