//! The protocol-v1 WebSocket client of the integration tests: JSON frames in and out, with
//! waits that panic after [`TIMEOUT`] (a test that hangs is a failed test) and helpers that skip
//! presence/typing chatter. Panics instead of returning errors: it is for tests.
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message as WsMsg, client::IntoClientRequest, protocol::CloseFrame},
};

/// How long a wait for a frame lasts before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Ws {
    inner: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Frames that matter (message, ack, error, …) read past while looking for another type;
    /// every read takes from here first, so nothing is lost or reordered.
    stash: std::collections::VecDeque<Value>,
}

pub enum Next {
    Frame(Value),
    Closed(Option<CloseFrame>),
}

impl Ws {
    pub async fn connect(url: &str, origin: Option<&str>) -> Result<Ws, tungstenite::Error> {
        Self::connect_with(url, origin, None).await
    }

    /// Connects offering `Sec-WebSocket-Protocol: <protocols>` (as browsers do with
    /// `new WebSocket(url, protocols)`); the handshake fails unless the server selects one.
    pub async fn connect_with(
        url: &str,
        origin: Option<&str>,
        protocols: Option<&str>,
    ) -> Result<Ws, tungstenite::Error> {
        let mut req = url.into_client_request()?;
        if let Some(o) = origin {
            req.headers_mut()
                .insert("Origin", o.parse().expect("origin header"));
        }
        if let Some(p) = protocols {
            req.headers_mut().insert(
                "Sec-WebSocket-Protocol",
                p.parse().expect("protocol header"),
            );
        }
        let (inner, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(Ws {
            inner,
            stash: Default::default(),
        })
    }

    pub async fn send(&mut self, v: Value) {
        self.inner
            .send(WsMsg::text(v.to_string()))
            .await
            .expect("ws send");
    }

    pub async fn send_raw(&mut self, m: WsMsg) {
        let _ = self.inner.send(m).await;
    }

    /// The next JSON frame (first any read past earlier) or the close, skipping transport pings.
    pub async fn next(&mut self) -> Next {
        if let Some(v) = self.stash.pop_front() {
            return Next::Frame(v);
        }
        loop {
            let item = tokio::time::timeout(TIMEOUT, self.inner.next())
                .await
                .expect("timed out waiting for a frame");
            match item {
                None => return Next::Closed(None),
                Some(Err(e)) => {
                    eprintln!("websocket error: {e}");
                    return Next::Closed(None);
                }
                Some(Ok(WsMsg::Text(t))) => {
                    return Next::Frame(serde_json::from_str(&t).expect("server sent JSON"));
                }
                Some(Ok(WsMsg::Close(f))) => return Next::Closed(f),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next JSON frame, waiting up to `within` (for slow peers such as a real model).
    pub async fn frame_within(&mut self, within: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let item = tokio::time::timeout_at(deadline, self.inner.next())
                .await
                .ok()??;
            match item {
                Ok(WsMsg::Text(t)) => return serde_json::from_str(&t).ok(),
                Ok(WsMsg::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    pub async fn frame(&mut self) -> Value {
        match self.next().await {
            Next::Frame(v) => v,
            Next::Closed(f) => panic!("socket closed unexpectedly: {f:?}"),
        }
    }

    /// The next frame of type `ty`. Presence, typing, read and conversation updates on the way
    /// are skipped (chatter every test may see); any other frame is kept for the next read.
    pub async fn expect_type(&mut self, ty: &str) -> Value {
        if let Some(i) = self.stash.iter().position(|v| v["type"] == ty) {
            return self.stash.remove(i).expect("index from position");
        }
        loop {
            let v = self.read_frame().await;
            if v["type"] == ty {
                return v;
            }
            let t = v["type"].as_str().unwrap_or_default();
            if !matches!(
                t,
                "presence" | "typing" | "read" | "conversation_created" | "conversation_updated"
            ) {
                self.stash.push_back(v);
            }
        }
    }

    /// The next frame off the socket itself (not the stash).
    async fn read_frame(&mut self) -> Value {
        let kept = std::mem::take(&mut self.stash);
        let v = self.frame().await;
        self.stash = kept;
        v
    }

    /// Collects `message` frames until `replay_done`.
    pub async fn until_replay_done(&mut self) -> Vec<Value> {
        let mut out: Vec<Value> = self.stash.drain(..).collect();
        loop {
            let v = self.frame().await;
            match v["type"].as_str() {
                Some("message") => out.push(v),
                Some("replay_done") => return out,
                Some(
                    "presence"
                    | "typing"
                    | "read"
                    | "conversation_created"
                    | "conversation_updated",
                ) => {}
                _ => panic!("unexpected frame during replay: {v}"),
            }
        }
    }

    /// The next `n` message frames (other chatter skipped).
    pub async fn messages(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n
            && let Some(v) = self.stash.pop_front()
        {
            out.push(v);
        }
        while out.len() < n {
            let v = self.frame().await;
            if v["type"] == "message" {
                out.push(v);
            }
        }
        out
    }

    /// Asserts that no message frame arrives within `wait`.
    pub async fn assert_no_message(&mut self, wait: Duration) {
        self.assert_no_frame_of("message", wait).await;
    }

    /// Asserts that no frame of type `ty` arrives within `wait`.
    pub async fn assert_no_frame_of(&mut self, ty: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.inner.next()).await {
                Err(_) | Ok(None) => return,
                Ok(Some(Ok(WsMsg::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    assert_ne!(v["type"], ty, "unexpected {ty}: {v}");
                }
                Ok(_) => {}
            }
        }
    }

    /// Reads until the server closes; returns the close frame (if one was sent) and the number
    /// of message frames read on the way.
    pub async fn until_closed(&mut self) -> (Option<CloseFrame>, usize) {
        let mut n = 0;
        loop {
            match self.next().await {
                Next::Frame(v) => n += usize::from(v["type"] == "message"),
                Next::Closed(f) => return (f, n),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.inner.close(None).await;
    }
}

pub fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .map(|v| v["seq"].as_i64().expect("seq"))
        .collect()
}
