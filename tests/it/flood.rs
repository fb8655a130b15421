//! A visitor who writes too fast, or too much: message rates and storage budgets hold on every
//! transport with the same `rate_limited` answer, the socket stays open, other visitors and the
//! agents are not affected; typing toggles cannot flood the agents' sockets.
use serde_json::{Value, json};

use crate::helpers::*;

/// Sends `n` messages `"<prefix>-<i>"` over a socket at once and returns, per message, the ack
/// or the error frame, in the order they came.
async fn burst(ws: &mut Ws, prefix: &str, n: usize, body: &str) -> Vec<Value> {
    for i in 0..n {
        ws.send(json!({"type": "send", "client_msg_id": format!("{prefix}-{i}"), "body": body}))
            .await;
    }
    let mut answers = Vec::new();
    while answers.len() < n {
        let f = ws.frame().await;
        if f["type"] == "ack" || f["type"] == "error" {
            answers.push(f);
        }
    }
    answers
}

fn count(answers: &[Value], ty: &str) -> usize {
    answers.iter().filter(|f| f["type"] == ty).count()
}

#[tokio::test]
async fn a_visitor_flooding_the_socket_is_rate_limited_on_every_transport_and_keeps_its_socket() {
    let app = spawn_app_with(|s| {
        s.visitor_message_burst = 5;
        s.visitor_messages_per_minute = 6;
    })
    .await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let (mut ws, _) = app.customer_resume(&c, 0).await;

    let answers = burst(&mut ws, "flood", 40, &"x".repeat(16_000)).await;
    assert_eq!(count(&answers, "ack"), 5, "the burst is stored");
    assert_eq!(count(&answers, "error"), 35);
    for e in answers.iter().filter(|f| f["type"] == "error") {
        assert_eq!(e["code"], "rate_limited", "{e}");
        assert_eq!(e["retryable"], true);
        assert!(e["retry_after"].as_u64().is_some_and(|s| s >= 1), "{e}");
        assert!(e["ref"].as_str().is_some_and(|r| r.starts_with("flood-")));
    }
    // A merely fast client is told, not disconnected.
    ws.send(json!({"type": "ping", "nonce": 1})).await;
    assert_eq!(ws.expect_type("pong").await["nonce"], 1);

    // The HTTP path (also what the SSE fallback sends with) gives the same answer.
    let r = app
        .post_message(&c.token, c.conversation_id, "http-1", "hello?", false)
        .await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "rate_limited");
    assert_eq!(v["retry_after"], retry);

    // Only what was acked was stored; agents are not limited, other visitors not affected.
    assert_eq!(
        app.history(&agent.session, c.conversation_id).await.len(),
        5
    );
    for i in 0..10 {
        let r = app
            .post_message(
                &agent.session,
                c.conversation_id,
                &format!("a{i}"),
                "answer",
                false,
            )
            .await;
        assert_eq!(r.status(), 201, "agent message {i}");
    }
    let other = app.customer().await;
    let r = app
        .post_message(&other.token, other.conversation_id, "o", "hi", false)
        .await;
    assert_eq!(r.status(), 201);
    app.stop().await;
}

#[tokio::test]
async fn the_daily_storage_budget_holds_per_visitor_and_per_inbox() {
    let app = spawn_app_with(|s| {
        s.visitor_bytes_per_day = 10_000;
        s.inbox_bytes_per_day = 20_000;
    })
    .await;
    let body = "y".repeat(4_000);
    let send = |token: String, conv, id: &'static str| {
        let app = &app;
        let body = body.clone();
        async move {
            app.post_message(&token, conv, id, &body, false)
                .await
                .status()
        }
    };
    let a = app.customer().await;
    assert_eq!(send(a.token.clone(), a.conversation_id, "a1").await, 201);
    assert_eq!(send(a.token.clone(), a.conversation_id, "a2").await, 201);
    // 12,000 bytes would pass this visitor's 10,000.
    assert_eq!(send(a.token.clone(), a.conversation_id, "a3").await, 429);
    let b = app.customer().await;
    assert_eq!(send(b.token.clone(), b.conversation_id, "b1").await, 201);
    assert_eq!(send(b.token.clone(), b.conversation_id, "b2").await, 201);
    let c = app.customer().await;
    // 16,000 of the inbox's 20,000 are spent: one more fits, then the inbox is full.
    assert_eq!(send(c.token.clone(), c.conversation_id, "c1").await, 201);
    let d = app.customer().await;
    assert_eq!(send(d.token.clone(), d.conversation_id, "d1").await, 429);
    app.stop().await;
}

#[tokio::test]
async fn alternating_typing_reaches_the_agents_throttled_and_ends_stopped() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let mut agent_ws = app.agent_ws(&agent).await;
    let c = app.customer().await;
    let (mut ws, _) = app.customer_resume(&c, 0).await;
    agent_ws
        .send(json!({"type": "subscribe", "conversation_id": c.conversation_id, "after_seq": 0}))
        .await;
    agent_ws.until_replay_done().await;

    for i in 0..400 {
        ws.send(json!({"type": "typing", "typing": i % 2 == 0}))
            .await;
    }
    // The message goes through the database, so it reaches the agent after every typing frame
    // the hub relayed.
    ws.send(json!({"type": "send", "client_msg_id": "after", "body": "done typing"}))
        .await;
    let mut typing = Vec::new();
    loop {
        let f = agent_ws.frame().await;
        if f["type"] == "typing" {
            typing.push(f["typing"].as_bool().expect("typing flag"));
        }
        if f["type"] == "message" && f["body"] == "done typing" {
            break;
        }
    }
    assert!(
        !typing.is_empty() && typing.len() <= 20,
        "{} of 400 typing frames reached the agent",
        typing.len()
    );
    assert_eq!(typing.last(), Some(&false), "no indicator is left on");

    // The HTTP typing endpoint (the SSE fallback's) goes through the same throttle.
    let mut relayed = 0;
    for i in 0..100 {
        let r = app
            .http
            .post(app.url("/api/v1/widget/typing"))
            .bearer_auth(&c.token)
            .json(&json!({"typing": i % 2 == 0}))
            .send()
            .await
            .expect("typing");
        assert_eq!(r.status(), 204);
    }
    ws.send(json!({"type": "send", "client_msg_id": "after2", "body": "again"}))
        .await;
    loop {
        let f = agent_ws.frame().await;
        relayed += usize::from(f["type"] == "typing");
        if f["type"] == "message" && f["body"] == "again" {
            break;
        }
    }
    assert!(relayed <= 20, "{relayed} of 100 HTTP typing frames relayed");
    app.stop().await;
}
