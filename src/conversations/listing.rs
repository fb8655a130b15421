//! The agent's inbox: conversation summaries (contact, last message, unread count, waiting time)
//! filtered by view (mine / unassigned / all) and status, paged by a keyset cursor, plus the
//! detail of one conversation (contact panel, read markers, past conversations).
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, FromQueryResult, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    service::get_for,
    state::{BotState, Status},
};
use crate::{
    actor::{Actor, AgentIdentity},
    db::entities::{contact, conversation, inbox, message, read_marker},
    error::{AppError, AppResult},
};

#[derive(Clone, Debug, Serialize)]
pub struct ContactBrief {
    pub id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LastMessage {
    pub seq: i64,
    pub body: String,
    pub sender_type: String,
    pub sender_id: Uuid,
    pub private: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub inbox_name: String,
    pub status: Status,
    pub assignee_id: Option<Uuid>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub subject: Option<String>,
    pub tags: Vec<String>,
    pub last_seq: i64,
    /// Customer messages after this agent's read marker.
    pub unread: u64,
    pub waiting_since: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub contact: ContactBrief,
    pub last_message: Option<LastMessage>,
    /// None = humans only.
    pub bot_state: Option<BotState>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum View {
    Mine,
    Unassigned,
    #[default]
    All,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    pub view: View,
    pub status: Option<String>,
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub before: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Counts {
    pub mine: u64,
    pub unassigned: u64,
    pub all: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Page {
    pub conversations: Vec<Summary>,
    pub next_cursor: Option<String>,
    pub counts: Counts,
}

fn base(agent: &AgentIdentity, status: Status, view: View) -> Select<conversation::Entity> {
    let mut sel = conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(agent.account_id))
        .filter(conversation::Column::Status.eq(status))
        // A visitor who opened the widget but never wrote is not a conversation yet.
        .filter(conversation::Column::LastSeq.gt(0));
    match view {
        View::Mine => sel = sel.filter(conversation::Column::AssigneeId.eq(agent.agent_id)),
        View::Unassigned => sel = sel.filter(conversation::Column::AssigneeId.is_null()),
        View::All => {}
    }
    sel
}

fn parse_cursor(c: &str) -> AppResult<(DateTime<Utc>, Uuid)> {
    let bad = || AppError::Invalid("before is not a cursor from this API".into());
    let (t, id) = c.split_once('_').ok_or_else(bad)?;
    // Nanoseconds: SQLite keeps them, and a cursor cut to microseconds would skip every
    // conversation sharing the boundary's timestamp.
    let nanos: i64 = t.parse().map_err(|_| bad())?;
    let t = DateTime::from_timestamp_nanos(nanos);
    Ok((t, id.parse().map_err(|_| bad())?))
}

fn cursor(c: &conversation::Model) -> Option<String> {
    c.last_message_at
        .and_then(|t| t.timestamp_nanos_opt())
        .map(|n| format!("{n}_{}", c.id))
}

pub async fn list(db: &DatabaseConnection, actor: &Actor, q: ListQuery) -> AppResult<Page> {
    let Actor::Agent(agent) = actor else {
        return Err(AppError::Forbidden("agents only"));
    };
    let status = match q.status.as_deref() {
        None => Status::Open,
        Some(s) => Status::parse(s).ok_or_else(|| {
            AppError::Invalid(format!("status must be one of {}", Status::list()))
        })?,
    };
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let mut sel = base(agent, status, q.view);
    if let Some(c) = q.before.as_deref() {
        let (t, id) = parse_cursor(c)?;
        sel = sel.filter(
            Condition::any()
                .add(conversation::Column::LastMessageAt.lt(t))
                .add(
                    Condition::all()
                        .add(conversation::Column::LastMessageAt.eq(t))
                        .add(conversation::Column::Id.lt(id)),
                ),
        );
    }
    let rows = sel
        .order_by_desc(conversation::Column::LastMessageAt)
        .order_by_desc(conversation::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    let rows: Vec<_> = rows.into_iter().take(limit as usize).collect();
    let next_cursor = if more {
        rows.last().and_then(cursor)
    } else {
        None
    };
    let counts = Counts {
        mine: base(agent, status, View::Mine).count(db).await?,
        unassigned: base(agent, status, View::Unassigned).count(db).await?,
        all: base(agent, status, View::All).count(db).await?,
    };
    Ok(Page {
        conversations: summaries(db, agent, rows).await?,
        next_cursor,
        counts,
    })
}

#[derive(FromQueryResult)]
struct UnreadRow {
    conversation_id: Uuid,
    n: i64,
}

/// Builds summaries with a fixed number of queries, whatever the page size.
pub async fn summaries(
    db: &DatabaseConnection,
    agent: &AgentIdentity,
    rows: Vec<conversation::Model>,
) -> AppResult<Vec<Summary>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let contact_ids: Vec<Uuid> = rows.iter().map(|c| c.contact_id).collect();
    let inbox_ids: Vec<Uuid> = rows.iter().map(|c| c.inbox_id).collect();
    let contacts: HashMap<Uuid, contact::Model> = contact::Entity::find()
        .filter(contact::Column::Id.is_in(contact_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let inboxes: HashMap<Uuid, String> = inbox::Entity::find()
        .filter(inbox::Column::Id.is_in(inbox_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    let mut last = Condition::any();
    for c in rows.iter().filter(|c| c.last_seq > 0) {
        last = last.add(
            Condition::all()
                .add(message::Column::ConversationId.eq(c.id))
                .add(message::Column::Seq.eq(c.last_seq)),
        );
    }
    let lasts: HashMap<Uuid, message::Model> = message::Entity::find()
        .filter(last)
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.conversation_id, m))
        .collect();
    let markers: HashMap<Uuid, i64> = read_marker::Entity::find()
        .filter(read_marker::Column::ConversationId.is_in(ids.clone()))
        .filter(read_marker::Column::ReaderId.eq(agent.agent_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (m.conversation_id, m.last_read_seq))
        .collect();
    let mut unread_cond = Condition::any();
    for c in &rows {
        unread_cond = unread_cond.add(
            Condition::all()
                .add(message::Column::ConversationId.eq(c.id))
                .add(message::Column::Seq.gt(markers.get(&c.id).copied().unwrap_or(0))),
        );
    }
    let unread: HashMap<Uuid, i64> = message::Entity::find()
        .select_only()
        .column(message::Column::ConversationId)
        .column_as(message::Column::Id.count(), "n")
        .filter(message::Column::SenderType.eq("customer"))
        .filter(unread_cond)
        .group_by(message::Column::ConversationId)
        .into_model::<UnreadRow>()
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.conversation_id, r.n))
        .collect();
    Ok(rows
        .into_iter()
        .map(|c| {
            let ct = contacts.get(&c.contact_id);
            Summary {
                inbox_name: inboxes.get(&c.inbox_id).cloned().unwrap_or_default(),
                unread: unread.get(&c.id).copied().unwrap_or(0).max(0) as u64,
                contact: ContactBrief {
                    id: c.contact_id,
                    name: ct.and_then(|x| x.name.clone()),
                    email: ct.and_then(|x| x.email.clone()),
                },
                last_message: lasts.get(&c.id).map(|m| LastMessage {
                    seq: m.seq,
                    body: m.body.chars().take(200).collect(),
                    sender_type: m.sender_type.clone(),
                    sender_id: m.sender_id,
                    private: m.private,
                    created_at: m.created_at,
                }),
                bot_state: c.bot_state,
                id: c.id,
                inbox_id: c.inbox_id,
                status: c.status,
                assignee_id: c.assignee_id,
                snoozed_until: c.snoozed_until,
                tags: c.tags.lines().map(str::to_string).collect(),
                subject: c.subject,
                last_seq: c.last_seq,
                waiting_since: c.waiting_since,
                created_at: c.created_at,
                last_message_at: c.last_message_at,
            }
        })
        .collect())
}

pub async fn summary(
    db: &DatabaseConnection,
    agent: &AgentIdentity,
    c: conversation::Model,
) -> AppResult<Summary> {
    summaries(db, agent, vec![c])
        .await?
        .pop()
        .ok_or(AppError::NotFound("conversation"))
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageVisit {
    pub url: String,
    #[serde(default)]
    pub title: String,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContactDetail {
    pub id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub pages: Vec<PageVisit>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PastConversation {
    pub id: Uuid,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_seq: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct ReadView {
    pub reader_type: String,
    pub reader_id: Uuid,
    pub seq: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Detail {
    pub conversation: Summary,
    pub read: Vec<ReadView>,
    pub contact: ContactDetail,
    pub past_conversations: Vec<PastConversation>,
}

pub async fn detail(db: &DatabaseConnection, agent: &AgentIdentity, id: Uuid) -> AppResult<Detail> {
    let conv = get_for(db, &Actor::Agent(*agent), id).await?;
    let read = read_marker::Entity::find()
        .filter(read_marker::Column::ConversationId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| ReadView {
            reader_type: m.reader_type,
            reader_id: m.reader_id,
            seq: m.last_read_seq,
        })
        .collect();
    let ct = contact::Entity::find_by_id(conv.contact_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound("contact"))?;
    // Other conversations of this contact, or of the same verified user.
    let mut same = Condition::any().add(conversation::Column::ContactId.eq(ct.id));
    if let Some(ext) = &ct.external_id {
        let others: Vec<Uuid> = contact::Entity::find()
            .filter(contact::Column::AccountId.eq(ct.account_id))
            .filter(contact::Column::ExternalId.eq(ext.as_str()))
            .all(db)
            .await?
            .into_iter()
            .map(|c| c.id)
            .collect();
        same = same.add(conversation::Column::ContactId.is_in(others));
    }
    let past = conversation::Entity::find()
        .filter(conversation::Column::AccountId.eq(agent.account_id))
        .filter(same)
        .filter(conversation::Column::Id.ne(id))
        .filter(conversation::Column::LastSeq.gt(0))
        .order_by_desc(conversation::Column::CreatedAt)
        .limit(20)
        .all(db)
        .await?
        .into_iter()
        .map(|c| PastConversation {
            id: c.id,
            status: c.status,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
            last_seq: c.last_seq,
        })
        .collect();
    Ok(Detail {
        conversation: summary(db, agent, conv).await?,
        read,
        contact: ContactDetail {
            pages: serde_json::from_str(&ct.pages).unwrap_or_default(),
            id: ct.id,
            name: ct.name,
            email: ct.email,
            external_id: ct.external_id,
            created_at: ct.created_at,
            last_seen_at: ct.last_seen_at,
        },
        past_conversations: past,
    })
}
