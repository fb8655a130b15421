//! Message queries. Every read names its conversation; callers have authorized it already.
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::db::entities::message::{Column, Entity, Model};

/// Messages with `lo < seq < hi` (hi = None: no upper bound), oldest first, at most `limit`.
pub async fn range(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    lo: i64,
    hi: Option<i64>,
    limit: u64,
    include_private: bool,
) -> Result<Vec<Model>, DbErr> {
    let mut q = Entity::find()
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::Seq.gt(lo));
    if let Some(hi) = hi {
        q = q.filter(Column::Seq.lt(hi));
    }
    if !include_private {
        q = q.filter(Column::Private.eq(false));
    }
    q.order_by_asc(Column::Seq).limit(limit).all(db).await
}

/// The `limit` newest messages with `seq < before`, returned oldest first (for paging upward).
pub async fn before(
    db: &impl ConnectionTrait,
    conversation_id: Uuid,
    before: i64,
    limit: u64,
    include_private: bool,
) -> Result<Vec<Model>, DbErr> {
    let mut q = Entity::find()
        .filter(Column::ConversationId.eq(conversation_id))
        .filter(Column::Seq.lt(before));
    if !include_private {
        q = q.filter(Column::Private.eq(false));
    }
    let mut rows = q.order_by_desc(Column::Seq).limit(limit).all(db).await?;
    rows.reverse();
    Ok(rows)
}
