//! Hostile and broken clients: oversized, malformed and binary frames, a client that never reads.
//! Each must get an error or a close with the documented code while everyone else is served.
use std::time::Duration;

use serde_json::json;
use tokio_tungstenite::tungstenite::Message as WsMsg;

use crate::helpers::*;

fn code(f: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> Option<u16> {
    f.map(|f| u16::from(f.code))
}

#[tokio::test]
async fn malformed_frames_get_error_frames_and_the_socket_keeps_working() {
    let app = spawn_app().await;
    let c = app.customer().await;
    let (mut ws, _) = app.customer_resume(&c, 0).await;
    for (raw, expected) in [
        ("not json at all", "bad_json"),
        ("[1,2,3]", "bad_json"),
        (r#"{"type":"teleport"}"#, "unknown_type"),
        (
            r#"{"type":"send","client_msg_id":5,"body":"x"}"#,
            "invalid_frame",
        ),
        (
            r#"{"type":"send","client_msg_id":"ok","body":"x","seq":99}"#,
            "invalid_frame",
        ),
        (
            &format!("{}{}", "[".repeat(5000), "]".repeat(5000)),
            "bad_json",
        ),
    ] {
        ws.send_raw(WsMsg::text(raw.to_string())).await;
        let e = ws.expect_type("error").await;
        assert_eq!(e["code"], expected, "for {raw:.40}");
    }
    ws.send(json!({"type": "send", "client_msg_id": "fine", "body": ""}))
        .await;
    let e = ws.expect_type("error").await;
    assert_eq!(e["code"], "invalid");
    assert_eq!(e["ref"], "fine");
    ws.send(json!({"type": "send", "client_msg_id": "fine", "body": "still here"}))
        .await;
    assert_eq!(ws.expect_type("ack").await["seq"], 1);
    ws.send(json!({"type": "ping", "nonce": 7})).await;
    assert_eq!(ws.expect_type("pong").await["nonce"], 7);
    app.stop().await;
}

#[tokio::test]
async fn oversized_and_binary_frames_close_the_socket_but_not_the_server() {
    let app = spawn_app_with(|s| s.max_frame_bytes = 8 * 1024).await;
    let c = app.customer().await;
    let (mut big, _) = app.customer_resume(&c, 0).await;
    big.send_raw(WsMsg::text(format!(
        r#"{{"type":"send","client_msg_id":"b","body":"{}"}}"#,
        "x".repeat(20_000)
    )))
    .await;
    let (f, _) = big.until_closed().await;
    assert_eq!(code(f), Some(1009));

    // Fragments each under the limit but over it together: the same close.
    let (mut frag, _) = app.customer_resume(&c, 0).await;
    {
        use tokio_tungstenite::tungstenite::protocol::frame::{
            Frame,
            coding::{Data, OpCode},
        };
        let part = vec![b'x'; 4000];
        frag.send_raw(WsMsg::Frame(Frame::message(
            part.clone(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
        frag.send_raw(WsMsg::Frame(Frame::message(
            part.clone(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .await;
        frag.send_raw(WsMsg::Frame(Frame::message(
            part,
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    }
    let (f, _) = frag.until_closed().await;
    assert_eq!(code(f), Some(1009));

    let (mut bin, _) = app.customer_resume(&c, 0).await;
    bin.send_raw(WsMsg::binary(vec![0u8, 159, 146, 150])).await;
    let (f, _) = bin.until_closed().await;
    assert_eq!(code(f), Some(1003));

    // A body over the message limit inside a frame under the frame limit: a clean error.
    let (mut ws, _) = app.customer_resume(&c, 0).await;
    ws.send(json!({"type": "send", "client_msg_id": "long", "body": "y".repeat(7000)}))
        .await;
    let e = ws.expect_type("ack").await; // 7000 bytes is within the 16 KiB body limit
    assert_eq!(e["seq"], 1);

    // An HTTP body over the message limit is refused the same way.
    let r = app
        .post_message(
            &c.token,
            c.conversation_id,
            "huge",
            &"z".repeat(40_000),
            false,
        )
        .await;
    assert_eq!(r.status(), 400);
    let health = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(health.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_without_slowing_the_others() {
    // 1,500 sends from one address as fast as possible: not what the widget rate limit is for.
    let app = spawn_app_with(|s| {
        s.ws_outbound_queue = 32;
        s.rate_limits = false;
    })
    .await;
    let agent = app.login(ADMIN).await;
    let c = app.customer().await;
    let mut reader = app.agent_ws(&agent).await;
    let mut sleeper = app.agent_ws(&app.login(AGENT2).await).await; // never reads until the end
    let body = "w".repeat(15_000);
    let n = 1500;
    let started = std::time::Instant::now();
    let mut got = 0;
    for i in 0..n {
        let r = app
            .post_message(&c.token, c.conversation_id, &format!("m{i}"), &body, false)
            .await;
        assert_eq!(r.status(), 201);
        // The healthy agent keeps up while the other one stalls.
        got += reader.messages(1).await.len();
    }
    assert_eq!(got, n);
    let elapsed = started.elapsed();
    let (f, received) = tokio::time::timeout(Duration::from_secs(30), sleeper.until_closed())
        .await
        .expect("sleeper closed");
    assert!(
        received < n,
        "the stalled client was cut off ({received} of {n})"
    );
    let c = code(f);
    assert!(
        matches!(c, Some(4008) | None),
        "closed as slow consumer: {c:?}"
    );
    eprintln!("healthy agent received {n} messages in {elapsed:?} while the other stalled");
    app.stop().await;
}

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let v: serde_json::Value = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz")
        .json()
        .await
        .expect("json");
    assert_eq!(v["status"], "ok");
    let v: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(v["status"], "ready");
    let r = app.http.get(app.url("/nope")).send().await.expect("404");
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn a_silent_socket_is_closed_by_the_idle_timeout() {
    let app = spawn_app_with(|s| {
        s.ws_heartbeat_secs = 1;
        s.ws_idle_timeout_secs = 2;
    })
    .await;
    let c = app.customer().await;
    let mut silent = app.customer_ws(&c).await;
    let mut chatty = app.customer_ws(&c).await;
    // The chatty client answers pings (by reading) and sends app-level pings; the silent one
    // does neither for longer than the idle timeout.
    for _ in 0..8 {
        chatty.send(json!({"type": "ping"})).await;
        chatty.expect_type("pong").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Closed with 4000; the client may instead see a broken pipe, because its queued pong
    // replies hit the already closed TCP connection before it reads the close frame.
    let (f, _) = silent.until_closed().await;
    let c = code(f);
    assert!(matches!(c, Some(4000) | None), "closed for idleness: {c:?}");
    chatty.send(json!({"type": "ping"})).await;
    chatty.expect_type("pong").await;
    app.stop().await;
}

#[tokio::test]
async fn fragmented_messages_are_put_together_and_invalid_utf8_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    };
    let app = spawn_app().await;
    let c = app.customer().await;
    let (mut ws, _) = app.customer_resume(&c, 0).await;
    // One `send` in three fragments, with a ping (a control frame may come between fragments).
    let whole =
        json!({"type": "send", "client_msg_id": "frag", "body": "in three parts"}).to_string();
    let (a, rest) = whole.as_bytes().split_at(10);
    let (b, z) = rest.split_at(15);
    for (part, op, fin) in [
        (a, OpCode::Data(Data::Text), false),
        (b, OpCode::Data(Data::Continue), false),
    ] {
        ws.send_raw(WsMsg::Frame(Frame::message(part.to_vec(), op, fin)))
            .await;
    }
    ws.send_raw(WsMsg::Ping(b"between".to_vec().into())).await;
    ws.send_raw(WsMsg::Frame(Frame::message(
        z.to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    let ack = ws.expect_type("ack").await;
    assert_eq!(
        (ack["client_msg_id"].as_str(), ack["seq"].as_i64()),
        (Some("frag"), Some(1))
    );
    // The live message may come before or after the ack.
    let m = ws.messages(1).await;
    assert_eq!(m[0]["body"], "in three parts");

    // Not UTF-8, whole or in fragments: 1007, and the server goes on serving.
    let (mut bad, _) = app.customer_resume(&c, 1).await;
    bad.send_raw(WsMsg::Frame(Frame::message(
        vec![b'{', 0xff, 0xfe, b'}'],
        OpCode::Data(Data::Text),
        true,
    )))
    .await;
    let (f, _) = bad.until_closed().await;
    assert_eq!(code(f), Some(1007));
    // Fragments are checked put together: a character may be cut in two by a boundary...
    let (mut split, _) = app.customer_resume(&c, 1).await;
    let text = json!({"type": "send", "client_msg_id": "cafe", "body": "café"}).to_string();
    let cut = text.find('é').expect("é") + 1;
    for (part, op, fin) in [
        (&text.as_bytes()[..cut], OpCode::Data(Data::Text), false),
        (&text.as_bytes()[cut..], OpCode::Data(Data::Continue), true),
    ] {
        split
            .send_raw(WsMsg::Frame(Frame::message(part.to_vec(), op, fin)))
            .await;
    }
    assert_eq!(split.expect_type("ack").await["seq"], 2);
    assert_eq!(split.messages(1).await[0]["body"], "café");
    // ...but what they add up to must be UTF-8.
    let (mut bad, _) = app.customer_resume(&c, 2).await;
    let text = br#"{"type":"ping","nonce":1}"#;
    bad.send_raw(WsMsg::Frame(Frame::message(
        text[..5].to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await;
    bad.send_raw(WsMsg::Frame(Frame::message(
        [&text[5..], &[0xc3][..]].concat(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await;
    let (f, _) = bad.until_closed().await;
    assert_eq!(code(f), Some(1007));
    let (mut ok, _) = app.customer_resume(&c, 2).await;
    ok.send(json!({"type": "ping", "nonce": 3})).await;
    assert_eq!(ok.expect_type("pong").await["nonce"], 3);
    app.stop().await;
}

/// Reads one whole HTTP/1.1 response from a raw connection, then expects the server to close it.
async fn raw_upgrade(app: &TestApp, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    // To the end: the server closes the connection after a refused upgrade.
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("the server should close the connection")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    assert_eq!(body.len(), len, "the body is complete: {text}");
    (status, body.to_string())
}

#[tokio::test]
async fn refused_upgrades_get_a_whole_http_answer() {
    let app = spawn_app().await;
    let (status, body) = raw_upgrade(&app, "/ws/widget?token=vt.not-a-token").await;
    assert_eq!(status, 401, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("a JSON error");
    assert_eq!(v["code"], "unauthorized", "{v}");
    let (status, body) = raw_upgrade(&app, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = raw_upgrade(&app, "/no/such/socket").await;
    assert_eq!(status, 404);
    // And a good upgrade still works after those.
    let c = app.customer().await;
    let (mut ws, _) = app.customer_resume(&c, 0).await;
    ws.send(json!({"type": "ping", "nonce": 1})).await;
    assert_eq!(ws.expect_type("pong").await["nonce"], 1);
    app.stop().await;
}
