//! `inbox.identity_epoch`: bumped by every rotation of the identity-verification secret. Visitor
//! tokens of verified users carry the epoch they were issued in, so a rotation signs them all
//! out (see `auth::tokens`).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Inbox {
    Table,
    IdentityEpoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Inbox::Table)
                .add_column(integer(Inbox::IdentityEpoch).default(0))
                .to_owned(),
        )
        .await
    }
}
