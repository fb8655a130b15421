//! Resume stories: reconnect after missing messages, resume during traffic, restart the server.
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn reconnect_with_after_seq_gets_exactly_the_missed_messages() {
    let app = spawn_app_with(|s| s.replay_page_size = 4).await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let (mut cws, _) = app.customer_resume(&c, 0).await;
    app.post_many(&agent.session, c.conversation_id, "before", 3)
        .await;
    let seen = cws.messages(3).await;
    assert_eq!(seqs(&seen), vec![1, 2, 3]);
    cws.close().await;

    // While the customer is away, ten more messages (more than one replay page).
    app.post_many(&agent.session, c.conversation_id, "away", 10)
        .await;
    let (mut cws, missed) = app.customer_resume(&c, 3).await;
    assert_eq!(seqs(&missed), (4..=13).collect::<Vec<_>>());
    assert_eq!(missed[0]["body"], "away 0");

    // Then live, each message once.
    app.post_message(&agent.session, c.conversation_id, "live", "live one", false)
        .await;
    let live = cws.messages(1).await;
    assert_eq!(live[0]["seq"], 14);
    cws.assert_no_message(Duration::from_millis(300)).await;
    app.stop().await;
}

#[tokio::test]
async fn resume_while_messages_keep_arriving_has_no_gap_and_no_duplicate() {
    let app = spawn_app_with(|s| s.replay_page_size = 5).await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    app.post_many(&agent.session, c.conversation_id, "earlier", 30)
        .await;
    let total = 130;
    let writer = {
        let http = app.http.clone();
        let url = app.url(&format!(
            "/api/v1/conversations/{}/messages",
            c.conversation_id
        ));
        let session = agent.session.clone();
        tokio::spawn(async move {
            for i in 0..(total - 30) {
                let r = http
                    .post(&url)
                    .bearer_auth(&session)
                    .json(&json!({"client_msg_id": format!("live{i}"), "body": format!("during {i}")}))
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), 201);
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let (mut cws, replayed) = app.customer_resume(&c, 10).await;
    let mut all = replayed;
    let remaining = (total - 10) as usize - all.len();
    all.extend(cws.messages(remaining).await);
    writer.await.expect("writer");
    assert_eq!(
        seqs(&all),
        (11..=total).collect::<Vec<_>>(),
        "every seq once, in order"
    );
    cws.assert_no_message(Duration::from_millis(300)).await;
    app.stop().await;
}

#[tokio::test]
async fn resume_from_an_offset_beyond_the_conversation_asks_for_resync() {
    let app = spawn_app().await;
    let c = app.customer().await;
    app.post_message(&c.token, c.conversation_id, "one", "hello", false)
        .await;
    let mut ws = app.customer_ws(&c).await;
    ws.send(json!({"type": "subscribe", "after_seq": 999}))
        .await;
    let f = ws.expect_type("resync").await;
    assert_eq!(f["last_seq"], 1);
    // HTTP says the same with a 409.
    let r = app
        .http
        .get(app.url(&format!(
            "/api/v1/conversations/{}/messages?after_seq=999",
            c.conversation_id
        )))
        .bearer_auth(&c.token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 409);
    app.stop().await;
}

#[tokio::test]
async fn restart_keeps_history_and_seqs_continue() {
    let app = spawn_app().await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    app.post_many(&c.token, c.conversation_id, "msg", 5).await;
    let (mut live, _) = app.customer_resume(&c, 5).await;
    let app = app.restart().await;
    // Sockets were told the server is going away, so clients reconnect rather than give up.
    let (close, _) = live.until_closed().await;
    assert_eq!(close.map(|f| u16::from(f.code)), Some(1001));
    // The visitor token and the agent session survive the restart.
    let before = app.history(&agent.session, c.conversation_id).await;
    assert_eq!(seqs(&before), vec![1, 2, 3, 4, 5]);
    let r = app
        .post_message(&c.token, c.conversation_id, "m5", "after restart", false)
        .await;
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["message"]["seq"], 6);
    // A retry of a pre-restart message is still recognised.
    let r = app
        .post_message(&c.token, c.conversation_id, "msg-2", "msg 2", false)
        .await;
    assert_eq!(r.status(), 200);
    let (_ws, replay) = app.customer_resume(&c, 4).await;
    assert_eq!(seqs(&replay), vec![5, 6]);
    app.stop().await;
}

#[tokio::test]
async fn paging_upward_through_history() {
    let app = spawn_app().await;
    let c = app.customer().await;
    app.post_many(&c.token, c.conversation_id, "msg", 12).await;
    let get = |q: String| {
        let app = &app;
        let c = &c;
        async move {
            let v: serde_json::Value = app
                .http
                .get(app.url(&format!(
                    "/api/v1/conversations/{}/messages?{q}",
                    c.conversation_id
                )))
                .bearer_auth(&c.token)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            v
        }
    };
    let newest = get("limit=5".into()).await;
    assert_eq!(
        seqs(newest["messages"].as_array().expect("arr")),
        vec![8, 9, 10, 11, 12]
    );
    assert_eq!(newest["has_more"], true);
    let older = get("limit=5&before_seq=8".into()).await;
    assert_eq!(
        seqs(older["messages"].as_array().expect("arr")),
        vec![3, 4, 5, 6, 7]
    );
    let oldest = get("limit=5&before_seq=3".into()).await;
    assert_eq!(
        seqs(oldest["messages"].as_array().expect("arr")),
        vec![1, 2]
    );
    assert_eq!(oldest["has_more"], false);
    app.stop().await;
}

/// PostgreSQL in every run (`fresh_postgres_url`): every database connection is killed under
/// the running server. Requests fail at most with a retryable 503, never a 500, no
/// acknowledged message is lost, and the pool recovers without a restart.
#[tokio::test]
async fn killed_database_connections_recover_without_restart() {
    let url = fresh_postgres_url().await;
    let admin_url = postgres_admin_url();
    let app = spawn_app_with(|s| s.database_url = url).await;
    let c = app.customer().await;
    assert_eq!(
        app.post_message(&c.token, c.conversation_id, "before", "before", false)
            .await
            .status(),
        201
    );
    let db_name = app
        .settings
        .database_url
        .rsplit('/')
        .next()
        .expect("db name")
        .to_string();
    let admin = sea_orm::Database::connect(&admin_url)
        .await
        .expect("admin connection");
    let killed = sea_orm::ConnectionTrait::execute_unprepared(
        &admin,
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db_name}' AND pid <> pg_backend_pid()"),
    )
    .await
    .expect("terminate");
    eprintln!("terminated backends: {killed:?}");
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = app
            .post_message(
                &c.token,
                c.conversation_id,
                "after",
                "after the outage",
                false,
            )
            .await;
        let s = r.status().as_u16();
        statuses.push(s);
        if s == 201 || s == 200 {
            break;
        }
        assert_eq!(s, 503, "only a retryable error while the pool recovers");
        assert!(r.headers().contains_key("retry-after"));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        matches!(statuses.last(), Some(201 | 200)),
        "recovered: {statuses:?}"
    );
    let stored = app.history(&c.token, c.conversation_id).await;
    assert_eq!(seqs(&stored), vec![1, 2], "each message exactly once");
    let ready = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    app.stop().await;
}
