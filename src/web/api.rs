//! JSON API v1 handlers. Each one extracts, calls one service function and maps the result.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    device,
    extract::{CurrentActor, CurrentAgent},
    limits::client_ip,
};
use crate::{
    accounts::{
        self,
        admin::{AgentPatch, Invite},
    },
    actor::Actor,
    canned::{self, CannedInput},
    context::AppContext,
    conversations::{
        self,
        actions::{self, AssignBody, StatusBody},
        listing::{self, ListQuery},
    },
    delivery::{self, history::HistoryQuery},
    error::{AppError, AppResult},
    inboxes::settings::{self as inbox_settings, InboxPatch, NewInbox},
    messages::SendCommand,
};

type Ctx = web::Data<AppContext>;

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

pub async fn login(
    ctx: Ctx,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> AppResult<HttpResponse> {
    ctx.limits.login(
        client_ip(&req, &ctx.limits.proxies),
        &body.email,
        device::known(&ctx, &req, &body.email),
    )?;
    let r = accounts::service::login(&ctx, &body.email, &body.password).await?;
    let mut resp = HttpResponse::Ok().json(r);
    resp.add_cookie(&device::cookie(&ctx, &req, &body.email))
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(resp)
}

pub async fn logout(ctx: Ctx, agent: CurrentAgent) -> AppResult<HttpResponse> {
    accounts::service::logout(&ctx, &agent.1).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn socket_token(ctx: Ctx, agent: CurrentAgent) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(accounts::service::socket_token(&ctx, &agent.0)?))
}

pub async fn me(ctx: Ctx, agent: CurrentAgent) -> AppResult<HttpResponse> {
    let a = agent.0;
    let view = accounts::service::get_agent(&ctx, a.agent_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "agent_id": a.agent_id, "account_id": a.account_id, "role": a.role,
        "name": view.name, "email": view.email,
    })))
}

pub async fn list_conversations(
    ctx: Ctx,
    who: CurrentActor,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(listing::list(&ctx.db, &who.0, q.into_inner()).await?))
}

/// Agents get the full detail (contact panel, past conversations); a customer gets its own
/// conversation and the read markers.
pub async fn get_conversation(
    ctx: Ctx,
    who: CurrentActor,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    if let Actor::Agent(a) = &who.0 {
        return Ok(HttpResponse::Ok().json(listing::detail(&ctx.db, a, *id).await?));
    }
    let c = conversations::service::get_for(&ctx.db, &who.0, *id).await?;
    let markers = conversations::service::read_markers(&ctx.db, &who.0, c.id).await?;
    let reads: Vec<_> = markers
        .into_iter()
        .map(|m| serde_json::json!({"reader_type": m.reader_type, "reader_id": m.reader_id, "seq": m.last_read_seq}))
        .collect();
    let view = conversations::ConversationView::from(c);
    Ok(HttpResponse::Ok().json(serde_json::json!({ "conversation": view, "read": reads })))
}

pub async fn history(
    ctx: Ctx,
    who: CurrentActor,
    id: web::Path<Uuid>,
    q: web::Query<HistoryQuery>,
) -> AppResult<HttpResponse> {
    let page = delivery::history::history(&ctx.db, &who.0, *id, q.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    client_msg_id: String,
    body: String,
    #[serde(default)]
    private: bool,
}

pub async fn send(
    ctx: Ctx,
    who: CurrentActor,
    id: web::Path<Uuid>,
    body: web::Json<SendBody>,
) -> AppResult<HttpResponse> {
    let b = body.into_inner();
    let cmd = SendCommand {
        conversation_id: *id,
        client_msg_id: b.client_msg_id,
        body: b.body,
        private: b.private,
    };
    let sent = delivery::send::send(&ctx, who.0, cmd).await?;
    let mut resp = if sent.duplicate {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(resp.json(serde_json::json!({ "message": sent.message, "duplicate": sent.duplicate })))
}

#[derive(Deserialize)]
pub struct ReadBody {
    seq: i64,
}

pub async fn mark_read(
    ctx: Ctx,
    who: CurrentActor,
    id: web::Path<Uuid>,
    body: web::Json<ReadBody>,
) -> AppResult<HttpResponse> {
    let seq =
        conversations::service::mark_read(&ctx.db, &ctx.events, &who.0, *id, body.seq).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "seq": seq })))
}

async fn summary_json(
    ctx: &AppContext,
    who: &crate::actor::AgentIdentity,
    c: crate::db::entities::conversation::Model,
) -> AppResult<HttpResponse> {
    let s = listing::summary(&ctx.db, who, c).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "conversation": s })))
}

pub async fn assign(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<AssignBody>,
) -> AppResult<HttpResponse> {
    let c = actions::assign(&ctx.db, &ctx.events, &who.0, *id, body.into_inner()).await?;
    summary_json(&ctx, &who.0, c).await
}

pub async fn set_status(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<StatusBody>,
) -> AppResult<HttpResponse> {
    let c = actions::set_status(&ctx.db, &ctx.events, &who.0, *id, body.into_inner()).await?;
    summary_json(&ctx, &who.0, c).await
}

pub async fn set_tags(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<actions::TagsBody>,
) -> AppResult<HttpResponse> {
    let c = actions::set_tags(&ctx.db, &ctx.events, &who.0, *id, body.into_inner()).await?;
    summary_json(&ctx, &who.0, c).await
}

pub async fn list_agents(ctx: Ctx, who: CurrentAgent) -> AppResult<HttpResponse> {
    let agents = accounts::admin::list(&ctx, &who.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agents": agents })))
}

pub async fn invite_agent(
    ctx: Ctx,
    who: CurrentAgent,
    body: web::Json<Invite>,
) -> AppResult<HttpResponse> {
    let invited = accounts::admin::invite(&ctx, &who.0, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(invited))
}

pub async fn update_agent(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<AgentPatch>,
) -> AppResult<HttpResponse> {
    let agent = accounts::admin::update(&ctx, &who.0, *id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "agent": agent })))
}

/// The server's URL for install snippets: `public_url` when configured, else as requested.
fn base_url(ctx: &AppContext, req: &HttpRequest) -> String {
    if !ctx.settings.public_url.is_empty() {
        return ctx.settings.public_url.trim_end_matches('/').to_string();
    }
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

pub async fn list_inboxes(
    ctx: Ctx,
    req: HttpRequest,
    who: CurrentAgent,
) -> AppResult<HttpResponse> {
    let inboxes = inbox_settings::list(&ctx, &who.0, &base_url(&ctx, &req)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "inboxes": inboxes })))
}

pub async fn create_inbox(
    ctx: Ctx,
    req: HttpRequest,
    who: CurrentAgent,
    body: web::Json<NewInbox>,
) -> AppResult<HttpResponse> {
    let inbox =
        inbox_settings::create(&ctx, &who.0, &base_url(&ctx, &req), body.into_inner()).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "inbox": inbox })))
}

pub async fn update_inbox(
    ctx: Ctx,
    req: HttpRequest,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<InboxPatch>,
) -> AppResult<HttpResponse> {
    let inbox =
        inbox_settings::update(&ctx, &who.0, &base_url(&ctx, &req), *id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "inbox": inbox })))
}

pub async fn rotate_identity_secret(
    ctx: Ctx,
    req: HttpRequest,
    who: CurrentAgent,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let inbox =
        inbox_settings::rotate_identity_secret(&ctx, &who.0, &base_url(&ctx, &req), *id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "inbox": inbox })))
}

pub async fn list_canned(ctx: Ctx, who: CurrentAgent) -> AppResult<HttpResponse> {
    let canned = canned::list(&ctx, &who.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "canned": canned })))
}

pub async fn create_canned(
    ctx: Ctx,
    who: CurrentAgent,
    body: web::Json<CannedInput>,
) -> AppResult<HttpResponse> {
    let c = canned::create(&ctx, &who.0, body.into_inner()).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({ "canned": c })))
}

pub async fn update_canned(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<CannedInput>,
) -> AppResult<HttpResponse> {
    let c = canned::update(&ctx, &who.0, *id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "canned": c })))
}

pub async fn delete_canned(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    canned::delete(&ctx, &who.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn delete_message(
    ctx: Ctx,
    who: CurrentAgent,
    path: web::Path<(Uuid, Uuid)>,
) -> AppResult<HttpResponse> {
    let (conversation_id, message_id) = path.into_inner();
    crate::privacy::delete_message(&ctx, &who.0, conversation_id, message_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn erase_contact(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let n = crate::privacy::erase_contact(&ctx, &who.0, *id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "erased_conversations": n })))
}
