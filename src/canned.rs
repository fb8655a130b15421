//! Canned responses: saved replies of an account, inserted in the composer with `/shortcut`.
//! Every agent reads them; admins manage them.
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    actor::AgentIdentity,
    context::AppContext,
    db::entities::canned_response,
    error::{AppError, AppResult},
};

#[derive(Clone, Debug, Serialize)]
pub struct Canned {
    pub id: Uuid,
    pub shortcut: String,
    pub body: String,
}

impl From<canned_response::Model> for Canned {
    fn from(m: canned_response::Model) -> Self {
        Self {
            id: m.id,
            shortcut: m.shortcut,
            body: m.body,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CannedInput {
    pub shortcut: Option<String>,
    pub body: Option<String>,
}

const MAX_BODY: usize = 4000;

fn shortcut(s: &str) -> AppResult<String> {
    let s = s.trim().trim_start_matches('/').to_ascii_lowercase();
    let ok = (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(s)
    } else {
        Err(AppError::Invalid(
            "shortcut must be 1 to 32 of a-z, 0-9, - and _".into(),
        ))
    }
}

fn body(s: &str) -> AppResult<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > MAX_BODY {
        return Err(AppError::Invalid(format!(
            "body must have 1 to {MAX_BODY} characters"
        )));
    }
    Ok(s.to_string())
}

pub async fn list(ctx: &AppContext, who: &AgentIdentity) -> AppResult<Vec<Canned>> {
    Ok(canned_response::Entity::find()
        .filter(canned_response::Column::AccountId.eq(who.account_id))
        .order_by_asc(canned_response::Column::Shortcut)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

async fn taken(
    ctx: &AppContext,
    who: &AgentIdentity,
    sc: &str,
    except: Option<Uuid>,
) -> AppResult<()> {
    let clash = canned_response::Entity::find()
        .filter(canned_response::Column::AccountId.eq(who.account_id))
        .filter(canned_response::Column::Shortcut.eq(sc))
        .one(&ctx.db)
        .await?;
    match clash {
        Some(c) if Some(c.id) != except => Err(AppError::Conflict(format!(
            "the shortcut /{sc} is already used"
        ))),
        _ => Ok(()),
    }
}

pub async fn create(
    ctx: &AppContext,
    who: &AgentIdentity,
    input: CannedInput,
) -> AppResult<Canned> {
    who.require_admin()?;
    let sc = shortcut(input.shortcut.as_deref().unwrap_or_default())?;
    let b = body(input.body.as_deref().unwrap_or_default())?;
    taken(ctx, who, &sc, None).await?;
    let now = Utc::now();
    let m = canned_response::Model {
        id: Uuid::now_v7(),
        account_id: who.account_id,
        shortcut: sc,
        body: b,
        created_at: now,
        updated_at: now,
    };
    let am: canned_response::ActiveModel = m.clone().into();
    canned_response::Entity::insert(am)
        .exec_without_returning(&ctx.db)
        .await?;
    Ok(m.into())
}

async fn load(
    ctx: &AppContext,
    who: &AgentIdentity,
    id: Uuid,
) -> AppResult<canned_response::Model> {
    canned_response::Entity::find_by_id(id)
        .filter(canned_response::Column::AccountId.eq(who.account_id))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("canned response"))
}

pub async fn update(
    ctx: &AppContext,
    who: &AgentIdentity,
    id: Uuid,
    input: CannedInput,
) -> AppResult<Canned> {
    who.require_admin()?;
    let m = load(ctx, who, id).await?;
    let mut am: canned_response::ActiveModel = m.into();
    if let Some(s) = input.shortcut.as_deref() {
        let sc = shortcut(s)?;
        taken(ctx, who, &sc, Some(id)).await?;
        am.shortcut = Set(sc);
    }
    if let Some(b) = input.body.as_deref() {
        am.body = Set(body(b)?);
    }
    am.updated_at = Set(Utc::now());
    Ok(canned_response::Entity::update(am)
        .exec(&ctx.db)
        .await?
        .into())
}

pub async fn delete(ctx: &AppContext, who: &AgentIdentity, id: Uuid) -> AppResult<()> {
    who.require_admin()?;
    load(ctx, who, id).await?;
    canned_response::Entity::delete_by_id(id)
        .exec(&ctx.db)
        .await?;
    Ok(())
}
