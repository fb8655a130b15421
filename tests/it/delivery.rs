//! Delivery stories: a customer and agents talking, one order for everyone, exactly-once sends.
use std::collections::HashSet;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn customer_message_reaches_agent_and_reply_reaches_customer() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let mut agent_ws = app.agent_ws(&agent).await;
    let c = app.customer().await;
    let (mut cws, replayed) = app.customer_resume(&c, 0).await;
    assert!(replayed.is_empty());

    cws.send(json!({"type": "send", "client_msg_id": "m1", "body": "Hi, my sync is paused"}))
        .await;
    let ack = cws.expect_type("ack").await;
    assert_eq!(ack["seq"], 1);
    assert_eq!(ack["duplicate"], false);

    let got = agent_ws.messages(1).await;
    assert_eq!(got[0]["body"], "Hi, my sync is paused");
    assert_eq!(got[0]["sender_type"], "customer");
    assert_eq!(got[0]["conversation_id"], c.conversation_id.to_string());
    assert_eq!(got[0]["id"], ack["id"]);

    agent_ws
        .send(json!({"type": "send", "conversation_id": c.conversation_id, "client_msg_id": "r1", "body": "Let's fix that."}))
        .await;
    let reply = cws.messages(2).await; // its own message echoes first, then the reply
    assert_eq!(seqs(&reply), vec![1, 2]);
    assert_eq!(reply[1]["body"], "Let's fix that.");
    assert_eq!(reply[1]["sender_type"], "agent");
    app.stop().await;
}

#[tokio::test]
async fn concurrent_writers_produce_one_order_for_every_viewer() {
    let app = spawn_app().await;
    let a1 = app.login(ADMIN).await;
    let a2 = app.login(AGENT2).await;
    let c = app.customer().await;
    let mut w1 = app.agent_ws(&a1).await;
    let mut w2 = app.agent_ws(&a2).await;
    for w in [&mut w1, &mut w2] {
        w.send(json!({"type": "subscribe", "conversation_id": c.conversation_id, "after_seq": 0}))
            .await;
        assert!(w.until_replay_done().await.is_empty());
    }
    let (mut cws, _) = app.customer_resume(&c, 0).await;
    // A third writer over HTTP, while customer and agent 1 write over their sockets.
    let http_writer = {
        let http = app.http.clone();
        let url = app.url(&format!(
            "/api/v1/conversations/{}/messages",
            c.conversation_id
        ));
        let session = a2.session.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let r = http
                    .post(&url)
                    .bearer_auth(&session)
                    .json(&json!({"client_msg_id": format!("h{i}"), "body": format!("http {i}")}))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), 201);
            }
        })
    };
    for i in 0..40 {
        cws.send(json!({"type": "send", "client_msg_id": format!("c{i}"), "body": format!("customer {i}")})).await;
        w1.send(json!({"type": "send", "conversation_id": c.conversation_id, "client_msg_id": format!("a{i}"), "body": format!("agent {i}")}))
            .await;
    }
    http_writer.await.expect("http writer");
    let seen_c = cws.messages(120).await;
    let seen_1 = w1.messages(120).await;
    let seen_2 = w2.messages(120).await;
    let order = |v: &[serde_json::Value]| {
        v.iter()
            .map(|m| (m["seq"].as_i64().unwrap_or(0), m["id"].to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(&seen_c),
        (1..=120).collect::<Vec<_>>(),
        "contiguous seqs"
    );
    assert_eq!(order(&seen_c), order(&seen_1));
    assert_eq!(order(&seen_c), order(&seen_2));
    // Each writer's own messages keep the order in which it sent them.
    for prefix in ["customer ", "agent ", "http "] {
        let nums: Vec<i64> = seen_c
            .iter()
            .filter_map(|m| m["body"].as_str()?.strip_prefix(prefix)?.parse().ok())
            .collect();
        assert_eq!(
            nums,
            (0..40).collect::<Vec<_>>(),
            "{prefix}messages in send order"
        );
    }
    let stored = app.history(&a1.session, c.conversation_id).await;
    assert_eq!(
        order(&stored),
        order(&seen_c),
        "database order equals live order"
    );
    app.stop().await;
}

#[tokio::test]
async fn same_client_msg_id_sent_many_times_concurrently_is_stored_once() {
    let app = spawn_app().await;
    let c = app.customer().await;
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let http = app.http.clone();
        let url = app.url(&format!(
            "/api/v1/conversations/{}/messages",
            c.conversation_id
        ));
        let token = c.token.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .json(&json!({"client_msg_id": "dup-1", "body": "once only"}))
                .send()
                .await
                .expect("post");
            let status = r.status().as_u16();
            let v: serde_json::Value = r.json().await.expect("json");
            (
                status,
                v["message"]["id"].clone(),
                v["message"]["seq"].clone(),
            )
        }));
    }
    // The same id over two sockets at the same time as the HTTP retries.
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let mut ws = app.customer_ws(&c).await;
        for _ in 0..5 {
            ws.send(json!({"type": "send", "client_msg_id": "dup-1", "body": "once only"}))
                .await;
        }
        sockets.push(ws);
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for t in tasks {
        let (status, id, seq) = t.await.expect("task");
        created += usize::from(status == 201);
        assert!(status == 201 || status == 200, "status {status}");
        assert_eq!(seq, 1);
        ids.insert(id.to_string());
    }
    for ws in &mut sockets {
        for _ in 0..5 {
            let ack = ws.expect_type("ack").await;
            assert_eq!(ack["seq"], 1);
            ids.insert(ack["id"].to_string());
        }
    }
    assert_eq!(ids.len(), 1, "every ack names the same message");
    assert!(created <= 1);
    let agent = app.login(ADMIN).await;
    let stored = app.history(&agent.session, c.conversation_id).await;
    assert_eq!(stored.len(), 1, "stored exactly once");
    // A retry later still returns the original.
    let r = app
        .post_message(&c.token, c.conversation_id, "dup-1", "once only", false)
        .await;
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["duplicate"], true);
    assert_eq!(v["message"]["seq"], 1);
    app.stop().await;
}

#[tokio::test]
async fn private_notes_never_reach_the_customer() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let (mut cws, _) = app.customer_resume(&c, 0).await;
    let mut aws = app.agent_ws(&agent).await;

    cws.send(json!({"type": "send", "client_msg_id": "q", "body": "question"}))
        .await;
    cws.expect_type("ack").await;
    aws.send(json!({"type": "send", "conversation_id": c.conversation_id, "client_msg_id": "n1", "body": "NOTE: VIP customer", "private": true}))
        .await;
    aws.send(json!({"type": "send", "conversation_id": c.conversation_id, "client_msg_id": "r1", "body": "public answer"}))
        .await;
    let agent_view = aws.messages(3).await;
    assert_eq!(agent_view[1]["private"], true);

    let live = cws.messages(2).await;
    assert_eq!(live[0]["body"], "question");
    assert_eq!(live[1]["body"], "public answer");
    assert_eq!(live[1]["seq"], 3, "the note's seq is skipped, not reused");
    cws.close().await;

    let (_ws, replay) = app.customer_resume(&c, 0).await;
    assert!(
        replay
            .iter()
            .all(|m| m["private"] == false && m["body"] != "NOTE: VIP customer")
    );
    assert_eq!(replay.len(), 2);
    let http = app.history(&c.token, c.conversation_id).await;
    assert_eq!(http.len(), 2, "HTTP history hides the note too");
    let agent_http = app.history(&agent.session, c.conversation_id).await;
    assert_eq!(agent_http.len(), 3);

    // A customer cannot write a private note.
    let r = app
        .post_message(&c.token, c.conversation_id, "p", "sneaky", true)
        .await;
    assert_eq!(r.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn typing_and_read_markers_reach_the_other_side() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let (mut cws, _) = app.customer_resume(&c, 0).await;
    let mut aws = app.agent_ws(&agent).await;
    // A burst of identical typing frames reaches the agent once (flood protection).
    for _ in 0..20 {
        cws.send(json!({"type": "typing", "typing": true})).await;
    }
    cws.send(json!({"type": "typing", "typing": false})).await;
    let t = aws.expect_type("typing").await;
    assert_eq!(t["sender_type"], "customer");
    assert_eq!(t["typing"], true);
    let t = aws.expect_type("typing").await;
    assert_eq!(t["typing"], false, "the repeats were not relayed");

    cws.send(json!({"type": "send", "client_msg_id": "x", "body": "hello"}))
        .await;
    cws.expect_type("ack").await;
    aws.send(json!({"type": "read", "conversation_id": c.conversation_id, "seq": 1}))
        .await;
    let r = cws.expect_type("read").await;
    assert_eq!(r["reader_type"], "agent");
    assert_eq!(r["seq"], 1);
    // Stored: visible in the conversation afterwards, and it never moves backwards.
    let v: serde_json::Value = app
        .http
        .get(app.url(&format!("/api/v1/conversations/{}", c.conversation_id)))
        .bearer_auth(&c.token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(v["read"][0]["seq"], 1);
    app.stop().await;
}
