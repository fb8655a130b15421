//! `bot_draft`: what the first-line bot would have done with one public customer message of an
//! inbox in shadow mode (it sent nothing), and the agents' verdict on it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_draft")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub account_id: Uuid,
    pub inbox_id: Uuid,
    pub conversation_id: Uuid,
    /// The customer message it answers; unique (one draft per message).
    pub message_id: Uuid,
    /// `answer` or `handoff`.
    pub action: String,
    /// The handoff reason (snake_case); empty for answers.
    pub reason: String,
    pub text: String,
    /// JSON array of cited articles `{slug, title, url}`.
    pub sources: String,
    pub created_at: DateTimeUtc,
    /// `none`, `up`, `down` or `should_handoff`.
    pub feedback: String,
    pub feedback_by: Option<Uuid>,
    pub feedback_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// An article a draft cites.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Source {
    pub slug: String,
    pub title: String,
    pub url: Option<String>,
}

/// A draft as agents see it (API and the `bot_draft` frame).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct View {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub conversation_id: Uuid,
    pub message_id: Uuid,
    /// `answer` or `handoff`.
    pub action: String,
    /// The handoff reason code (snake_case), None for answers.
    pub reason: Option<String>,
    /// The handoff reason in words, None for answers.
    pub reason_text: Option<String>,
    pub text: String,
    pub sources: Vec<Source>,
    pub created_at: DateTimeUtc,
    pub feedback: String,
    pub feedback_by: Option<Uuid>,
    pub feedback_at: Option<DateTimeUtc>,
}
