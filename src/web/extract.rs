//! Auth extractors. `Authorization: Bearer <token>`: an agent session token (`sb_…`) or a
//! visitor token (`vt.…`); or, for the dashboard, the `sb_session` cookie holding the same agent
//! session token. `CurrentAgent` accepts only agents, `CurrentActor` either.
//!
//! CSRF: a request authenticated by the cookie that changes state (any method but GET/HEAD/
//! OPTIONS) must carry the session's CSRF token in `X-CSRF-Token` (the dashboard page embeds
//! it). Bearer tokens are never sent by browsers on their own, so they need none.
use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::Utc;

use crate::{
    accounts,
    actor::{Actor, AgentIdentity},
    context::AppContext,
    error::AppError,
};

pub fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))?;
    Some(t.trim().to_string())
}

fn ctx(req: &HttpRequest) -> Result<AppContext, AppError> {
    req.app_data::<web::Data<AppContext>>()
        .map(|d| d.get_ref().clone())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppContext missing")))
}

pub const SESSION_COOKIE: &str = "sb_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The agent session token from the cookie.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_string())
}

fn changes_state(req: &HttpRequest) -> bool {
    !matches!(
        *req.method(),
        actix_web::http::Method::GET
            | actix_web::http::Method::HEAD
            | actix_web::http::Method::OPTIONS
    )
}

/// How the request authenticated, and whether it must prove it is not forged.
enum Credential {
    Bearer(String),
    /// From the cookie; `Some(token)` is the `X-CSRF-Token` a state change must match.
    Cookie(String, Option<String>),
}

fn credential(req: &HttpRequest) -> Option<Credential> {
    if let Some(t) = bearer(req) {
        return Some(Credential::Bearer(t));
    }
    let t = session_cookie(req)?;
    let csrf = changes_state(req).then(|| {
        req.headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    });
    Some(Credential::Cookie(t, csrf))
}

async fn agent_from(
    ctx: &AppContext,
    cred: Credential,
) -> Result<(AgentIdentity, String), AppError> {
    match cred {
        Credential::Bearer(t) => Ok((accounts::service::authenticate(ctx, &t).await?, t)),
        Credential::Cookie(t, csrf) => {
            let who = accounts::service::authenticate(ctx, &t).await?;
            if let Some(given) = csrf {
                let session = who.session_id.ok_or(AppError::Unauthorized)?;
                if !ctx.signer.csrf_ok(session, &given) {
                    return Err(AppError::Forbidden("CSRF token missing or invalid"));
                }
            }
            Ok((who, t))
        }
    }
}

pub struct CurrentAgent(pub AgentIdentity, pub String);

impl FromRequest for CurrentAgent {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let cred = credential(req);
        let ctx = ctx(req);
        Box::pin(async move {
            let ctx = ctx?;
            let cred = cred.ok_or(AppError::Unauthorized)?;
            let (who, token) = agent_from(&ctx, cred).await?;
            Ok(CurrentAgent(who, token))
        })
    }
}

/// A visitor (widget) request: `Authorization: Bearer vt.…`, from a website the inbox allows
/// (`Origin`), within the per-IP widget rate limit.
pub struct CurrentVisitor(pub crate::auth::VisitorClaims);

/// What a visitor check needs from the request, taken before the handler's future runs.
pub struct VisitorRequest {
    origin: Option<String>,
    ip: std::net::IpAddr,
}

impl VisitorRequest {
    pub fn of(req: &HttpRequest, ctx: &AppContext) -> Self {
        Self {
            origin: origin(req),
            ip: super::limits::client_ip(req, &ctx.limits.proxies),
        }
    }

    /// Rate limit, token, and the inbox's allowed origins: every visitor request (HTTP, SSE,
    /// WebSocket upgrade) passes here.
    pub async fn open(
        &self,
        ctx: &AppContext,
        token: &str,
    ) -> Result<crate::auth::VisitorClaims, AppError> {
        ctx.limits.widget(self.ip)?;
        let claims = ctx
            .signer
            .open_visitor(token, Utc::now().timestamp())
            .ok_or(AppError::Unauthorized)?;
        let inbox = crate::inboxes::find(&ctx.db, claims.inbox_id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        if !crate::inboxes::settings::token_current(&ctx.db, &inbox, &claims).await? {
            return Err(AppError::Unauthorized);
        }
        if !crate::inboxes::origin_allowed(&inbox, self.origin.as_deref()) {
            return Err(AppError::Forbidden("this website may not use this inbox"));
        }
        Ok(claims)
    }
}

impl FromRequest for CurrentVisitor {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let ctx = ctx(req);
        let vr = ctx.as_ref().ok().map(|c| VisitorRequest::of(req, c));
        Box::pin(async move {
            let ctx = ctx?;
            let (token, vr) = token.zip(vr).ok_or(AppError::Unauthorized)?;
            Ok(CurrentVisitor(vr.open(&ctx, &token).await?))
        })
    }
}

pub struct CurrentActor(pub Actor);

impl FromRequest for CurrentActor {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let cred = credential(req);
        let ctx = ctx(req);
        let vr = ctx.as_ref().ok().map(|c| VisitorRequest::of(req, c));
        Box::pin(async move {
            let ctx = ctx?;
            let cred = cred.ok_or(AppError::Unauthorized)?;
            if let (Credential::Bearer(t), Some(vr)) = (&cred, vr)
                && t.starts_with("vt.")
            {
                return Ok(CurrentActor(Actor::Customer(vr.open(&ctx, t).await?)));
            }
            let (who, _) = agent_from(&ctx, cred).await?;
            Ok(CurrentActor(Actor::Agent(who)))
        })
    }
}

/// The request's `Origin` header, if any.
pub fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
