//! JSON API v1 handlers. Each one extracts, calls one service function and maps the result.
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{CurrentActor, CurrentAgent, origin};
use crate::{
    accounts,
    context::AppContext,
    conversations::{
        self,
        service::{ListQuery, VisitorSessionRequest},
    },
    error::AppResult,
    messages::{self, SendCommand, service::HistoryQuery},
};

type Ctx = web::Data<AppContext>;

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

pub async fn login(ctx: Ctx, body: web::Json<LoginBody>) -> AppResult<HttpResponse> {
    let r = accounts::service::login(&ctx, &body.email, &body.password).await?;
    Ok(HttpResponse::Ok().json(r))
}

pub async fn logout(ctx: Ctx, agent: CurrentAgent) -> AppResult<HttpResponse> {
    accounts::service::logout(&ctx, &agent.1).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn socket_token(ctx: Ctx, agent: CurrentAgent) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(accounts::service::socket_token(&ctx, &agent.0)?))
}

pub async fn me(agent: CurrentAgent) -> AppResult<HttpResponse> {
    let a = agent.0;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "agent_id": a.agent_id, "account_id": a.account_id, "role": a.role,
    })))
}

pub async fn widget_session(
    ctx: Ctx,
    req: HttpRequest,
    body: web::Json<VisitorSessionRequest>,
) -> AppResult<HttpResponse> {
    let s = conversations::service::open_visitor_session(
        &ctx,
        body.into_inner(),
        origin(&req).as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(s))
}

pub async fn list_conversations(
    ctx: Ctx,
    who: CurrentActor,
    q: web::Query<ListQuery>,
) -> AppResult<HttpResponse> {
    let rows = conversations::service::list(&ctx, &who.0, q.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "conversations": rows })))
}

pub async fn get_conversation(
    ctx: Ctx,
    who: CurrentActor,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let c = conversations::service::get_for(&ctx, &who.0, *id).await?;
    let markers = conversations::service::read_markers(&ctx, &who.0, c.id).await?;
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
    let page = messages::service::history(&ctx, &who.0, *id, q.into_inner()).await?;
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
    let sent = messages::service::send(&ctx, who.0, cmd).await?;
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
    let seq = conversations::service::mark_read(&ctx, &who.0, *id, body.seq).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "seq": seq })))
}
