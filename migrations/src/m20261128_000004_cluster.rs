//! Several nodes: `conversation.bot_lease_until`, the time until which one node's bot holds a
//! conversation's turn (taken with a conditional update), so two nodes never work on the same
//! customer message at once — the reply is stored once anyway, this saves the second model call.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Conversation {
    Table,
    BotLeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Conversation::Table)
                .add_column(timestamp_with_time_zone_null(Conversation::BotLeaseUntil))
                .to_owned(),
        )
        .await
    }
}
