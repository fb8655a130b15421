//! `conversation`: one thread between a contact and the account's agents. `last_seq` is the seq of
//! its newest message and only ever moves inside the transaction that inserts that message.
use sea_orm::entity::prelude::*;

pub use crate::conversations::state::{BotState, Status};

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
