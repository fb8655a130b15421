//! The website visitor's side: open or resume a widget session (with optional verified
//! identity), record pages visited, leave an email, and the status line the widget shows
//! (assignee, queue position, availability).
use chrono::{Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::{VisitorClaims, VisitorIdentity, tokens},
    context::AppContext,
    conversations::{
        listing::PageVisit,
        state::{self, BotState, Status},
    },
    db::entities::{agent, contact, conversation, inbox},
    error::{AppError, AppResult},
    events::DomainEvent,
    inboxes::{
        self,
        settings::{Availability, availability},
    },
};

/// Visitor token lifetime. Sliding: the widget opens a session with its stored token on every
/// page load and keeps the fresh one, so only a visitor away this long starts over.
pub const VISITOR_TOKEN_DAYS: i64 = 30;
/// Pages remembered per contact.
const MAX_PAGES: usize = 20;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    pub url: String,
    #[serde(default)]
    pub title: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub user_hash: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitorSessionRequest {
    pub inbox_token: String,
    /// A token from an earlier session of the same visitor: returns its conversation.
    pub visitor_token: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub page: Option<PageInput>,
    pub user: Option<UserInput>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VisitorSession {
    pub visitor_token: String,
    pub contact_id: Uuid,
    pub conversation_id: Uuid,
    pub last_seq: i64,
    pub resumed: bool,
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

fn clean_email(v: Option<String>) -> AppResult<Option<String>> {
    let e = clean_opt(v, 254)?;
    if let Some(e) = &e {
        let ok = match e.split_once('@') {
            Some((local, domain)) => !local.is_empty() && domain.contains('.') && !e.contains(' '),
            None => false,
        };
        if !ok {
            return Err(AppError::Invalid("email is not a valid address".into()));
        }
    }
    Ok(e)
}

/// The identified user, if any: `verified` when `user_hash` matched the inbox secret.
struct Identity {
    user_id: String,
    verified: bool,
    name: Option<String>,
    email: Option<String>,
}

fn identity(inbox: &inbox::Model, user: Option<UserInput>) -> AppResult<Option<Identity>> {
    let Some(u) = user else {
        if inbox.identity_required {
            return Err(AppError::Forbidden("this inbox requires a verified user"));
        }
        return Ok(None);
    };
    let user_id = clean_opt(Some(u.user_id), 128)?
        .ok_or_else(|| AppError::Invalid("user_id must not be empty".into()))?;
    let verified = match (&inbox.identity_secret, u.user_hash.as_deref()) {
        (Some(secret), Some(hash)) => {
            if !tokens::user_hash_ok(secret, &user_id, hash) {
                return Err(AppError::Forbidden("identity verification failed"));
            }
            true
        }
        _ => false,
    };
    if inbox.identity_required && !verified {
        return Err(AppError::Forbidden("this inbox requires a verified user"));
    }
    Ok(Some(Identity {
        user_id,
        verified,
        name: clean_opt(u.name, 120)?,
        email: clean_email(u.email)?,
    }))
}

fn issue(ctx: &AppContext, claims: &VisitorClaims) -> String {
    let exp = (Utc::now() + Duration::days(VISITOR_TOKEN_DAYS)).timestamp();
    ctx.signer.visitor_token(claims, exp)
}

async fn new_contact(
    db: &impl ConnectionTrait,
    inbox: &inbox::Model,
    external_id: Option<String>,
) -> AppResult<contact::Model> {
    let now = Utc::now();
    let m = contact::Model {
        id: Uuid::now_v7(),
        account_id: inbox.account_id,
        inbox_id: inbox.id,
        name: None,
        email: None,
        created_at: now,
        external_id,
        last_seen_at: Some(now),
        pages: "[]".into(),
    };
    let am: contact::ActiveModel = m.clone().into();
    contact::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(m)
}

async fn new_conversation(
    ctx: &AppContext,
    inbox: &inbox::Model,
    contact_id: Uuid,
) -> AppResult<conversation::Model> {
    let now = Utc::now();
    let m = conversation::Model {
        id: Uuid::now_v7(),
        account_id: inbox.account_id,
        inbox_id: inbox.id,
        contact_id,
        // With the bot on, the conversation starts with the bot; routing waits for a handoff.
        status: if inbox.bot_enabled {
            Status::Pending
        } else {
            Status::Open
        },
        assignee_id: None,
        last_seq: 0,
        created_at: now,
        updated_at: now,
        last_message_at: None,
        snoozed_until: None,
        waiting_since: None,
        subject: None,
        external_id: None,
        tags: String::new(),
        bot_state: inbox.bot_enabled.then_some(BotState::Active),
        bot_turns: 0,
        bot_lease_until: None,
    };
    state::create(&ctx.db, m.clone()).await?;
    ctx.events
        .publish(DomainEvent::ConversationCreated {
            account_id: inbox.account_id,
            conversation_id: m.id,
        })
        .await;
    Ok(m)
}

/// The newest conversation of a contact, or a new one.
async fn latest_or_new(
    ctx: &AppContext,
    inbox: &inbox::Model,
    contact_id: Uuid,
) -> AppResult<(conversation::Model, bool)> {
    let found = conversation::Entity::find()
        .filter(conversation::Column::ContactId.eq(contact_id))
        .order_by_desc(conversation::Column::CreatedAt)
        .one(&ctx.db)
        .await?;
    match found {
        Some(c) => Ok((c, true)),
        None => Ok((new_conversation(ctx, inbox, contact_id).await?, false)),
    }
}

/// The conversation an earlier visitor token points to, if it is still valid for this inbox.
async fn previous(
    ctx: &AppContext,
    inbox: &inbox::Model,
    token: Option<&str>,
) -> AppResult<Option<(contact::Model, conversation::Model)>> {
    let Some(claims) = token.and_then(|t| ctx.signer.open_visitor(t, Utc::now().timestamp()))
    else {
        return Ok(None);
    };
    if claims.inbox_id != inbox.id
        || !inboxes::settings::token_current(&ctx.db, inbox, &claims).await?
    {
        return Ok(None);
    }
    let conv = conversation::Entity::find_by_id(claims.conversation_id)
        .filter(conversation::Column::ContactId.eq(claims.contact_id))
        .one(&ctx.db)
        .await?;
    let ct = contact::Entity::find_by_id(claims.contact_id)
        .one(&ctx.db)
        .await?;
    Ok(conv.zip(ct).map(|(v, c)| (c, v)))
}

/// Opens (or resumes) a visitor's conversation in the inbox named by its public token.
/// `origin` is the browser's `Origin`, checked against the inbox's allowed origins.
pub async fn open_session(
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
    let name = clean_opt(req.name, 120)?;
    let email = clean_email(req.email)?;
    let who = identity(&inbox, req.user)?;
    let prev = previous(ctx, &inbox, req.visitor_token.as_deref()).await?;

    let (ct, conv, resumed) = match (&who, prev) {
        // A verified user gets their own contact (and its history) on any device.
        (Some(id), prev) if id.verified => {
            match prev.filter(|(c, _)| c.external_id.as_deref() == Some(&id.user_id)) {
                Some((c, v)) => (c, v, true),
                None => {
                    let known = contact::Entity::find()
                        .filter(contact::Column::InboxId.eq(inbox.id))
                        .filter(contact::Column::ExternalId.eq(id.user_id.as_str()))
                        .one(&ctx.db)
                        .await?;
                    let c = match known {
                        Some(c) => c,
                        None => new_contact(&ctx.db, &inbox, Some(id.user_id.clone())).await?,
                    };
                    let (v, resumed) = latest_or_new(ctx, &inbox, c.id).await?;
                    (c, v, resumed)
                }
            }
        }
        // Anonymous (or unverified) visitors only ever get their own browser's conversation back.
        (_, Some((c, v))) => (c, v, true),
        (_, None) => {
            let c = new_contact(&ctx.db, &inbox, None).await?;
            let v = new_conversation(ctx, &inbox, c.id).await?;
            (c, v, false)
        }
    };
    let identity = match &who {
        Some(i) if i.verified => VisitorIdentity::Verified {
            epoch: inbox.identity_epoch,
        },
        _ => VisitorIdentity::Anonymous,
    };
    let (id_name, id_email) = who.map_or((None, None), |i| (i.name, i.email));
    touch_contact(ctx, ct, name.or(id_name), email.or(id_email), req.page).await?;
    let claims = VisitorClaims {
        account_id: inbox.account_id,
        inbox_id: inbox.id,
        contact_id: conv.contact_id,
        conversation_id: conv.id,
        identity,
    };
    Ok(VisitorSession {
        visitor_token: issue(ctx, &claims),
        contact_id: conv.contact_id,
        conversation_id: conv.id,
        last_seq: conv.last_seq,
        resumed,
    })
}

fn clean_page(p: PageInput) -> AppResult<Option<PageVisit>> {
    let url = p.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Ok(None);
    }
    if url.len() > 2048 || url.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "page url is too long or malformed".into(),
        ));
    }
    let title: String = p
        .title
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect();
    Ok(Some(PageVisit {
        url: url.to_string(),
        title,
        at: Utc::now(),
    }))
}

/// Updates what we know about a contact: name and email (when given), last seen, pages.
async fn touch_contact(
    ctx: &AppContext,
    ct: contact::Model,
    name: Option<String>,
    email: Option<String>,
    page: Option<PageInput>,
) -> AppResult<()> {
    let page = page.map(clean_page).transpose()?.flatten();
    let mut am: contact::ActiveModel = ct.clone().into();
    if let Some(n) = name {
        am.name = Set(Some(n));
    }
    if let Some(e) = email {
        am.email = Set(Some(e));
    }
    am.last_seen_at = Set(Some(Utc::now()));
    if let Some(p) = page {
        let mut pages: Vec<PageVisit> = serde_json::from_str(&ct.pages).unwrap_or_default();
        // A reload of the same page is not a new visit.
        if pages.last().is_none_or(|l| l.url != p.url) {
            pages.push(p);
        }
        let excess = pages.len().saturating_sub(MAX_PAGES);
        pages.drain(..excess);
        am.pages = Set(serde_json::to_string(&pages).map_err(|e| AppError::Internal(e.into()))?);
    }
    contact::Entity::update(am).exec(&ctx.db).await?;
    Ok(())
}

async fn own_contact(ctx: &AppContext, v: &VisitorClaims) -> AppResult<contact::Model> {
    contact::Entity::find_by_id(v.contact_id)
        .filter(contact::Column::AccountId.eq(v.account_id))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("contact"))
}

/// The visitor moved to another page of the website.
pub async fn page_visit(ctx: &AppContext, v: &VisitorClaims, page: PageInput) -> AppResult<()> {
    let ct = own_contact(ctx, v).await?;
    touch_contact(ctx, ct, None, None, Some(page)).await
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub name: Option<String>,
    pub email: Option<String>,
}

/// The visitor left a name or email (pre-chat form, "notify me by email").
pub async fn update_contact(
    ctx: &AppContext,
    v: &VisitorClaims,
    input: ContactInput,
) -> AppResult<()> {
    let name = clean_opt(input.name, 120)?;
    let email = clean_email(input.email)?;
    if name.is_none() && email.is_none() {
        return Err(AppError::Invalid("give a name or an email".into()));
    }
    let ct = own_contact(ctx, v).await?;
    touch_contact(ctx, ct, name, email, None).await
}

#[derive(Clone, Debug, Serialize)]
pub struct Assignee {
    pub id: Uuid,
    pub name: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct WidgetStatus {
    pub status: Status,
    pub assignee: Option<Assignee>,
    /// 1-based place among the inbox's waiting, unassigned conversations.
    pub queue_position: Option<u64>,
    #[serde(flatten)]
    pub availability: Availability,
}

pub async fn status(ctx: &AppContext, v: &VisitorClaims) -> AppResult<WidgetStatus> {
    let conv = conversation::Entity::find_by_id(v.conversation_id)
        .filter(conversation::Column::ContactId.eq(v.contact_id))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("conversation"))?;
    let inbox = inboxes::find(&ctx.db, conv.inbox_id)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    let assignee = match conv.assignee_id {
        Some(id) => agent::Entity::find_by_id(id)
            .one(&ctx.db)
            .await?
            .map(|a| Assignee {
                id: a.id,
                name: a.name,
            }),
        None => None,
    };
    let queue_position = match (conv.assignee_id, conv.waiting_since, conv.status) {
        (None, Some(since), Status::Open) => Some(
            conversation::Entity::find()
                .filter(conversation::Column::InboxId.eq(conv.inbox_id))
                .filter(conversation::Column::Status.eq(Status::Open))
                .filter(conversation::Column::AssigneeId.is_null())
                .filter(
                    Condition::any()
                        .add(conversation::Column::WaitingSince.lt(since))
                        .add(
                            Condition::all()
                                .add(conversation::Column::WaitingSince.eq(since))
                                .add(conversation::Column::Id.lte(conv.id)),
                        ),
                )
                .count(&ctx.db)
                .await?,
        ),
        _ => None,
    };
    Ok(WidgetStatus {
        status: conv.status,
        assignee,
        queue_position,
        availability: availability(ctx, &inbox).await,
    })
}
