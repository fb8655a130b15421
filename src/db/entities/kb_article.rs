//! `kb_article`: one knowledge-base article (Markdown body), unique per account by `slug`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "kb_article")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    /// Stable public id (`kb-07`, from the front matter's `id` or the file name).
    pub slug: String,
    pub title: String,
    pub body: String,
    /// Newline-separated, lower-case.
    pub tags: String,
    pub url: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
