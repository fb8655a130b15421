//! The database goes away under load and comes back (PostgreSQL in every run, through a TCP
//! proxy the test cuts: other tests share the cluster). Sends during the outage fail with `unavailable` and are
//! never acked, sockets stay up, `/readyz` says so, and everything recovers by itself: the failed
//! sends, re-sent with the same ids, are stored once, and nothing acked is lost.
use std::{collections::HashMap, time::Duration};

use serde_json::{Value, json};

use crate::{browser::proxy::Proxy, helpers::*};

/// `postgres://…@127.0.0.1:5432/db` with the host and port replaced by the proxy's.
fn through(url: &str, proxy: &str) -> String {
    let (scheme_user, rest) = url.split_once('@').expect("user@host in TEST_DATABASE_URL");
    let (_, db) = rest.split_once('/').expect("a database name");
    format!("{scheme_user}@{}/{db}", proxy.trim_start_matches("http://"))
}

/// The server the database URL points at, as `http://ip:port` (what `Proxy::start` takes).
fn upstream(url: &str) -> String {
    let (_, rest) = url.split_once('@').expect("user@host");
    let (host, _) = rest.split_once('/').expect("a database name");
    let host = host.replace("localhost", "127.0.0.1");
    if host.contains(':') {
        format!("http://{host}")
    } else {
        format!("http://{host}:5432")
    }
}

async fn ready(app: &TestApp) -> u16 {
    app.http
        .get(app.url("/readyz"))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Sends one message and waits for its answer: the ack's seq, or the error frame's code.
async fn send(ws: &mut Ws, id: &str) -> Result<i64, String> {
    ws.send(json!({"type": "send", "client_msg_id": id, "body": format!("msg {id}")}))
        .await;
    loop {
        let f: Value = ws.frame().await;
        if f["type"] == "ack" && f["client_msg_id"] == id {
            return Ok(f["seq"].as_i64().expect("seq"));
        }
        if f["type"] == "error" && f["ref"] == id {
            assert_eq!(f["retryable"], true, "{f}");
            return Err(f["code"].as_str().unwrap_or_default().to_string());
        }
    }
}

#[tokio::test]
async fn a_database_outage_refuses_sends_keeps_sockets_and_recovers_without_losing_an_ack() {
    let url = fresh_postgres_url().await;
    let proxy = Proxy::start(&upstream(&url)).await;
    let app = spawn_app_with(|s| {
        s.database_url = through(&url, &proxy.url);
        // One visitor sends 300 at once: far past the per-visitor limit (tests/it/flood.rs).
        s.rate_limits = false;
    })
    .await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let (mut ws, _) = app.customer_resume(&c, 0).await;
    let mut acked: HashMap<String, i64> = HashMap::new();
    for i in 0..10 {
        let id = format!("before-{i}");
        acked.insert(id.clone(), send(&mut ws, &id).await.expect("stored"));
    }

    // Under load: another customer pipelines 300 sends and the database goes away mid-stream.
    let loaded = app.customer().await;
    let (mut load_ws, _) = app.customer_resume(&loaded, 0).await;
    for i in 0..300 {
        load_ws
            .send(json!({"type": "send", "client_msg_id": format!("load-{i}"), "body": "x"}))
            .await;
    }
    let mut load_acked: HashMap<String, i64> = HashMap::new();
    let mut load_failed = Vec::new();
    while load_acked.len() + load_failed.len() < 300 {
        let f = load_ws.frame().await;
        let id = f["client_msg_id"].as_str().or(f["ref"].as_str());
        match (f["type"].as_str(), id) {
            (Some("ack"), Some(id)) => {
                load_acked.insert(id.to_string(), f["seq"].as_i64().expect("seq"));
                if load_acked.len() == 30 {
                    proxy.cut();
                }
            }
            (Some("error"), Some(id)) => {
                assert_eq!(f["code"], "unavailable", "{f}");
                load_failed.push(id.to_string());
            }
            _ => {}
        }
    }
    assert!(!load_failed.is_empty(), "the outage hit the stream");

    proxy.cut();
    let mut failed = Vec::new();
    for i in 0..5 {
        let id = format!("during-{i}");
        match send(&mut ws, &id).await {
            Err(code) => {
                assert_eq!(code, "unavailable", "{id}");
                failed.push(id);
            }
            Ok(seq) => panic!("{id} was acked (seq {seq}) while the database was cut off"),
        }
    }
    assert_eq!(ready(&app).await, 503, "/readyz reports the outage");
    // The socket is still up.
    ws.send(json!({"type": "ping", "nonce": 3})).await;
    assert_eq!(ws.expect_type("pong").await["nonce"], 3);

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while ready(&app).await != 200 {
        assert!(tokio::time::Instant::now() < deadline, "not ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The client re-sends what failed (same ids), then goes on.
    for id in failed
        .iter()
        .cloned()
        .chain((0..5).map(|i| format!("after-{i}")))
    {
        let mut answer = send(&mut ws, &id).await;
        // The pool may hand out one connection that died with the cut before it notices.
        if answer == Err("unavailable".into()) {
            answer = send(&mut ws, &id).await;
        }
        acked.insert(id.clone(), answer.expect("stored after the outage"));
    }

    for id in &load_failed {
        let answer = match send(&mut load_ws, id).await {
            Err(_) => send(&mut load_ws, id).await,
            ok => ok,
        };
        load_acked.insert(id.clone(), answer.expect("stored after the outage"));
    }
    let history = app.history(&agent.session, loaded.conversation_id).await;
    assert_eq!(seqs(&history), (1..=300).collect::<Vec<i64>>());
    for m in &history {
        let id = m["client_msg_id"].as_str().expect("client_msg_id");
        assert_eq!(load_acked.get(id), m["seq"].as_i64().as_ref(), "{id}");
    }

    let history = app.history(&agent.session, c.conversation_id).await;
    let seqs = seqs(&history);
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<i64>>(),
        "contiguous, no duplicates"
    );
    for m in &history {
        let id = m["client_msg_id"].as_str().expect("client_msg_id");
        assert_eq!(acked.get(id), m["seq"].as_i64().as_ref(), "{id}");
    }
    assert_eq!(acked.len(), 20, "every ack is in the history");
    app.stop().await;
}
