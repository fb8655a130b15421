//! HTTP surface: the route table (one place), auth extractors, JSON API, WebSocket upgrades and
//! health checks. Handlers are thin: extract, call one service, map the result.
pub mod ai;
pub mod api;
pub mod assets;
pub mod device;
pub mod extract;
pub mod health;
pub mod limits;
pub mod pages;
pub mod search;
pub mod server;
pub mod sse;
pub mod widget;
pub mod ws;

use actix_web::{
    HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::{Compress, Next},
    web,
};

use crate::error::AppError;

/// CORS for the API: widgets call it from customers' websites with a visitor bearer token.
/// The request's origin is echoed (the inbox's allowed-origins check happens in the handlers),
/// credentials are never allowed (cookies stay same-origin), and `X-CSRF-Token` is not an allowed
/// header, so the cookie-authenticated dashboard API cannot be driven from another site.
async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    if req.method() == actix_web::http::Method::OPTIONS {
        let mut resp = HttpResponse::NoContent();
        if let Some(o) = &origin {
            resp.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone()))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "authorization, content-type, last-event-id",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
                .insert_header((header::VARY, "Origin"));
        }
        let (http_req, _) = req.into_parts();
        return Ok(ServiceResponse::new(http_req, resp.finish()).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if let Some(o) = origin {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after"),
        );
    }
    Ok(res.map_into_left_body())
}

/// Headers every response gets (wrapped around the whole app in `server.rs`):
/// `X-Content-Type-Options: nosniff` (a JSON answer that echoes input can never be sniffed into
/// HTML), `Cache-Control: no-store` on JSON (answers carry tokens and transcripts; proxies and the
/// browser's disk cache must not keep them), and HSTS when `hsts_max_age_secs` is set. Headers a
/// handler chose itself (static files' caching, the SSE stream's `no-cache`) are kept.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let hsts = req
        .app_data::<web::Data<crate::context::AppContext>>()
        .map_or(0, |c| c.settings.hsts_max_age_secs);
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    if !h.contains_key(header::X_CONTENT_TYPE_OPTIONS) {
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    let json = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if hsts > 0
        && let Ok(v) = HeaderValue::from_str(&format!("max-age={hsts}"))
    {
        h.insert(header::STRICT_TRANSPORT_SECURITY, v);
    }
    Ok(res.map_into_boxed_body())
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _| AppError::Invalid(e.to_string()).into()),
        )
        .app_data(
            web::PathConfig::default()
                .error_handler(|e, _| AppError::Invalid(e.to_string()).into()),
        )
        .app_data(
            web::FormConfig::default()
                .limit(16 * 1024)
                .error_handler(|e, _| AppError::Invalid(e.to_string()).into()),
        )
        .route("/", web::get().to(pages::index))
        .route("/login", web::get().to(pages::login_form))
        .route("/login", web::post().to(pages::login_submit))
        .route("/logout", web::post().to(pages::logout))
        .route("/app", web::get().to(pages::app))
        .service(
            web::scope("/static")
                .wrap(Compress::default())
                .route("/{name}", web::get().to(assets::file))
                .route("/{hash}/{name:.+}", web::get().to(assets::hashed)),
        )
        .service(
            web::resource("/widget.js")
                .wrap(Compress::default())
                .route(web::get().to(assets::widget_loader)),
        )
        .service(
            web::resource("/widget-chat.js")
                .wrap(Compress::default())
                .route(web::get().to(assets::widget_chat)),
        )
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/ws/agent", web::get().to(ws::agent))
        .route("/ws/widget", web::get().to(ws::widget))
        .service(
            web::scope("/api/v1")
                .wrap(actix_web::middleware::from_fn(cors))
                .route("/auth/login", web::post().to(api::login))
                .route("/auth/logout", web::post().to(api::logout))
                .route("/auth/socket-token", web::post().to(api::socket_token))
                .route("/me", web::get().to(api::me))
                .route("/widget/config", web::get().to(widget::config))
                .route("/widget/session", web::post().to(widget::session))
                .route("/widget/status", web::get().to(widget::status))
                .route("/widget/typing", web::post().to(widget::typing))
                .route("/widget/contact", web::post().to(widget::contact))
                .route("/widget/page", web::post().to(widget::page))
                .route("/widget/events", web::get().to(sse::events))
                .route("/agents", web::get().to(api::list_agents))
                .route("/agents", web::post().to(api::invite_agent))
                .route("/agents/{id}", web::patch().to(api::update_agent))
                .route("/inboxes", web::get().to(api::list_inboxes))
                .route("/inboxes", web::post().to(api::create_inbox))
                .route("/inboxes/{id}", web::patch().to(api::update_inbox))
                .route(
                    "/inboxes/{id}/rotate-identity-secret",
                    web::post().to(api::rotate_identity_secret),
                )
                .route("/canned", web::get().to(api::list_canned))
                .route("/canned", web::post().to(api::create_canned))
                .route("/canned/{id}", web::patch().to(api::update_canned))
                .route("/canned/{id}", web::delete().to(api::delete_canned))
                .route("/conversations", web::get().to(api::list_conversations))
                .route("/conversations/{id}", web::get().to(api::get_conversation))
                .route("/conversations/{id}/messages", web::get().to(api::history))
                .route("/conversations/{id}/messages", web::post().to(api::send))
                .route("/conversations/{id}/read", web::post().to(api::mark_read))
                .route("/conversations/{id}/assign", web::post().to(api::assign))
                .route(
                    "/conversations/{id}/status",
                    web::post().to(api::set_status),
                )
                .route("/conversations/{id}/tags", web::post().to(api::set_tags))
                // GDPR erasure (handlers in api.rs; the search index follows through events).
                .route(
                    "/conversations/{id}/messages/{message_id}",
                    web::delete().to(api::delete_message),
                )
                .route("/contacts/{id}", web::delete().to(api::erase_contact))
                .route("/search", web::get().to(search::search))
                .route("/kb/articles", web::get().to(ai::list_articles))
                .route("/kb/articles", web::post().to(ai::create_article))
                .route("/kb/articles/{id}", web::get().to(ai::get_article))
                .route("/kb/articles/{id}", web::put().to(ai::update_article))
                .route("/kb/articles/{id}", web::delete().to(ai::delete_article))
                .route("/kb/search", web::get().to(ai::search_kb))
                .route("/conversations/{id}/suggest", web::post().to(ai::suggest))
                .route("/conversations/{id}/summary", web::post().to(ai::summary))
                .route(
                    "/conversations/{id}/bot-drafts",
                    web::get().to(ai::list_drafts),
                )
                .route(
                    "/bot-drafts/{id}/feedback",
                    web::post().to(ai::draft_feedback),
                )
                .route("/kb/shadow-stats", web::get().to(ai::shadow_stats)),
        )
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(AppError::NotFound("route").body())
        }));
}

/// A node without the `web` role (an indexer only) answers health checks and nothing else.
pub fn health_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(AppError::NotFound("route").body())
        }));
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(256 * 1024)
        .error_handler(|e, _| {
            use actix_web::error::JsonPayloadError;
            match e {
                JsonPayloadError::OverflowKnownLength { .. }
                | JsonPayloadError::Overflow { .. } => AppError::TooLarge.into(),
                other => AppError::Invalid(format!("invalid JSON body: {other}")).into(),
            }
        })
}
