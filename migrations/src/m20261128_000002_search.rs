//! Transcript search and import: a conversation's subject, its id in the tool it was imported
//! from (`external_id`), its tags (labels), and an index on `updated_at` for the search indexer.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Conversation {
    Table,
    AccountId,
    Subject,
    ExternalId,
    Tags,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for col in [
            &mut string_null(Conversation::Subject),
            &mut string_null(Conversation::ExternalId),
            // Newline-separated, lower-case.
            &mut text(Conversation::Tags).default(""),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Conversation::Table)
                    .add_column(col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("uq_conversation_external")
                .table(Conversation::Table)
                .col(Conversation::AccountId)
                .col(Conversation::ExternalId)
                .unique()
                .to_owned(),
        )
        .await?;
        // The search indexer follows `updated_at` (every change to a conversation moves it).
        m.create_index(
            Index::create()
                .name("idx_conversation_updated")
                .table(Conversation::Table)
                .col(Conversation::UpdatedAt)
                .to_owned(),
        )
        .await
    }
}
