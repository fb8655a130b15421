//! Server-rendered pages (askama): the landing page, the login form, the dashboard shell, logout.
//! The dashboard itself is `static/dashboard/` (ES modules) talking to the JSON API and the agent socket.
//!
//! Cookies: `sb_session` (the agent session token; HttpOnly, SameSite=Lax, Secure when the public
//! URL is https) and, on the login form only, `sb_login_csrf` (double-submit token against login
//! CSRF). Every page gets CSP, `frame-ancestors 'none'`, nosniff and a strict referrer policy.
use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::header,
    web,
};
use askama::Template;
use serde::Deserialize;

use super::{
    extract::{SESSION_COOKIE, session_cookie},
    limits::client_ip,
};
use crate::{
    accounts,
    auth::tokens,
    context::AppContext,
    error::{AppError, AppResult},
};

const LOGIN_CSRF_COOKIE: &str = "sb_login_csrf";

#[derive(Template)]
#[template(path = "index.html")]
pub struct Index {
    version: &'static str,
    base: String,
    agents: u64,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "app.html")]
pub struct AppPage {
    csrf: String,
    agent_json: String,
    agent_name: String,
    /// `/static/<hash>`: where the dashboard's files are (see `assets`).
    assets: String,
    /// Every module of the dashboard (`dashboard/….js`), preloaded so the browser fetches them in
    /// parallel instead of discovering the import graph level by level.
    modules: Vec<&'static str>,
    /// The largest message body the server accepts (`max_body_bytes`), for the composer.
    max_body_bytes: usize,
}

/// The security headers every HTML page carries. `connect-src` names this server's own socket
/// origins: `'self'` alone does not cover `ws:`/`wss:` in every browser, and bare `ws: wss:`
/// would let injected script open a socket to any host.
fn html(
    ctx: &AppContext,
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
    body: String,
) -> HttpResponse {
    let csp = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'{}; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'",
        socket_sources(ctx, req)
    );
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// ` ws://host wss://host` for the host the browser used (the dashboard connects to
/// `location.host`) and the host of `public_url`. A host with anything but host characters is
/// left out rather than copied into the policy.
fn socket_sources(ctx: &AppContext, req: &HttpRequest) -> String {
    let from_request = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    let public = ctx
        .settings
        .public_url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or_default().to_string());
    let mut hosts: Vec<String> = from_request
        .into_iter()
        .chain(public)
        .map(|h| h.to_ascii_lowercase())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .collect();
    hosts.dedup();
    hosts
        .iter()
        .map(|h| format!(" ws://{h} wss://{h}"))
        .collect()
}

fn render(t: &impl Template) -> AppResult<String> {
    t.render().map_err(|e| AppError::Internal(e.into()))
}

fn base(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

fn secure(ctx: &AppContext, req: &HttpRequest) -> bool {
    crate::urls::is_https(&ctx.settings.public_url) || req.connection_info().scheme() == "https"
}

pub(super) fn cookie<'a>(
    ctx: &AppContext,
    req: &HttpRequest,
    name: &'a str,
    value: String,
    max_age: i64,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(ctx, req))
        .max_age(CookieDuration::seconds(max_age))
        .finish()
}

fn see_other(to: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header((header::LOCATION, to.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

/// Only local paths: `next=https://evil.example` must not turn login into an open redirect.
/// Judged by [`crate::urls::local_path`] (plain-path rules plus a WHATWG same-origin check).
fn safe_next(next: &str) -> String {
    crate::urls::local_path(next).unwrap_or("/app").to_string()
}

pub async fn index(ctx: web::Data<AppContext>, req: HttpRequest) -> AppResult<HttpResponse> {
    let page = Index {
        version: env!("CARGO_PKG_VERSION"),
        base: base(&req),
        agents: accounts::service::count_agents(&ctx.db).await?,
    };
    Ok(html(
        &ctx,
        &req,
        actix_web::http::StatusCode::OK,
        render(&page)?,
    ))
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(
    ctx: &AppContext,
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
    next: &str,
    email: &str,
    error: Option<String>,
) -> AppResult<HttpResponse> {
    let csrf = tokens::random_hex(16).map_err(AppError::Internal)?;
    let page = LoginPage {
        csrf: csrf.clone(),
        next: safe_next(next),
        email: email.to_string(),
        error,
    };
    let mut resp = html(ctx, req, status, render(&page)?);
    resp.add_cookie(&cookie(ctx, req, LOGIN_CSRF_COOKIE, csrf, 3600))
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(resp)
}

pub async fn login_form(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    q: web::Query<NextQuery>,
) -> AppResult<HttpResponse> {
    let next = q.next.as_deref().unwrap_or("/app");
    // Already signed in: straight to the dashboard.
    if let Some(t) = session_cookie(&req)
        && accounts::service::authenticate(&ctx, &t).await.is_ok()
    {
        return Ok(see_other(&safe_next(next)).finish());
    }
    login_page(&ctx, &req, actix_web::http::StatusCode::OK, next, "", None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login_submit(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> AppResult<HttpResponse> {
    use actix_web::http::StatusCode;
    let f = form.into_inner();
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_string());
    if expected
        .as_deref()
        .is_none_or(|e| e.is_empty() || e != f.csrf)
    {
        return login_page(
            &ctx,
            &req,
            StatusCode::FORBIDDEN,
            &f.next,
            &f.email,
            Some("Your form expired. Please sign in again.".into()),
        );
    }
    let ip = client_ip(&req, &ctx.limits.proxies);
    let known_device = super::device::known(&ctx, &req, &f.email);
    if let Err(AppError::RateLimited(secs)) = ctx.limits.login(ip, &f.email, known_device) {
        let mut resp = login_page(
            &ctx,
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            &f.next,
            &f.email,
            Some(format!("Too many attempts. Try again in {secs} s.")),
        )?;
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        return Ok(resp);
    }
    match accounts::service::login(&ctx, &f.email, &f.password).await {
        Ok(r) => {
            let ttl = ctx.settings.session_ttl().num_seconds();
            let mut resp = see_other(&safe_next(&f.next)).finish();
            resp.add_cookie(&cookie(&ctx, &req, SESSION_COOKIE, r.token, ttl))
                .map_err(|e| AppError::Internal(e.into()))?;
            resp.add_removal_cookie(&cookie(&ctx, &req, LOGIN_CSRF_COOKIE, String::new(), 0))
                .map_err(|e| AppError::Internal(e.into()))?;
            resp.add_cookie(&super::device::cookie(&ctx, &req, &f.email))
                .map_err(|e| AppError::Internal(e.into()))?;
            Ok(resp)
        }
        Err(AppError::Unauthorized) => login_page(
            &ctx,
            &req,
            StatusCode::UNAUTHORIZED,
            &f.next,
            &f.email,
            Some("Wrong email or password.".into()),
        ),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    form: web::Form<LogoutForm>,
) -> AppResult<HttpResponse> {
    if let Some(t) = session_cookie(&req)
        && let Ok(who) = accounts::service::authenticate(&ctx, &t).await
    {
        let session = who.session_id.ok_or(AppError::Unauthorized)?;
        if !ctx.signer.csrf_ok(session, &form.csrf) {
            return Err(AppError::Forbidden("CSRF token missing or invalid"));
        }
        accounts::service::logout(&ctx, &t).await?;
    }
    let mut resp = see_other("/login").finish();
    resp.add_removal_cookie(&cookie(&ctx, &req, SESSION_COOKIE, String::new(), 0))
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(resp)
}

pub async fn app(ctx: web::Data<AppContext>, req: HttpRequest) -> AppResult<HttpResponse> {
    let who = match session_cookie(&req) {
        Some(t) => accounts::service::authenticate(&ctx, &t).await.ok(),
        None => None,
    };
    let Some(who) = who else {
        return Ok(see_other("/login?next=/app").finish());
    };
    let session = who.session_id.ok_or(AppError::Unauthorized)?;
    let agent = accounts::service::get_agent(&ctx, who.agent_id).await?;
    let agent_json = serde_json::json!({
        "id": agent.id, "account_id": agent.account_id, "name": agent.name,
        "email": agent.email, "role": agent.role,
    })
    .to_string();
    let page = AppPage {
        csrf: ctx.signer.csrf_token(session),
        agent_json,
        agent_name: agent.name,
        assets: format!("/static/{}", crate::web::assets::hash(&ctx)),
        modules: crate::web::assets::names()
            .filter(|n| n.starts_with("dashboard/"))
            .collect(),
        max_body_bytes: ctx.settings.max_body_bytes,
    };
    Ok(html(
        &ctx,
        &req,
        actix_web::http::StatusCode::OK,
        render(&page)?,
    ))
}
