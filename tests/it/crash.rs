//! Crash story: the real binary is killed with SIGKILL in the middle of a burst of sends. After a
//! restart every acknowledged message is there with the seq it was acked with, seqs are
//! contiguous, and re-sending everything (as a reconnecting client would) stores nothing twice.
use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::helpers::*;

struct Server {
    child: KillOnDrop,
    base: String,
}

/// Kills the child process if the test fails half-way, so no server outlives its test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn command(dir: &std::path::Path, db_url: &Option<String>, port: u16, sub: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.arg(sub)
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        // One visitor sends thousands of messages at once here, far past the per-visitor
        // limit: these tests are about durability, tests/it/flood.rs about the limits.
        .env("SWITCHBOARD_RATE_LIMITS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(url) = db_url {
        cmd.env("SWITCHBOARD_DATABASE_URL", url);
    }
    cmd
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server at {base} never became ready");
}

/// Starts `switchboard demo` and reads the widget token it prints.
async fn start_demo(dir: &std::path::Path, db_url: &Option<String>) -> (Server, String) {
    let port = free_port();
    let mut child = KillOnDrop(
        command(dir, db_url, port, "demo")
            .spawn()
            .expect("spawn demo"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let token = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines();
        let mut token = None;
        for line in lines.by_ref() {
            let line = line.expect("read stdout");
            if let Some(t) = line.trim().strip_prefix("widget token:") {
                token = Some(t.trim().to_string());
                break;
            }
        }
        // Keep draining so the server never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        token.expect("demo printed no widget token")
    })
    .await
    .expect("reader");
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &base).await;
    (Server { child, base }, token)
}

#[tokio::test]
async fn sigkill_mid_burst_loses_no_acked_message() {
    switchboard::install_crypto_provider();
    let dir = tempfile::tempdir().expect("tempdir");
    let db_url = fresh_database_url().await;
    let (mut server, inbox_token) = start_demo(dir.path(), &db_url).await;
    let http = reqwest::Client::new();
    let session: Value = http
        .post(format!("{}/api/v1/widget/session", server.base))
        .json(&json!({"inbox_token": inbox_token}))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let token = session["visitor_token"]
        .as_str()
        .expect("token")
        .to_string();
    let conv = session["conversation_id"]
        .as_str()
        .expect("conv")
        .to_string();

    let ws_url = format!(
        "{}/ws/widget?token={token}",
        server.base.replace("http", "ws")
    );
    let mut ws = Ws::connect(&ws_url, None).await.expect("ws");
    ws.expect_type("hello").await;
    let total = 2000;
    for i in 0..total {
        ws.send(
            json!({"type": "send", "client_msg_id": format!("k{i}"), "body": format!("burst {i}")}),
        )
        .await;
    }
    let mut acked: HashMap<String, i64> = HashMap::new();
    while acked.len() < 50 {
        let a = ws.expect_type("ack").await;
        acked.insert(
            a["client_msg_id"].as_str().expect("id").into(),
            a["seq"].as_i64().expect("seq"),
        );
    }
    server.child.0.kill().expect("SIGKILL");
    let _ = server.child.0.wait();
    // Acks that were already on the wire before the kill count too.
    while let Next::Frame(v) = ws.next().await {
        if v["type"] == "ack" {
            acked.insert(
                v["client_msg_id"].as_str().expect("id").into(),
                v["seq"].as_i64().expect("seq"),
            );
        }
    }

    let port = server
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let _restarted = KillOnDrop(
        command(dir.path(), &db_url, port, "serve")
            .spawn()
            .expect("restart"),
    );
    wait_ready(&http, &server.base).await;
    let app_base = server.base.clone();
    let history = |after: i64| {
        let http = http.clone();
        let url =
            format!("{app_base}/api/v1/conversations/{conv}/messages?after_seq={after}&limit=500");
        let token = token.clone();
        async move {
            let v: Value = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("history")
                .json()
                .await
                .expect("json");
            v
        }
    };
    let mut stored = Vec::new();
    loop {
        let after = stored
            .last()
            .map_or(0, |m: &Value| m["seq"].as_i64().expect("seq"));
        let page = history(after).await;
        stored.extend(
            page["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .cloned(),
        );
        if page["has_more"] != true {
            break;
        }
    }
    let by_id: HashMap<String, i64> = stored
        .iter()
        .map(|m| {
            (
                m["client_msg_id"].as_str().expect("id").to_string(),
                m["seq"].as_i64().expect("seq"),
            )
        })
        .collect();
    assert_eq!(
        seqs(&stored),
        (1..=stored.len() as i64).collect::<Vec<_>>(),
        "contiguous after crash"
    );
    assert_eq!(by_id.len(), stored.len(), "no client_msg_id stored twice");
    for (id, seq) in &acked {
        assert_eq!(
            by_id.get(id),
            Some(seq),
            "acked message {id} survived with its seq"
        );
    }
    eprintln!(
        "{} acked before the kill, {} stored",
        acked.len(),
        stored.len()
    );

    // The client re-sends everything it has no ack for (in fact: everything) after reconnecting.
    let mut ws = Ws::connect(&ws_url, None).await.expect("ws again");
    ws.expect_type("hello").await;
    for i in 0..total {
        ws.send(
            json!({"type": "send", "client_msg_id": format!("k{i}"), "body": format!("burst {i}")}),
        )
        .await;
    }
    for _ in 0..total {
        let a = ws.expect_type("ack").await;
        let id = a["client_msg_id"].as_str().expect("id");
        if let Some(seq) = by_id.get(id) {
            assert_eq!(a["duplicate"], true);
            assert_eq!(a["seq"].as_i64(), Some(*seq));
        }
    }
    let last = history(0).await["last_seq"].as_i64().expect("last_seq");
    assert_eq!(last, total as i64, "every message exactly once");
    ws.close().await;
    drop(_restarted);
    if let Some(url) = &db_url {
        drop_database(url).await;
    }
}
