//! Dashboard stories (agents): cookie login and CSRF, brute-force limits, logout, agent admin,
//! the conversation list, assignment and status changes, routing, canned responses and inbox
//! settings. Steps shared with `widget_api.rs` are in `api_helpers.rs`.
use std::time::Duration;

use chrono::{Datelike, Utc};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api_helpers::*;
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `GET /conversations?…` as an agent.
async fn list(app: &TestApp, agent: &Agent, query: &str) -> Value {
    let (s, v) = get(
        app,
        &format!("/api/v1/conversations?{query}"),
        &agent.session,
    )
    .await;
    assert_eq!(s, 200, "list {query}: {v}");
    v
}

fn ids(page: &Value) -> Vec<String> {
    page["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| c["id"].as_str().expect("id").to_string())
        .collect()
}

fn find(page: &Value, conv: Uuid) -> &Value {
    page["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .find(|c| c["id"] == conv.to_string())
        .unwrap_or_else(|| panic!("{conv} is not listed in {page}"))
}

/// Every conversation id of a view, paged `limit` at a time by `next_cursor`.
async fn page_through(app: &TestApp, agent: &Agent, query: &str, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut before: Option<String> = None;
    for _ in 0..100 {
        let q = match &before {
            Some(c) => format!("{query}&limit={limit}&before={}", urlencode(c)),
            None => format!("{query}&limit={limit}"),
        };
        let page = list(app, agent, &q).await;
        let got = ids(&page);
        assert!(got.len() <= limit as usize);
        out.extend(got);
        match page["next_cursor"].as_str() {
            Some(c) => before = Some(c.to_string()),
            None => return out,
        }
    }
    panic!("paging did not end");
}

/// `POST /conversations/{id}/{action}` as an agent.
async fn conv_action(
    app: &TestApp,
    agent: &Agent,
    conv: Uuid,
    action: &str,
    body: Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/conversations/{conv}/{action}");
    post(app, &path, &agent.session, body).await
}

async fn assign(app: &TestApp, agent: &Agent, conv: Uuid, to: Uuid) -> (StatusCode, Value) {
    conv_action(app, agent, conv, "assign", json!({"agent_id": to})).await
}

async fn set_status(app: &TestApp, agent: &Agent, conv: Uuid, body: Value) -> (StatusCode, Value) {
    conv_action(app, agent, conv, "status", body).await
}

/// `PATCH /agents/{id}` as `admin`.
async fn patch_agent(
    app: &TestApp,
    admin: &Agent,
    id: impl std::fmt::Display,
    body: Value,
) -> (StatusCode, Value) {
    patch(app, &format!("/api/v1/agents/{id}"), &admin.session, body).await
}

/// The row of agent `id` in `GET /agents`.
async fn agent_row(app: &TestApp, admin: &Agent, id: &str) -> Value {
    let (_, v) = get(app, "/api/v1/agents", &admin.session).await;
    v["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("agent {id} is not listed in {v}"))
}

/// `POST /canned` as `agent`.
async fn create_canned(
    app: &TestApp,
    agent: &Agent,
    shortcut: &str,
    body: &str,
) -> (StatusCode, Value) {
    let canned = json!({"shortcut": shortcut, "body": body});
    post(app, "/api/v1/canned", &agent.session, canned).await
}

/// `PATCH /canned/{id}` as `agent`.
async fn edit_canned(app: &TestApp, agent: &Agent, id: &str, body: Value) -> (StatusCode, Value) {
    patch(app, &format!("/api/v1/canned/{id}"), &agent.session, body).await
}

async fn delete_canned(app: &TestApp, agent: &Agent, id: &str) -> StatusCode {
    delete(app, &format!("/api/v1/canned/{id}"), &agent.session).await
}

fn has_attr(set_cookie: &str, attr: &str) -> bool {
    set_cookie
        .split(';')
        .skip(1)
        .any(|a| a.trim().eq_ignore_ascii_case(attr))
}

/// Whether a `Location` value, read the way browsers parse URLs (ASCII tabs and newlines
/// removed, backslashes treated as slashes), is a path on this site.
fn stays_on_site(location: &str) -> bool {
    let seen: String = location
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    seen.starts_with('/') && !seen.starts_with("//")
}

async fn close_code(ws: &mut Ws, within: Duration) -> Option<u16> {
    let (f, _) = tokio::time::timeout(within, ws.until_closed())
        .await
        .unwrap_or_else(|_| panic!("socket still open after {within:?}"));
    f.map(|f| u16::from(f.code))
}

/// Both the agent's socket and the customer's hear that `conv` is now `status`; the agent's
/// frame.
async fn both_hear_status(aws: &mut Ws, cws: &mut Ws, conv: Uuid, status: &str) -> Value {
    let f = next_update(aws, conv, SOON, |f| f["status"] == status).await;
    next_update(cws, conv, SOON, |f| f["status"] == status).await;
    f
}

const SOON: Duration = Duration::from_secs(3);
/// Routing ticks every 2 s; a conversation is placed within a few ticks.
const ROUTED: Duration = Duration::from_secs(8);

// ---------------------------------------------------------------------------------------------
// 1. Cookie login
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cookie_login_opens_the_dashboard_and_never_redirects_off_site() {
    let app = spawn_app().await;
    let client = no_redirect();

    // Not signed in: the dashboard sends to the login page.
    let r = client.get(app.url("/app")).send().await.expect("app");
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=/app");

    // The login page sets the double-submit cookie, equal to the hidden form field.
    let r = client.get(app.url("/login")).send().await.expect("login");
    assert_eq!(r.status(), 200);
    let sc = set_cookie(&r, "sb_login_csrf").expect("sb_login_csrf cookie");
    assert!(has_attr(&sc, "HttpOnly"), "{sc}");
    let csrf_cookie = cookie_pair(&sc);
    let html = r.text().await.expect("html");
    let csrf = attr_after(&html, "name=\"csrf\" value=\"").expect("hidden csrf");
    assert_eq!(csrf_cookie, format!("sb_login_csrf={csrf}"));

    // Wrong password: the form again, with a message, and no session.
    let fields = login_fields(ADMIN, "not-the-password", &csrf, "/app");
    let r = submit_login(&app, &client, Some(&csrf_cookie), &fields, None).await;
    assert_eq!(r.status(), 401);
    assert!(set_cookie(&r, "sb_session").is_none());
    let html = r.text().await.expect("html");
    assert!(html.contains("Wrong email or password"), "{html}");

    // Missing, mismatched or cookie-less form csrf: refused even with the right password.
    for (cookie, field) in [
        (Some(csrf_cookie.as_str()), None),
        (Some(csrf_cookie.as_str()), Some("0123456789abcdef")),
        (None, Some(csrf.as_str())),
        (Some("sb_login_csrf="), Some("")),
    ] {
        let mut fields = vec![("email", ADMIN), ("password", PASSWORD), ("next", "/app")];
        if let Some(f) = field {
            fields.push(("csrf", f));
        }
        let r = submit_login(&app, &client, cookie, &fields, None).await;
        assert_eq!(r.status(), 403, "cookie {cookie:?}, csrf field {field:?}");
        assert!(
            set_cookie(&r, "sb_session").is_none(),
            "a forged login form got a session"
        );
    }

    // Right password: 303 to /app with an HttpOnly, SameSite=Lax session cookie.
    let fields = login_fields(ADMIN, PASSWORD, &csrf, "/app");
    let r = submit_login(&app, &client, Some(&csrf_cookie), &fields, None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app");
    let sc = set_cookie(&r, "sb_session").expect("sb_session cookie");
    assert!(
        has_attr(&sc, "HttpOnly"),
        "session cookie not HttpOnly: {sc}"
    );
    assert!(
        has_attr(&sc, "SameSite=Lax"),
        "session cookie not SameSite=Lax: {sc}"
    );
    assert!(
        !has_attr(&sc, "Secure"),
        "Secure cookie over plain http would never be sent back: {sc}"
    );
    let session = cookie_pair(&sc);

    // With the cookie the dashboard shell renders, carrying the CSRF token and the agent.
    let r = cookie_get(&client, &app, "/app", &session).await;
    assert_eq!(r.status(), 200);
    let ct = header_str(&r, "content-type").expect("ct");
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = r.text().await.expect("html");
    let page_csrf = attr_after(&html, "data-csrf=\"").expect("data-csrf");
    assert!(
        page_csrf.len() >= 16,
        "data-csrf looks empty: {page_csrf:?}"
    );
    let agent = attr_after(&html, "data-agent=\"").expect("data-agent");
    assert!(
        agent.contains(ADMIN),
        "data-agent does not name the agent: {agent}"
    );
    assert!(!agent.contains('<'), "data-agent is not escaped: {agent}");

    // Signed in, /login goes straight on — but never to another site.
    let next = "/login?next=https%3A%2F%2Fevil.example";
    let r = cookie_get(&client, &app, next, &session).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/app");

    // `next` pointing off-site is replaced by /app after a successful login.
    for next in [
        "https://evil.example",
        "//evil.example/app",
        "/\\evil.example",
    ] {
        let r = login_via_form(&app, &client, ADMIN, next, None).await;
        assert_eq!(r.status(), 303, "next={next:?}");
        let to = location(&r);
        assert!(
            stays_on_site(&to),
            "next={next:?} redirects to {to:?}, which a browser resolves off-site"
        );
        assert_eq!(to, "/app", "next={next:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn login_next_with_a_tab_or_newline_does_not_redirect_off_site() {
    // Browsers drop ASCII tabs and newlines from URLs: "/\t/evil.example" is "//evil.example",
    // a protocol-relative link to another site.
    let app = spawn_app().await;
    let client = no_redirect();
    let mut problems = Vec::new();
    for next in ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example"] {
        let r = login_via_form(&app, &client, ADMIN, next, None).await;
        let to = location(&r);
        if r.status() != 303 {
            problems.push(format!(
                "next={next:?}: status {} instead of a redirect to /app",
                r.status()
            ));
        } else if !stays_on_site(&to) {
            problems.push(format!(
                "next={next:?}: Location {to:?}, which a browser resolves off-site"
            ));
        }
    }
    // Already signed in, `/login?next=…` redirects straight away: same rule.
    let session = cookie_login(&app, ADMIN).await;
    let r = cookie_get(
        &client,
        &app,
        "/login?next=%2F%09%2Fevil.example",
        &session.cookie,
    )
    .await;
    let to = location(&r);
    if r.status() != 303 || !stays_on_site(&to) {
        problems.push(format!(
            "signed in, GET /login?next=/%09/evil.example: {} to {to:?}",
            r.status()
        ));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. CSRF
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_pages_csrf_token() {
    let app = spawn_app().await;
    let s = cookie_login(&app, ADMIN).await;
    let http = &app.http;

    // Reads with the cookie alone work.
    let r = cookie_get(http, &app, "/api/v1/me", &s.cookie).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["email"], ADMIN);
    let r = cookie_get(
        http,
        &app,
        "/api/v1/conversations?view=all&status=open",
        &s.cookie,
    )
    .await;
    assert_eq!(r.status(), 200);

    // A state change with the cookie but without (or with a wrong) X-CSRF-Token is refused.
    let r = cookie_socket_token(&app, &s.cookie, None).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "forbidden");
    assert!(
        v["message"].as_str().unwrap_or_default().contains("CSRF"),
        "{v}"
    );
    let r = cookie_socket_token(&app, &s.cookie, Some("deadbeef")).await;
    assert_eq!(r.status(), 403);

    // The page's token works, and the socket token it yields opens the agent socket.
    let r = cookie_socket_token(&app, &s.cookie, Some(&s.csrf)).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    let token = v["token"].as_str().expect("token");
    assert!(v["expires_in"].as_i64().unwrap_or_default() > 0, "{v}");
    let ws = agent_ws_with_token(&app, token).await;

    // The token is bound to its session: another session's token does not fit.
    let other = cookie_login(&app, ADMIN).await;
    assert_ne!(other.csrf, s.csrf, "two sessions share a CSRF token");
    let r = cookie_socket_token(&app, &other.cookie, Some(&s.csrf)).await;
    assert_eq!(r.status(), 403);

    // Same rule on admin writes: nothing is created without the token.
    let create = |csrf: Option<&str>| {
        cookie_post(&app, "/api/v1/canned", &s.cookie, csrf)
            .json(&json!({"shortcut": "hello", "body": "Hello!"}))
            .send()
    };
    assert_eq!(create(None).await.expect("canned").status(), 403);
    let r = cookie_get(http, &app, "/api/v1/canned", &s.cookie).await;
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["canned"], json!([]), "a forged request created something");
    assert_eq!(create(Some(&s.csrf)).await.expect("canned").status(), 201);

    // Bearer tokens are never sent by browsers on their own: no CSRF token needed.
    let agent = app.login(ADMIN).await;
    let (st, v) = post(&app, "/api/v1/auth/socket-token", &agent.session, json!({})).await;
    assert_eq!(st, 200, "{v}");
    ws.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Brute force
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_distributed_guesser_cannot_lock_the_owner_out_of_a_browser_they_signed_in_from() {
    // Behind a proxy, every attempt comes from a different address.
    let app = spawn_app_with(|s| s.trust_proxy_headers = true).await;
    // The owner signed in from this browser before: it holds the device cookie.
    let r = json_login(&app, ADMIN, PASSWORD, Some("198.51.100.7")).await;
    assert_eq!(r.status(), 200);
    let device = cookie_pair(&set_cookie(&r, "sb_device").expect("device cookie"));
    // 19 wrong passwords from 19 addresses (with the owner's login, the per-email budget of 20).
    for i in 0..19 {
        // Case and spaces do not make it another account.
        let email = match i % 3 {
            0 => ADMIN.to_string(),
            1 => ADMIN.to_uppercase(),
            _ => format!("  {ADMIN} "),
        };
        let ip = format!("203.0.113.{i}");
        let r = json_login(&app, &email, "wrong-password", Some(&ip)).await;
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    // A browser that never signed in to this account is now held back, right password or not.
    let r = json_login(&app, ADMIN, PASSWORD, Some("203.0.113.50")).await;
    assert_eq!(r.status(), 429, "the per-email budget is spent");
    let retry: u64 = header_str(&r, "retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "rate_limited");
    let client = no_redirect();
    let r = login_via_form(&app, &client, ADMIN, "/app", Some("203.0.113.52")).await;
    assert_eq!(r.status(), 429, "form login is limited too");
    assert!(set_cookie(&r, "sb_session").is_none());
    let html = r.text().await.expect("html");
    assert!(html.contains("Too many attempts"), "{html}");
    // A forged device cookie does not help.
    let forged = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "203.0.113.60")
        .header(header::COOKIE, "sb_device=dv.0000.99999999999.abcd")
        .json(&json!({"email": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(forged.status(), 429);

    // The owner's own browser still gets in.
    let r = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("X-Forwarded-For", "198.51.100.7")
        .header(header::COOKIE, device)
        .json(&json!({"email": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 200, "the owner is not locked out");
    // The limit is per email: a colleague can still sign in.
    let r = json_login(&app, AGENT2, PASSWORD, Some("203.0.113.53")).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_forwarded_for_entry_does_not_make_a_new_client() {
    // nginx's $proxy_add_x_forwarded_for appends the real peer after whatever the client sent.
    let app = spawn_app_with(|s| s.trust_proxy_headers = true).await;
    let attempts = (0..10).map(|i| {
        let forged = format!("10.66.0.{i}, 203.0.113.5");
        let app = &app;
        async move { json_login(app, &format!("guess{i}@acme.example"), "x", Some(&forged)).await }
    });
    for r in futures_util::future::join_all(attempts).await {
        assert_eq!(r.status(), 401);
    }
    let r = json_login(
        &app,
        "guess@acme.example",
        "x",
        Some("10.66.0.99, 203.0.113.5"),
    )
    .await;
    assert_eq!(
        r.status(),
        429,
        "the same client behind a forged first entry"
    );
    // Another real client is not affected.
    let r = json_login(&app, ADMIN, PASSWORD, Some("203.0.113.6")).await;
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn rapid_attempts_from_one_address_are_limited_across_emails() {
    let app = spawn_app().await;
    // At once, so the limiter cannot refill a slot while password hashing takes its time.
    let emails: Vec<String> = (0..10).map(|i| format!("guess{i}@acme.example")).collect();
    let attempts = emails.iter().map(|e| json_login(&app, e, "x", None));
    for r in futures_util::future::join_all(attempts).await {
        assert_eq!(r.status(), 401);
    }
    let r = json_login(&app, ADMIN, PASSWORD, None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Logout
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn form_logout_clears_the_cookie_and_closes_that_sessions_socket() {
    let app = spawn_app().await;
    let client = no_redirect();
    let s = cookie_login(&app, ADMIN).await;
    let r = cookie_socket_token(&app, &s.cookie, Some(&s.csrf)).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.expect("json")["token"]
        .as_str()
        .expect("token")
        .to_string();
    let mut ws = agent_ws_with_token(&app, &token).await;
    // Another device of the same agent stays signed in.
    let phone = app.login(ADMIN).await;
    let mut phone_ws = app.agent_ws(&phone).await;

    let logout = |fields: &[(&str, &str)]| {
        client
            .post(app.url("/logout"))
            .header(header::COOKIE, &s.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(fields))
            .send()
    };
    // A forged logout (no csrf) is refused and changes nothing.
    let r = logout(&[]).await.expect("logout");
    assert_eq!(r.status(), 403);
    let r = cookie_get(&app.http, &app, "/api/v1/me", &s.cookie).await;
    assert_eq!(r.status(), 200, "a forged logout ended the session");

    let r = logout(&[("csrf", &s.csrf)]).await.expect("logout");
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login");
    let sc = set_cookie(&r, "sb_session").expect("logout clears sb_session");
    assert!(
        cookie_pair(&sc) == "sb_session=" || sc.to_ascii_lowercase().contains("max-age=0"),
        "session cookie not cleared: {sc}"
    );

    // The old cookie is dead, and the session's socket was closed with 4003.
    let r = cookie_get(&app.http, &app, "/api/v1/me", &s.cookie).await;
    assert_eq!(r.status(), 401);
    assert_eq!(close_code(&mut ws, SOON).await, Some(4003));
    let r = cookie_get(&client, &app, "/app", &s.cookie).await;
    assert_eq!(r.status(), 303);

    // The phone still works and still hears messages.
    let c = app.customer().await;
    say(&app, &c, "anyone there?").await;
    assert_eq!(phone_ws.messages(1).await[0]["body"], "anyone there?");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Agent administration
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn admins_invite_and_deactivate_agents_and_agents_cannot_administer() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let admin_id = me(&app, &admin).await;
    let bo = app.login(AGENT2).await;
    let bo_id = me(&app, &bo).await;

    // Invite with a generated password, which works for login right away.
    let (s, v) = post(
        &app,
        "/api/v1/agents",
        &admin.session,
        json!({"email": "cy@acme.example", "name": "Cy New", "role": "agent"}),
    )
    .await;
    assert!(s == 200 || s == 201, "invite: {s} {v}");
    let password = v["password"].as_str().expect("generated password");
    assert!(password.len() >= 8, "generated password too short");
    let cy_id = v["agent"]["id"].as_str().expect("id").to_string();
    assert_eq!(v["agent"]["role"], "agent");
    let r = json_login(&app, "cy@acme.example", password, None).await;
    assert_eq!(r.status(), 200, "the generated password must work");
    // The same email twice is a conflict.
    let (s, _) = post(
        &app,
        "/api/v1/agents",
        &admin.session,
        json!({"email": "cy@acme.example", "name": "Cy Again", "role": "agent"}),
    )
    .await;
    assert_eq!(s, 409);

    let (s, v) = get(&app, "/api/v1/agents", &admin.session).await;
    assert_eq!(s, 200);
    let agents = v["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().any(|a| a["id"] == cy_id.as_str()));

    // An agent (non-admin) can list but not administer.
    let (s, _) = get(&app, "/api/v1/agents", &bo.session).await;
    assert_eq!(s, 200);
    let inbox_id = seeded_inbox_id(&app, &admin).await;
    let forbidden = [
        (
            Method::POST,
            "/api/v1/agents".to_string(),
            json!({"email": "evil@acme.example", "name": "Evil", "role": "admin"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/agents/{admin_id}"),
            json!({"active": false}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/agents/{bo_id}"),
            json!({"role": "admin"}),
        ),
        (
            Method::POST,
            "/api/v1/inboxes".into(),
            json!({"name": "Mine"}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/inboxes/{inbox_id}"),
            json!({"color": "#000000"}),
        ),
        (
            Method::POST,
            format!("/api/v1/inboxes/{inbox_id}/rotate-identity-secret"),
            json!({}),
        ),
    ];
    for (m, path, body) in forbidden {
        let (s, v) = call(&app, m.clone(), &path, &bo.session, Some(body)).await;
        assert_eq!(s, 403, "{m} {path} as a plain agent: {v}");
    }
    let (_, v) = get(&app, "/api/v1/me", &bo.session).await;
    assert_eq!(v["role"], "agent", "the agent promoted itself");

    // An admin cannot lock themself out.
    let (s, v) = patch_agent(&app, &admin, admin_id, json!({"active": false})).await;
    assert_eq!(s, 400, "self-deactivation: {v}");
    let (s, _) = get(&app, "/api/v1/me", &admin.session).await;
    assert_eq!(s, 200);

    // Deactivating Bo closes Bo's socket at once and kills Bo's token.
    let mut bo_ws = app.agent_ws(&bo).await;
    let (s, v) = patch_agent(&app, &admin, bo_id, json!({"active": false})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["agent"]["active"], false);
    assert_eq!(close_code(&mut bo_ws, SOON).await, Some(4003));
    let (s, _) = get(&app, "/api/v1/me", &bo.session).await;
    assert_eq!(s, 401);
    let r = json_login(&app, AGENT2, PASSWORD, None).await;
    assert_eq!(r.status(), 401, "a deactivated agent cannot sign in");
    let row = agent_row(&app, &admin, &bo_id.to_string()).await;
    assert_eq!(row["active"], false);
    assert_eq!(row["status"], "offline");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Conversation list
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn conversation_list_shows_previews_unread_waiting_and_pages_exactly_once() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let admin_id = me(&app, &admin).await;
    let bo = app.login(AGENT2).await;

    // Someone opened the widget and never wrote: not a conversation yet.
    let silent = app.customer().await;
    let mut convs = Vec::new();
    let sizes = [2usize, 1, 3, 1, 2];
    for (i, n) in sizes.iter().enumerate() {
        let c = app.customer().await;
        for k in 0..*n {
            say(&app, &c, &format!("c{i} says {k}")).await;
        }
        convs.push(c);
    }

    let page = list(&app, &admin, "view=unassigned&status=open").await;
    let expected: Vec<String> = convs
        .iter()
        .rev()
        .map(|c| c.conversation_id.to_string())
        .collect();
    assert_eq!(ids(&page), expected, "most recent activity first");
    assert!(!ids(&page).contains(&silent.conversation_id.to_string()));
    assert_eq!(
        page["counts"],
        json!({"mine": 0, "unassigned": 5, "all": 5})
    );
    assert_eq!(page["next_cursor"], Value::Null);
    for (i, (c, n)) in convs.iter().zip(sizes).enumerate() {
        let s = find(&page, c.conversation_id);
        assert_eq!(s["status"], "open");
        assert_eq!(s["assignee_id"], Value::Null);
        assert_eq!(s["inbox_name"], "Website");
        assert_eq!(s["last_seq"], n as i64);
        assert_eq!(s["unread"], n as i64, "unread of c{i}");
        assert_eq!(s["last_message"]["body"], format!("c{i} says {}", n - 1));
        assert_eq!(s["last_message"]["sender_type"], "customer");
        assert_eq!(s["last_message"]["private"], false);
        assert!(s["waiting_since"].is_string(), "c{i} is waiting: {s}");
        assert!(s["last_message_at"].is_string());
        assert!(s["contact"]["id"].is_string());
    }

    // Reading lowers the unread count, for the reader only.
    let c0 = convs[0].conversation_id;
    let (s, _) = conv_action(&app, &admin, c0, "read", json!({"seq": 1})).await;
    assert_eq!(s, 200);
    let page = list(&app, &admin, "view=unassigned&status=open").await;
    assert_eq!(find(&page, c0)["unread"], 1);
    conv_action(&app, &admin, c0, "read", json!({"seq": 2})).await;
    let page = list(&app, &admin, "view=unassigned&status=open").await;
    assert_eq!(find(&page, c0)["unread"], 0);
    let page = list(&app, &bo, "view=unassigned&status=open").await;
    assert_eq!(find(&page, c0)["unread"], 2, "Bo has not read it");

    // A private note does not answer the customer; a reply does.
    let c1 = convs[1].conversation_id;
    let waiting = find(&page, c1)["waiting_since"].clone();
    reply(&app, &admin, c1, "checking their plan", true).await;
    let s = conversation(&app, &admin, c1).await;
    assert_eq!(
        s["waiting_since"], waiting,
        "a private note answered the customer"
    );
    assert_eq!(s["last_message"]["private"], true);
    reply(&app, &admin, c1, "On it!", false).await;
    let page = list(&app, &admin, "view=unassigned&status=open").await;
    let s = find(&page, c1);
    assert_eq!(s["waiting_since"], Value::Null, "answered: {s}");
    assert_eq!(s["last_message"]["body"], "On it!");
    assert_eq!(s["last_message"]["sender_type"], "agent");
    assert_eq!(ids(&page)[0], c1.to_string(), "latest activity on top");
    // The customer writes again: waiting again.
    say(&app, &convs[1], "thanks, still broken").await;
    let s = conversation(&app, &admin, c1).await;
    assert!(s["waiting_since"].is_string(), "waiting again: {s}");

    // Paging two at a time covers everything exactly once, in order.
    let full = ids(&list(&app, &admin, "view=all&status=open").await);
    assert_eq!(full.len(), 5);
    let paged = page_through(&app, &admin, "view=all&status=open", 2).await;
    assert_eq!(paged, full, "pages must cover the list exactly once");

    // Assigned to me: in "mine", out of "unassigned".
    let c2 = convs[2].conversation_id;
    let (s, v) = assign(&app, &admin, c2, admin_id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation"]["assignee_id"], admin_id.to_string());
    let mine = list(&app, &admin, "view=mine&status=open").await;
    assert_eq!(ids(&mine), vec![c2.to_string()]);
    assert_eq!(
        mine["counts"],
        json!({"mine": 1, "unassigned": 4, "all": 5})
    );
    let unassigned = list(&app, &admin, "view=unassigned&status=open").await;
    assert!(!ids(&unassigned).contains(&c2.to_string()));
    let bos = list(&app, &bo, "view=mine&status=open").await;
    assert!(ids(&bos).is_empty(), "Bo's view is his own");
    let resolved = list(&app, &admin, "view=all&status=resolved").await;
    assert!(ids(&resolved).is_empty());
    assert_eq!(resolved["counts"]["all"], 0);
    let (s, _) = get(&app, "/api/v1/conversations?status=bogus", &admin.session).await;
    assert_eq!(s, 400);
    app.stop().await;
}

#[tokio::test]
async fn paging_covers_conversations_that_got_messages_at_the_same_moment() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    // A busy inbox: customers write at the same time, so one group commit stores several
    // messages with one timestamp. Repeat until the list really has such a tie.
    let mut tied = false;
    for round in 0..5 {
        let mut customers = Vec::new();
        for _ in 0..8 {
            customers.push(app.customer().await);
        }
        let sends = customers.iter().map(|c| say(&app, c, "at the same time"));
        futures_util::future::join_all(sends).await;
        let page = list(&app, &admin, "view=all&status=open&limit=200").await;
        let mut times: Vec<&str> = page["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .map(|c| c["last_message_at"].as_str().expect("last_message_at"))
            .collect();
        let n = times.len();
        times.dedup();
        if times.len() < n {
            tied = true;
            break;
        }
        eprintln!("round {round}: no two conversations share a timestamp yet");
    }
    assert!(
        tied,
        "could not produce conversations with the same last_message_at"
    );

    let whole = list(&app, &admin, "view=all&status=open&limit=200").await;
    let full = ids(&whole);
    let stamps: Vec<String> = whole["conversations"]
        .as_array()
        .expect("conversations")
        .iter()
        .map(|c| format!("{} @ {}", c["id"], c["last_message_at"]))
        .collect();
    for limit in [1, 2, 3] {
        let paged = page_through(&app, &admin, "view=all&status=open", limit).await;
        let missing: Vec<&String> = full.iter().filter(|id| !paged.contains(id)).collect();
        assert_eq!(
            paged.len(),
            full.len(),
            "limit={limit}: {} of {} conversations reached by paging; missing {missing:?}; \
             the list: {stamps:#?}",
            paged.len(),
            full.len()
        );
        assert_eq!(
            paged, full,
            "limit={limit}: pages must cover the list exactly once"
        );
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Assignment and status
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn assignment_and_status_changes_reach_agents_and_the_customer() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let bo = app.login(AGENT2).await;
    let bo_id = me(&app, &bo).await;
    // Manual work only: routing would otherwise hand the conversation to the online admin.
    let (s, v) = patch_inbox(&app, &admin, json!({"auto_assign": false})).await;
    assert_eq!(s, 200, "{v}");
    let mut aws = app.agent_ws(&admin).await;
    let c = writing_customer(&app, "my invoice is wrong").await;
    let conv = c.conversation_id;
    let (mut cws, _) = app.customer_resume(&c, 0).await;

    // Assign to Bo: agents and the customer hear of it.
    let (s, v) = assign(&app, &admin, conv, bo_id).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation"]["assignee_id"], bo_id.to_string());
    let is_bo = |f: &Value| f["assignee_id"] == bo_id.to_string();
    next_update(&mut aws, conv, SOON, is_bo).await;
    next_update(&mut cws, conv, SOON, is_bo).await;
    let st = widget_status(&app, &c).await;
    assert_eq!(st["assignee"]["id"], bo_id.to_string());
    assert_eq!(st["assignee"]["name"], "Bo Agent");
    assert_eq!(st["queue_position"], Value::Null);
    // Nobody else can be assigned: an unknown agent is 404.
    let (s, _) = assign(&app, &admin, conv, Uuid::new_v4()).await;
    assert_eq!(s, 404);

    // Resolve, then the customer writes again: reopened, and everyone is told.
    let (s, v) = set_status(&app, &admin, conv, json!({"status": "resolved"})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation"]["status"], "resolved");
    both_hear_status(&mut aws, &mut cws, conv, "resolved").await;
    let resolved = list(&app, &admin, "view=all&status=resolved").await;
    assert_eq!(ids(&resolved), vec![conv.to_string()]);
    say(&app, &c, "actually, one more thing").await;
    both_hear_status(&mut aws, &mut cws, conv, "open").await;
    assert_eq!(conversation(&app, &admin, conv).await["status"], "open");

    // Snoozing needs a future time.
    let past = (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    for body in [
        json!({"status": "snoozed", "snoozed_until": past}),
        json!({"status": "snoozed"}),
        json!({"status": "sleeping"}),
    ] {
        let (s, v) = set_status(&app, &admin, conv, body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["code"], "invalid");
    }
    assert_eq!(conversation(&app, &admin, conv).await["status"], "open");

    // Snoozed for an hour, but the customer writes: open again at once.
    let later = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let snooze = json!({"status": "snoozed", "snoozed_until": later});
    let (s, v) = set_status(&app, &admin, conv, snooze).await;
    assert_eq!(s, 200, "{v}");
    both_hear_status(&mut aws, &mut cws, conv, "snoozed").await;
    say(&app, &c, "hello? still there?").await;
    let f = both_hear_status(&mut aws, &mut cws, conv, "open").await;
    assert_eq!(f["snoozed_until"], Value::Null);
    let s = conversation(&app, &admin, conv).await;
    assert_eq!(s["status"], "open");
    assert_eq!(s["snoozed_until"], Value::Null);

    // Snoozed for two seconds: it wakes up by itself.
    let until = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let snooze = json!({"status": "snoozed", "snoozed_until": until});
    let (s, v) = set_status(&app, &admin, conv, snooze).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation"]["status"], "snoozed");
    assert!(v["conversation"]["snoozed_until"].is_string());
    both_hear_status(&mut aws, &mut cws, conv, "snoozed").await;
    let snoozed = list(&app, &admin, "view=all&status=snoozed").await;
    assert_eq!(ids(&snoozed), vec![conv.to_string()]);
    let woke = next_update(&mut aws, conv, ROUTED, |f| f["status"] == "open").await;
    assert_eq!(woke["snoozed_until"], Value::Null);
    let s = conversation(&app, &admin, conv).await;
    assert_eq!(s["status"], "open");
    assert_eq!(s["snoozed_until"], Value::Null);
    next_update(&mut cws, conv, SOON, |f| f["status"] == "open").await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. Routing
// ---------------------------------------------------------------------------------------------

async fn assignee_after_routing(app: &TestApp, agent: &Agent, conv: Uuid) -> String {
    let s = wait_for_conv(app, agent, conv, ROUTED, "an assignee", |s| {
        s["assignee_id"].is_string()
    })
    .await;
    s["assignee_id"].as_str().expect("assignee").to_string()
}

/// Asserts that `c`'s conversation has no assignee.
async fn assert_unassigned(app: &TestApp, agent: &Agent, c: &Customer, why: &str) {
    let s = conversation(app, agent, c.conversation_id).await;
    assert_eq!(s["assignee_id"], Value::Null, "{why}: {s}");
}

#[tokio::test]
async fn routing_hands_waiting_conversations_to_online_agents_in_turn() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let admin_id = me(&app, &admin).await.to_string();
    let bo = app.login(AGENT2).await;
    let bo_id = me(&app, &bo).await.to_string();

    // Nobody online: the customer waits in the queue.
    let first = writing_customer(&app, "hello?").await;
    routing_pass(&app).await;
    assert_unassigned(&app, &admin, &first, "assigned to an offline agent").await;
    let st = widget_status(&app, &first).await;
    assert_eq!(st["queue_position"], 1);
    assert_eq!(st["available"], false);
    assert_eq!(st["agents_online"], 0);

    // The admin comes online and picks up the queue.
    let mut aws = app.agent_ws(&admin).await;
    assert_eq!(
        assignee_after_routing(&app, &admin, first.conversation_id).await,
        admin_id
    );
    next_update(&mut aws, first.conversation_id, SOON, |f| {
        f["assignee_id"] == admin_id.as_str()
    })
    .await;
    let st = widget_status(&app, &first).await;
    assert_eq!(st["assignee"]["id"], admin_id.as_str());
    assert_eq!(st["queue_position"], Value::Null);

    // Two agents online: new conversations alternate between them.
    let _bws = app.agent_ws(&bo).await;
    let mut got = Vec::new();
    for i in 0..4 {
        let c = writing_customer(&app, &format!("question {i}")).await;
        got.push(assignee_after_routing(&app, &admin, c.conversation_id).await);
    }
    assert_eq!(
        got,
        vec![
            bo_id.clone(),
            admin_id.clone(),
            bo_id.clone(),
            admin_id.clone()
        ],
        "round robin (admin got the last one before)"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_away_agent_gets_no_new_conversations() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let admin_id = me(&app, &admin).await.to_string();
    let bo = app.login(AGENT2).await;
    let bo_id = me(&app, &bo).await.to_string();
    let mut aws = app.agent_ws(&admin).await;
    let mut bws = app.agent_ws(&bo).await;
    bws.send(json!({"type": "presence", "status": "away"}))
        .await;
    loop {
        let p = aws.expect_type("presence").await;
        if p["agent_id"] == bo_id.as_str() && p["status"] == "away" {
            break;
        }
    }
    assert_eq!(agent_row(&app, &admin, &bo_id).await["status"], "away");

    for i in 0..3 {
        let c = writing_customer(&app, &format!("question {i}")).await;
        assert_eq!(
            assignee_after_routing(&app, &admin, c.conversation_id).await,
            admin_id,
            "conversation {i} went to an away agent"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_full_agent_leaves_new_conversations_in_the_queue() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await; // never connects a socket: stays offline
    let bo = app.login(AGENT2).await;
    let bo_id = me(&app, &bo).await.to_string();
    let (s, v) = patch_agent(&app, &admin, &bo_id, json!({"max_open": 1})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["agent"]["max_open"], 1);
    let (s, _) = patch_agent(&app, &admin, &bo_id, json!({"max_open": -1})).await;
    assert_eq!(s, 400);
    let _bws = app.agent_ws(&bo).await;

    let c1 = writing_customer(&app, "first").await;
    assert_eq!(
        assignee_after_routing(&app, &admin, c1.conversation_id).await,
        bo_id
    );
    let c2 = writing_customer(&app, "second").await;
    let c3 = writing_customer(&app, "third").await;
    // Two routing passes later they are still waiting.
    routing_pass(&app).await;
    routing_pass(&app).await;
    for c in [&c2, &c3] {
        assert_unassigned(&app, &admin, c, "over capacity").await;
    }
    let st = widget_status(&app, &c2).await;
    assert_eq!(st["queue_position"], 1, "{st}");
    assert_eq!(st["assignee"], Value::Null);
    assert_eq!(widget_status(&app, &c3).await["queue_position"], 2);
    let st = widget_status(&app, &c1).await;
    assert_eq!(st["queue_position"], Value::Null);
    assert_eq!(st["assignee"]["name"], "Bo Agent");

    // Bo resolves the first one: room for the next in line.
    let (s, _) = set_status(&app, &bo, c1.conversation_id, json!({"status": "resolved"})).await;
    assert_eq!(s, 200);
    assert_eq!(
        assignee_after_routing(&app, &admin, c2.conversation_id).await,
        bo_id
    );
    routing_pass(&app).await;
    assert_unassigned(&app, &admin, &c3, "the next in line after c2").await;
    assert_eq!(widget_status(&app, &c3).await["queue_position"], 1);
    app.stop().await;
}

#[tokio::test]
async fn an_inbox_without_auto_assign_leaves_everything_unassigned() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let (s, v) = patch_inbox(&app, &admin, json!({"auto_assign": false})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["auto_assign"], false);
    let _aws = app.agent_ws(&admin).await;
    let c = writing_customer(&app, "hi").await;
    routing_pass(&app).await;
    routing_pass(&app).await;
    assert_unassigned(&app, &admin, &c, "auto_assign is off").await;
    let st = widget_status(&app, &c).await;
    assert_eq!(st["queue_position"], 1);
    assert_eq!(st["available"], true);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Canned responses
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn canned_responses_are_managed_by_admins_and_read_by_agents() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let bo = app.login(AGENT2).await;

    let (s, v) = create_canned(&app, &admin, "shipping", "We ship within 2 days.").await;
    assert_eq!(s, 201, "{v}");
    let ship_id = v["canned"]["id"].as_str().expect("id").to_string();
    assert_eq!(v["canned"]["shortcut"], "shipping");
    let (s, v) = create_canned(&app, &admin, "refund", "Refunds take 5 days.").await;
    assert_eq!(s, 201, "{v}");
    let refund_id = v["canned"]["id"].as_str().expect("id").to_string();

    // Duplicates conflict; bad shortcuts and empty bodies are invalid.
    let (s, v) = create_canned(&app, &admin, "shipping", "dup").await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], "conflict");
    // Typed the way the composer shows it, it is still the same shortcut.
    let (s, _) = create_canned(&app, &admin, "/Shipping", "dup").await;
    assert_eq!(s, 409);
    for bad in ["has space", "", "ÜBER", &"x".repeat(33), "semi;colon"] {
        let (s, v) = create_canned(&app, &admin, bad, "text").await;
        assert_eq!(s, 400, "shortcut {bad:?}: {v}");
    }
    let (s, _) = create_canned(&app, &admin, "empty", "   ").await;
    assert_eq!(s, 400);

    // Agents read them (sorted by shortcut) but cannot change them.
    let (s, v) = get(&app, "/api/v1/canned", &bo.session).await;
    assert_eq!(s, 200);
    let shortcuts: Vec<&str> = v["canned"]
        .as_array()
        .expect("canned")
        .iter()
        .map(|c| c["shortcut"].as_str().expect("shortcut"))
        .collect();
    assert_eq!(shortcuts, vec!["refund", "shipping"]);
    let (s, _) = create_canned(&app, &bo, "mine", "x").await;
    assert_eq!(s, 403);
    let (s, _) = edit_canned(&app, &bo, &ship_id, json!({"body": "changed"})).await;
    assert_eq!(s, 403);
    assert_eq!(delete_canned(&app, &bo, &ship_id).await, 403);

    // Edit: renaming onto another shortcut conflicts; a body edit sticks.
    let rename = json!({"shortcut": "shipping"});
    let (s, _) = edit_canned(&app, &admin, &refund_id, rename).await;
    assert_eq!(s, 409);
    let edit = json!({"body": "We ship within 24 hours."});
    let (s, v) = edit_canned(&app, &admin, &ship_id, edit).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["canned"]["body"], "We ship within 24 hours.");

    // Delete.
    assert_eq!(delete_canned(&app, &admin, &ship_id).await, 204);
    let (_, v) = get(&app, "/api/v1/canned", &admin.session).await;
    assert_eq!(v["canned"].as_array().expect("canned").len(), 1);
    assert_eq!(v["canned"][0]["shortcut"], "refund");
    assert_eq!(delete_canned(&app, &admin, &ship_id).await, 404);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 10. Inbox settings
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn inbox_settings_are_validated_and_reach_the_widget_config() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let _aws = app.agent_ws(&admin).await; // someone is online
    let before = seeded_inbox(&app, &admin).await;
    assert!(
        before["snippet"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("data-inbox=\"{}\"", app.inbox_token)),
        "{before}"
    );

    let (s, v) = patch_inbox(
        &app,
        &admin,
        json!({
            "color": "#FF8800",
            "greeting": "Hej! Ask us anything.",
            "offline_message": "Back soon.",
            "ask_email": true,
            "allowed_origins": ["https://shop.example/", "http://localhost:3000"],
        }),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["color"], "#ff8800");
    assert_eq!(
        v["inbox"]["allowed_origins"],
        json!(["https://shop.example", "http://localhost:3000"])
    );

    // Invalid settings are 400 with a message naming the problem, and change nothing.
    let bad = [
        (json!({"color": "orange"}), "color"),
        (json!({"allowed_origins": ["shop.example"]}), "origin"),
        (
            json!({"allowed_origins": ["https://shop.example/checkout"]}),
            "origin",
        ),
        (json!({"greeting": "x".repeat(501)}), "greeting"),
        (
            json!({"business_hours": {"utc_offset_minutes": 0, "days": {"funday": ["09:00", "17:00"]}}}),
            "day",
        ),
        (
            json!({"business_hours": {"utc_offset_minutes": 0, "days": {"mon": ["17:00", "09:00"]}}}),
            "before",
        ),
        (
            json!({"business_hours": {"utc_offset_minutes": 0, "days": {"mon": ["9am", "17:00"]}}}),
            "HH:MM",
        ),
        (
            json!({"business_hours": {"utc_offset_minutes": 5000, "days": {}}}),
            "utc_offset_minutes",
        ),
    ];
    for (body, word) in bad {
        let (s, v) = patch_inbox(&app, &admin, body.clone()).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_eq!(v["code"], "invalid");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(word),
            "{body}: message {msg:?} should mention {word:?}"
        );
    }
    let now = seeded_inbox(&app, &admin).await;
    assert_eq!(now["color"], "#ff8800");
    assert_eq!(now["business_hours"], Value::Null);

    // The widget sees the new look, from an allowed site.
    let (s, v) = widget_config(&app, Some("https://shop.example")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["color"], "#ff8800");
    assert_eq!(v["inbox"]["greeting"], "Hej! Ask us anything.");
    assert_eq!(v["inbox"]["offline_message"], "Back soon.");
    assert_eq!(v["inbox"]["ask_email"], true);
    assert_eq!(v["open_now"], true);
    assert_eq!(v["available"], true);
    assert_eq!(v["agents_online"], 1);
    assert_eq!(v["next_open_at"], Value::Null);
    assert_eq!(v["identity_required"], false);
    assert!(
        v["inbox"].get("identity_secret").is_none(),
        "secret leaked: {v}"
    );
    let (s, _) = widget_config(&app, Some("http://localhost:3000")).await;
    assert_eq!(s, 200);
    // Other sites may not embed it.
    let (s, v) = widget_config(&app, Some("https://evil.example")).await;
    assert_eq!(s, 403, "{v}");
    let evil = Some("https://evil.example");
    let (s, _) = session(&app, json!({"inbox_token": app.inbox_token}), evil).await;
    assert_eq!(s, 403);
    let (s, _) = get(&app, "/api/v1/widget/config?inbox=wt_nope", "x").await;
    assert_eq!(s, 404);

    // Closed today (only tomorrow is a working day): not available, and says when it opens.
    let today = Utc::now().date_naive();
    let tomorrow = today.succ_opt().expect("tomorrow");
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        [tomorrow.weekday().num_days_from_monday() as usize];
    let (s, v) = patch_inbox(
        &app,
        &admin,
        json!({"business_hours": {"utc_offset_minutes": 0, "days": {day: ["09:00", "17:00"]}}}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v["inbox"]["business_hours"]["days"][day],
        json!(["09:00", "17:00"])
    );
    let (s, v) = widget_config(&app, Some("https://shop.example")).await;
    assert_eq!(s, 200);
    assert_eq!(v["open_now"], false, "{v}");
    assert_eq!(v["available"], false, "{v}");
    assert_eq!(v["agents_online"], 1);
    let next: chrono::DateTime<Utc> = v["next_open_at"]
        .as_str()
        .expect("next_open_at")
        .parse()
        .expect("RFC 3339");
    let expected = tomorrow.and_hms_opt(9, 0, 0).expect("time").and_utc();
    assert_eq!(next, expected);
    // The open widget's status line says the same.
    let c = app.customer().await;
    let st = widget_status(&app, &c).await;
    assert_eq!(st["open_now"], false, "{st}");
    assert_eq!(st["available"], false, "{st}");
    assert_eq!(st["next_open_at"], v["next_open_at"]);

    // Clearing the schedule: always open again.
    let (s, v) = patch_inbox(&app, &admin, json!({"business_hours": null})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["business_hours"], Value::Null);
    let (_, v) = widget_config(&app, Some("https://shop.example")).await;
    assert_eq!(v["open_now"], true);
    assert_eq!(v["available"], true);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tags_are_cleaned_shown_in_the_list_and_searchable() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    say(&app, &c, "my invoice is wrong").await;
    let conv = c.conversation_id;
    let body = json!({"tags": [" VIP ", "billing", "vip"]});
    let (status, v) = conv_action(&app, &agent, conv, "tags", body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["conversation"]["tags"],
        json!(["vip", "billing"]),
        "trimmed, lower-cased, once each"
    );
    let (status, v) = conv_action(
        &app,
        &agent,
        conv,
        "tags",
        json!({"tags": ["no spaces allowed"]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    // Tags are a search filter; the indexer follows within a second or two.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = app
            .http
            .get(app.url("/api/v1/search?q=tag:vip"))
            .bearer_auth(&agent.session)
            .send()
            .await
            .expect("search");
        let found: Value = r.json().await.expect("json");
        if found["total"] == 1 {
            assert_eq!(found["results"][0]["conversation_id"], conv.to_string());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tag:vip never found the conversation: {found}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}
