//! Auth extractors. `Authorization: Bearer <token>`: an agent session token (`sb_…`) or a
//! visitor token (`vt.…`). `CurrentAgent` accepts only the former, `CurrentActor` either.
use std::{future::Future, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use chrono::Utc;

use crate::{
    accounts,
    actor::{Actor, AgentIdentity},
    context::AppContext,
    error::AppError,
};

pub fn bearer(req: &HttpRequest) -> Option<String> {
    let h = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let t = h
        .strip_prefix("Bearer ")
        .or_else(|| h.strip_prefix("bearer "))?;
    Some(t.trim().to_string())
}

fn ctx(req: &HttpRequest) -> Result<AppContext, AppError> {
    req.app_data::<web::Data<AppContext>>()
        .map(|d| d.get_ref().clone())
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("AppContext missing")))
}

pub struct CurrentAgent(pub AgentIdentity, pub String);

impl FromRequest for CurrentAgent {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let ctx = ctx(req);
        Box::pin(async move {
            let ctx = ctx?;
            let token = token.ok_or(AppError::Unauthorized)?;
            let who = accounts::service::authenticate(&ctx, &token).await?;
            Ok(CurrentAgent(who, token))
        })
    }
}

pub struct CurrentActor(pub Actor);

impl FromRequest for CurrentActor {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer(req);
        let ctx = ctx(req);
        Box::pin(async move {
            let ctx = ctx?;
            let token = token.ok_or(AppError::Unauthorized)?;
            if token.starts_with("vt.") {
                let claims = ctx
                    .signer
                    .open_visitor(&token, Utc::now().timestamp())
                    .ok_or(AppError::Unauthorized)?;
                return Ok(CurrentActor(Actor::Customer(claims)));
            }
            let who = accounts::service::authenticate(&ctx, &token).await?;
            Ok(CurrentActor(Actor::Agent(who)))
        })
    }
}

/// The request's `Origin` header, if any.
pub fn origin(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
