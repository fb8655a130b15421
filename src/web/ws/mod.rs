//! WebSocket upgrades. Agents: a short-lived socket token and an `Origin` that is this server's
//! own or in the configured allowlist (cross-site WebSocket hijacking). Widgets: a visitor token
//! and an `Origin` allowed by the inbox.
//!
//! The token comes either as `?token=` or — preferred by browsers, since it keeps the token out of
//! URLs and access logs — as a second entry of `Sec-WebSocket-Protocol`:
//! `new WebSocket(url, ["switchboard.v1", token])`; the server answers `switchboard.v1`.
pub mod session;

use actix_web::{HttpMessage, HttpRequest, HttpResponse, body::BoxBody, http::header, web};

use serde::Deserialize;

use super::extract::{VisitorRequest, origin};
use crate::{
    accounts,
    actor::Actor,
    context::AppContext,
    error::{AppError, AppResult},
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
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
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
    let info = req.connection_info();
    let own = format!("{}://{}", info.scheme(), info.host());
    // Compared as WHATWG origins (crate::urls), not strings: a `public_url` with a path still
    // names its origin, and `https://x:443` is `https://x`.
    let configured = ctx.settings.allowed_origins.iter().map(String::as_str);
    crate::urls::origin_in(
        &origin,
        [own.as_str(), ctx.settings.public_url.as_str()]
            .into_iter()
            .chain(configured),
    )
}

/// Marks a request that came through the server's upgrade path (`web::server`), which can take
/// the connection over.
pub struct UpgradeAvailable;

/// Put on a 101 response to tell the server to take the connection over and run the session as
/// this actor.
pub struct Accepted(pub Actor);

fn upgrade(req: &HttpRequest, actor: Actor) -> AppResult<HttpResponse> {
    let mut res = actix_http::ws::handshake(req.head())
        .map_err(|e| AppError::Invalid(format!("not a WebSocket upgrade: {e}")))?;
    if req.extensions().get::<UpgradeAvailable>().is_none() {
        return Err(AppError::Invalid(
            "WebSocket upgrades are served by `switchboard serve` only".into(),
        ));
    }
    let offered = req
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if offered {
        res.insert_header((header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL));
    }
    let mut res: HttpResponse = res
        .message_body(BoxBody::new(()))
        .map_err(|e| AppError::Internal(anyhow::anyhow!("handshake response: {e}")))?
        .into();
    res.extensions_mut().insert(Accepted(actor));
    Ok(res)
}

pub async fn agent(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    q: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    if !agent_origin_ok(&ctx, &req) {
        return Err(AppError::Forbidden("origin not allowed"));
    }
    let who = accounts::service::open_socket_token(&ctx, &token(&req, &q)?).await?;
    upgrade(&req, Actor::Agent(who))
}

pub async fn widget(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    q: web::Query<TokenQuery>,
) -> AppResult<HttpResponse> {
    let claims = VisitorRequest::of(&req, &ctx)
        .open(&ctx, &token(&req, &q)?)
        .await?;
    upgrade(&req, Actor::Customer(claims))
}
