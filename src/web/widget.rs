//! Public widget endpoints (called cross-origin from customers' websites): configuration,
//! session, status, typing, contact details and page visits (the Server-Sent Events stream that
//! replaces the WebSocket when a proxy blocks it is `sse.rs`). Each is rate-limited per client
//! IP and checks the inbox's allowed origins (the visitor-token ones through `CurrentVisitor`).
use actix_web::{HttpRequest, HttpResponse, http::header, web};
use serde::Deserialize;

use super::{
    extract::{CurrentVisitor, origin},
    limits::client_ip,
};
use crate::{
    context::AppContext,
    error::{AppError, AppResult},
    inboxes::{self, settings::PublicInbox},
    visitors::{self as visitor, ContactInput, PageInput, VisitorSessionRequest},
};

type Ctx = web::Data<AppContext>;

fn limit(ctx: &AppContext, req: &HttpRequest) -> AppResult<()> {
    ctx.limits.widget(client_ip(req, &ctx.limits.proxies))
}

#[derive(Deserialize)]
pub struct ConfigQuery {
    inbox: String,
}

pub async fn config(
    ctx: Ctx,
    req: HttpRequest,
    q: web::Query<ConfigQuery>,
) -> AppResult<HttpResponse> {
    limit(&ctx, &req)?;
    let inbox = inboxes::find_by_token(&ctx.db, &q.inbox)
        .await?
        .ok_or(AppError::NotFound("inbox"))?;
    if !inboxes::origin_allowed(&inbox, origin(&req).as_deref()) {
        return Err(AppError::Forbidden("this website may not use this inbox"));
    }
    let avail = inboxes::settings::availability(&ctx, &inbox).await;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({
            "inbox": PublicInbox::from(&inbox),
            "available": avail.available,
            "agents_online": avail.agents_online,
            "open_now": avail.open_now,
            "next_open_at": avail.next_open_at,
            "identity_required": inbox.identity_required,
        })))
}

pub async fn session(
    ctx: Ctx,
    req: HttpRequest,
    body: web::Json<VisitorSessionRequest>,
) -> AppResult<HttpResponse> {
    ctx.limits
        .widget_session(client_ip(&req, &ctx.limits.proxies))?;
    let s = visitor::open_session(&ctx, body.into_inner(), origin(&req).as_deref()).await?;
    Ok(HttpResponse::Ok().json(s))
}

pub async fn status(ctx: Ctx, v: CurrentVisitor) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visitor::status(&ctx, &v.0).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    typing: bool,
}

pub async fn typing(
    ctx: Ctx,
    v: CurrentVisitor,
    body: web::Json<TypingBody>,
) -> AppResult<HttpResponse> {
    let c = v.0;
    // A throttled typing frame is dropped, not refused: it only ever updated an indicator.
    if ctx
        .limits
        .typing(c.contact_id, c.conversation_id, body.typing)
    {
        ctx.hub
            .customer_typing(c.account_id, c.conversation_id, c.contact_id, body.typing)
            .await;
    }
    Ok(HttpResponse::NoContent().finish())
}

pub async fn contact(
    ctx: Ctx,
    v: CurrentVisitor,
    body: web::Json<ContactInput>,
) -> AppResult<HttpResponse> {
    visitor::update_contact(&ctx, &v.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn page(
    ctx: Ctx,
    v: CurrentVisitor,
    body: web::Json<PageInput>,
) -> AppResult<HttpResponse> {
    visitor::page_visit(&ctx, &v.0, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
