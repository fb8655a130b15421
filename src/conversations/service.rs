//! Conversation use cases. `get_for` is the single authorization check that history, read
//! markers and the socket's subscribe all go through.
use chrono::{Duration, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    actor::{Actor, SenderType},
    auth::VisitorClaims,
    context::AppContext,
    db::entities::{contact, conversation, read_marker},
    error::{AppError, AppResult},
    events::DomainEvent,
    inboxes,
};

#[derive(Clone, Debug, Serialize)]
pub struct ConversationView {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub contact_id: Uuid,
    pub status: String,
    pub assignee_id: Option<Uuid>,
    pub last_seq: i64,
    pub created_at: chrono::DateTime<Utc>,
    pub last_message_at: Option<chrono::DateTime<Utc>>,
}

impl From<conversation::Model> for ConversationView {
    fn from(c: conversation::Model) -> Self {
        Self {
            id: c.id,
            inbox_id: c.inbox_id,
            contact_id: c.contact_id,
            status: c.status,
            assignee_id: c.assignee_id,
            last_seq: c.last_seq,
            created_at: c.created_at,
            last_message_at: c.last_message_at,
        }
    }
}

/// Loads a conversation the actor may see; anything else is "not found" (ids of other tenants
/// and customers are neither confirmed nor denied).
pub async fn get_for(ctx: &AppContext, actor: &Actor, id: Uuid) -> AppResult<conversation::Model> {
    let conv = conversation::Entity::find_by_id(id)
        .filter(conversation::Column::AccountId.eq(actor.account_id()))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("conversation"))?;
    if actor.can_access(conv.account_id, conv.id, conv.contact_id) {
        Ok(conv)
    } else {
        Err(AppError::NotFound("conversation"))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct VisitorSessionRequest {
    pub inbox_token: String,
    /// A token from an earlier session of the same visitor: returns its conversation.
    pub visitor_token: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VisitorSession {
    pub visitor_token: String,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub last_seq: i64,
    pub resumed: bool,
}

pub const VISITOR_TOKEN_DAYS: i64 = 180;

/// Opens (or resumes) a visitor's conversation in the inbox named by its public token.
/// `origin` is the browser's `Origin`, checked against the inbox's allowed origins.
pub async fn open_visitor_session(
    ctx: &AppContext,
    req: VisitorSessionRequest,
    origin: Option<&str>,
) -> AppResult<VisitorSession> {
    let inbox = inboxes::find_by_token(&ctx.db, &req.inbox_token)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    if !inboxes::origin_allowed(&inbox, origin) {
        return Err(AppError::Forbidden("this website may not use this inbox"));
    }
    let now = Utc::now();
    if let Some(tok) = req.visitor_token.as_deref()
        && let Some(claims) = ctx.signer.open_visitor(tok, now.timestamp())
        && claims.inbox_id == inbox.id
        && let Some(conv) = conversation::Entity::find_by_id(claims.conversation_id)
            .filter(conversation::Column::ContactId.eq(claims.contact_id))
            .one(&ctx.db)
            .await?
    {
        return Ok(VisitorSession {
            visitor_token: issue(ctx, &claims),
            contact_id: claims.contact_id,
            conversation_id: conv.id,
            last_seq: conv.last_seq,
            resumed: true,
        });
    }
    let name = clean_opt(req.name, 120)?;
    let email = clean_opt(req.email, 254)?;
    if let Some(e) = &email
        && !looks_like_email(e)
    {
        return Err(AppError::Invalid("email is not a valid address".into()));
    }
    let contact_id = Uuid::now_v7();
    let conversation_id = Uuid::now_v7();
    let txn = sea_orm::TransactionTrait::begin(&ctx.db).await?;
    contact::Entity::insert(contact::ActiveModel {
        id: Set(contact_id),
        account_id: Set(inbox.account_id),
        inbox_id: Set(inbox.id),
        name: Set(name),
        email: Set(email),
        created_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    conversation::Entity::insert(conversation::ActiveModel {
        id: Set(conversation_id),
        account_id: Set(inbox.account_id),
        inbox_id: Set(inbox.id),
        contact_id: Set(contact_id),
        status: Set("open".into()),
        assignee_id: Set(None),
        last_seq: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        last_message_at: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    ctx.events
        .publish(DomainEvent::ConversationCreated {
            account_id: inbox.account_id,
            conversation_id,
        })
        .await;
    let claims = VisitorClaims {
        account_id: inbox.account_id,
        inbox_id: inbox.id,
        contact_id,
        conversation_id,
    };
    Ok(VisitorSession {
        visitor_token: issue(ctx, &claims),
        contact_id,
        conversation_id,
        last_seq: 0,
        resumed: false,
    })
}

fn issue(ctx: &AppContext, claims: &VisitorClaims) -> String {
    let exp = (Utc::now() + Duration::days(VISITOR_TOKEN_DAYS)).timestamp();
    ctx.signer.visitor_token(claims, exp)
}

fn clean_opt(v: Option<String>, max: usize) -> AppResult<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::Invalid(format!(
            "value must be at most {max} printable characters"
        )));
    }
    Ok(Some(v.to_string()))
}

fn looks_like_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.') && !e.contains(' '),
        None => false,
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub limit: Option<u64>,
}

pub const STATUSES: [&str; 4] = ["open", "pending", "snoozed", "resolved"];

/// Conversations of the agent's account, most recently active first.
pub async fn list(
    ctx: &AppContext,
    actor: &Actor,
    q: ListQuery,
) -> AppResult<Vec<ConversationView>> {
    let Actor::Agent(agent) = actor else {
        return Err(AppError::Forbidden("agents only"));
    };
    let mut sel =
        conversation::Entity::find().filter(conversation::Column::AccountId.eq(agent.account_id));
    if let Some(s) = q.status.as_deref() {
        if !STATUSES.contains(&s) {
            return Err(AppError::Invalid(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
        sel = sel.filter(conversation::Column::Status.eq(s));
    }
    let rows = sel
        .order_by_desc(conversation::Column::UpdatedAt)
        .limit(q.limit.unwrap_or(50).clamp(1, 200))
        .all(&ctx.db)
        .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Records that the actor has read up to `seq` (never moves backwards) and tells the others.
pub async fn mark_read(
    ctx: &AppContext,
    actor: &Actor,
    conversation_id: Uuid,
    seq: i64,
) -> AppResult<i64> {
    let conv = get_for(ctx, actor, conversation_id).await?;
    if seq < 0 || seq > conv.last_seq {
        return Err(AppError::Invalid(format!(
            "seq must be between 0 and {}",
            conv.last_seq
        )));
    }
    let reader_type = actor.sender_type();
    if reader_type == SenderType::Bot {
        return Err(AppError::Forbidden("the bot has no read state"));
    }
    // Only ever forward: a stale marker from another tab or transport must not win. The insert
    // covers the first marker; if a concurrent first marker won that race, move forward again.
    let moved = advance_marker(ctx, conversation_id, actor.sender_id(), seq).await?;
    if !moved {
        let inserted = read_marker::Entity::insert(read_marker::ActiveModel {
            conversation_id: Set(conversation_id),
            reader_id: Set(actor.sender_id()),
            reader_type: Set(reader_type.as_str().into()),
            last_read_seq: Set(seq),
            updated_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::columns([
                read_marker::Column::ConversationId,
                read_marker::Column::ReaderId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&ctx.db)
        .await?;
        if inserted == 0 && !advance_marker(ctx, conversation_id, actor.sender_id(), seq).await? {
            // Already at or past `seq`: nothing changes, nobody is told.
            let current = read_marker::Entity::find_by_id((conversation_id, actor.sender_id()))
                .one(&ctx.db)
                .await?
                .map_or(seq, |m| m.last_read_seq);
            return Ok(current);
        }
    }
    ctx.events
        .publish(DomainEvent::ReadUpdated {
            account_id: conv.account_id,
            conversation_id,
            reader_type,
            reader_id: actor.sender_id(),
            seq,
        })
        .await;
    Ok(seq)
}

/// Moves a reader's marker to `seq` if it is behind; false when there is no marker or it is not.
async fn advance_marker(
    ctx: &AppContext,
    conversation_id: Uuid,
    reader_id: Uuid,
    seq: i64,
) -> AppResult<bool> {
    let res = read_marker::Entity::update_many()
        .col_expr(read_marker::Column::LastReadSeq, Expr::value(seq))
        .col_expr(read_marker::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(read_marker::Column::ConversationId.eq(conversation_id))
        .filter(read_marker::Column::ReaderId.eq(reader_id))
        .filter(read_marker::Column::LastReadSeq.lt(seq))
        .exec(&ctx.db)
        .await?;
    Ok(res.rows_affected > 0)
}

/// Read markers of everyone in a conversation.
pub async fn read_markers(
    ctx: &AppContext,
    actor: &Actor,
    conversation_id: Uuid,
) -> AppResult<Vec<read_marker::Model>> {
    get_for(ctx, actor, conversation_id).await?;
    Ok(read_marker::Entity::find()
        .filter(read_marker::Column::ConversationId.eq(conversation_id))
        .all(&ctx.db)
        .await?)
}
