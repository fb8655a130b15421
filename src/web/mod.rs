//! HTTP surface: the route table (one place), auth extractors, JSON API, WebSocket upgrades and
//! health checks. Handlers are thin: extract, call one service, map the result.
pub mod api;
pub mod extract;
pub mod health;
pub mod pages;
pub mod ws;

use actix_web::{HttpResponse, web};

use crate::error::AppError;

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
        .route("/", web::get().to(pages::index))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/ws/agent", web::get().to(ws::agent))
        .route("/ws/widget", web::get().to(ws::widget))
        .service(
            web::scope("/api/v1")
                .route("/auth/login", web::post().to(api::login))
                .route("/auth/logout", web::post().to(api::logout))
                .route("/auth/socket-token", web::post().to(api::socket_token))
                .route("/me", web::get().to(api::me))
                .route("/widget/session", web::post().to(api::widget_session))
                .route("/conversations", web::get().to(api::list_conversations))
                .route("/conversations/{id}", web::get().to(api::get_conversation))
                .route("/conversations/{id}/messages", web::get().to(api::history))
                .route("/conversations/{id}/messages", web::post().to(api::send))
                .route("/conversations/{id}/read", web::post().to(api::mark_read)),
        )
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
