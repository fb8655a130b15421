//! `contact`: a customer (website visitor) of one account, first seen through one inbox.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contact")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub inbox_id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTimeUtc,
    /// The host site's user id, set by a verified (or, when not enforced, plain) `identify`.
    pub external_id: Option<String>,
    pub last_seen_at: Option<DateTimeUtc>,
    /// JSON array of the last pages visited: `[{"url", "title", "at"}]`, newest last.
    pub pages: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
