//! Agent use cases: create accounts and agents, log in (argon2), resolve a bearer session,
//! log out, mint the short-lived token that opens an agent socket.
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
};
use serde::Serialize;
use uuid::Uuid;

use crate::{
    actor::{AgentIdentity, Role},
    auth::{SocketClaims, password, tokens},
    context::AppContext,
    db::entities::{account, agent, agent_session},
    error::{AppError, AppResult},
};

#[derive(Clone, Debug, Serialize)]
pub struct AgentView {
    pub id: Uuid,
    pub account_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub max_open: i32,
}

impl From<agent::Model> for AgentView {
    fn from(a: agent::Model) -> Self {
        Self {
            id: a.id,
            account_id: a.account_id,
            role: Role::parse(&a.role).unwrap_or(Role::Agent),
            email: a.email,
            name: a.name,
            active: a.active,
            max_open: a.max_open,
        }
    }
}

pub async fn create_account(db: &impl ConnectionTrait, name: &str) -> AppResult<account::Model> {
    let m = account::Model {
        id: Uuid::now_v7(),
        name: name.to_string(),
        created_at: Utc::now(),
    };
    account::Entity::insert(account::ActiveModel {
        id: Set(m.id),
        name: Set(m.name.clone()),
        created_at: Set(m.created_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(m)
}

pub fn normalize_email(email: &str) -> AppResult<String> {
    let e = email.trim().to_lowercase();
    match e.split_once('@') {
        Some((l, d)) if !l.is_empty() && d.contains('.') && e.len() <= 254 && !e.contains(' ') => {
            Ok(e)
        }
        _ => Err(AppError::Invalid("email is not a valid address".into())),
    }
}

pub const MIN_PASSWORD: usize = 10;
/// Open conversations auto-assignment gives an agent unless an admin sets otherwise.
pub const DEFAULT_MAX_OPEN: i32 = 10;

pub async fn create_agent(
    db: &impl ConnectionTrait,
    account_id: Uuid,
    email: &str,
    name: &str,
    password_plain: &str,
    role: Role,
) -> AppResult<AgentView> {
    let email = normalize_email(email)?;
    if password_plain.chars().count() < MIN_PASSWORD {
        return Err(AppError::Invalid(format!(
            "password must have at least {MIN_PASSWORD} characters"
        )));
    }
    let taken = agent::Entity::find()
        .filter(agent::Column::Email.eq(&email))
        .count(db)
        .await?;
    if taken > 0 {
        return Err(AppError::Conflict("an agent with this email exists".into()));
    }
    let hash = password::hash(password_plain).map_err(AppError::Internal)?;
    let m = agent::Model {
        id: Uuid::now_v7(),
        account_id,
        email,
        name: name.trim().to_string(),
        password_hash: hash,
        role: role.as_str().into(),
        active: true,
        created_at: Utc::now(),
        max_open: DEFAULT_MAX_OPEN,
    };
    agent::Entity::insert(agent::ActiveModel {
        id: Set(m.id),
        account_id: Set(m.account_id),
        email: Set(m.email.clone()),
        name: Set(m.name.clone()),
        password_hash: Set(m.password_hash.clone()),
        role: Set(m.role.clone()),
        active: Set(true),
        created_at: Set(m.created_at),
        max_open: Set(m.max_open),
    })
    .exec_without_returning(db)
    .await?;
    Ok(m.into())
}

pub async fn get_agent(ctx: &AppContext, id: Uuid) -> AppResult<AgentView> {
    agent::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .map(Into::into)
        .ok_or(AppError::NotFound("agent"))
}

pub async fn count_agents(db: &impl ConnectionTrait) -> AppResult<u64> {
    Ok(agent::Entity::find().count(db).await?)
}

#[derive(Clone, Debug, Serialize)]
pub struct LoginResult {
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
    pub agent: AgentView,
}

/// Email + password → a bearer session. Wrong email and wrong password look the same.
pub async fn login(ctx: &AppContext, email: &str, password_plain: &str) -> AppResult<LoginResult> {
    let email = email.trim().to_lowercase();
    if email.len() > 254 || email.chars().any(char::is_control) {
        return Err(AppError::Unauthorized);
    }
    let found = agent::Entity::find()
        .filter(agent::Column::Email.eq(&email))
        .one(&ctx.db)
        .await?;
    let pw = password_plain.to_string();
    let Some(agent) = found else {
        let _ = tokio::task::spawn_blocking(move || password::burn_time(&pw)).await;
        return Err(AppError::Unauthorized);
    };
    let hash = agent.password_hash.clone();
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    if !ok || !agent.active {
        return Err(AppError::Unauthorized);
    }
    let token = format!("sb_{}", tokens::random_hex(32).map_err(AppError::Internal)?);
    let now = Utc::now();
    let expires_at = now + ctx.settings.session_ttl();
    agent_session::Entity::insert(agent_session::ActiveModel {
        id: Set(Uuid::now_v7()),
        agent_id: Set(agent.id),
        token_hash: Set(tokens::sha256_hex(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(&ctx.db)
    .await?;
    Ok(LoginResult {
        token,
        expires_at,
        agent: agent.into(),
    })
}

/// Resolves a bearer session token to an active agent.
pub async fn authenticate(ctx: &AppContext, token: &str) -> AppResult<AgentIdentity> {
    if !token.starts_with("sb_") || token.len() > 128 {
        return Err(AppError::Unauthorized);
    }
    let session = agent_session::Entity::find()
        .filter(agent_session::Column::TokenHash.eq(tokens::sha256_hex(token)))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if session.expires_at < Utc::now() {
        return Err(AppError::Unauthorized);
    }
    let agent = agent::Entity::find_by_id(session.agent_id)
        .one(&ctx.db)
        .await?
        .filter(|a| a.active)
        .ok_or(AppError::Unauthorized)?;
    Ok(AgentIdentity {
        agent_id: agent.id,
        account_id: agent.account_id,
        role: Role::parse(&agent.role).unwrap_or(Role::Agent),
        session_id: Some(session.id),
        session_expires: Some(session.expires_at),
    })
}

/// Whether a login session still exists and has not expired.
pub async fn session_is_open(ctx: &AppContext, session_id: Uuid) -> AppResult<bool> {
    let found = agent_session::Entity::find_by_id(session_id)
        .filter(agent_session::Column::ExpiresAt.gt(Utc::now()))
        .one(&ctx.db)
        .await?;
    Ok(found.is_some())
}

/// Ends one session and closes the sockets opened from it (other devices stay logged in).
pub async fn logout(ctx: &AppContext, token: &str) -> AppResult<()> {
    let who = authenticate(ctx, token).await?;
    agent_session::Entity::delete_many()
        .filter(agent_session::Column::TokenHash.eq(tokens::sha256_hex(token)))
        .exec(&ctx.db)
        .await?;
    if let Some(session) = who.session_id {
        ctx.hub.kick_session(session).await;
    }
    Ok(())
}

#[derive(Clone, Debug, Serialize)]
pub struct SocketToken {
    pub token: String,
    pub expires_in: i64,
}

pub fn socket_token(ctx: &AppContext, who: &AgentIdentity) -> AppResult<SocketToken> {
    let session_id = who.session_id.ok_or(AppError::Unauthorized)?;
    let ttl = ctx.settings.socket_token_ttl();
    let exp = (Utc::now() + ttl).timestamp();
    let claims = SocketClaims {
        agent_id: who.agent_id,
        account_id: who.account_id,
        session_id,
    };
    Ok(SocketToken {
        token: ctx.signer.socket_token(&claims, exp),
        expires_in: ttl.num_seconds(),
    })
}

/// Checks a socket token, that its login session is still open and its agent still active.
pub async fn open_socket_token(ctx: &AppContext, token: &str) -> AppResult<AgentIdentity> {
    let claims = ctx
        .signer
        .open_socket(token, Utc::now().timestamp())
        .ok_or(AppError::Unauthorized)?;
    let session = agent_session::Entity::find_by_id(claims.session_id)
        .filter(agent_session::Column::AgentId.eq(claims.agent_id))
        .filter(agent_session::Column::ExpiresAt.gt(Utc::now()))
        .one(&ctx.db)
        .await?
        .ok_or(AppError::Unauthorized)?;
    let agent = agent::Entity::find_by_id(claims.agent_id)
        .filter(agent::Column::AccountId.eq(claims.account_id))
        .one(&ctx.db)
        .await?
        .filter(|a| a.active)
        .ok_or(AppError::Unauthorized)?;
    Ok(AgentIdentity {
        agent_id: agent.id,
        account_id: agent.account_id,
        role: Role::parse(&agent.role).unwrap_or(Role::Agent),
        session_id: Some(claims.session_id),
        session_expires: Some(session.expires_at),
    })
}
