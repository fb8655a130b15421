//! AI assistance: knowledge-base articles, the per-inbox bot setting, the bot's state on a
//! conversation (`bot_state`: NULL = humans only, `active` = the bot answers, `handed_off` = the
//! bot handed over and never comes back to this conversation), and LLM token usage.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Inbox {
    Table,
    BotEnabled,
    BotMaxTurns,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    BotState,
    BotTurns,
}

#[derive(DeriveIden)]
enum KbArticle {
    Table,
    Id,
    AccountId,
    Slug,
    Title,
    Body,
    Tags,
    Url,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum LlmUsage {
    Table,
    Id,
    AccountId,
    ConversationId,
    Day,
    Kind,
    Model,
    PromptTokens,
    CompletionTokens,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

async fn add(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    col: &mut ColumnDef,
) -> Result<(), DbErr> {
    m.alter_table(Table::alter().table(table).add_column(col).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add(m, Inbox::Table, boolean(Inbox::BotEnabled).default(false)).await?;
        add(m, Inbox::Table, integer(Inbox::BotMaxTurns).default(3)).await?;
        add(
            m,
            Conversation::Table,
            &mut string_null(Conversation::BotState),
        )
        .await?;
        add(
            m,
            Conversation::Table,
            integer(Conversation::BotTurns).default(0),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(KbArticle::Table)
                .col(uuid(KbArticle::Id).primary_key())
                .col(uuid(KbArticle::AccountId))
                .col(string(KbArticle::Slug))
                .col(string(KbArticle::Title))
                .col(text(KbArticle::Body))
                // Newline-separated, lower-case.
                .col(text(KbArticle::Tags).default(""))
                .col(string_null(KbArticle::Url))
                .col(timestamp_with_time_zone(KbArticle::CreatedAt))
                .col(timestamp_with_time_zone(KbArticle::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(KbArticle::Table, KbArticle::AccountId)
                        .to(Account::Table, Account::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_kb_article_slug")
                .table(KbArticle::Table)
                .col(KbArticle::AccountId)
                .col(KbArticle::Slug)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LlmUsage::Table)
                .col(uuid(LlmUsage::Id).primary_key())
                .col(uuid(LlmUsage::AccountId))
                .col(uuid_null(LlmUsage::ConversationId))
                // UTC day, `YYYY-MM-DD`: the unit of the daily budget.
                .col(string(LlmUsage::Day))
                // `suggest`, `summary`, `bot`, `eval`.
                .col(string(LlmUsage::Kind))
                .col(string(LlmUsage::Model))
                .col(big_integer(LlmUsage::PromptTokens))
                .col(big_integer(LlmUsage::CompletionTokens))
                .col(timestamp_with_time_zone(LlmUsage::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(LlmUsage::Table, LlmUsage::AccountId)
                        .to(Account::Table, Account::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_llm_usage_day")
                .table(LlmUsage::Table)
                .col(LlmUsage::AccountId)
                .col(LlmUsage::Day)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_llm_usage_conversation")
                .table(LlmUsage::Table)
                .col(LlmUsage::ConversationId)
                .to_owned(),
        )
        .await
    }
}
