//! `inbox`: a channel customers write to, reached from the widget by its public token.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub widget_token: String,
    /// Newline-separated list of origins allowed to embed the widget; empty = any origin.
    pub allowed_origins: String,
    pub created_at: DateTimeUtc,
    /// Widget accent colour, `#rrggbb`.
    pub color: String,
    pub greeting: String,
    /// Shown when nobody is online or outside business hours.
    pub offline_message: String,
    /// The widget asks for an email before the first message.
    pub ask_email: bool,
    /// JSON `{"utc_offset_minutes": i32, "days": {"mon": ["09:00", "17:00"], …}}`; None = always open.
    pub business_hours: Option<String>,
    /// HMAC key for identity verification (`user_hash`).
    pub identity_secret: Option<String>,
    /// Refuse `identify` without a valid `user_hash`.
    pub identity_required: bool,
    /// Bumped by each rotation of `identity_secret`: verified visitors' tokens carry the epoch
    /// they were issued in and stop working when it moves on.
    pub identity_epoch: i32,
    /// New conversations are assigned round-robin to online agents.
    pub auto_assign: bool,
    /// New conversations start `pending` with the first-line bot.
    pub bot_enabled: bool,
    /// Bot answers in one conversation before it hands off to a human.
    pub bot_max_turns: i32,
    /// Shadow mode: the bot drafts (`bot_draft`) on live conversations but sends nothing;
    /// conversations stay with humans. `bot_enabled` wins when both are set.
    pub bot_shadow: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
