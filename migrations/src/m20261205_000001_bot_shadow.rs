//! Shadow mode of the first-line bot: `inbox.bot_shadow` (the bot decides and drafts on live
//! conversations but sends nothing; `bot_enabled` wins when both are set) and `bot_draft`, one
//! row per public customer message of a shadow inbox (unique `message_id`: exactly once), with
//! the agents' feedback on it.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Inbox {
    Table,
    BotShadow,
}

#[derive(DeriveIden)]
enum BotDraft {
    Table,
    Id,
    AccountId,
    InboxId,
    ConversationId,
    MessageId,
    Action,
    Reason,
    Text,
    Sources,
    CreatedAt,
    Feedback,
    FeedbackBy,
    FeedbackAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Inbox::Table)
                .add_column(boolean(Inbox::BotShadow).default(false))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(BotDraft::Table)
                .col(uuid(BotDraft::Id).primary_key())
                .col(uuid(BotDraft::AccountId))
                .col(uuid(BotDraft::InboxId))
                .col(uuid(BotDraft::ConversationId))
                // The customer message the draft answers.
                .col(uuid(BotDraft::MessageId))
                // `answer` or `handoff`.
                .col(string(BotDraft::Action))
                // The handoff reason (snake_case), empty for answers.
                .col(string(BotDraft::Reason).default(""))
                .col(text(BotDraft::Text))
                // JSON array of the cited articles `{slug, title, url}`.
                .col(text(BotDraft::Sources).default("[]"))
                .col(timestamp_with_time_zone(BotDraft::CreatedAt))
                // `none`, `up`, `down`, `should_handoff`.
                .col(string(BotDraft::Feedback).default("none"))
                .col(uuid_null(BotDraft::FeedbackBy))
                .col(timestamp_with_time_zone_null(BotDraft::FeedbackAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(BotDraft::Table, BotDraft::AccountId)
                        .to(Account::Table, Account::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_bot_draft_message")
                .table(BotDraft::Table)
                .col(BotDraft::MessageId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_bot_draft_conversation")
                .table(BotDraft::Table)
                .col(BotDraft::ConversationId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_bot_draft_account_created")
                .table(BotDraft::Table)
                .col(BotDraft::AccountId)
                .col(BotDraft::CreatedAt)
                .to_owned(),
        )
        .await
    }
}
