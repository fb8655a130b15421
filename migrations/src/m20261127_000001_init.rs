//! The conversation spine: accounts, agents and their sessions, inboxes, contacts, conversations,
//! messages (ordered by a per-conversation `seq`, deduplicated by `client_msg_id`) and read markers.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Account {
    Table,
    Id,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Agent {
    Table,
    Id,
    AccountId,
    Email,
    Name,
    PasswordHash,
    Role,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentSession {
    Table,
    Id,
    AgentId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Inbox {
    Table,
    Id,
    AccountId,
    Name,
    WidgetToken,
    AllowedOrigins,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Contact {
    Table,
    Id,
    AccountId,
    InboxId,
    Name,
    Email,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Conversation {
    Table,
    Id,
    AccountId,
    InboxId,
    ContactId,
    Status,
    AssigneeId,
    LastSeq,
    CreatedAt,
    UpdatedAt,
    LastMessageAt,
}

#[derive(DeriveIden)]
enum Message {
    Table,
    Id,
    AccountId,
    ConversationId,
    Seq,
    ClientMsgId,
    SenderType,
    SenderId,
    Private,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ReadMarker {
    Table,
    ConversationId,
    ReaderId,
    ReaderType,
    LastReadSeq,
    UpdatedAt,
}

fn fk(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Account::Table)
                .col(pk_uuid(Account::Id))
                .col(string(Account::Name))
                .col(timestamp_with_time_zone(Account::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Agent::Table)
                .col(pk_uuid(Agent::Id))
                .col(uuid(Agent::AccountId))
                .col(string_uniq(Agent::Email))
                .col(string(Agent::Name))
                .col(string(Agent::PasswordHash))
                .col(string_len(Agent::Role, 16))
                .col(boolean(Agent::Active))
                .col(timestamp_with_time_zone(Agent::CreatedAt))
                .foreign_key(&mut fk(
                    (Agent::Table, Agent::AccountId),
                    (Account::Table, Account::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AgentSession::Table)
                .col(pk_uuid(AgentSession::Id))
                .col(uuid(AgentSession::AgentId))
                .col(string_uniq(AgentSession::TokenHash))
                .col(timestamp_with_time_zone(AgentSession::CreatedAt))
                .col(timestamp_with_time_zone(AgentSession::ExpiresAt))
                .foreign_key(&mut fk(
                    (AgentSession::Table, AgentSession::AgentId),
                    (Agent::Table, Agent::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Inbox::Table)
                .col(pk_uuid(Inbox::Id))
                .col(uuid(Inbox::AccountId))
                .col(string(Inbox::Name))
                .col(string_uniq(Inbox::WidgetToken))
                .col(text(Inbox::AllowedOrigins))
                .col(timestamp_with_time_zone(Inbox::CreatedAt))
                .foreign_key(&mut fk(
                    (Inbox::Table, Inbox::AccountId),
                    (Account::Table, Account::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Contact::Table)
                .col(pk_uuid(Contact::Id))
                .col(uuid(Contact::AccountId))
                .col(uuid(Contact::InboxId))
                .col(string_null(Contact::Name))
                .col(string_null(Contact::Email))
                .col(timestamp_with_time_zone(Contact::CreatedAt))
                .foreign_key(&mut fk(
                    (Contact::Table, Contact::AccountId),
                    (Account::Table, Account::Id),
                ))
                .foreign_key(&mut fk(
                    (Contact::Table, Contact::InboxId),
                    (Inbox::Table, Inbox::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Conversation::Table)
                .col(pk_uuid(Conversation::Id))
                .col(uuid(Conversation::AccountId))
                .col(uuid(Conversation::InboxId))
                .col(uuid(Conversation::ContactId))
                .col(string_len(Conversation::Status, 16))
                .col(uuid_null(Conversation::AssigneeId))
                .col(big_integer(Conversation::LastSeq).default(0))
                .col(timestamp_with_time_zone(Conversation::CreatedAt))
                .col(timestamp_with_time_zone(Conversation::UpdatedAt))
                .col(timestamp_with_time_zone_null(Conversation::LastMessageAt))
                .foreign_key(&mut fk(
                    (Conversation::Table, Conversation::AccountId),
                    (Account::Table, Account::Id),
                ))
                .foreign_key(&mut fk(
                    (Conversation::Table, Conversation::InboxId),
                    (Inbox::Table, Inbox::Id),
                ))
                .foreign_key(&mut fk(
                    (Conversation::Table, Conversation::ContactId),
                    (Contact::Table, Contact::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_conversation_account_status")
                .table(Conversation::Table)
                .col(Conversation::AccountId)
                .col(Conversation::Status)
                .col(Conversation::UpdatedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_conversation_contact")
                .table(Conversation::Table)
                .col(Conversation::ContactId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Message::Table)
                .col(pk_uuid(Message::Id))
                .col(uuid(Message::AccountId))
                .col(uuid(Message::ConversationId))
                .col(big_integer(Message::Seq))
                .col(string_len(Message::ClientMsgId, 64))
                .col(string_len(Message::SenderType, 16))
                .col(uuid(Message::SenderId))
                .col(boolean(Message::Private))
                .col(text(Message::Body))
                .col(timestamp_with_time_zone(Message::CreatedAt))
                .foreign_key(&mut fk(
                    (Message::Table, Message::ConversationId),
                    (Conversation::Table, Conversation::Id),
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_message_conversation_seq")
                .table(Message::Table)
                .col(Message::ConversationId)
                .col(Message::Seq)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_message_idempotency")
                .table(Message::Table)
                .col(Message::ConversationId)
                .col(Message::SenderId)
                .col(Message::ClientMsgId)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(ReadMarker::Table)
                .col(uuid(ReadMarker::ConversationId))
                .col(uuid(ReadMarker::ReaderId))
                .col(string_len(ReadMarker::ReaderType, 16))
                .col(big_integer(ReadMarker::LastReadSeq))
                .col(timestamp_with_time_zone(ReadMarker::UpdatedAt))
                .primary_key(
                    Index::create()
                        .col(ReadMarker::ConversationId)
                        .col(ReadMarker::ReaderId),
                )
                .foreign_key(&mut fk(
                    (ReadMarker::Table, ReadMarker::ConversationId),
                    (Conversation::Table, Conversation::Id),
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            ReadMarker::Table.into_iden(),
            Message::Table.into_iden(),
            Conversation::Table.into_iden(),
            Contact::Table.into_iden(),
            Inbox::Table.into_iden(),
            AgentSession::Table.into_iden(),
            Agent::Table.into_iden(),
            Account::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
