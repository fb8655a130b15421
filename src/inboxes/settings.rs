//! Inbox administration (list, create, edit, rotate the identity secret) and the public view the
//! widget gets (colours, greeting, whether someone is available right now).
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::hours::BusinessHours;
use crate::{
    actor::{AgentIdentity, Role},
    auth::{VisitorClaims, VisitorIdentity, tokens},
    context::AppContext,
    db::entities::{contact, inbox},
    error::{AppError, AppResult},
    presence::PresenceStatus,
};

#[derive(Clone, Debug, Serialize)]
pub struct InboxView {
    pub id: Uuid,
    pub name: String,
    pub widget_token: String,
    pub color: String,
    pub greeting: String,
    pub offline_message: String,
    pub ask_email: bool,
    pub auto_assign: bool,
    /// New conversations start with the first-line bot (see docs/ai.md).
    pub bot_enabled: bool,
    /// `off`, `shadow` (the bot drafts for agents, sends nothing) or `on`.
    pub bot_mode: BotMode,
    pub bot_max_turns: i32,
    pub allowed_origins: Vec<String>,
    pub business_hours: Option<BusinessHours>,
    /// Only admins see it.
    pub identity_secret: Option<String>,
    pub identity_required: bool,
    /// The install snippet for this inbox.
    pub snippet: String,
}

/// The first-line bot's mode in an inbox: `bot_enabled` (on) wins over `bot_shadow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BotMode {
    Off,
    Shadow,
    On,
}

impl BotMode {
    pub fn of(m: &inbox::Model) -> BotMode {
        match (m.bot_enabled, m.bot_shadow) {
            (true, _) => BotMode::On,
            (false, true) => BotMode::Shadow,
            (false, false) => BotMode::Off,
        }
    }
}

pub fn origins(m: &inbox::Model) -> Vec<String> {
    m.allowed_origins
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn hours(m: &inbox::Model) -> Option<BusinessHours> {
    m.business_hours
        .as_deref()
        .and_then(|h| serde_json::from_str(h).ok())
}

/// Bumped by every inbox update on this node: caches of inbox settings (the bot's set of shadow
/// inboxes) reload at once instead of waiting for their expiry.
static SETTINGS_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn settings_epoch() -> u64 {
    SETTINGS_EPOCH.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn view(m: inbox::Model, base_url: &str, admin: bool) -> InboxView {
    let bot_mode = BotMode::of(&m);
    InboxView {
        id: m.id,
        allowed_origins: origins(&m),
        business_hours: hours(&m),
        snippet: format!(
            "<script src=\"{}/widget.js\" data-inbox=\"{}\" async></script>",
            base_url.trim_end_matches('/'),
            m.widget_token
        ),
        name: m.name,
        widget_token: m.widget_token,
        color: m.color,
        greeting: m.greeting,
        offline_message: m.offline_message,
        ask_email: m.ask_email,
        auto_assign: m.auto_assign,
        bot_enabled: m.bot_enabled,
        bot_mode,
        bot_max_turns: m.bot_max_turns,
        identity_secret: if admin { m.identity_secret } else { None },
        identity_required: m.identity_required,
    }
}

/// `base` is the server's URL as the browser sees it (for the install snippet).
pub async fn list(ctx: &AppContext, who: &AgentIdentity, base: &str) -> AppResult<Vec<InboxView>> {
    let rows = inbox::Entity::find()
        .filter(inbox::Column::AccountId.eq(who.account_id))
        .order_by_asc(inbox::Column::Name)
        .all(&ctx.db)
        .await?;
    let admin = who.role == Role::Admin;
    Ok(rows.into_iter().map(|m| view(m, base, admin)).collect())
}

async fn load(ctx: &AppContext, who: &AgentIdentity, id: Uuid) -> AppResult<inbox::Model> {
    inbox::Entity::find_by_id(id)
        .filter(inbox::Column::AccountId.eq(who.account_id))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::NotFound("inbox"))
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInbox {
    pub name: String,
}

pub async fn create(
    ctx: &AppContext,
    who: &AgentIdentity,
    base: &str,
    n: NewInbox,
) -> AppResult<InboxView> {
    who.require_admin()?;
    let name = text(Some(n.name), "name", 1, 80)?.unwrap_or_default();
    let m = super::create(&ctx.db, who.account_id, &name, &[]).await?;
    Ok(view(m, base, true))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxPatch {
    pub name: Option<String>,
    pub color: Option<String>,
    pub greeting: Option<String>,
    pub offline_message: Option<String>,
    pub ask_email: Option<bool>,
    pub auto_assign: Option<bool>,
    /// Kept for older clients: `true` is `bot_mode: "on"`, `false` turns the live bot off
    /// (leaving shadow mode as it is). `bot_mode` wins when both are given.
    pub bot_enabled: Option<bool>,
    pub bot_mode: Option<BotMode>,
    pub bot_max_turns: Option<i32>,
    pub allowed_origins: Option<Vec<String>>,
    /// `null` clears the schedule (always open); absent leaves it.
    #[serde(default, with = "double_option")]
    pub business_hours: Option<Option<BusinessHours>>,
    pub identity_required: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

fn text(v: Option<String>, field: &str, min: usize, max: usize) -> AppResult<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let v = v.trim().to_string();
    let n = v.chars().count();
    if n < min || n > max || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::Invalid(format!(
            "{field} must have {min} to {max} printable characters"
        )));
    }
    Ok(Some(v))
}

/// `https://shop.example` or `http://localhost:3000`: scheme, host, optional port, nothing else,
/// stored the way browsers send `Origin` (lowercase, punycode, default port dropped) so what is
/// saved is what [`super::origin_allowed`] will compare.
pub fn normalize_origin(o: &str) -> AppResult<String> {
    crate::urls::normalize_origin(o).map_err(|e| AppError::Invalid(format!("origin {o:?}: {e}")))
}

pub async fn update(
    ctx: &AppContext,
    who: &AgentIdentity,
    base: &str,
    id: Uuid,
    p: InboxPatch,
) -> AppResult<InboxView> {
    who.require_admin()?;
    let m = load(ctx, who, id).await?;
    let mut am: inbox::ActiveModel = m.into();
    if let Some(v) = text(p.name, "name", 1, 80)? {
        am.name = Set(v);
    }
    if let Some(c) = p.color {
        let ok =
            c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
        if !ok {
            return Err(AppError::Invalid("color must look like #1a2b3c".into()));
        }
        am.color = Set(c.to_ascii_lowercase());
    }
    if let Some(v) = text(p.greeting, "greeting", 0, 500)? {
        am.greeting = Set(v);
    }
    if let Some(v) = text(p.offline_message, "offline_message", 0, 500)? {
        am.offline_message = Set(v);
    }
    if let Some(v) = p.ask_email {
        am.ask_email = Set(v);
    }
    if let Some(v) = p.auto_assign {
        am.auto_assign = Set(v);
    }
    match (p.bot_mode, p.bot_enabled) {
        (Some(mode), _) => {
            am.bot_enabled = Set(mode == BotMode::On);
            am.bot_shadow = Set(mode == BotMode::Shadow);
        }
        (None, Some(true)) => {
            am.bot_enabled = Set(true);
            am.bot_shadow = Set(false);
        }
        (None, Some(false)) => am.bot_enabled = Set(false),
        (None, None) => {}
    }
    if let Some(v) = p.bot_max_turns {
        if !(1..=20).contains(&v) {
            return Err(AppError::Invalid("bot_max_turns must be 1 to 20".into()));
        }
        am.bot_max_turns = Set(v);
    }
    if let Some(list) = p.allowed_origins {
        if list.len() > 100 {
            return Err(AppError::Invalid("at most 100 allowed origins".into()));
        }
        let list: Vec<String> = list
            .iter()
            .filter(|o| !o.trim().is_empty())
            .map(|o| normalize_origin(o))
            .collect::<AppResult<_>>()?;
        am.allowed_origins = Set(list.join("\n"));
    }
    if let Some(h) = p.business_hours {
        if let Some(h) = &h {
            h.validate()?;
        }
        let json = h
            .map(|h| serde_json::to_string(&h))
            .transpose()
            .map_err(|e| AppError::Internal(e.into()))?;
        am.business_hours = Set(json);
    }
    if let Some(v) = p.identity_required {
        am.identity_required = Set(v);
        if v && matches!(&am.identity_secret, sea_orm::ActiveValue::Unchanged(None)) {
            am.identity_secret = Set(Some(new_secret()?));
        }
    }
    let saved = inbox::Entity::update(am).exec(&ctx.db).await?;
    SETTINGS_EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(view(saved, base, true))
}

fn new_secret() -> AppResult<String> {
    tokens::random_hex(32).map_err(AppError::Internal)
}

pub async fn rotate_identity_secret(
    ctx: &AppContext,
    who: &AgentIdentity,
    base: &str,
    id: Uuid,
) -> AppResult<InboxView> {
    who.require_admin()?;
    let m = load(ctx, who, id).await?;
    let epoch = m.identity_epoch.saturating_add(1);
    let mut am: inbox::ActiveModel = m.into();
    am.identity_secret = Set(Some(new_secret()?));
    // Signs out every verified visitor: their tokens name the old epoch (`token_current`).
    am.identity_epoch = Set(epoch);
    let saved = inbox::Entity::update(am).exec(&ctx.db).await?;
    // Open sockets were let in with those tokens: they close too (on every node).
    ctx.hub.revoke_verified(saved.id, epoch).await;
    Ok(view(saved, base, true))
}

/// Whether a visitor token (signature and expiry already checked) is still good for `inbox`: a
/// verified user's token only within the identity epoch it was issued in. A token from before
/// tokens carried the epoch counts as verified when its contact is a verified user (has an
/// external id) — one lookup, and only once the inbox's secret has been rotated.
pub async fn token_current(
    db: &impl sea_orm::ConnectionTrait,
    inbox: &inbox::Model,
    claims: &VisitorClaims,
) -> AppResult<bool> {
    Ok(match claims.identity {
        VisitorIdentity::Anonymous => true,
        VisitorIdentity::Verified { epoch } => epoch == inbox.identity_epoch,
        VisitorIdentity::Legacy if inbox.identity_epoch == 0 => true,
        VisitorIdentity::Legacy => contact::Entity::find_by_id(claims.contact_id)
            .one(db)
            .await?
            .is_some_and(|c| c.external_id.is_none()),
    })
}

/// Whether someone can answer now: inside business hours and at least one agent online.
#[derive(Clone, Debug, Serialize)]
pub struct Availability {
    pub available: bool,
    pub agents_online: usize,
    pub open_now: bool,
    pub next_open_at: Option<DateTime<Utc>>,
}

pub async fn availability(ctx: &AppContext, m: &inbox::Model) -> Availability {
    let now = Utc::now();
    let schedule = hours(m);
    let open_now = schedule.as_ref().is_none_or(|h| h.open_at(now));
    let next_open_at = if open_now {
        None
    } else {
        schedule.as_ref().and_then(|h| h.next_open(now))
    };
    let agents_online = ctx
        .hub
        .agents_present(m.account_id)
        .await
        .iter()
        .filter(|p| p.status == PresenceStatus::Online)
        .count();
    Availability {
        available: open_now && agents_online > 0,
        agents_online,
        open_now,
        next_open_at,
    }
}

/// What the widget needs before the visitor writes.
#[derive(Clone, Debug, Serialize)]
pub struct PublicInbox {
    pub name: String,
    pub color: String,
    pub greeting: String,
    pub offline_message: String,
    pub ask_email: bool,
}

impl From<&inbox::Model> for PublicInbox {
    fn from(m: &inbox::Model) -> Self {
        Self {
            name: m.name.clone(),
            color: m.color.clone(),
            greeting: m.greeting.clone(),
            offline_message: m.offline_message.clone(),
            ask_email: m.ask_email,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_origin;

    #[test]
    fn origins_are_stored_as_browsers_send_them() {
        // The hand-written check kept these as typed, and no browser ever sends them so.
        assert_eq!(
            normalize_origin(" HTTPS://Shop.Example:443/ ")
                .ok()
                .as_deref(),
            Some("https://shop.example")
        );
        assert_eq!(
            normalize_origin("https://bücher.example").ok().as_deref(),
            Some("https://xn--bcher-kva.example")
        );
        assert_eq!(
            normalize_origin("http://localhost:3000").ok().as_deref(),
            Some("http://localhost:3000")
        );
        // ... and accepted these, which are not origins at all.
        for bad in [
            "https://shop.example:99999",
            "https://shop.example:x",
            "https://[shop",
            "https://:443",
            "https://shop.example/path",
            "https://shop.example@evil.example",
            "javascript:alert(1)",
        ] {
            assert!(normalize_origin(bad).is_err(), "{bad}");
        }
    }
}
