//! The stories: a customer on a third-party page (Chromium #1) and an agent on the dashboard
//! (Chromium #2) against one in-process server per test.
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use super::{
    harness::{
        Browser, Msg, Surface,
        Surface::{Dashboard, Widget},
        WAIT, count, story_slot,
    },
    host::HostPage,
    proxy::Proxy,
};
use crate::api_helpers::{self, cookie_post, patch_inbox};
use crate::helpers::*;

pub const COMPOSER: &str = "textarea[data-testid=composer]";
const RED: &str = "rgb(255, 0, 0)";
const LIME: &str = "rgb(0, 255, 0)";

// ---------------------------------------------------------------------------------------------
// Steps shared by the stories.

pub async fn admin_bearer(app: &TestApp) -> String {
    app.login(ADMIN).await.session
}

/// Logs in through the form at /login.
pub async fn login(b: &Browser, app: &TestApp, email: &str) {
    b.goto(&app.url("/login")).await;
    let field = b.element(Dashboard, "input[name=email]", WAIT).await;
    let _ = field.clear().await;
    b.type_into(Dashboard, "input[name=email]", email).await;
    b.type_into(Dashboard, "input[name=password]", PASSWORD)
        .await;
    b.click(Dashboard, "button[type=submit]").await;
    wait_path(b, "the login form to lead to /app", "/app").await;
}

/// Waits until the page's path is `path`.
async fn wait_path(b: &Browser, what: &str, path: &str) {
    b.poll(what, WAIT, "return location.pathname;", vec![], |v| {
        v == path
    })
    .await;
}

/// Waits until the script `js` returns `true`.
async fn wait_true(b: &Browser, what: &str, js: &str) {
    b.poll(what, WAIT, js, vec![], |v| v == &json!(true)).await;
}

/// A dashboard logged in as `email`, listing all open conversations.
pub async fn dashboard(app: &TestApp, email: &str) -> Browser {
    let b = Browser::new("dashboard").await;
    login(&b, app, email).await;
    b.goto(&app.url("/app#/inbox?view=all&status=open")).await;
    wait_true(
        &b,
        "the dashboard shell (<body data-csrf>)",
        "return !!(document.body && document.body.dataset.csrf);",
    )
    .await;
    b
}

/// A customer on the host page, the widget's launcher visible.
pub async fn customer(host: &HostPage) -> Browser {
    let b = Browser::new("customer").await;
    b.goto(&host.url).await;
    b.wait_visible(Widget, "[data-testid=launcher]", WAIT).await;
    b
}

/// Clicks the launcher and waits for the panel and its composer.
pub async fn open_widget(b: &Browser) {
    b.click(Widget, "[data-testid=launcher]").await;
    b.wait_visible(Widget, "[data-testid=panel]", WAIT).await;
    b.wait_visible(Widget, COMPOSER, WAIT).await;
}

/// A customer on the host page who opened the widget.
async fn chatting_customer(host: &HostPage) -> Browser {
    let b = customer(host).await;
    open_widget(&b).await;
    b
}

/// Opens the panel unless it is already open (it may stay open across a reload).
async fn ensure_widget_open(b: &Browser) {
    let open = b
        .js("return visible(sb('[data-testid=panel]'));", vec![])
        .await;
    if open != json!(true) {
        open_widget(b).await;
    }
    b.wait_visible(Widget, COMPOSER, WAIT).await;
}

fn acked(m: &Msg) -> bool {
    matches!(m.status.as_deref(), Some("sent" | "seen")) && m.seq().is_some()
}

fn unsent(m: &Msg) -> bool {
    matches!(m.status.as_deref(), Some("sending" | "failed")) && m.seq().is_none()
}

/// Customer types `text` + Enter; waits until it shows as sent (acked, with a seq) and the
/// composer is empty again.
pub async fn widget_send(b: &Browser, text: &str) {
    b.type_and_enter(Widget, COMPOSER, text).await;
    b.wait_messages(
        Widget,
        &format!(
            "the customer's message {text:?} to show as sent (data-status sent, data-seq set)"
        ),
        WAIT,
        |ms| ms.iter().any(|m| m.is("customer", text) && acked(m)),
    )
    .await;
    b.poll(
        "the widget composer to be emptied after sending",
        WAIT,
        "const c = sb('textarea[data-testid=composer]'); return c ? c.value : null;",
        vec![],
        |v| v == "",
    )
    .await;
}

/// Agent types `text` + Enter in the open conversation; waits until it shows with a seq.
pub async fn dashboard_send(b: &Browser, text: &str) {
    b.type_and_enter(Dashboard, COMPOSER, text).await;
    let what = format!("the agent's reply {text:?} in the conversation");
    wait_stored_reply(b, &what, text).await;
}

/// Waits until the dashboard shows the agent's `text` with a seq.
async fn wait_stored_reply(b: &Browser, what: &str, text: &str) {
    b.wait_messages(Dashboard, what, WAIT, |ms| {
        ms.iter().any(|m| m.is("agent", text) && m.seq().is_some())
    })
    .await;
}

/// Waits until `surface` shows a message `text` from `sender`.
async fn wait_shown(b: &Browser, surface: Surface, what: &str, sender: &str, text: &str) {
    b.wait_messages(surface, what, WAIT, |ms| {
        ms.iter().any(|m| m.is(sender, text))
    })
    .await;
}

/// Waits (without reloading) for a list item whose preview shows `text`; its conversation id.
pub async fn wait_list_item(b: &Browser, text: &str) -> String {
    let v = b
        .poll(
            &format!("a conversation in the list whose [data-testid=preview] shows {text:?}"),
            WAIT,
            r#"const it = [...document.querySelectorAll('[data-testid=conv-item]')].find(i => {
                 const p = i.querySelector('[data-testid=preview]');
                 return p && p.textContent.includes(arguments[0]); });
               return it ? it.getAttribute('data-id') : null;"#,
            vec![json!(text)],
            |v| v.as_str().is_some_and(|s| !s.is_empty()),
        )
        .await;
    v.as_str().expect("data-id").to_string()
}

/// Clicks the conversation in the list and waits for its messages and composer.
pub async fn open_conversation(b: &Browser, id: &str) {
    b.click(
        Dashboard,
        &format!("[data-testid=conv-item][data-id=\"{id}\"]"),
    )
    .await;
    wait_true(
        b,
        "the conversation view ([data-testid=messages])",
        "return !!document.querySelector('[data-testid=messages]');",
    )
    .await;
    b.wait_visible(Dashboard, COMPOSER, WAIT).await;
}

/// The one conversation of this test's server (found through the admin API).
pub async fn only_conversation(app: &TestApp, bearer: &str) -> Uuid {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let path = "/api/v1/conversations?view=all&status=open&limit=50";
        let (status, v) = api_helpers::get(app, path, bearer).await;
        assert_eq!(status, 200, "GET /api/v1/conversations: {v}");
        let list = v["conversations"].as_array().cloned().unwrap_or_default();
        assert!(list.len() <= 1, "expected one conversation, got {v}");
        if let Some(c) = list.first() {
            return c["id"].as_str().expect("id").parse().expect("uuid");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no conversation listed by the API after {WAIT:?}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An agent's reply through the API in the one conversation; that conversation.
async fn reply_via_api(app: &TestApp, bearer: &str, client_msg_id: &str, text: &str) -> Uuid {
    let conv = only_conversation(app, bearer).await;
    let r = app
        .post_message(bearer, conv, client_msg_id, text, false)
        .await;
    assert_eq!(r.status(), 201, "agent reply via API");
    conv
}

/// How often each body appears in the server's history of `conv` (as the admin sees it).
async fn api_bodies(app: &TestApp, bearer: &str, conv: Uuid) -> Vec<String> {
    app.history(bearer, conv)
        .await
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn summary(ms: &[Msg]) -> Vec<String> {
    ms.iter()
        .map(|m| {
            format!(
                "{}#{}[{}] {:?}",
                m.sender.as_deref().unwrap_or("?"),
                m.seq.as_deref().unwrap_or(""),
                m.status.as_deref().unwrap_or(""),
                m.text()
            )
        })
        .collect()
}

/// Asserts the shown messages are exactly `expected` (sender, body) in this order, each with a
/// seq, seqs strictly ascending.
fn assert_exactly(surface: &str, ms: &[Msg], expected: &[(&str, &str)]) {
    let got: Vec<(String, String)> = ms
        .iter()
        .map(|m| (m.sender.clone().unwrap_or_default(), m.text().to_string()))
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(s, b)| (s.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        got,
        want,
        "{surface}: messages shown (in order) differ; full list: {:?}",
        summary(ms)
    );
    let seqs: Vec<Option<i64>> = ms.iter().map(Msg::seq).collect();
    assert!(
        seqs.iter().all(Option::is_some) && seqs.windows(2).all(|w| w[0] < w[1]),
        "{surface}: seqs must be set and ascending: {:?}",
        summary(ms)
    );
}

/// Asserts `b` shows exactly `expected` on `surface` (see `assert_exactly`); what it shows.
async fn shows_exactly(
    b: &Browser,
    surface: Surface,
    label: &str,
    expected: &[(&str, &str)],
) -> Vec<Msg> {
    let ms = b.messages(surface).await.unwrap_or_default();
    assert_exactly(label, &ms, expected);
    ms
}

/// Waits until the widget reports `transport` (`ws`, `sse` or `none`).
async fn wait_transport(b: &Browser, what: &str, within: Duration, transport: &str) {
    const TRANSPORT_JS: &str = "const c = sb('[data-testid=connection]'); \
                                return c ? c.getAttribute('data-transport') : null;";
    b.poll(what, within, TRANSPORT_JS, vec![], |v| v == transport)
        .await;
}

// ---------------------------------------------------------------------------------------------
// 1. The live conversation across origins, with typing indicators both ways.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_and_agent_chat_live_across_origins() {
    const HELLO: &str = "Hello from the website";
    const ANYONE: &str = "Is anyone there?";
    const REPLY: &str = "Hi! How can I help?";
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let agent = dashboard(&app, ADMIN).await;
    let cust = chatting_customer(&host).await;

    widget_send(&cust, HELLO).await;

    // The agent's list updates live (no reload), with the unread count.
    let id = wait_list_item(&agent, HELLO).await;
    agent
        .poll(
            "the list item's [data-testid=unread] to show 1",
            WAIT,
            r#"const u = document.querySelector(`[data-testid=conv-item][data-id="${arguments[0]}"] [data-testid=unread]`);
               return u && visible(u) ? u.textContent.trim() : null;"#,
            vec![json!(id)],
            |v| v == "1",
        )
        .await;
    open_conversation(&agent, &id).await;
    agent
        .wait_messages(
            Dashboard,
            &format!("{HELLO:?} from the customer in the open conversation"),
            WAIT,
            |ms| {
                ms.iter()
                    .any(|m| m.is("customer", HELLO) && m.private.as_deref() != Some("true"))
            },
        )
        .await;

    // Customer typing shows on the dashboard, and goes away once the message is sent.
    cust.type_into(Widget, COMPOSER, "Is anyone").await;
    agent
        .wait_visible(Dashboard, "[data-testid=typing]", WAIT)
        .await;
    cust.type_and_enter(Widget, COMPOSER, " there?").await;
    let what = format!("{ANYONE:?} in the dashboard");
    wait_shown(&agent, Dashboard, &what, "customer", ANYONE).await;
    wait_true(
        &agent,
        "the dashboard's customer-typing indicator to go away after the message was sent",
        "return !visible(document.querySelector('[data-testid=typing]'));",
    )
    .await;

    // Agent typing shows in the widget; the reply arrives.
    agent.type_into(Dashboard, COMPOSER, "Hi! How can I").await;
    cust.wait_visible(Widget, "[data-testid=typing]", WAIT)
        .await;
    agent.type_and_enter(Dashboard, COMPOSER, " help?").await;
    wait_stored_reply(&agent, "the agent's reply in the dashboard", REPLY).await;
    let what = format!("the reply {REPLY:?} in the widget");
    wait_shown(&cust, Widget, &what, "agent", REPLY).await;
    wait_true(
        &cust,
        "the widget's agent-typing indicator to go away after the reply",
        "return !visible(sb('[data-testid=typing]'));",
    )
    .await;

    let expected = [("customer", HELLO), ("customer", ANYONE), ("agent", REPLY)];
    shows_exactly(&cust, Widget, "widget", &expected).await;
    shows_exactly(&agent, Dashboard, "dashboard", &expected).await;

    cust.close().await;
    agent.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. A reload keeps the history: both messages, in order, once.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_keeps_the_history() {
    const HELLO: &str = "Hello from the website";
    const REPLY: &str = "Thanks, we are looking into it";
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let cust = chatting_customer(&host).await;
    widget_send(&cust, HELLO).await;

    let bearer = admin_bearer(&app).await;
    reply_via_api(&app, &bearer, "agent-reply-1", REPLY).await;
    wait_shown(
        &cust,
        Widget,
        "the agent's reply before the reload",
        "agent",
        REPLY,
    )
    .await;

    cust.client.refresh().await.expect("reload the host page");
    cust.wait_visible(Widget, "[data-testid=launcher]", WAIT)
        .await;
    ensure_widget_open(&cust).await;
    cust.wait_messages(Widget, "both messages after the reload", WAIT, |ms| {
        count(ms, HELLO) >= 1 && count(ms, REPLY) >= 1
    })
    .await;
    // Give a late replay the chance to duplicate something.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let expected = [("customer", HELLO), ("agent", REPLY)];
    let ms = shows_exactly(&cust, Widget, "widget after reload", &expected).await;
    assert!(
        acked(&ms[0]),
        "the customer's message should still show as sent/seen after the reload: {:?}",
        summary(&ms)
    );

    cust.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Messages written during an outage are delivered exactly once when it ends.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_offline_are_delivered_exactly_once() {
    const BEFORE: &str = "Before the outage";
    const OFF1: &str = "Written offline, one";
    const OFF2: &str = "Written offline, two";
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let proxy = Proxy::start(&app.base).await;
    let host = HostPage::start(&proxy.url, &app.inbox_token).await;
    let agent = dashboard(&app, ADMIN).await;
    let cust = chatting_customer(&host).await;
    widget_send(&cust, BEFORE).await;
    let id = wait_list_item(&agent, BEFORE).await;
    open_conversation(&agent, &id).await;
    let bearer = admin_bearer(&app).await;
    let conv: Uuid = id.parse().expect("conversation id is a uuid");

    proxy.cut();
    wait_transport(
        &cust,
        "the widget to notice the outage ([data-testid=connection] data-transport=none)",
        WAIT,
        "none",
    )
    .await;
    cust.type_and_enter(Widget, COMPOSER, OFF1).await;
    cust.type_and_enter(Widget, COMPOSER, OFF2).await;
    let both_unsent = |ms: &[Msg]| {
        ms.iter().any(|m| m.is("customer", OFF1) && unsent(m))
            && ms.iter().any(|m| m.is("customer", OFF2) && unsent(m))
    };
    cust.wait_messages(
        Widget,
        "both offline messages shown as sending/failed without a seq",
        WAIT,
        both_unsent,
    )
    .await;
    cust.hold_messages(
        Widget,
        "both offline messages to stay unsent (sending/failed, no seq) while the network is cut",
        Duration::from_secs(3),
        both_unsent,
    )
    .await;
    let bodies = api_bodies(&app, &bearer, conv).await;
    assert!(
        !bodies.iter().any(|b| b == OFF1 || b == OFF2),
        "the server got an offline message through a cut network?! history: {bodies:?}"
    );

    proxy.restore();
    let ms = cust
        .wait_messages(
            Widget,
            "both offline messages to be delivered after the network returns",
            Duration::from_secs(45),
            |ms| {
                [OFF1, OFF2].iter().all(|t| {
                    ms.iter()
                        .filter(|m| m.text() == *t)
                        .all(|m| m.sender.as_deref() == Some("customer") && acked(m))
                        && count(ms, t) >= 1
                })
            },
        )
        .await;
    let seq_of = |t: &str| ms.iter().find(|m| m.text() == t).and_then(Msg::seq);
    assert!(
        seq_of(OFF1) < seq_of(OFF2),
        "offline messages delivered out of order: {:?}",
        summary(&ms)
    );
    agent
        .wait_messages(
            Dashboard,
            "both offline messages in the dashboard",
            WAIT,
            |ms| count(ms, OFF1) >= 1 && count(ms, OFF2) >= 1,
        )
        .await;
    // Late duplicates (a resend racing its first delivery) would show up within this time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let expected = [("customer", BEFORE), ("customer", OFF1), ("customer", OFF2)];
    shows_exactly(&cust, Widget, "widget after the outage", &expected).await;
    shows_exactly(&agent, Dashboard, "dashboard after the outage", &expected).await;
    let bodies = api_bodies(&app, &bearer, conv).await;
    for t in [BEFORE, OFF1, OFF2] {
        assert_eq!(
            bodies.iter().filter(|b| *b == t).count(),
            1,
            "API history must hold {t:?} exactly once: {bodies:?}"
        );
    }

    cust.close().await;
    agent.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Message bodies are text: markup shows literally, nothing runs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_messages_is_shown_as_text_and_never_runs() {
    const XSS_ALERT: &str = "<img src=x onerror=alert(1)>";
    const XSS_FLAG: &str = "<img src=x onerror=window.__pwned=1>";
    const XSS_AGENT: &str = "<b>bold</b><img src=x onerror=window.__pwned=2>";
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let agent = dashboard(&app, ADMIN).await;
    let cust = chatting_customer(&host).await;
    widget_send(&cust, XSS_ALERT).await;
    widget_send(&cust, XSS_FLAG).await;

    let id = wait_list_item(&agent, "<img src=x onerror=").await;
    open_conversation(&agent, &id).await;
    agent
        .wait_messages(Dashboard, "both markup messages as text", WAIT, |ms| {
            count(ms, XSS_ALERT) == 1 && count(ms, XSS_FLAG) == 1
        })
        .await;
    dashboard_send(&agent, XSS_AGENT).await;
    wait_shown(
        &cust,
        Widget,
        "the agent's markup reply as text",
        "agent",
        XSS_AGENT,
    )
    .await;
    // Let a (wrongly) created <img src=x> fail to load and fire its onerror.
    tokio::time::sleep(Duration::from_secs(1)).await;

    for (b, surface) in [(&cust, Widget), (&agent, Dashboard)] {
        let label = format!("{surface:?}");
        b.assert_no_alert(&label).await;
        let ms = b.messages(surface).await.unwrap_or_default();
        for t in [XSS_ALERT, XSS_FLAG, XSS_AGENT] {
            assert_eq!(
                count(&ms, t),
                1,
                "{label}: {t:?} must show literally, once: {:?}",
                summary(&ms)
            );
        }
        assert!(
            ms.iter().all(|m| m.body_imgs == 0),
            "{label}: an <img> was created inside a message body: {:?}",
            summary(&ms)
        );
        let v = b
            .js(
                r#"return { pwned: window.__pwned === undefined ? null : String(window.__pwned),
                            imgs: document.querySelectorAll('img[src="x"]').length + sbAll('img[src="x"]').length,
                            bold: document.querySelectorAll('[data-testid=body] b').length + sbAll('[data-testid=body] b').length };"#,
                vec![],
            )
            .await;
        assert_eq!(
            v,
            json!({"pwned": null, "imgs": 0, "bold": 0}),
            "{label}: markup from a message became DOM or ran"
        );
    }
    // The list preview is text too.
    let preview = agent
        .js(
            r#"const p = document.querySelector(`[data-testid=conv-item][data-id="${arguments[0]}"] [data-testid=preview]`);
               return p ? { text: p.textContent, elements: p.querySelectorAll('img, b').length } : null;"#,
            vec![json!(id)],
        )
        .await;
    assert!(
        preview["text"]
            .as_str()
            .is_some_and(|t| t.contains("<b>bold</b>") || t.contains("<img src=x")),
        "the list preview should show the markup as text: {preview}"
    );
    assert_eq!(
        preview["elements"],
        json!(0),
        "markup in the list preview: {preview}"
    );

    cust.close().await;
    agent.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Behind a proxy that refuses WebSockets the widget falls back to SSE.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_falls_back_to_sse_when_websockets_are_blocked() {
    const HELLO: &str = "Hello over SSE";
    const REPLY: &str = "Reply over SSE";
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let proxy = Proxy::start(&app.base).await;
    proxy.block_websockets(true);
    let host = HostPage::start(&proxy.url, &app.inbox_token).await;
    let cust = chatting_customer(&host).await;
    widget_send(&cust, HELLO).await;
    wait_transport(
        &cust,
        "the widget to fall back to SSE ([data-testid=connection] data-transport=sse)",
        Duration::from_secs(30),
        "sse",
    )
    .await;
    assert!(
        proxy.ws_blocked() >= 1,
        "the widget never tried a WebSocket (the proxy blocked none), so the fallback was not exercised"
    );

    let bearer = admin_bearer(&app).await;
    let conv = reply_via_api(&app, &bearer, "sse-reply-1", REPLY).await;
    wait_shown(&cust, Widget, "the agent's reply over SSE", "agent", REPLY).await;
    let expected = [("customer", HELLO), ("agent", REPLY)];
    shows_exactly(&cust, Widget, "widget over SSE", &expected).await;
    let bodies = api_bodies(&app, &bearer, conv).await;
    assert_eq!(bodies, vec![HELLO.to_string(), REPLY.to_string()]);

    cust.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Logging out ends the session on the server, not just in the browser.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let agent = dashboard(&app, ADMIN).await;
    let cookie = agent
        .client
        .get_named_cookie("sb_session")
        .await
        .expect("the dashboard has an sb_session cookie")
        .value()
        .to_string();
    let csrf = agent
        .js("return document.body.dataset.csrf;", vec![])
        .await
        .as_str()
        .expect("data-csrf")
        .to_string();
    let cookie = format!("sb_session={cookie}");
    let socket_token = |label: &'static str| {
        let req = cookie_post(&app, "/api/v1/auth/socket-token", &cookie, Some(&csrf))
            .header("Origin", &app.base);
        async move {
            let r = req.send().await.expect(label);
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let (status, body) = socket_token("socket token before logout").await;
    assert_eq!(
        status, 200,
        "precondition: the cookie + CSRF token get a socket token before logout: {body}"
    );

    agent.click(Dashboard, "[data-testid=logout]").await;
    wait_path(&agent, "logout to land on /login", "/login").await;
    agent.goto(&app.url("/app")).await;
    wait_path(&agent, "/app to redirect to /login after logout", "/login").await;
    let (status, body) = socket_token("socket token after logout").await;
    assert_eq!(
        status, 401,
        "the old session cookie must be dead after logout: {body}"
    );

    agent.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. A page whose origin the inbox does not allow gets no widget.

async fn set_allowed_origins(app: &TestApp, admin: &Agent, origins: &[&str]) {
    let (status, v) = patch_inbox(app, admin, json!({ "allowed_origins": origins })).await;
    assert_eq!(status, 200, "PATCH the seeded inbox: {v}");
    assert_eq!(v["inbox"]["allowed_origins"], json!(origins), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_stays_hidden_on_a_page_whose_origin_is_not_allowed() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    set_allowed_origins(&app, &admin, &["https://elsewhere.example"]).await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let cust = Browser::new("customer").await;
    cust.goto(&host.url).await;
    // Proof the loader ran and was refused: its console warning. (Not a resource-timing entry:
    // Chromium records none for a `no-store` answer whose body the page never reads.)
    let mut console = String::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !console.contains("is not an allowed origin") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the loader never reported the refused origin:\n{}",
            cust.diagnostics().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        console.push_str(&cust.console_log().await);
    }
    cust.hold(
        "no visible launcher on a page whose origin is not allowed",
        Duration::from_secs(4),
        "return !visible(sb('[data-testid=launcher]'));",
        vec![],
        |v| v == &json!(true),
    )
    .await;

    // Control: allowing the page's origin makes the launcher appear on the same page.
    set_allowed_origins(&app, &admin, &["https://elsewhere.example", &host.origin]).await;
    cust.client.refresh().await.expect("reload");
    cust.wait_visible(Widget, "[data-testid=launcher]", WAIT)
        .await;

    cust.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. The host page's CSS does not leak into the widget, and the widget's does not leak out.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widget_styles_are_isolated_from_the_host_page() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let cust = customer(&host).await;

    const STYLE_JS: &str = r#"const el = arguments[0] === 'widget' ? sb(arguments[1]) : document.querySelector(arguments[1]);
        if (!el) return null; const s = getComputedStyle(el);
        return { color: s.color, background: s.backgroundColor, font_size: s.fontSize };"#;
    let style =
        |place: &'static str, css: &'static str| cust.js(STYLE_JS, vec![json!(place), json!(css)]);
    let launcher = style("widget", "[data-testid=launcher]").await;
    assert_ne!(
        launcher["color"], RED,
        "launcher color comes from the host CSS: {launcher}"
    );
    assert_ne!(
        launcher["background"], LIME,
        "launcher background comes from the host CSS: {launcher}"
    );
    assert_ne!(
        launcher["font_size"], "40px",
        "launcher font-size comes from the host CSS: {launcher}"
    );

    // The host keeps its own (hostile) styles: the widget injected nothing global.
    let text = style("host", "#host-text").await;
    assert_eq!(text["color"], RED, "host text lost its color: {text}");
    assert_eq!(text["font_size"], "40px", "host text lost its size: {text}");
    let button = style("host", "#host-button").await;
    assert_eq!(
        button["background"], LIME,
        "host button lost its background: {button}"
    );

    // Nothing visible inside the open widget picks up the host's color or size.
    open_widget(&cust).await;
    widget_send(&cust, "Styled by the widget, not the page").await;
    let leaks = cust
        .js(
            r#"return sbAll('*').filter(el => {
                 if (!visible(el)) return false;
                 const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
                 if (!own && !['BUTTON', 'TEXTAREA', 'INPUT', 'svg'].includes(el.tagName)) return false;
                 const s = getComputedStyle(el);
                 return s.color === 'rgb(255, 0, 0)' || s.fontSize === '40px';
               }).map(el => `${el.tagName.toLowerCase()}[data-testid=${el.getAttribute('data-testid')}].${el.className} color=${getComputedStyle(el).color} font-size=${getComputedStyle(el).fontSize}`);"#,
            vec![],
        )
        .await;
    assert_eq!(
        leaks,
        json!([]),
        "widget elements styled by the host page's CSS"
    );

    cust.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The harness itself: chromedriver, a session on the host page, the proxy's switches.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_chromedriver_host_page_and_proxy_work() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let proxy = Proxy::start(&app.base).await;
    let get = |url: String| async move {
        reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map(|r| r.status().as_u16())
    };
    let healthz = format!("{}/healthz", proxy.url);
    assert_eq!(
        get(healthz.clone()).await.ok(),
        Some(200),
        "proxy passes HTTP"
    );
    assert!(proxy.accepted() >= 1);

    // WebSocket handshakes: passed by default, 403 when blocked.
    let handshake = |port_url: String| async move {
        let addr = port_url.trim_start_matches("http://").to_string();
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect proxy");
        let req = format!(
            "GET /ws/widget?token=nope HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("handshake answer")
            .unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let passed = handshake(proxy.url.clone()).await;
    assert!(
        !passed.contains("blocked by proxy") && passed.starts_with("HTTP/1.1"),
        "unblocked handshake should reach the server: {passed:?}"
    );
    proxy.block_websockets(true);
    let blocked = handshake(proxy.url.clone()).await;
    assert!(
        blocked.starts_with("HTTP/1.1 403"),
        "blocked handshake: {blocked:?}"
    );
    assert_eq!(proxy.ws_blocked(), 1);
    assert_eq!(
        get(healthz.clone()).await.ok(),
        Some(200),
        "HTTP passes while WS is blocked"
    );
    proxy.block_websockets(false);

    // Cut and restore.
    proxy.cut();
    assert!(
        get(healthz.clone()).await.is_err(),
        "requests fail while cut"
    );
    assert!(proxy.refused() >= 1);
    proxy.restore();
    assert_eq!(
        get(healthz.clone()).await.ok(),
        Some(200),
        "requests pass after restore"
    );

    // A browser session loads the host page from its own origin; the hostile CSS applies there.
    let host = HostPage::start(&proxy.url, &app.inbox_token).await;
    let b = Browser::new("harness").await;
    b.goto(&host.url).await;
    let v = b
        .js(
            r#"return { origin: location.origin, title: document.title,
                        color: getComputedStyle(document.getElementById('host-text')).color,
                        script: document.querySelector('script[data-inbox]').src };"#,
            vec![],
        )
        .await;
    assert_eq!(v["origin"], host.origin.as_str(), "{v}");
    assert_eq!(v["title"], "Acme Outdoor Gear", "{v}");
    assert_eq!(v["color"], RED, "{v}");
    assert_eq!(v["script"], format!("{}/widget.js", proxy.url), "{v}");
    // … and reaches the server through the proxy.
    b.goto(&healthz).await;
    let text = b.js("return document.body.innerText;", vec![]).await;
    assert!(
        text.as_str().is_some_and(|t| !t.trim().is_empty()),
        "healthz through the proxy in the browser: {text}"
    );

    b.close().await;
    app.stop().await;
}

/// The dashboard is native ES modules: every page (search, each admin page) loads and renders
/// without a script error. Served from `static_dir` (front-end development mode), so the disk
/// files and their content hash are what the browser gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_page_renders_without_script_errors() {
    let _slot = story_slot().await;
    let app = spawn_app_with(|s| {
        s.static_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/static").to_string();
    })
    .await;
    let agent = dashboard(&app, ADMIN).await;
    wait_true(
        &agent,
        "the dashboard connected",
        "return !!document.querySelector('[data-testid=connection][data-state=online]');",
    )
    .await;
    let module = agent
        .js(
            "return document.querySelector('script[type=module]').getAttribute('src');",
            vec![],
        )
        .await;
    let module = module.as_str().unwrap_or_default().to_string();
    assert!(
        module.starts_with("/static/") && module.ends_with("/dashboard/app.js"),
        "{module}"
    );

    for (hash, title) in [
        ("#/admin/agents", "Agents"),
        ("#/admin/inboxes", "Inboxes"),
        ("#/admin/canned", "Canned responses"),
        ("#/admin/kb", "Knowledge base"),
    ] {
        agent
            .js("location.hash = arguments[0];", vec![json!(hash)])
            .await;
        agent
            .poll(
                &format!("the {title} page, loaded"),
                WAIT,
                "const t = document.querySelector('.admin__title'); \
                 return !!t && t.textContent === arguments[0] && \
                   !/Loading…/.test(document.querySelector('.admin').textContent);",
                vec![json!(title)],
                |v| v == &json!(true),
            )
            .await;
    }
    agent
        .js("location.hash = '#/search?q=hello&sort=date';", vec![])
        .await;
    wait_true(
        &agent,
        "the search page with its count",
        "const c = document.querySelector('[data-testid=search-count]'); \
         return !!c && /conversation/.test(c.textContent) && \
           !document.querySelector('[data-testid=search-failed]');",
    )
    .await;
    agent
        .js(
            "location.hash = '#/inbox?view=mine&status=pending';",
            vec![],
        )
        .await;
    wait_true(
        &agent,
        "back in the inbox, its list shown",
        "const l = document.querySelector('[data-testid=conv-list]'); \
         return !!l && l.offsetParent !== null;",
    )
    .await;

    let log = agent.console_log().await;
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("SEVERE") && !l.contains("favicon.ico"))
        .collect();
    assert!(errors.is_empty(), "script errors:\n{}", errors.join("\n"));
    agent.close().await;
    app.stop().await;
}
