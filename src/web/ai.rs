//! AI routes: knowledge-base articles (agents read, admins write), KB retrieval for agents,
//! the streamed reply suggestion (Server-Sent Events over a POST response) and the summary.
use std::convert::Infallible;

use actix_web::{
    HttpResponse,
    http::header,
    web::{self, Bytes},
};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::CurrentAgent;
use crate::{
    bot::{
        assist::{self, SuggestEvent},
        preview,
        shadow::{self, FeedbackInput},
    },
    context::AppContext,
    error::AppResult,
    kb::service::{self as kb, ArticleInput},
};

type Ctx = web::Data<AppContext>;

pub async fn list_articles(ctx: Ctx, who: CurrentAgent) -> AppResult<HttpResponse> {
    let articles = kb::list(&ctx.db, &who.0).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "articles": articles,
        "bot_intents": super::health::bot_intents(&ctx),
    })))
}

pub async fn get_article(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(kb::get(&ctx.db, &who.0, *id).await?))
}

pub async fn create_article(
    ctx: Ctx,
    who: CurrentAgent,
    body: web::Json<ArticleInput>,
) -> AppResult<HttpResponse> {
    Ok(
        HttpResponse::Created()
            .json(kb::create(&ctx.db, &ctx.kb, &who.0, body.into_inner()).await?),
    )
}

pub async fn update_article(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<ArticleInput>,
) -> AppResult<HttpResponse> {
    Ok(
        HttpResponse::Ok()
            .json(kb::update(&ctx.db, &ctx.kb, &who.0, *id, body.into_inner()).await?),
    )
}

pub async fn delete_article(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    kb::delete(&ctx.db, &ctx.kb, &who.0, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
pub struct KbSearchQuery {
    q: String,
    limit: Option<usize>,
}

/// What retrieval finds for a question (the bot's view of the KB), for agents and admins.
pub async fn search_kb(
    ctx: Ctx,
    who: CurrentAgent,
    q: web::Query<KbSearchQuery>,
) -> AppResult<HttpResponse> {
    let preview = preview::what_the_bot_finds(&ctx, &who.0, &q.q, q.limit).await?;
    Ok(HttpResponse::Ok().json(preview))
}

fn sse(ev: &SuggestEvent) -> Bytes {
    let name = match ev {
        SuggestEvent::Sources { .. } => "sources",
        SuggestEvent::Delta { .. } => "delta",
        SuggestEvent::Done { .. } => "done",
        SuggestEvent::Error { .. } => "error",
    };
    let mut data = serde_json::to_value(ev).unwrap_or_default();
    if let Some(o) = data.as_object_mut() {
        o.remove("event");
    }
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// `POST /conversations/{id}/suggest`: `text/event-stream` of `sources`, `delta`…, then `done`
/// or `error`. Closing the response stops the model.
pub async fn suggest(ctx: Ctx, who: CurrentAgent, id: web::Path<Uuid>) -> AppResult<HttpResponse> {
    let rx = assist::suggest(&ctx, &who.0, *id).await?;
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|ev| (Ok::<_, Infallible>(sse(&ev)), rx))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

pub async fn summary(ctx: Ctx, who: CurrentAgent, id: web::Path<Uuid>) -> AppResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(assist::summarize(&ctx, &who.0, *id).await?))
}

/// `GET /conversations/{id}/bot-drafts`: the shadow bot's drafts in a conversation (agents).
pub async fn list_drafts(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
) -> AppResult<HttpResponse> {
    let drafts = shadow::list(&ctx, &who.0, *id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "drafts": drafts })))
}

/// `POST /bot-drafts/{id}/feedback` `{"feedback": "up"|"down"|"should_handoff"}`.
pub async fn draft_feedback(
    ctx: Ctx,
    who: CurrentAgent,
    id: web::Path<Uuid>,
    body: web::Json<FeedbackInput>,
) -> AppResult<HttpResponse> {
    let draft = shadow::feedback(&ctx, &who.0, *id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "draft": draft })))
}

#[derive(Deserialize)]
pub struct StatsQuery {
    inbox_id: Option<Uuid>,
}

/// `GET /kb/shadow-stats[?inbox_id=]`: the shadow figures of the last 30 days.
pub async fn shadow_stats(
    ctx: Ctx,
    who: CurrentAgent,
    q: web::Query<StatsQuery>,
) -> AppResult<HttpResponse> {
    let stats = shadow::stats(&ctx, &who.0, q.inbox_id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "stats": stats })))
}
