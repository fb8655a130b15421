//! Inboxes: the channels customers write to, found by their public widget token, each with the
//! list of website origins allowed to embed its widget, and its widget settings (colour,
//! greeting, offline message, business hours, identity verification).
pub mod hours;
pub mod settings;

use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{auth::tokens, db::entities::inbox, error::AppResult};

pub async fn create(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    name: &str,
    allowed_origins: &[String],
) -> AppResult<inbox::Model> {
    let model = inbox::Model {
        id: Uuid::now_v7(),
        account_id,
        name: name.to_string(),
        widget_token: format!(
            "wt_{}",
            tokens::random_hex(12).map_err(crate::error::AppError::Internal)?
        ),
        allowed_origins: allowed_origins.join("\n"),
        created_at: Utc::now(),
        color: "#2563eb".into(),
        greeting: "Hi there! How can we help?".into(),
        offline_message:
            "We're away right now. Leave a message and your email, and we'll get back to you."
                .into(),
        ask_email: false,
        business_hours: None,
        identity_secret: None,
        identity_required: false,
        identity_epoch: 0,
        auto_assign: true,
        bot_enabled: false,
        bot_max_turns: 3,
        bot_shadow: false,
    };
    inbox::Entity::insert(inbox::ActiveModel {
        id: Set(model.id),
        account_id: Set(model.account_id),
        name: Set(model.name.clone()),
        widget_token: Set(model.widget_token.clone()),
        allowed_origins: Set(model.allowed_origins.clone()),
        created_at: Set(model.created_at),
        color: Set(model.color.clone()),
        greeting: Set(model.greeting.clone()),
        offline_message: Set(model.offline_message.clone()),
        ask_email: Set(false),
        business_hours: Set(None),
        identity_secret: Set(None),
        identity_required: Set(false),
        identity_epoch: Set(0),
        auto_assign: Set(true),
        bot_enabled: Set(false),
        bot_max_turns: Set(3),
        bot_shadow: Set(false),
    })
    .exec_without_returning(db)
    .await?;
    Ok(model)
}

pub async fn find_by_token(
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<Option<inbox::Model>, DbErr> {
    // Tokens are `wt_` + hex; anything else cannot match (and NUL bytes would upset PostgreSQL).
    if token.is_empty()
        || token.len() > 64
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Ok(None);
    }
    inbox::Entity::find()
        .filter(inbox::Column::WidgetToken.eq(token))
        .one(db)
        .await
}

pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<inbox::Model>, DbErr> {
    inbox::Entity::find_by_id(id).one(db).await
}

/// An inbox with no allowed origins accepts any website. Requests without an `Origin` header
/// (server-side integrations) are allowed: the check protects browsers, which always send one.
/// Origins compare as WHATWG (scheme, host, port) tuples ([`crate::urls::origin_in`]), so
/// `https://shop.example:443` is `https://shop.example`, and `null` or garbage matches nothing.
pub fn origin_allowed(inbox: &inbox::Model, origin: Option<&str>) -> bool {
    let allowed: Vec<&str> = inbox
        .allowed_origins
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match origin {
        None => true,
        Some(_) if allowed.is_empty() => true,
        Some(o) => crate::urls::origin_in(o, allowed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox(origins: &str) -> inbox::Model {
        inbox::Model {
            id: Uuid::nil(),
            account_id: Uuid::nil(),
            name: "web".into(),
            widget_token: "wt_x".into(),
            allowed_origins: origins.into(),
            created_at: Utc::now(),
            color: "#2563eb".into(),
            greeting: String::new(),
            offline_message: String::new(),
            ask_email: false,
            business_hours: None,
            identity_secret: None,
            identity_epoch: 0,
            identity_required: false,
            auto_assign: true,
            bot_enabled: false,
            bot_max_turns: 3,
            bot_shadow: false,
        }
    }

    #[test]
    fn origins_compare_as_origins_not_strings() {
        // Rows saved before origins were normalised may hold any spelling.
        let i = inbox("https://Shop.Example:443/\nhttp://localhost:3000");
        assert!(origin_allowed(&i, Some("https://shop.example")));
        assert!(origin_allowed(&i, Some("http://localhost:3000")));
        assert!(origin_allowed(&i, None));
        for bad in [
            "https://shop.example.evil.example",
            "https://shop.example@evil.example",
            "https://evil.example\\.shop.example",
            "http://shop.example",
            "https://shop.example:8443",
            "null",
            "",
        ] {
            assert!(!origin_allowed(&i, Some(bad)), "{bad}");
        }
        assert!(origin_allowed(&inbox(" \n"), Some("https://any.example")));
    }
}
