//! Security-audit stories (issue 13): visitor tokens die with an identity-secret rotation, the
//! data dir and database are private, short signing keys are refused, API responses carry
//! no-sniff / no-store (and HSTS when configured), the dashboard may only open sockets to its own
//! server, a small outbound queue survives a burst, a client's close is answered at once, and
//! SIGTERM exits within the documented bound.
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMsg;

use crate::api_helpers::*;
use crate::helpers::*;

// ---------------------------------------------------------------------------------------------
// 14. A client's close is answered and the connection closed at once
// ---------------------------------------------------------------------------------------------

/// The server used to wait `CLOSE_LINGER` (1 s) for a second close frame after echoing the
/// client's; the TCP connection must end right after the echo.
#[tokio::test]
async fn a_client_close_is_echoed_and_the_connection_ends_without_lingering() {
    let app = spawn_app().await;
    let c = app.customer().await;
    let url = format!("{}/ws/widget?token={}", app.ws_base, c.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let hello = ws.next().await.expect("hello").expect("frame");
    assert!(hello.to_text().unwrap_or_default().contains("hello"));
    let started = Instant::now();
    ws.close(None).await.expect("send close");
    let mut echoed = false;
    // tungstenite answers `None` once the server has closed the TCP connection.
    while let Some(item) = tokio::time::timeout(TIMEOUT, ws.next())
        .await
        .expect("the server never closed the connection")
    {
        if let Ok(WsMsg::Close(_)) = item {
            echoed = true;
        }
    }
    let took = started.elapsed();
    assert!(echoed, "the server did not echo the close frame");
    // The old linger was 1 s: anything below it means the server did not wait for a second close.
    assert!(
        took < Duration::from_secs(1),
        "the server held the connection {took:?} after the client's close"
    );
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 10. Private data dir and files; short signing keys refused
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_dir_database_key_and_index_are_private_to_the_server_user() {
    // A data dir the server creates itself (the test's temp dir is already 0700).
    let app = spawn_app_with(|s| s.data_dir = s.data_dir.join("data")).await;
    // A write, so SQLite has its -wal and -shm files.
    let c = app.customer().await;
    say(&app, &c, "hello").await;
    let data = app.settings.data_dir.clone();
    assert_eq!(mode(&data), 0o700, "data dir");
    assert_eq!(mode(&data.join("search")), 0o700, "search index dir");
    assert_eq!(mode(&data.join("secret.key")), 0o600, "secret.key");
    if app.settings.database_url.is_empty() {
        for f in ["switchboard.db", "switchboard.db-wal", "switchboard.db-shm"] {
            assert_eq!(mode(&data.join(f)), 0o600, "{f}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_secret_key_shorter_than_32_bytes_is_refused_at_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = switchboard::config::Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        secret_key: "hunter2-hunter2-hunter2".into(),
        ..Default::default()
    };
    let err = match switchboard::startup::Application::build(settings).await {
        Ok(_) => panic!("a 23-byte secret_key was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("secret_key") && err.contains("at least 32"),
        "unclear message: {err}"
    );
    // Nothing was created on the way: the check comes before the database.
    assert!(!dir.path().join("switchboard.db").exists());
}

// ---------------------------------------------------------------------------------------------
// 11. Response headers: nosniff, no-store, HSTS, the dashboard's connect-src
// ---------------------------------------------------------------------------------------------

fn assert_private_json(r: &reqwest::Response, what: &str) {
    assert_eq!(
        header_str(r, "x-content-type-options").as_deref(),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        header_str(r, "cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
}

#[tokio::test]
async fn json_answers_are_never_sniffed_or_cached_and_hsts_is_sent_only_when_set() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let ok = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&admin.session)
        .send()
        .await
        .expect("me");
    assert_eq!(ok.status(), 200);
    assert_private_json(&ok, "GET /api/v1/me");
    assert!(
        header_str(&ok, "strict-transport-security").is_none(),
        "HSTS is off by default"
    );
    let refused = app
        .http
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .expect("me");
    assert_eq!(refused.status(), 401);
    assert_private_json(&refused, "an error answer");
    let login = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_private_json(&login, "the login answer (it carries the session token)");
    app.stop().await;

    let app = spawn_app_with(|s| s.hsts_max_age_secs = 31_536_000).await;
    for path in ["/api/v1/widget/config?inbox=x", "/login", "/healthz"] {
        let r = app.http.get(app.url(path)).send().await.expect(path);
        assert_eq!(
            header_str(&r, "strict-transport-security").as_deref(),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_may_open_sockets_only_to_its_own_server() {
    let app = spawn_app_with(|s| s.public_url = "https://support.example.com".into()).await;
    let r = app.http.get(app.url("/login")).send().await.expect("login");
    let csp = header_str(&r, "content-security-policy").expect("CSP");
    let connect: Vec<&str> = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("connect-src "))
        .expect("connect-src")
        .split_whitespace()
        .collect();
    let host = app.base.trim_start_matches("http://");
    for allowed in [
        "'self'".to_string(),
        format!("ws://{host}"),
        "wss://support.example.com".to_string(),
    ] {
        assert!(connect.contains(&allowed.as_str()), "{allowed} in {csp}");
    }
    for src in &connect {
        assert!(
            *src == "'self'" || src.contains("://"),
            "{src} is a whole scheme, not this server: {csp}"
        );
    }
    // A forged Host cannot widen (or break) the policy.
    let r = app
        .http
        .get(app.url("/login"))
        .header("host", "evil.example; script-src *")
        .send()
        .await
        .expect("login");
    let csp = header_str(&r, "content-security-policy").unwrap_or_default();
    assert!(!csp.contains("evil"), "{csp}");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Rotating the identity secret signs verified visitors out
// ---------------------------------------------------------------------------------------------

/// The expiry (unix seconds) a signed token carries.
fn token_expiry(token: &str) -> i64 {
    let mut parts = token.rsplit('.');
    parts.next(); // signature
    parts.next().and_then(|e| e.parse().ok()).expect("expiry")
}

async fn widget_status_code(app: &TestApp, token: &str) -> u16 {
    get(app, "/api/v1/widget/status", token).await.0.as_u16()
}

#[tokio::test]
async fn rotating_the_identity_secret_signs_out_verified_visitors_but_not_anonymous_ones() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    // A secret, but anonymous visitors still allowed.
    let (s, v) = patch_inbox(&app, &admin, json!({"identity_required": true})).await;
    assert_eq!(s, 200, "{v}");
    let secret = v["inbox"]["identity_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let (s, _) = patch_inbox(&app, &admin, json!({"identity_required": false})).await;
    assert_eq!(s, 200);

    let user = json!({"user_id": "u-42", "user_hash": switchboard::auth::tokens::user_hash(&secret, "u-42")});
    let (s, v) = session(
        &app,
        json!({"inbox_token": app.inbox_token, "user": user}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let verified: String = v["visitor_token"].as_str().expect("token").into();
    let verified_conv = v["conversation_id"].clone();
    let anonymous = app.customer().await;

    // Tokens live 30 days (renewed each time the widget opens a session), not 180.
    let now = chrono::Utc::now().timestamp();
    for t in [&verified, &anonymous.token] {
        let days = (token_expiry(t) - now) as f64 / 86_400.0;
        assert!((29.9..=30.1).contains(&days), "token lives {days} days");
    }
    assert_eq!(widget_status_code(&app, &verified).await, 200);
    let ws_url = |t: &str| format!("{}/ws/widget?token={t}", app.ws_base);
    let mut open_verified = Ws::connect(&ws_url(&verified), None)
        .await
        .expect("verified socket");
    open_verified.expect_type("hello").await;
    let mut open_anonymous = app.customer_ws(&anonymous).await;

    let id = seeded_inbox_id(&app, &admin).await;
    let (s, v) = post(
        &app,
        &format!("/api/v1/inboxes/{id}/rotate-identity-secret"),
        &admin.session,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // The socket the verified visitor had open is closed; the anonymous one stays.
    let (frame, _) = open_verified.until_closed().await;
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(4003));
    open_anonymous
        .send(json!({"type": "ping", "nonce": 1}))
        .await;
    assert_eq!(open_anonymous.expect_type("pong").await["nonce"], 1);

    // The verified visitor's token is dead everywhere: HTTP, socket upgrade, SSE, and resuming.
    assert_eq!(widget_status_code(&app, &verified).await, 401);
    assert!(
        Ws::connect(&ws_url(&verified), None).await.is_err(),
        "socket opened with a revoked token"
    );
    let sse = app
        .http
        .get(app.url(&format!("/api/v1/widget/events?token={verified}")))
        .send()
        .await
        .expect("events");
    assert_eq!(sse.status(), 401, "SSE with a revoked token");
    let (s, v) = session(
        &app,
        json!({"inbox_token": app.inbox_token, "visitor_token": verified}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_ne!(
        v["conversation_id"], verified_conv,
        "resumed with a revoked token"
    );

    // The anonymous browser keeps its conversation; the verified user signs in again with a
    // hash made with the new secret and gets theirs back.
    assert_eq!(widget_status_code(&app, &anonymous.token).await, 200);
    let new_secret = seeded_inbox(&app, &admin).await["identity_secret"]
        .as_str()
        .expect("secret")
        .to_string();
    let user = json!({"user_id": "u-42", "user_hash": switchboard::auth::tokens::user_hash(&new_secret, "u-42")});
    let (s, v): (_, Value) = session(
        &app,
        json!({"inbox_token": app.inbox_token, "user": user}),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation_id"], verified_conv);
    let fresh = v["visitor_token"].as_str().expect("token");
    assert_eq!(widget_status_code(&app, fresh).await, 200);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 12. The smallest outbound queue holds a burst for clients that read
// ---------------------------------------------------------------------------------------------

/// `ws_outbound_queue = 16` (the documented minimum) and an agent pipelining 400 sends, which the
/// writer stores in a few group commits: nobody who reads is cut off. A customer socket that has
/// not subscribed gets none of the messages (and so has nothing to overflow with); one that has
/// gets all of them, in order; the agent gets its acks and the messages.
#[tokio::test]
async fn a_burst_does_not_cut_off_clients_that_read_with_the_smallest_queue() {
    const N: usize = 400;
    let app = spawn_app_with(|s| {
        s.ws_outbound_queue = 16;
        s.rate_limits = false;
    })
    .await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let mut idle = app.customer_ws(&c).await;
    let (mut live, replayed) = app.customer_resume(&c, 0).await;
    assert!(replayed.is_empty());
    let token = app.socket_token(&agent).await;
    let (mut sender, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/agent?token={token}", app.ws_base))
            .await
            .expect("agent socket");
    for i in 0..N {
        let f = json!({"type": "send", "conversation_id": c.conversation_id,
                       "client_msg_id": format!("b-{i}"), "body": format!("burst {i}")});
        sender.feed(WsMsg::text(f.to_string())).await.expect("feed");
    }
    sender.flush().await.expect("flush");

    let (mut acks, mut messages) = (0, 0);
    while acks < N || messages < N {
        let item = tokio::time::timeout(TIMEOUT, sender.next())
            .await
            .expect("agent frames stalled");
        match item {
            Some(Ok(WsMsg::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                match v["type"].as_str() {
                    Some("ack") => acks += 1,
                    Some("message") => messages += 1,
                    Some("error") => panic!("send refused: {v}"),
                    _ => {}
                }
            }
            Some(Ok(WsMsg::Close(f))) => {
                panic!("agent cut off after {acks} acks, {messages} messages: {f:?}")
            }
            Some(Ok(_)) => {}
            other => panic!("agent socket ended: {other:?}"),
        }
    }
    let got = live.messages(N).await;
    assert_eq!(seqs(&got), (1..=N as i64).collect::<Vec<_>>());

    // The socket that never subscribed is still open and was sent none of them.
    idle.send(json!({"type": "ping", "nonce": 7})).await;
    loop {
        let v = idle.frame().await;
        assert_ne!(v["type"], "message", "unsubscribed socket got {v}");
        if v["type"] == "pong" {
            break;
        }
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 15. SIGTERM: sockets closed with a going-away code, then the process exits within the bound
// ---------------------------------------------------------------------------------------------

/// What docs/deployment.md promises for `drain_grace_secs = 0` (it took 8–25 s before).
const EXIT_BOUND: Duration = Duration::from_secs(8);

/// Kills the child if the test fails half-way, so no server outlives its test.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_closes_sockets_with_going_away_and_exits_within_the_bound() {
    use std::io::{BufRead, BufReader};
    switchboard::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg("demo")
        .env("SWITCHBOARD_DATA_DIR", dir.path())
        .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_DRAIN_GRACE_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    let db_url = fresh_database_url().await;
    if let Some(url) = &db_url {
        cmd.env("SWITCHBOARD_DATABASE_URL", url);
    }
    let mut child = Child(cmd.spawn().expect("spawn"));
    let stdout = child.0.stdout.take().expect("stdout");
    let inbox_token = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let token = lines.by_ref().map_while(Result::ok).find_map(|l| {
            l.trim()
                .strip_prefix("widget token:")
                .map(|t| t.trim().to_string())
        });
        std::thread::spawn(move || lines.for_each(drop));
        token.expect("demo printed no widget token")
    })
    .await
    .expect("reader");
    let base = format!("http://127.0.0.1:{port}");
    let app = Endpoint::new(&base, &inbox_token);
    let mut ready = false;
    for _ in 0..200 {
        if let Ok(r) = app.http.get(app.url("/readyz")).send().await
            && r.status() == 200
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "server never became ready");

    // Sockets that read (and answer the close), one that never reads, an SSE stream and an
    // idle keep-alive connection.
    let mut readers = Vec::new();
    for _ in 0..5 {
        let c = app.customer().await;
        readers.push(app.customer_resume(&c, 0).await.0);
    }
    let c = app.customer().await;
    let (_deaf, _) =
        tokio_tungstenite::connect_async(format!("{}/ws/widget?token={}", app.ws_base, c.token))
            .await
            .expect("deaf socket");
    let sse = app
        .http
        .get(app.url(&format!("/api/v1/widget/events?token={}", c.token)))
        .send()
        .await
        .expect("sse");
    assert_eq!(sse.status(), 200);

    let started = Instant::now();
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    let rc = unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "kill");
    for ws in &mut readers {
        let (frame, _) = ws.until_closed().await;
        let code = frame.map(|f| u16::from(f.code));
        assert_eq!(
            code,
            Some(1012),
            "sockets are closed with 1012 service restart"
        );
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = child.0.wait().expect("wait");
        (status, started.elapsed())
    })
    .await
    .expect("waiter");
    let (status, took) = status;
    eprintln!("exited {status} {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}");
    assert!(
        took <= EXIT_BOUND,
        "took {took:?} to exit after SIGTERM (bound {EXIT_BOUND:?})"
    );
    if let Some(url) = db_url {
        drop_database(&url).await;
    }
}
