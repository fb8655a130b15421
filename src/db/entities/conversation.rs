//! `conversation`: one thread between a contact and the account's agents. `last_seq` is the seq of
//! its newest message and only ever moves inside the transaction that inserts that message.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "conversation")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub inbox_id: Uuid,
    pub contact_id: Uuid,
    pub status: Status,
    pub assignee_id: Option<Uuid>,
    pub last_seq: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_message_at: Option<DateTimeUtc>,
    pub snoozed_until: Option<DateTimeUtc>,
    /// Oldest customer message not yet answered by an agent or the bot.
    pub waiting_since: Option<DateTimeUtc>,
    pub subject: Option<String>,
    /// The conversation's id in the tool it was imported from.
    pub external_id: Option<String>,
    /// Newline-separated lower-case tags (labels).
    pub tags: String,
    /// None = humans only (see [`BotState`]).
    pub bot_state: Option<BotState>,
    /// Answers the bot gave in this conversation.
    pub bot_turns: i32,
    /// Until when one node's bot holds this conversation's turn (see `bot::runner`).
    pub bot_lease_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Where a conversation stands for the humans. Stored as text (no data migration).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[sea_orm(string_value = "open")]
    Open,
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "snoozed")]
    Snoozed,
    #[sea_orm(string_value = "resolved")]
    Resolved,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Open,
        Status::Pending,
        Status::Snoozed,
        Status::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Pending => "pending",
            Status::Snoozed => "snoozed",
            Status::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// "open, pending, snoozed, resolved", for error messages.
    pub fn list() -> String {
        Status::ALL.map(Status::as_str).join(", ")
    }
}

/// The first-line bot's hold on a conversation (NULL in the row = humans only).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    sea_orm::EnumIter,
    sea_orm::DeriveActiveEnum,
    Serialize,
    Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "snake_case")]
pub enum BotState {
    /// The bot answers.
    #[sea_orm(string_value = "active")]
    Active,
    /// Humans only, for good.
    #[sea_orm(string_value = "handed_off")]
    HandedOff,
}

impl BotState {
    pub fn as_str(self) -> &'static str {
        match self {
            BotState::Active => "active",
            BotState::HandedOff => "handed_off",
        }
    }
}
