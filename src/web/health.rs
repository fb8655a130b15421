//! `/healthz` (the process is up) and `/readyz` (the database answers and the node is not
//! draining; with the bus, the indexer and the completed passes of the background loops).
use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{context::AppContext, db};

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// How the bot reads intents on this node: by meaning with the sentence model, or with the
/// lexical rules when the model file is not installed (`scripts/install-models`).
pub fn bot_intents(ctx: &AppContext) -> &'static str {
    if ctx.embedder.is_some() {
        "sentence-model"
    } else {
        "lexical-fallback"
    }
}

pub async fn readyz(ctx: web::Data<AppContext>) -> HttpResponse {
    if ctx.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().json(json!({"status": "draining"}));
    }
    let backend = if db::is_postgres(&ctx.db) {
        "postgres"
    } else {
        "sqlite"
    };
    // A node cut off from the bus still serves (deliveries to other nodes' clients are late,
    // never lost), so the bus is reported but does not fail readiness.
    let bus = if ctx.settings.bus_url.trim().is_empty() {
        "none"
    } else if ctx.bus_up.load(std::sync::atomic::Ordering::Relaxed) {
        "connected"
    } else {
        "down"
    };
    // Search is derived data: a stalled or lagging indexer is reported (for alerts) but does
    // not take the node out of the load balancer — chat works without it.
    let indexer = ctx
        .settings
        .has_role("indexer")
        .then(|| ctx.search.indexer_report());
    let check = tokio::time::timeout(std::time::Duration::from_secs(2), db::ping(&ctx.db)).await;
    match check {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": backend,
            "bus": bus,
            "indexer": indexer,
            "bot_intents": bot_intents(&ctx),
            "passes": ctx.passes.counts(),
        })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database error");
            HttpResponse::ServiceUnavailable().json(
                json!({"status": "degraded", "database": backend, "error": "database unavailable"}),
            )
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "degraded", "database": backend, "error": "database timeout"})),
    }
}
