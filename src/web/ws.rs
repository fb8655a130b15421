//! WebSocket upgrades. Agents: a short-lived socket token and an `Origin` that is this server's
//! own or in the configured allowlist (cross-site WebSocket hijacking). Widgets: a visitor token
//! and an `Origin` allowed by the inbox.
//!
//! The token comes either as `?token=` or — preferred by browsers, since it keeps the token out of
//! URLs and access logs — as a second entry of `Sec-WebSocket-Protocol`:
//! `new WebSocket(url, ["switchboard.v1", token])`; the server answers `switchboard.v1`.
use actix_web::{HttpRequest, HttpResponse, web};

use serde::Deserialize;

use super::extract::{VisitorRequest, origin};
use crate::{
    accounts,
    actor::Actor,
    context::AppContext,
    error::{AppError, AppResult},
    realtime,
};

/// The subprotocol the server speaks (and selects when the client offers it).
pub const SUBPROTOCOL: &str = "switchboard.v1";

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The token from the query string, or the `Sec-WebSocket-Protocol` entry that looks like one.
fn token(req: &HttpRequest, q: &TokenQuery) -> AppResult<String> {
    if let Some(t) = &q.token {
        return Ok(t.clone());
    }
    req.headers()
        .get_all(actix_web::http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|p| p.starts_with("vt.") || p.starts_with("st."))
        .map(str::to_string)
        .ok_or(AppError::Unauthorized)
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
    let (resp, session, stream) = actix_ws::handle_with_protocols(req, body, &[SUBPROTOCOL])
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
    let who = accounts::service::open_socket_token(&ctx, &token(&req, &q)?).await?;
    upgrade(&ctx, &req, body, Actor::Agent(who))
}

pub async fn widget(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    body: web::Payload,
    q: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    let claims = VisitorRequest::of(&req, &ctx)
        .open(&ctx, &token(&req, &q)?)
        .await?;
    upgrade(&ctx, &req, body, Actor::Customer(claims))
}
