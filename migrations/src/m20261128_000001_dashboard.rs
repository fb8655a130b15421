//! Dashboard and widget: agent capacity, inbox widget settings (colours, greeting, business
//! hours, offline message, identity verification, auto-assignment), contact identity and pages visited,
//! conversation snooze and waiting time, canned responses.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agent {
    Table,
    MaxOpen,
}

#[derive(DeriveIden)]
enum Inbox {
    Table,
    Color,
    Greeting,
    OfflineMessage,
    AskEmail,
    BusinessHours,
    IdentitySecret,
    IdentityRequired,
    AutoAssign,
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    InboxId,
    ExternalId,
    LastSeenAt,
    Pages,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    AccountId,
    AssigneeId,
    Status,
    SnoozedUntil,
    WaitingSince,
}

#[derive(DeriveIden)]
enum CannedResponse {
    Table,
    Id,
    AccountId,
    Shortcut,
    Body,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
}

/// SQLite takes one column per `ALTER TABLE`.
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
        add(m, Agent::Table, integer(Agent::MaxOpen).default(10)).await?;

        add(
            m,
            Inbox::Table,
            string_len(Inbox::Color, 16).default("#2563eb"),
        )
        .await?;
        add(m, Inbox::Table, text(Inbox::Greeting).default("")).await?;
        add(m, Inbox::Table, text(Inbox::OfflineMessage).default("")).await?;
        add(m, Inbox::Table, boolean(Inbox::AskEmail).default(false)).await?;
        add(m, Inbox::Table, &mut text_null(Inbox::BusinessHours)).await?;
        add(m, Inbox::Table, &mut string_null(Inbox::IdentitySecret)).await?;
        add(
            m,
            Inbox::Table,
            boolean(Inbox::IdentityRequired).default(false),
        )
        .await?;
        add(m, Inbox::Table, boolean(Inbox::AutoAssign).default(true)).await?;

        add(m, Contact::Table, &mut string_null(Contact::ExternalId)).await?;
        add(
            m,
            Contact::Table,
            &mut timestamp_with_time_zone_null(Contact::LastSeenAt),
        )
        .await?;
        add(m, Contact::Table, text(Contact::Pages).default("[]")).await?;
        m.create_index(
            Index::create()
                .name("idx_contact_external")
                .table(Contact::Table)
                .col(Contact::InboxId)
                .col(Contact::ExternalId)
                .to_owned(),
        )
        .await?;

        add(
            m,
            Conversation::Table,
            &mut timestamp_with_time_zone_null(Conversation::SnoozedUntil),
        )
        .await?;
        add(
            m,
            Conversation::Table,
            &mut timestamp_with_time_zone_null(Conversation::WaitingSince),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_conversation_assignee")
                .table(Conversation::Table)
                .col(Conversation::AccountId)
                .col(Conversation::AssigneeId)
                .col(Conversation::Status)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CannedResponse::Table)
                .col(pk_uuid(CannedResponse::Id))
                .col(uuid(CannedResponse::AccountId))
                .col(string_len(CannedResponse::Shortcut, 32))
                .col(text(CannedResponse::Body))
                .col(timestamp_with_time_zone(CannedResponse::CreatedAt))
                .col(timestamp_with_time_zone(CannedResponse::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(CannedResponse::Table, CannedResponse::AccountId)
                        .to(Account::Table, Account::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_canned_shortcut")
                .table(CannedResponse::Table)
                .col(CannedResponse::AccountId)
                .col(CannedResponse::Shortcut)
                .unique()
                .to_owned(),
        )
        .await
    }
}
