//! Steps shared by the API stories (`dashboard_api.rs`, `widget_api.rs`) and the browser
//! stories: JSON calls with a bearer token, the dashboard's cookie login and CSRF token, the
//! widget's session, and short looks at conversations, inboxes and agents.
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// JSON calls
// ---------------------------------------------------------------------------------------------

/// A client that reports redirects instead of following them (like checking a browser's URL bar).
pub(crate) fn no_redirect() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The status and the JSON body of a response (`Null` when empty, a string when not JSON).
async fn status_and_json(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, v)
}

/// A JSON API call with a bearer token: the status and the JSON body (`Null` when empty).
pub(crate) async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    status_and_json(req.send().await.expect("request")).await
}

pub(crate) async fn get(app: &TestApp, path: &str, bearer: &str) -> (StatusCode, Value) {
    call(app, Method::GET, path, bearer, None).await
}

pub(crate) async fn post(
    app: &TestApp,
    path: &str,
    bearer: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(app, Method::POST, path, bearer, Some(body)).await
}

pub(crate) async fn patch(
    app: &TestApp,
    path: &str,
    bearer: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(app, Method::PATCH, path, bearer, Some(body)).await
}

pub(crate) async fn delete(app: &TestApp, path: &str, bearer: &str) -> StatusCode {
    call(app, Method::DELETE, path, bearer, None).await.0
}

/// `req` with an `Origin` header when one is given.
fn from_origin(req: RequestBuilder, origin: Option<&str>) -> RequestBuilder {
    match origin {
        Some(o) => req.header(header::ORIGIN, o),
        None => req,
    }
}

// ---------------------------------------------------------------------------------------------
// Agents, messages, conversations, inboxes
// ---------------------------------------------------------------------------------------------

/// `POST /auth/login` with JSON, optionally as if from `forwarded_for` behind a proxy.
pub(crate) async fn json_login(
    app: &TestApp,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    req.send().await.expect("login")
}

/// The agent id behind a session.
pub(crate) async fn me(app: &TestApp, agent: &Agent) -> Uuid {
    let (s, v) = get(app, "/api/v1/me", &agent.session).await;
    assert_eq!(s, 200, "me: {v}");
    v["agent_id"]
        .as_str()
        .expect("agent_id")
        .parse()
        .expect("uuid")
}

/// A message over HTTP with a fresh `client_msg_id`, asserted stored as new; returns its seq.
async fn send_new(
    app: &TestApp,
    bearer: &str,
    conv: Uuid,
    body: &str,
    private: bool,
    who: &str,
) -> i64 {
    let id = Uuid::new_v4().to_string();
    let r = app.post_message(bearer, conv, &id, body, private).await;
    assert_eq!(r.status(), 201, "{who} message {body:?}");
    let v: Value = r.json().await.expect("json");
    v["message"]["seq"].as_i64().expect("seq")
}

/// A customer message over HTTP; returns its seq.
pub(crate) async fn say(app: &TestApp, c: &Customer, body: &str) -> i64 {
    send_new(app, &c.token, c.conversation_id, body, false, "customer").await
}

/// An agent message (reply or private note) over HTTP; returns its seq.
pub(crate) async fn reply(
    app: &TestApp,
    agent: &Agent,
    conv: Uuid,
    body: &str,
    private: bool,
) -> i64 {
    send_new(app, &agent.session, conv, body, private, "agent").await
}

/// A customer who opened the widget and wrote one message.
pub(crate) async fn writing_customer(app: &TestApp, body: &str) -> Customer {
    let c = app.customer().await;
    say(app, &c, body).await;
    c
}

/// The seeded inbox as the admin API shows it.
pub(crate) async fn seeded_inbox(app: &TestApp, admin: &Agent) -> Value {
    let (s, v) = get(app, "/api/v1/inboxes", &admin.session).await;
    assert_eq!(s, 200, "inboxes: {v}");
    v["inboxes"]
        .as_array()
        .expect("inboxes")
        .iter()
        .find(|i| i["widget_token"] == app.inbox_token.as_str())
        .cloned()
        .expect("the seeded inbox is listed")
}

/// The id of the seeded inbox.
pub(crate) async fn seeded_inbox_id(app: &TestApp, admin: &Agent) -> String {
    seeded_inbox(app, admin).await["id"]
        .as_str()
        .expect("id")
        .to_string()
}

pub(crate) async fn patch_inbox(app: &TestApp, admin: &Agent, body: Value) -> (StatusCode, Value) {
    let id = seeded_inbox_id(app, admin).await;
    patch(app, &format!("/api/v1/inboxes/{id}"), &admin.session, body).await
}

/// `GET /conversations/{id}` as an agent (the full detail).
pub(crate) async fn detail(app: &TestApp, agent: &Agent, conv: Uuid) -> Value {
    let (s, v) = get(
        app,
        &format!("/api/v1/conversations/{conv}"),
        &agent.session,
    )
    .await;
    assert_eq!(s, 200, "conversation detail: {v}");
    v
}

/// The conversation summary of the detail.
pub(crate) async fn conversation(app: &TestApp, agent: &Agent, conv: Uuid) -> Value {
    detail(app, agent, conv).await["conversation"].clone()
}

/// Polls the conversation summary until `pred` holds; panics with the last summary after `within`.
pub(crate) async fn wait_for_conv(
    app: &TestApp,
    agent: &Agent,
    conv: Uuid,
    within: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let s = conversation(app, agent, conv).await;
        if pred(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "within {within:?}: expected {what}, conversation is {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The next `conversation_updated` frame about `conv` for which `pred` holds (others skipped).
pub(crate) async fn next_update(
    ws: &mut Ws,
    conv: Uuid,
    within: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let v = tokio::time::timeout_at(deadline, ws.frame())
            .await
            .unwrap_or_else(|_| {
                panic!("no matching conversation_updated for {conv} in {within:?}")
            });
        if v["type"] == "conversation_updated"
            && v["conversation_id"] == conv.to_string()
            && pred(&v)
        {
            return v;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The widget
// ---------------------------------------------------------------------------------------------

/// `POST /widget/session` (optionally from a website `Origin`), the raw response.
pub(crate) async fn session_response(
    app: &TestApp,
    body: Value,
    origin: Option<&str>,
) -> reqwest::Response {
    let req = app.http.post(app.url("/api/v1/widget/session")).json(&body);
    from_origin(req, origin).send().await.expect("session")
}

/// `POST /widget/session` (optionally from a website `Origin`).
pub(crate) async fn session(
    app: &TestApp,
    body: Value,
    origin: Option<&str>,
) -> (StatusCode, Value) {
    let r = session_response(app, body, origin).await;
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// `GET /widget/config` of the seeded inbox (optionally from a website `Origin`).
pub(crate) async fn widget_config(app: &TestApp, origin: Option<&str>) -> (StatusCode, Value) {
    let req = app
        .http
        .get(app.url(&format!("/api/v1/widget/config?inbox={}", app.inbox_token)));
    let r = from_origin(req, origin).send().await.expect("config");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

/// The widget's status line for a customer.
pub(crate) async fn widget_status(app: &TestApp, c: &Customer) -> Value {
    let (s, v) = get(app, "/api/v1/widget/status", &c.token).await;
    assert_eq!(s, 200, "widget status: {v}");
    v
}

// ---------------------------------------------------------------------------------------------
// Cookies, forms and the dashboard's CSRF token
// ---------------------------------------------------------------------------------------------

/// The value of header `name`, if present and text.
pub(crate) fn header_str(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `Set-Cookie` header setting cookie `name`, if any.
pub(crate) fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// `name=value` of a `Set-Cookie` line, as a browser sends it back.
pub(crate) fn cookie_pair(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    header_str(r, header::LOCATION.as_str()).unwrap_or_default()
}

/// The text after `marker` up to the next `"` (an HTML attribute value).
pub(crate) fn attr_after(html: &str, marker: &str) -> Option<String> {
    let start = html.find(marker)? + marker.len();
    let len = html[start..].find('"')?;
    Some(html[start..start + len].to_string())
}

pub(crate) fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The fields of a filled-in login form.
pub(crate) fn login_fields<'a>(
    email: &'a str,
    password: &'a str,
    csrf: &'a str,
    next: &'a str,
) -> [(&'static str, &'a str); 4] {
    [
        ("email", email),
        ("password", password),
        ("csrf", csrf),
        ("next", next),
    ]
}

/// `GET path` with a `Cookie` header, through `client`.
pub(crate) async fn cookie_get(
    client: &reqwest::Client,
    app: &TestApp,
    path: &str,
    cookie: &str,
) -> reqwest::Response {
    client
        .get(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// A `POST path` with a `Cookie` header and, when given, an `X-CSRF-Token` header.
pub(crate) fn cookie_post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
) -> RequestBuilder {
    let req = app.http.post(app.url(path)).header(header::COOKIE, cookie);
    match csrf {
        Some(t) => req.header("X-CSRF-Token", t),
        None => req,
    }
}

/// `POST /auth/socket-token` with a session cookie (and the CSRF token, when given).
pub(crate) async fn cookie_socket_token(
    app: &TestApp,
    cookie: &str,
    csrf: Option<&str>,
) -> reqwest::Response {
    cookie_post(app, "/api/v1/auth/socket-token", cookie, csrf)
        .send()
        .await
        .expect("socket token")
}

/// The agent socket opened with a socket token, after its `hello`.
pub(crate) async fn agent_ws_with_token(app: &TestApp, token: &str) -> Ws {
    let mut ws = Ws::connect(&format!("{}/ws/agent?token={token}", app.ws_base), None)
        .await
        .expect("agent ws");
    ws.expect_type("hello").await;
    ws
}

/// `GET /login`: the `sb_login_csrf=…` cookie pair and the form's hidden csrf value.
pub(crate) async fn login_form(app: &TestApp, client: &reqwest::Client) -> (String, String) {
    let r = client
        .get(app.url("/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(r.status(), 200);
    let sc = set_cookie(&r, "sb_login_csrf").expect("login page sets sb_login_csrf");
    let body = r.text().await.expect("body");
    let csrf = attr_after(&body, "name=\"csrf\" value=\"").expect("hidden csrf input");
    (cookie_pair(&sc), csrf)
}

/// `POST /login` as a browser form, with an optional `Cookie` header.
pub(crate) async fn submit_login(
    app: &TestApp,
    client: &reqwest::Client,
    cookie: Option<&str>,
    fields: &[(&str, &str)],
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = client
        .post(app.url("/login"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(fields));
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    if let Some(ip) = forwarded_for {
        req = req.header("X-Forwarded-For", ip);
    }
    req.send().await.expect("login submit")
}

/// A fresh login form (`GET /login`) submitted with `email`, the right password and `next`.
pub(crate) async fn login_via_form(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    next: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let (cookie, csrf) = login_form(app, client).await;
    let fields = login_fields(email, PASSWORD, &csrf, next);
    submit_login(app, client, Some(&cookie), &fields, forwarded_for).await
}

/// A dashboard session as a browser holds it: the `sb_session=…` cookie and the page's
/// `data-csrf` token.
pub(crate) struct CookieSession {
    pub cookie: String,
    pub csrf: String,
}

pub(crate) async fn cookie_login(app: &TestApp, email: &str) -> CookieSession {
    let client = no_redirect();
    let r = login_via_form(app, &client, email, "/app", None).await;
    assert_eq!(r.status(), 303, "form login of {email}");
    let cookie = cookie_pair(&set_cookie(&r, "sb_session").expect("session cookie"));
    let r = cookie_get(&client, app, "/app", &cookie).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("html");
    let csrf = attr_after(&html, "data-csrf=\"").expect("data-csrf on the page");
    assert!(!csrf.is_empty(), "data-csrf is empty");
    CookieSession { cookie, csrf }
}

/// Returns once the router has run a whole pass (its tick) that started after the call: what
/// it would do with the current state, it has done.
pub(crate) async fn routing_pass(app: &TestApp) {
    tokio::time::timeout(
        Duration::from_secs(30),
        app.ctx.passes.routing.next_complete(),
    )
    .await
    .expect("the router completes a pass within 30 s");
}

/// Returns once the bot has run a whole catch-up pass that started after the call.
pub(crate) async fn bot_catch_up_pass(app: &TestApp) {
    tokio::time::timeout(
        Duration::from_secs(30),
        app.ctx.passes.bot_catch_up.next_complete(),
    )
    .await
    .expect("the bot completes a catch-up pass within 30 s");
}

/// Customer messages the bot has finished considering so far; pass it to [`bot_considered`].
pub(crate) fn bot_seen(app: &TestApp) -> u64 {
    app.ctx.passes.bot_messages.count()
}

/// Returns once the bot has finished considering a customer message after `seen`
/// ([`bot_seen`], read before the message was sent): whatever it does with it, it has done.
pub(crate) async fn bot_considered(app: &TestApp, seen: u64) {
    tokio::time::timeout(
        Duration::from_secs(30),
        app.ctx.passes.bot_messages.past(seen),
    )
    .await
    .expect("the bot considers the message within 30 s");
}
