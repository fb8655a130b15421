//! Knowledge-base articles: list, read, create, edit, delete (admins write, agents read), and the
//! upsert by slug that `kb import` uses. Every write bumps `updated_at`, which the retrieval
//! index cache watches.
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::KbIndexes;
use crate::{
    actor::AgentIdentity,
    db::entities::kb_article,
    error::{AppError, AppResult},
};

pub const MAX_BODY_BYTES: usize = 100_000;

#[derive(Clone, Debug, Serialize)]
pub struct Article {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<kb_article::Model> for Article {
    fn from(m: kb_article::Model) -> Self {
        Self {
            id: m.id,
            tags: m
                .tags
                .lines()
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            slug: m.slug,
            title: m.title,
            body: m.body,
            url: m.url,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A new article, or a full replacement of one.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    /// Stable id (`kb-07`); generated from the title when absent.
    pub slug: Option<String>,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub url: Option<String>,
}

struct Clean {
    slug: String,
    title: String,
    body: String,
    tags: String,
    url: Option<String>,
}

pub fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(80).collect()
}

fn clean(input: ArticleInput) -> AppResult<Clean> {
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
        return Err(AppError::Invalid(
            "title must have 1 to 200 printable characters".into(),
        ));
    }
    let body = input.body.trim().to_string();
    if body.is_empty() || body.len() > MAX_BODY_BYTES || body.contains('\0') {
        return Err(AppError::Invalid(format!(
            "body must have 1 to {MAX_BODY_BYTES} bytes"
        )));
    }
    let slug = match input.slug.map(|s| s.trim().to_lowercase()) {
        Some(s) if !s.is_empty() => s,
        _ => slugify(&title),
    };
    let slug_ok = !slug.is_empty()
        && slug.len() <= 80
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !slug_ok {
        return Err(AppError::Invalid(
            "slug must be 1 to 80 of a-z, 0-9, '-', '_', '.'".into(),
        ));
    }
    let url = match input.url.map(|u| u.trim().to_string()) {
        Some(u) if u.is_empty() => None,
        Some(u) => {
            // The article's host joins the bot's link allow-list (bot::decide), so it is judged
            // by the same WHATWG parser: `https://help.example.com@evil.example` has no place.
            let ok = u.len() <= 500
                && !u.chars().any(|c| c.is_whitespace() || c.is_control())
                && crate::urls::parse_web(&u).is_ok();
            if !ok {
                return Err(AppError::Invalid(
                    "url must be an http(s) address of at most 500 characters".into(),
                ));
            }
            Some(u)
        }
        None => None,
    };
    Ok(Clean {
        slug,
        title,
        body,
        tags: crate::tags::clean(&input.tags)?.join("\n"),
        url,
    })
}

pub async fn list_all(db: &impl ConnectionTrait, account_id: Uuid) -> AppResult<Vec<Article>> {
    Ok(kb_article::Entity::find()
        .filter(kb_article::Column::AccountId.eq(account_id))
        .order_by_asc(kb_article::Column::Slug)
        .all(db)
        .await?
        .into_iter()
        .map(Article::from)
        .collect())
}

pub async fn list(db: &DatabaseConnection, _who: &AgentIdentity) -> AppResult<Vec<Article>> {
    list_all(db, _who.account_id).await
}

async fn load(
    db: &DatabaseConnection,
    who: &AgentIdentity,
    id: Uuid,
) -> AppResult<kb_article::Model> {
    kb_article::Entity::find_by_id(id)
        .filter(kb_article::Column::AccountId.eq(who.account_id))
        .one(db)
        .await?
        .ok_or(AppError::NotFound("article"))
}

pub async fn get(db: &DatabaseConnection, who: &AgentIdentity, id: Uuid) -> AppResult<Article> {
    Ok(load(db, who, id).await?.into())
}

async fn slug_taken(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    slug: &str,
    except: Option<Uuid>,
) -> AppResult<bool> {
    let found = kb_article::Entity::find()
        .filter(kb_article::Column::AccountId.eq(account_id))
        .filter(kb_article::Column::Slug.eq(slug))
        .one(db)
        .await?;
    Ok(found.is_some_and(|f| Some(f.id) != except))
}

pub async fn create(
    db: &DatabaseConnection,
    kb: &KbIndexes,
    who: &AgentIdentity,
    input: ArticleInput,
) -> AppResult<Article> {
    who.require_admin()?;
    let c = clean(input)?;
    if slug_taken(db, who.account_id, &c.slug, None).await? {
        return Err(AppError::Conflict(format!(
            "an article with slug {:?} exists",
            c.slug
        )));
    }
    let a = insert(db, who.account_id, c).await?;
    kb.invalidate(who.account_id);
    Ok(a)
}

async fn insert(db: &impl ConnectionTrait, account_id: Uuid, c: Clean) -> AppResult<Article> {
    let now = Utc::now();
    let m = kb_article::Model {
        id: Uuid::now_v7(),
        account_id,
        slug: c.slug,
        title: c.title,
        body: c.body,
        tags: c.tags,
        url: c.url,
        created_at: now,
        updated_at: now,
    };
    let am: kb_article::ActiveModel = m.clone().into();
    kb_article::Entity::insert(am)
        .exec_without_returning(db)
        .await?;
    Ok(m.into())
}

pub async fn update(
    db: &DatabaseConnection,
    kb: &KbIndexes,
    who: &AgentIdentity,
    id: Uuid,
    input: ArticleInput,
) -> AppResult<Article> {
    who.require_admin()?;
    let m = load(db, who, id).await?;
    let c = clean(input)?;
    if slug_taken(db, who.account_id, &c.slug, Some(id)).await? {
        return Err(AppError::Conflict(format!(
            "an article with slug {:?} exists",
            c.slug
        )));
    }
    let a = replace(db, m, c).await?;
    kb.invalidate(who.account_id);
    Ok(a)
}

async fn replace(db: &impl ConnectionTrait, m: kb_article::Model, c: Clean) -> AppResult<Article> {
    let mut am: kb_article::ActiveModel = m.into();
    am.slug = Set(c.slug);
    am.title = Set(c.title);
    am.body = Set(c.body);
    am.tags = Set(c.tags);
    am.url = Set(c.url);
    am.updated_at = Set(Utc::now());
    Ok(kb_article::Entity::update(am).exec(db).await?.into())
}

pub async fn delete(
    db: &DatabaseConnection,
    kb: &KbIndexes,
    who: &AgentIdentity,
    id: Uuid,
) -> AppResult<()> {
    who.require_admin()?;
    let m = load(db, who, id).await?;
    kb_article::Entity::delete_by_id(m.id).exec(db).await?;
    kb.invalidate(who.account_id);
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
    Unchanged,
}

/// Creates the article, or replaces the one with the same slug (import; idempotent).
pub async fn upsert(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    input: ArticleInput,
) -> AppResult<Upserted> {
    let c = clean(input)?;
    let found = kb_article::Entity::find()
        .filter(kb_article::Column::AccountId.eq(account_id))
        .filter(kb_article::Column::Slug.eq(c.slug.as_str()))
        .one(db)
        .await?;
    match found {
        None => {
            insert(db, account_id, c).await?;
            Ok(Upserted::Created)
        }
        Some(m) if m.title == c.title && m.body == c.body && m.tags == c.tags && m.url == c.url => {
            Ok(Upserted::Unchanged)
        }
        Some(m) => {
            replace(db, m, c).await?;
            Ok(Upserted::Updated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> AppResult<Clean> {
        clean(ArticleInput {
            slug: None,
            title: "Refunds".into(),
            body: "How refunds work.".into(),
            tags: Vec::new(),
            url: Some(url.into()),
        })
    }

    #[test]
    fn article_urls_are_judged_like_links() {
        // An article's host is allowed in bot answers: it must be the host a browser sees.
        for bad in [
            "https://help.example.com:443@evil.example/x",
            "https://help.example.com@evil.example/",
            "https://help.example.com:99999/",
            "https://",
            "javascript:alert(1)",
        ] {
            assert!(with_url(bad).is_err(), "{bad}");
        }
        let ok = with_url("https://help.example.com/refunds").map(|c| c.url);
        assert_eq!(
            ok.ok().flatten().as_deref(),
            Some("https://help.example.com/refunds")
        );
    }
}
