//! Security-audit stories (issue 13): visitor tokens die with an identity-secret rotation, the
//! data dir and database are private, short signing keys are refused, API responses carry
//! no-sniff / no-store (and HSTS when configured), the dashboard may only open sockets to its own
//! server, a small outbound queue survives a burst, a client's close is answered at once, and
//! SIGTERM exits within the documented bound.
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
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
