//! Widget stories (customers on other websites): sessions that survive reloads, pages and
//! contact details shown to agents, identity verification, the Server-Sent Events fallback,
//! CORS, and the headers of pages and static files.

use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::api_helpers::*;
use crate::helpers::*;

/// A widget session that must succeed; its JSON.
async fn session_ok(app: &TestApp, body: Value, origin: Option<&str>) -> Value {
    let (s, v) = session(app, body, origin).await;
    assert_eq!(s, 200, "{v}");
    v
}

/// A session of the seeded inbox for the signed-in `user` (no stored visitor token).
async fn session_as(app: &TestApp, user: &Value) -> (StatusCode, Value) {
    session(
        app,
        json!({"inbox_token": app.inbox_token, "user": user}),
        None,
    )
    .await
}

fn customer_of(v: &Value) -> Customer {
    Customer {
        token: v["visitor_token"]
            .as_str()
            .expect("visitor_token")
            .to_string(),
        conversation_id: v["conversation_id"]
            .as_str()
            .expect("conversation_id")
            .parse()
            .expect("uuid"),
    }
}

/// Asserts that session `v` resumed `earlier`'s conversation (same contact) holding the one
/// message `body`; the customer of the new session.
async fn resumed(
    app: &TestApp,
    v: &Value,
    earlier: &Customer,
    contact_id: &Value,
    body: &str,
) -> Customer {
    assert_eq!(v["resumed"], true);
    assert_eq!(v["conversation_id"], earlier.conversation_id.to_string());
    assert_eq!(v["contact_id"], *contact_id);
    assert_eq!(v["last_seq"], 1);
    let c = customer_of(v);
    let history = app.history(&c.token, c.conversation_id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["body"], body);
    c
}

// ---------------------------------------------------------------------------------------------
// 11. Sessions, pages, contact details
// ---------------------------------------------------------------------------------------------

/// A session body for the seeded inbox that reports the page the widget was opened on.
fn on_page(app: &TestApp, url: &str, title: &str) -> Value {
    json!({"inbox_token": app.inbox_token, "page": {"url": url, "title": title}})
}

#[tokio::test]
async fn widget_session_resumes_and_agents_see_pages_and_contact_details() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let shop = Some("https://shop.example");
    let pricing = on_page(&app, "https://shop.example/pricing", "Pricing");
    let v = session_ok(&app, pricing, shop).await;
    assert_eq!(v["resumed"], false);
    assert_eq!(v["last_seq"], 0);
    let first = customer_of(&v);
    let contact_id = v["contact_id"].clone();
    say(&app, &first, "Do you have a student discount?").await;

    // A reload sends the stored token back: same conversation, history intact.
    let mut checkout = on_page(&app, "https://shop.example/checkout", "Checkout");
    checkout["visitor_token"] = json!(first.token);
    let v = session_ok(&app, checkout, shop).await;
    let again = resumed(
        &app,
        &v,
        &first,
        &contact_id,
        "Do you have a student discount?",
    )
    .await;
    assert_eq!(say(&app, &again, "Hello?").await, 2);
    // Only web pages are recorded: a `javascript:` URL would become a link in the dashboard.
    let page = |url: &str, title: &str| {
        post(
            &app,
            "/api/v1/widget/page",
            &again.token,
            json!({"url": url, "title": title}),
        )
    };
    let (s, _) = page("javascript:alert(document.cookie)", "x").await;
    assert!(s == 204 || s == 400, "javascript: page: {s}");
    // The same page reloaded is not a new visit.
    let mut reload = on_page(&app, "https://shop.example/checkout", "Checkout");
    reload["visitor_token"] = json!(again.token);
    session(&app, reload, None).await;

    // Pages visited later, and an email left in the widget.
    let (s, _) = page("https://shop.example/thanks", "Thanks!").await;
    assert_eq!(s, 204);
    for bad in [
        json!({"email": "not-an-email"}),
        json!({"email": "a b@c.d"}),
        json!({}),
    ] {
        let (s, v) = post(&app, "/api/v1/widget/contact", &again.token, bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {v}");
    }
    let (s, v) = post(
        &app,
        "/api/v1/widget/contact",
        &again.token,
        json!({"email": "kim@example.com", "name": "Kim"}),
    )
    .await;
    assert_eq!(s, 204, "{v}");

    // The agent's contact panel shows all of it.
    let d = detail(&app, &admin, first.conversation_id).await;
    assert_eq!(d["contact"]["email"], "kim@example.com");
    assert_eq!(d["contact"]["name"], "Kim");
    let pages: Vec<(String, String)> = d["contact"]["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .map(|p| {
            assert!(p["at"].is_string(), "{p}");
            (
                p["url"].as_str().unwrap_or_default().to_string(),
                p["title"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        pages,
        vec![
            ("https://shop.example/pricing".into(), "Pricing".into()),
            ("https://shop.example/checkout".into(), "Checkout".into()),
            ("https://shop.example/thanks".into(), "Thanks!".into()),
        ]
    );
    assert_eq!(d["conversation"]["contact"]["email"], "kim@example.com");
    assert_eq!(d["conversation"]["last_seq"], 2);

    // Another browser (no token, or a forged one) gets a conversation of its own.
    for token in [None, Some("vt.forged.token")] {
        let mut body = json!({"inbox_token": app.inbox_token});
        if let Some(t) = token {
            body["visitor_token"] = json!(t);
        }
        let v = session_ok(&app, body, None).await;
        assert_eq!(v["resumed"], false);
        assert_ne!(v["conversation_id"], first.conversation_id.to_string());
        assert_ne!(v["contact_id"], contact_id);
    }
    let (s, _) = session(&app, json!({"inbox_token": "wt_unknown"}), None).await;
    assert_eq!(s, 404);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 12. Identity verification
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn verified_users_get_their_conversation_on_any_device_and_others_are_refused() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    assert_eq!(
        seeded_inbox(&app, &admin).await["identity_secret"],
        Value::Null
    );
    let (s, v) = patch_inbox(&app, &admin, json!({"identity_required": true})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["identity_required"], true);
    let secret = v["inbox"]["identity_secret"]
        .as_str()
        .expect("requiring identity creates a secret")
        .to_string();
    let (_, cfg) = widget_config(&app, None).await;
    assert_eq!(cfg["identity_required"], true);

    let hash = |user: &str| switchboard::auth::tokens::user_hash(&secret, user);
    let refused = [
        json!({"inbox_token": app.inbox_token}),
        json!({"inbox_token": app.inbox_token, "user": {"user_id": "u-42"}}),
        json!({"inbox_token": app.inbox_token, "user": {"user_id": "u-42", "user_hash": hash("u-43")}}),
        json!({"inbox_token": app.inbox_token, "user": {"user_id": "u-42", "user_hash": "zz"}}),
    ];
    for body in refused {
        let (s, v) = session(&app, body.clone(), None).await;
        assert_eq!(s, 403, "{body}: {v}");
    }

    // The laptop: verified.
    let me = json!({"user_id": "u-42", "name": "Kim", "email": "kim@example.com", "user_hash": hash("u-42")});
    let (s, v) = session_as(&app, &me).await;
    assert_eq!(s, 200, "{v}");
    let laptop = customer_of(&v);
    let contact_id = v["contact_id"].clone();
    say(&app, &laptop, "written on my laptop").await;

    // The phone: no stored token, same verified user → same conversation and history.
    let (s, v) = session_as(&app, &me).await;
    assert_eq!(s, 200, "{v}");
    resumed(&app, &v, &laptop, &contact_id, "written on my laptop").await;

    // Someone else, even holding Kim's visitor token, does not get Kim's conversation.
    let other = json!({"user_id": "u-43", "user_hash": hash("u-43")});
    let v = session_ok(
        &app,
        json!({"inbox_token": app.inbox_token, "user": other, "visitor_token": laptop.token}),
        None,
    )
    .await;
    assert_ne!(v["conversation_id"], laptop.conversation_id.to_string());
    assert_ne!(v["contact_id"], contact_id);

    let d = detail(&app, &admin, laptop.conversation_id).await;
    assert_eq!(d["contact"]["external_id"], "u-42");
    assert_eq!(d["contact"]["name"], "Kim");
    assert_eq!(d["contact"]["email"], "kim@example.com");

    // Rotating the secret invalidates hashes made with the old one.
    let id = seeded_inbox_id(&app, &admin).await;
    let (s, v) = post(
        &app,
        &format!("/api/v1/inboxes/{id}/rotate-identity-secret"),
        &admin.session,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let new_secret = v["inbox"]["identity_secret"].as_str().expect("secret");
    assert_ne!(new_secret, secret);
    let (s, _) = session_as(&app, &me).await;
    assert_eq!(s, 403, "an old hash still works after rotation");
    let fresh = json!({"user_id": "u-42", "user_hash": switchboard::auth::tokens::user_hash(new_secret, "u-42")});
    let (s, v) = session_as(&app, &fresh).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation_id"], laptop.conversation_id.to_string());
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 13. Server-Sent Events
// ---------------------------------------------------------------------------------------------

struct Event {
    id: Option<i64>,
    data: Value,
}

/// A minimal EventSource: reads `text/event-stream` chunks and splits them into events.
struct Sse {
    resp: reqwest::Response,
    buf: String,
}

impl Sse {
    async fn open(app: &TestApp, token: &str, after_seq: i64, last_event_id: Option<i64>) -> Sse {
        let mut req = app
            .http
            .get(app.url(&format!(
                "/api/v1/widget/events?token={token}&after_seq={after_seq}"
            )))
            .header(header::ACCEPT, "text/event-stream");
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        let resp = req.send().await.expect("events");
        assert_eq!(resp.status(), 200);
        let ct = resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Sse {
            resp,
            buf: String::new(),
        }
    }

    /// The next event with data (comments, `retry:` and keep-alives skipped).
    async fn next(&mut self) -> Event {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().expect("numeric event id"));
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data.join("\n")).expect("event data is JSON");
                return Event { id, data };
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .expect("timed out waiting for an event")
                .expect("stream error")
                .expect("the event stream ended");
            self.buf
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8 event stream"));
        }
    }

    async fn next_of_type(&mut self, ty: &str) -> Event {
        loop {
            let e = self.next().await;
            if e.data["type"] == ty {
                return e;
            }
        }
    }

    /// The message events up to `replay_done`.
    async fn replay(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        loop {
            let e = self.next().await;
            match e.data["type"].as_str() {
                Some("message") => out.push(e),
                Some("replay_done") => return out,
                _ => {}
            }
        }
    }
}

fn event_seqs(events: &[Event]) -> Vec<i64> {
    events
        .iter()
        .map(|e| {
            let seq = e.data["seq"].as_i64().expect("seq");
            assert_eq!(e.id, Some(seq), "message event id must be its seq");
            seq
        })
        .collect()
}

#[tokio::test]
async fn sse_replays_streams_live_and_resumes_from_last_event_id() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let c = app.customer().await;
    let conv = c.conversation_id;
    for i in 1..=3 {
        say(&app, &c, &format!("customer {i}")).await;
    }

    let mut sse = Sse::open(&app, &c.token, 0, None).await;
    let hello = sse.next().await;
    assert_eq!(hello.data["type"], "hello", "{}", hello.data);
    assert_eq!(hello.data["conversation_id"], conv.to_string());
    let replayed = sse.replay().await;
    assert_eq!(event_seqs(&replayed), vec![1, 2, 3]);
    assert_eq!(replayed[2].data["body"], "customer 3");

    // Live: an agent reply arrives; a private note never does.
    assert_eq!(
        reply(&app, &admin, conv, "Hi! Looking now.", false).await,
        4
    );
    let live = sse.next_of_type("message").await;
    assert_eq!(live.id, Some(4));
    assert_eq!(live.data["body"], "Hi! Looking now.");
    assert_eq!(live.data["sender_type"], "agent");
    assert_eq!(reply(&app, &admin, conv, "internal: VIP", true).await, 5);
    assert_eq!(reply(&app, &admin, conv, "Found it.", false).await, 6);
    let live = sse.next_of_type("message").await;
    assert_eq!(live.id, Some(6), "the private note leaked: {}", live.data);
    assert_eq!(live.data["body"], "Found it.");

    // Typing both ways: the agent's shows up in the stream, the customer's on the agent socket.
    let mut aws = app.agent_ws(&admin).await;
    aws.send(json!({"type": "typing", "conversation_id": conv, "typing": true}))
        .await;
    let t = sse.next_of_type("typing").await;
    assert_eq!(t.data["sender_type"], "agent");
    assert_eq!(t.data["typing"], true);
    let (s, _) = post(
        &app,
        "/api/v1/widget/typing",
        &c.token,
        json!({"typing": true}),
    )
    .await;
    assert_eq!(s, 204);
    let t = aws.expect_type("typing").await;
    assert_eq!(t["conversation_id"], conv.to_string());
    assert_eq!(t["sender_type"], "customer");
    assert_eq!(t["typing"], true);
    drop(sse);

    // The browser reconnects with Last-Event-ID: only what came after, once.
    let mut sse = Sse::open(&app, &c.token, 0, Some(2)).await;
    assert_eq!(sse.next().await.data["type"], "hello");
    let replayed = sse.replay().await;
    assert_eq!(event_seqs(&replayed), vec![3, 4, 6]);
    assert_eq!(say(&app, &c, "customer 7").await, 7);
    let live = sse.next_of_type("message").await;
    assert_eq!(
        live.id,
        Some(7),
        "duplicate or gap after resume: {}",
        live.data
    );
    drop(sse);

    // `after_seq` alone works the same; a bad token gets nothing.
    let mut sse = Sse::open(&app, &c.token, 6, None).await;
    sse.next_of_type("hello").await;
    assert_eq!(event_seqs(&sse.replay().await), vec![7]);
    drop(sse);
    let r = app
        .http
        .get(app.url("/api/v1/widget/events?token=vt.bogus&after_seq=0"))
        .send()
        .await
        .expect("events");
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn sse_sees_every_message_once_while_messages_arrive_during_replay_and_reconnects() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let c = app.customer().await;
    let conv = c.conversation_id;
    const N: i64 = 60;
    // Customer and agent write alternately while the stream opens, replays and reconnects.
    let writer = {
        let http = app.http.clone();
        let url = app.url(&format!("/api/v1/conversations/{conv}/messages"));
        let (customer, agent) = (c.token.clone(), admin.session.clone());
        tokio::spawn(async move {
            for i in 0..N {
                let bearer = if i % 2 == 0 { &customer } else { &agent };
                let r = http
                    .post(&url)
                    .bearer_auth(bearer)
                    .json(&json!({"client_msg_id": format!("m{i}"), "body": format!("m{i}")}))
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), 201);
                if i % 7 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
                }
            }
        })
    };
    let mut seen: Vec<i64> = Vec::new();
    let mut reconnects = 0;
    while seen.last().copied().unwrap_or(0) < N {
        let last = seen.last().copied();
        let mut sse = Sse::open(&app, &c.token, 0, last).await;
        assert_eq!(sse.next().await.data["type"], "hello");
        // Read a few events, then drop the connection as a flaky network would.
        for _ in 0..12 {
            let e = sse.next().await;
            if e.data["type"] == "message" {
                seen.extend(event_seqs(std::slice::from_ref(&e)));
                if e.data["seq"] == N {
                    break;
                }
            }
        }
        reconnects += 1;
        assert!(reconnects < 200, "no progress: {seen:?}");
    }
    writer.await.expect("writer");
    let expected: Vec<i64> = (1..=N).collect();
    assert_eq!(
        seen, expected,
        "each seq once, in order, across {reconnects} connections"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 14. CORS
// ---------------------------------------------------------------------------------------------

/// A CORS preflight from `origin` for `method path` sending `headers`.
async fn preflight(
    app: &TestApp,
    origin: &str,
    method: &str,
    path: &str,
    headers: &str,
) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header(header::ORIGIN, origin)
        .header(header::ACCESS_CONTROL_REQUEST_METHOD, method)
        .header(header::ACCESS_CONTROL_REQUEST_HEADERS, headers)
        .send()
        .await
        .expect("preflight")
}

/// `Access-Control-Allow-Headers`, lowercased (empty when absent).
fn allowed_headers(r: &reqwest::Response) -> String {
    header_str(r, "access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase()
}

fn assert_allows_origin(r: &reqwest::Response, origin: &str, what: &str) {
    assert_eq!(
        header_str(r, "access-control-allow-origin").as_deref(),
        Some(origin),
        "{what}"
    );
}

fn assert_no_credentials(r: &reqwest::Response, what: &str) {
    assert!(
        !r.headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
        "{what} allows credentials"
    );
}

#[tokio::test]
async fn widget_api_answers_cors_without_credentials() {
    let app = spawn_app().await;
    let shop = "http://shop.example";
    let r = preflight(&app, shop, "POST", "/api/v1/widget/session", "content-type").await;
    assert_eq!(r.status(), 204);
    assert_allows_origin(&r, shop, "the preflight");
    let methods = header_str(&r, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("POST"), "allow-methods {methods:?}");
    let allowed = allowed_headers(&r);
    assert!(allowed.contains("content-type"), "{allowed}");
    assert!(allowed.contains("authorization"), "{allowed}");
    assert_no_credentials(&r, "the preflight");

    // EventSource's reconnect sends Last-Event-ID, which needs a preflight.
    let r = preflight(&app, shop, "GET", "/api/v1/widget/events", "last-event-id").await;
    assert_eq!(r.status(), 204);
    let allowed = allowed_headers(&r);
    assert!(allowed.contains("last-event-id"), "{allowed}");

    // The dashboard's CSRF header is not allowed cross-site.
    let r = preflight(
        &app,
        shop,
        "POST",
        "/api/v1/auth/socket-token",
        "x-csrf-token",
    )
    .await;
    let allowed = allowed_headers(&r);
    assert!(!allowed.contains("x-csrf-token"), "{allowed}");
    assert_no_credentials(&r, "the CSRF preflight");

    // Real requests echo the origin, successes and errors alike, never with credentials.
    let r = session_response(&app, json!({"inbox_token": app.inbox_token}), Some(shop)).await;
    assert_eq!(r.status(), 200);
    assert_allows_origin(&r, shop, "the session response");
    assert_no_credentials(&r, "the session response");
    let c: Value = r.json().await.expect("json");
    let token = c["visitor_token"].as_str().expect("token").to_string();
    let config = format!("/api/v1/widget/config?inbox={}", app.inbox_token);
    let events = format!("/api/v1/widget/events?token={token}&after_seq=0");
    for (what, path, bearer) in [
        ("config", config.as_str(), None),
        ("status", "/api/v1/widget/status", Some(token.as_str())),
        (
            "unauthorized status",
            "/api/v1/widget/status",
            Some("vt.bogus"),
        ),
        ("event stream", events.as_str(), None),
    ] {
        let mut req = app.http.get(app.url(path)).header(header::ORIGIN, shop);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let r = req.send().await.expect(what);
        assert_allows_origin(&r, shop, what);
        assert_no_credentials(&r, what);
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 15. Security headers and static files
// ---------------------------------------------------------------------------------------------

fn assert_page_headers(r: &reqwest::Response, what: &str) {
    let csp = header_str(r, "content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{what}: CSP {csp:?} lets other sites frame the page"
    );
    assert_eq!(
        header_str(r, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
}

/// `GET /widget.js` with the given request headers.
async fn widget_js(app: &TestApp, headers: &[(header::HeaderName, &str)]) -> reqwest::Response {
    let mut req = app.http.get(app.url("/widget.js"));
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    req.send().await.expect("widget.js")
}

#[tokio::test]
async fn pages_forbid_framing_and_widget_js_is_compressed_and_cacheable() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/login")).send().await.expect("login");
    assert_eq!(r.status(), 200);
    assert_page_headers(&r, "/login");
    let s = cookie_login(&app, ADMIN).await;
    let r = cookie_get(&app.http, &app, "/app", &s.cookie).await;
    assert_eq!(r.status(), 200);
    assert_page_headers(&r, "/app");
    let page = r.text().await.expect("app page");

    // widget.js: gzip when accepted, a JS type, and an ETag that revalidates.
    let plain = switchboard::web::assets::builtin("widget.js").expect("built in");
    let r = widget_js(&app, &[(header::ACCEPT_ENCODING, "gzip")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_str(&r, "content-encoding").as_deref(), Some("gzip"));
    let ct = header_str(&r, "content-type").unwrap_or_default();
    assert!(
        ct.starts_with("text/javascript") || ct.starts_with("application/javascript"),
        "{ct}"
    );
    assert_eq!(
        header_str(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    let etag = header_str(&r, "etag").expect("ETag");
    let gz = r.bytes().await.expect("body");
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "not gzip data");
    assert!(gz.len() < plain.len(), "gzip did not shrink widget.js");

    let r = widget_js(&app, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header_str(&r, "content-encoding"), None);
    assert_eq!(&r.bytes().await.expect("body")[..], plain);

    for enc in ["gzip", "identity"] {
        let r = widget_js(
            &app,
            &[
                (header::ACCEPT_ENCODING, enc),
                (header::IF_NONE_MATCH, &etag),
            ],
        )
        .await;
        assert_eq!(r.status(), 304, "If-None-Match with {enc}");
        assert!(r.bytes().await.expect("body").is_empty());
    }
    let r = widget_js(&app, &[(header::IF_NONE_MATCH, "\"stale\"")]).await;
    assert_eq!(r.status(), 200);

    for (path, ty) in [
        ("/static/dashboard.css", "text/css"),
        ("/widget-chat.js", "javascript"),
    ] {
        let r = app.http.get(app.url(path)).send().await.expect(path);
        assert_eq!(r.status(), 200, "{path}");
        let ct = header_str(&r, "content-type").unwrap_or_default();
        assert!(ct.contains(ty), "{path}: {ct}");
    }
    let r = app.http.get(app.url("/static/nope.js")).send().await;
    assert_eq!(r.expect("nope").status(), 404);

    // The dashboard's modules live under a content-hashed prefix, cached as immutable; the page
    // names the prefix. Another prefix (an older page) gets today's file, never cached.
    let (_, rest) = page
        .split_once("src=\"/static/")
        .expect("the page loads a module from /static/<hash>/");
    let (prefix, _) = rest.split_once('/').expect("hash");
    assert!(
        prefix.len() >= 8 && prefix.bytes().all(|b| b.is_ascii_hexdigit()),
        "{prefix}"
    );
    assert!(
        page.contains(&format!("href=\"/static/{prefix}/dashboard.css\"")),
        "the stylesheet is under the same prefix"
    );
    for name in switchboard::web::assets::names().filter(|n| n.starts_with("dashboard/")) {
        assert!(
            page.contains(&format!(
                "<link rel=\"modulepreload\" href=\"/static/{prefix}/{name}\">"
            )),
            "{name} is preloaded"
        );
    }
    for (path, ty) in [
        ("dashboard/app.js", "javascript"),
        ("dashboard/views/list.js", "javascript"),
        ("dashboard.css", "text/css"),
    ] {
        let url = format!("/static/{prefix}/{path}");
        let r = app.http.get(app.url(&url)).send().await.expect(path);
        assert_eq!(r.status(), 200, "{url}");
        assert!(
            header_str(&r, "content-type")
                .unwrap_or_default()
                .contains(ty)
        );
        let cc = header_str(&r, "cache-control").unwrap_or_default();
        assert!(
            cc.contains("immutable") && cc.contains("max-age=31536000"),
            "{url}: {cc}"
        );
        let r = app
            .http
            .get(app.url(&format!("/static/0000000000/{path}")))
            .send()
            .await
            .expect(path);
        assert_eq!(r.status(), 200, "old prefix {path}");
        assert_eq!(header_str(&r, "cache-control").as_deref(), Some("no-store"));
    }
    let r = app
        .http
        .get(app.url(&format!("/static/{prefix}/dashboard/nope.js")))
        .send()
        .await;
    assert_eq!(r.expect("nope").status(), 404);
    app.stop().await;
}
