//! Authorization stories: customers confined to their own conversation, Origin checks on agent
//! sockets, logout ending sockets, bad credentials.
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_customer_cannot_touch_another_conversation() {
    let app = spawn_app().await;
    let alice = app.customer().await;
    let mallory = app.customer().await;
    app.post_message(
        &alice.token,
        alice.conversation_id,
        "a1",
        "alice's secret",
        false,
    )
    .await;

    // HTTP: read and write are refused, and the answer does not confirm the id exists.
    let r = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{}/messages",
            alice.conversation_id
        )))
        .bearer_auth(&mallory.token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let r = app
        .post_message(
            &mallory.token,
            alice.conversation_id,
            "x",
            "injected",
            false,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = app
        .http
        .get(app.url(&format!("/api/v1/conversations/{}", alice.conversation_id)))
        .bearer_auth(&mallory.token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    let r = app
        .http
        .get(app.url("/api/v1/conversations"))
        .bearer_auth(&mallory.token)
        .send()
        .await
        .expect("list");
    assert_eq!(r.status(), 403, "customers cannot list conversations");

    // Socket: send, subscribe and typing are refused.
    let mut ws = app.customer_ws(&mallory).await;
    ws.send(json!({"type": "send", "conversation_id": alice.conversation_id, "client_msg_id": "x", "body": "injected"})).await;
    let e = ws.expect_type("error").await;
    assert_eq!(e["code"], "not_found");
    assert_eq!(e["ref"], "x");
    ws.send(json!({"type": "subscribe", "conversation_id": alice.conversation_id, "after_seq": 0}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(e["code"], "not_found");
    ws.assert_no_message(std::time::Duration::from_millis(300))
        .await;

    let agent = app.login(ADMIN).await;
    let stored = app.history(&agent.session, alice.conversation_id).await;
    assert_eq!(stored.len(), 1, "nothing was injected");
    assert_eq!(stored[0]["body"], "alice's secret");

    // A tampered visitor token is rejected outright.
    let forged = mallory.token.replace(
        &mallory.conversation_id.to_string(),
        &alice.conversation_id.to_string(),
    );
    let r = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{}/messages",
            alice.conversation_id
        )))
        .bearer_auth(&forged)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    assert!(
        Ws::connect(&format!("{}/ws/widget?token={forged}", app.ws_base), None)
            .await
            .is_err()
    );
    app.stop().await;
}

#[tokio::test]
async fn agent_socket_refuses_a_foreign_origin() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let token = app.socket_token(&agent).await;
    let url = format!("{}/ws/agent?token={token}", app.ws_base);
    match Ws::connect(&url, Some("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a foreign origin opened an agent socket"),
    }
    let token = app.socket_token(&agent).await;
    let own = app.base.clone();
    let mut ws = Ws::connect(
        &format!("{}/ws/agent?token={token}", app.ws_base),
        Some(&own),
    )
    .await
    .expect("same origin is fine");
    ws.expect_type("hello").await;
    // Socket tokens are required and must be genuine.
    assert!(
        Ws::connect(&format!("{}/ws/agent?token=st.bogus", app.ws_base), None)
            .await
            .is_err()
    );
    assert!(
        Ws::connect(
            &format!("{}/ws/agent?token={}", app.ws_base, agent.session),
            None
        )
        .await
        .is_err()
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_closes_that_sessions_sockets_only() {
    let app = spawn_app().await;
    let laptop = app.login(ADMIN).await;
    let phone = app.login(ADMIN).await;
    let mut laptop_ws = app.agent_ws(&laptop).await;
    let mut phone_ws = app.agent_ws(&phone).await;
    let unused_token = app.socket_token(&laptop).await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&laptop.session)
        .send()
        .await
        .expect("logout");
    assert_eq!(r.status(), 204);
    let (close, _) = laptop_ws.until_closed().await;
    assert_eq!(close.map(|f| u16::from(f.code)), Some(4003));
    let r = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&laptop.session)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 401);
    // A socket token minted before the logout is dead too.
    assert!(
        Ws::connect(
            &format!("{}/ws/agent?token={unused_token}", app.ws_base),
            None
        )
        .await
        .is_err()
    );
    // The other device is still logged in and still receives messages.
    let c = app.customer().await;
    app.post_message(&c.token, c.conversation_id, "m", "still there?", false)
        .await;
    assert_eq!(phone_ws.messages(1).await[0]["body"], "still there?");
    app.stop().await;
}

#[tokio::test]
async fn wrong_password_and_unknown_email_look_the_same() {
    let app = spawn_app().await;
    for (email, pw) in [(ADMIN, "wrong-password"), ("nobody@acme.example", PASSWORD)] {
        let r = app
            .http
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": pw}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), 401);
        let v: serde_json::Value = r.json().await.expect("json");
        assert_eq!(v["code"], "unauthorized");
    }
    let r = app
        .http
        .get(app.url("/api/v1/conversations"))
        .send()
        .await
        .expect("no auth");
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn agents_see_each_others_presence() {
    let app = spawn_app().await;
    let a1 = app.login(ADMIN).await;
    let a2 = app.login(AGENT2).await;
    let me: serde_json::Value = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&a2.session)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    let a2_id = me["agent_id"].clone();
    let mut w1 = app.agent_ws(&a1).await;
    let mut w2 = app.agent_ws(&a2).await;
    let status_of_a2 = async |w: &mut Ws| loop {
        let p = w.expect_type("presence").await;
        if p["agent_id"] == a2_id {
            return p["status"].clone();
        }
    };
    assert_eq!(status_of_a2(&mut w1).await, "online");
    w2.send(json!({"type": "presence", "status": "away"})).await;
    assert_eq!(status_of_a2(&mut w1).await, "away");
    w2.close().await;
    assert_eq!(status_of_a2(&mut w1).await, "offline");
    app.stop().await;
}

#[tokio::test]
async fn widget_is_bound_to_the_inbox_allowed_origins() {
    let app = spawn_app().await;
    let acc = app.ctx.db.clone();
    let account_id = {
        use sea_orm::EntityTrait;
        switchboard::db::entities::account::Entity::find()
            .one(&acc)
            .await
            .expect("q")
            .expect("account")
            .id
    };
    let shop = "https://shop.example";
    let inbox = switchboard::inboxes::create(&acc, account_id, "Shop", &[shop.to_string()])
        .await
        .expect("inbox");
    let session = |origin: &'static str| {
        app.http
            .post(app.url("/api/v1/widget/session"))
            .header("Origin", origin)
            .json(&json!({"inbox_token": inbox.widget_token}))
            .send()
    };
    assert_eq!(
        session("https://evil.example")
            .await
            .expect("post")
            .status(),
        403
    );
    let r = session("https://shop.example").await.expect("post");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    let token = v["visitor_token"].as_str().expect("token");
    let url = format!("{}/ws/widget?token={token}", app.ws_base);
    match Ws::connect(&url, Some("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("foreign origin was not refused: {:?}", other.err()),
    }
    let mut ws = Ws::connect(&url, Some(shop)).await.expect("allowed origin");
    ws.expect_type("hello").await;
    // An unknown inbox token is a plain 404.
    let r = app
        .http
        .post(app.url("/api/v1/widget/session"))
        .json(&json!({"inbox_token": "wt_nope"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn agents_of_another_account_see_and_touch_nothing() {
    let app = spawn_app().await;
    let db = &app.ctx.db;
    let other = switchboard::accounts::service::create_account(db, "Globex")
        .await
        .expect("account");
    switchboard::accounts::service::create_agent(
        db,
        other.id,
        "spy@globex.example",
        "Spy",
        PASSWORD,
        switchboard::actor::Role::Admin,
    )
    .await
    .expect("agent");
    let spy = app.login("spy@globex.example").await;
    let mut spy_ws = app.agent_ws(&spy).await;
    let c = app.customer().await;
    app.post_message(&c.token, c.conversation_id, "m1", "acme only", false)
        .await;

    let conv = c.conversation_id;
    for path in [
        format!("/api/v1/conversations/{conv}"),
        format!("/api/v1/conversations/{conv}/messages"),
    ] {
        let r = app
            .http
            .get(app.url(&path))
            .bearer_auth(&spy.session)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = app
        .post_message(&spy.session, conv, "x", "from outside", false)
        .await;
    assert_eq!(r.status(), 404);
    let list: serde_json::Value = app
        .http
        .get(app.url("/api/v1/conversations"))
        .bearer_auth(&spy.session)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list["conversations"].as_array().map(Vec::len), Some(0));

    spy_ws
        .send(json!({"type": "send", "conversation_id": conv, "client_msg_id": "y", "body": "hi"}))
        .await;
    assert_eq!(spy_ws.expect_type("error").await["code"], "not_found");
    spy_ws
        .send(json!({"type": "subscribe", "conversation_id": conv, "after_seq": 0}))
        .await;
    assert_eq!(spy_ws.expect_type("error").await["code"], "not_found");
    // Typing into another account's conversation, or one that does not exist, is refused the
    // same way (and never echoed to the spy's other sockets).
    let mut spy_other_tab = app.agent_ws(&spy).await;
    for target in [conv, uuid::Uuid::new_v4()] {
        spy_ws
            .send(json!({"type": "typing", "conversation_id": target, "typing": true}))
            .await;
        assert_eq!(spy_ws.expect_type("error").await["code"], "not_found");
    }
    spy_other_tab
        .assert_no_frame_of("typing", std::time::Duration::from_millis(300))
        .await;
    // Live traffic of the other account never reaches this socket.
    app.post_message(&c.token, conv, "m2", "still acme only", false)
        .await;
    spy_ws
        .assert_no_message(std::time::Duration::from_millis(400))
        .await;
    let stored = app.history(&c.token, conv).await;
    assert_eq!(
        seqs(&stored),
        vec![1, 2],
        "nothing from the other account was stored"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_expired_login_session_closes_its_sockets() {
    let app = spawn_app_with(|s| {
        s.session_ttl_secs = 3;
        s.ws_heartbeat_secs = 1;
    })
    .await;
    let agent = app.login(ADMIN).await;
    let mut ws = app.agent_ws(&agent).await;
    let started = std::time::Instant::now();
    let (close, _) = ws.until_closed().await;
    assert_eq!(close.map(|f| u16::from(f.code)), Some(4003));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(8),
        "closed soon after expiry"
    );
    let r = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&agent.session)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 401, "the session itself is over too");
    app.stop().await;
}

#[tokio::test]
async fn tokens_can_travel_in_the_subprotocol_header_instead_of_the_url() {
    let app = spawn_app().await;
    let c = app.customer().await;
    let offered = format!("switchboard.v1, {}", c.token);
    let mut ws = Ws::connect_with(&format!("{}/ws/widget", app.ws_base), None, Some(&offered))
        .await
        .expect("visitor token in Sec-WebSocket-Protocol");
    assert_eq!(ws.expect_type("hello").await["role"], "customer");

    let agent = app.login(ADMIN).await;
    let offered = format!("switchboard.v1, {}", app.socket_token(&agent).await);
    let mut aws = Ws::connect_with(&format!("{}/ws/agent", app.ws_base), None, Some(&offered))
        .await
        .expect("socket token in Sec-WebSocket-Protocol");
    assert_eq!(aws.expect_type("hello").await["role"], "agent");

    // No token anywhere, or a forged one: refused before the upgrade.
    let bare = Ws::connect_with(
        &format!("{}/ws/widget", app.ws_base),
        None,
        Some("switchboard.v1"),
    )
    .await;
    assert!(
        matches!(bare, Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401)
    );
    let forged = Ws::connect_with(
        &format!("{}/ws/widget", app.ws_base),
        None,
        Some("switchboard.v1, vt.x.y"),
    )
    .await;
    assert!(forged.is_err());
    app.stop().await;
}
