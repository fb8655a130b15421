//! WebSocket upgrades. Agents: a short-lived socket token and an `Origin` that is this server's
//! own or in the configured allowlist (cross-site WebSocket hijacking). Widgets: a visitor token
//! and an `Origin` allowed by the inbox.
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use super::extract::origin;
use crate::{
    accounts,
    actor::Actor,
    context::AppContext,
    error::{AppError, AppResult},
    inboxes, realtime,
};

#[derive(Deserialize)]
pub struct TokenQuery {
    token: String,
}

/// Browsers always send `Origin` on WebSocket upgrades; other clients (SDKs, tests) may not, and
/// are not exposed to cross-site hijacking.
fn agent_origin_ok(ctx: &AppContext, req: &HttpRequest) -> bool {
    let Some(origin) = origin(req) else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    if origin.eq_ignore_ascii_case(&own) {
        return true;
    }
    if !ctx.settings.public_url.is_empty()
        && origin.eq_ignore_ascii_case(ctx.settings.public_url.trim_end_matches('/'))
    {
        return true;
    }
    ctx.settings
        .allowed_origins
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

fn upgrade(
    ctx: &AppContext,
    req: &HttpRequest,
    body: web::Payload,
    actor: Actor,
) -> AppResult<HttpResponse> {
    let (resp, session, stream) = actix_ws::handle(req, body)
        .map_err(|e| AppError::Invalid(format!("not a WebSocket upgrade: {e}")))?;
    let stream = stream
        .max_frame_size(ctx.settings.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(ctx.settings.max_frame_bytes);
    actix_web::rt::spawn(realtime::session::run(ctx.clone(), actor, session, stream));
    Ok(resp)
}

pub async fn agent(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    body: web::Payload,
    q: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    if !agent_origin_ok(&ctx, &req) {
        return Err(AppError::Forbidden("origin not allowed"));
    }
    let who = accounts::service::open_socket_token(&ctx, &q.token).await?;
    upgrade(&ctx, &req, body, Actor::Agent(who))
}

pub async fn widget(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    body: web::Payload,
    q: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    let claims = ctx
        .signer
        .open_visitor(&q.token, Utc::now().timestamp())
        .ok_or(AppError::Unauthorized)?;
    let inbox = inboxes::find(&ctx.db, claims.inbox_id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    if !inboxes::origin_allowed(&inbox, origin(&req).as_deref()) {
        return Err(AppError::Forbidden("origin not allowed for this inbox"));
    }
    upgrade(&ctx, &req, body, Actor::Customer(claims))
}
