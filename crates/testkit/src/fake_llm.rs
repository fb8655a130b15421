//! An in-process fake of an OpenAI-compatible endpoint, speaking the real wire format over real
//! HTTP/1.1 (raw tokio sockets, so it can also misbehave: cut a stream, hang, send garbage).
//!
//! ```ignore
//! let fake = FakeLlm::start().await;
//! fake.push(Reply::Status(429, "slow down".into()));   // the next request gets this…
//! fake.push(Reply::Text("Hello there".into()));        // …the one after, this
//! fake.set_default(Reply::Text("Anything else?".into())); // then always this
//! // or answer from the request: fake.respond_with(|req| Reply::Text(…));
//! let app = spawn_app_with(|s| fake.configure(s)).await; // or OpenAiClient::new(&fake.base_url(), …)
//! …
//! assert_eq!(fake.requests()[0]["max_tokens"], 400);
//! ```
//!
//! Serves `POST …/chat/completions` (both `stream: false` and `stream: true`) and
//! `GET …/models`; anything else gets a 404 with an OpenAI-style error body. Every request to
//! `chat/completions` takes the next queued [`Reply`] (FIFO), or asks the default responder when
//! the queue is empty (initially: `Reply::Text("Hello from the fake model.")`).
//!
//! Wire format: non-streamed answers are a full `chat.completion` object with `usage`. Streamed
//! answers are `text/event-stream`, chunked: `data: {chat.completion.chunk}\n\n` events — a
//! first chunk with `delta: {role: "assistant", content: ""}`, one chunk per piece, a last chunk
//! with `delta: {}` and `finish_reason: "stop"`, then (only when the request asked for
//! `stream_options.include_usage`) a usage chunk with `choices: []` — and `data: [DONE]\n\n`.
//! Usage: `prompt_tokens` = Σ ⌈len(message content)/4⌉, `completion_tokens` = number of
//! pieces. Each response closes its connection (`Connection: close`).
//!
//! The server stops when the `FakeLlm` is dropped (hanging connections are closed too).
#![allow(dead_code)]

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use serde_json::{Value, json};

use crate::http1::read_request;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::{Notify, watch},
};

/// What the fake does with one `chat/completions` request. "Pieces" are the streamed deltas.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Answer with this text: whole, or streamed in ~1-word pieces ("Hi there" → "Hi", " there").
    Text(String),
    /// Streamed as exactly these pieces (concatenated when not streaming).
    Tokens(Vec<String>),
    /// Answer with this value serialized as the message content (for `json_schema` requests);
    /// streamed in pieces of ≤ 16 characters.
    Json(Value),
    /// Fail with this HTTP status and an OpenAI error body `{"error": {"message": …}}`.
    Status(u16, String),
    /// Like `Text`, after this delay. Streams send the response headers at once and wait
    /// before the first chunk; non-streamed answers wait before the headers.
    SlowFirstToken(Duration, String),
    /// Stream the first N pieces, then drop the connection mid-body (no `[DONE]`, no
    /// finish_reason, no end of the chunked body). Not streaming: half a body, then drop.
    CutAfter(usize, Vec<String>),
    /// Stream all pieces and end the HTTP body cleanly, but without a finish_reason, usage or
    /// `[DONE]` (a server that gave up). Not streaming: like `Tokens`.
    EndWithoutDone(Vec<String>),
    /// Stream the first N pieces, then send nothing more and keep the connection open until
    /// the client leaves. Not streaming: like `Hang`.
    StallAfter(usize, Vec<String>),
    /// HTTP 200 with a body that is not the JSON expected: `this is not JSON` when not
    /// streaming; a stream whose first event carries `data: {"id": nope` (then `[DONE]`).
    InvalidJson,
    /// Read the request, never answer; hold the connection until the client leaves.
    Hang,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    /// The request target, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The `Authorization` header, e.g. `Bearer test-key`.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` when empty, a `Value::String` when not JSON).
    pub body: Value,
}

type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

struct State {
    queue: Mutex<VecDeque<Reply>>,
    responder: Mutex<Responder>,
    recorded: Mutex<Vec<Recorded>>,
    arrived: Notify,
    ids: AtomicU64,
    open: AtomicUsize,
}

/// Counts a connection as open while alive.
struct OpenGuard(Arc<State>);
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub struct FakeLlm {
    port: u16,
    state: Arc<State>,
    /// Dropped with the `FakeLlm`: every task watching it ends.
    _stop: watch::Sender<()>,
}

impl FakeLlm {
    /// The model name `configure` sets and the fake echoes when a request names none.
    pub const MODEL: &'static str = "fake-model";
    /// The API key `configure` sets.
    pub const API_KEY: &'static str = "test-key";

    /// Starts the fake on `127.0.0.1:<random port>`.
    pub async fn start() -> FakeLlm {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake LLM");
        let port = listener.local_addr().expect("fake LLM address").port();
        let state = Arc::new(State {
            queue: Mutex::new(VecDeque::new()),
            responder: Mutex::new(Arc::new(|_: &Value| {
                Reply::Text("Hello from the fake model.".into())
            })),
            recorded: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            ids: AtomicU64::new(1),
            open: AtomicUsize::new(0),
        });
        let (stop, stopped) = watch::channel(());
        let st = state.clone();
        tokio::spawn(async move {
            let mut stop_rx = stopped.clone();
            loop {
                let sock = tokio::select! {
                    _ = stop_rx.changed() => return,
                    r = listener.accept() => match r {
                        Ok((sock, _)) => sock,
                        Err(_) => continue,
                    },
                };
                st.open.fetch_add(1, Ordering::SeqCst);
                let guard = OpenGuard(st.clone());
                let st = st.clone();
                let mut conn_stop = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = conn_stop.changed() => {}
                        _ = serve(sock, st) => {}
                    }
                    drop(guard);
                });
            }
        });
        FakeLlm {
            port,
            state,
            _stop: stop,
        }
    }

    /// `http://127.0.0.1:<port>/v1`: the `llm_base_url` / `OpenAiClient` base URL.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Points app settings at this fake (base URL and API key; the model is left as it is).
    pub fn configure(&self, s: &mut switchboard::config::Settings) {
        s.llm_base_url = self.base_url();
        s.llm_api_key = Self::API_KEY.into();
    }

    /// Queues a reply for the next request (FIFO, before the default).
    pub fn push(&self, reply: Reply) {
        lock(&self.state.queue).push_back(reply);
    }

    /// Queues several replies, in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state.queue).extend(replies);
    }

    /// Replies still queued.
    pub fn queued(&self) -> usize {
        lock(&self.state.queue).len()
    }

    /// The reply for every request once the queue is empty.
    pub fn set_default(&self, reply: Reply) {
        self.respond_with(move |_| reply.clone());
    }

    /// Computes the reply from the request body once the queue is empty (e.g. answer what
    /// the last user message asks, or JSON when `response_format` is set).
    pub fn respond_with(&self, f: impl Fn(&Value) -> Reply + Send + Sync + 'static) {
        *lock(&self.state.responder) = Arc::new(f);
    }

    /// The bodies of every request received so far (all paths), in arrival order.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.state.recorded)
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// Every request received so far, with method, path and `Authorization`.
    pub fn recorded(&self) -> Vec<Recorded> {
        lock(&self.state.recorded).clone()
    }

    /// Connections currently open (a dropped client stream shows up here as one less).
    pub fn open_connections(&self) -> usize {
        self.state.open.load(Ordering::SeqCst)
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state.recorded).len()
    }

    /// Waits until at least `n` requests arrived (for calls made in the background, e.g. by
    /// the bot) and returns all bodies. Panics after `within`.
    pub async fn wait_for_requests(&self, n: usize, within: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.state.arrived.notified();
            if self.request_count() >= n {
                return self.requests();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "the fake LLM got {} request(s) within {within:?}, expected {n}",
                    self.request_count()
                );
            }
        }
    }

    /// The content of the last `user` message of a request body (for responders).
    pub fn last_user_message(request: &Value) -> Option<String> {
        request["messages"]
            .as_array()?
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .map(str::to_string)
    }
}

/// Splits text into ~1-word pieces that concatenate back to it: "Hi  there" → "Hi", "  there".
pub fn word_pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut cur = String::new();
    let mut prev_ws = false;
    for c in text.chars() {
        if c.is_whitespace() && !prev_ws && !cur.is_empty() {
            pieces.push(std::mem::take(&mut cur));
        }
        prev_ws = c.is_whitespace();
        cur.push(c);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

fn char_pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

/// A request with its body parsed as JSON.
struct Parsed {
    method: String,
    path: String,
    authorization: Option<String>,
    body: Value,
}

async fn serve(mut sock: TcpStream, st: Arc<State>) {
    let Some(raw) = read_request(&mut sock).await else {
        return;
    };
    let req = Parsed {
        body: raw.json(),
        method: raw.method,
        path: raw.path,
        authorization: raw.authorization,
    };
    lock(&st.recorded).push(Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        authorization: req.authorization.clone(),
        body: req.body.clone(),
    });
    st.arrived.notify_waiters();
    let path = req.path.split('?').next().unwrap_or("");
    if req.method == "GET" && path.ends_with("/models") {
        let body = json!({"object": "list", "data": [
            {"id": FakeLlm::MODEL, "object": "model", "created": 0, "owned_by": "fake"}
        ]});
        let _ = send_json(&mut sock, 200, &body).await;
        return;
    }
    if req.method != "POST" || !path.ends_with("/chat/completions") {
        let _ = send_json(&mut sock, 404, &error_body(404, "no such route")).await;
        return;
    }
    let queued = lock(&st.queue).pop_front();
    let reply = match queued {
        Some(r) => r,
        None => {
            let responder = lock(&st.responder).clone();
            responder(&req.body)
        }
    };
    let id = format!("chatcmpl-fake-{}", st.ids.fetch_add(1, Ordering::Relaxed));
    let ctx = Ctx {
        id,
        model: req.body["model"]
            .as_str()
            .unwrap_or(FakeLlm::MODEL)
            .to_string(),
        created: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        prompt_tokens: prompt_tokens(&req.body),
        include_usage: req.body["stream_options"]["include_usage"] == true,
    };
    if req.body["stream"] == true {
        let _ = stream_reply(&mut sock, &ctx, reply).await;
    } else {
        let _ = plain_reply(&mut sock, &ctx, reply).await;
    }
}

struct Ctx {
    id: String,
    model: String,
    created: u64,
    prompt_tokens: u64,
    include_usage: bool,
}

fn prompt_tokens(body: &Value) -> u64 {
    body["messages"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| m["content"].as_str().unwrap_or("").len().div_ceil(4) as u64)
                .sum()
        })
        .unwrap_or(0)
}

fn usage(ctx: &Ctx, completion_tokens: usize) -> Value {
    let c = completion_tokens as u64;
    json!({
        "prompt_tokens": ctx.prompt_tokens,
        "completion_tokens": c,
        "total_tokens": ctx.prompt_tokens + c,
    })
}

fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

async fn send_raw(
    sock: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body).await?;
    sock.flush().await
}

async fn send_json(sock: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    send_raw(
        sock,
        status,
        "application/json",
        body.to_string().as_bytes(),
    )
    .await
}

/// Holds the connection open until the client closes it.
async fn wait_for_client_to_leave(sock: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = sock.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

fn completion(ctx: &Ctx, content: &str, completion_tokens: usize) -> Value {
    json!({
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": "fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": usage(ctx, completion_tokens),
    })
}

async fn plain_reply(sock: &mut TcpStream, ctx: &Ctx, reply: Reply) -> std::io::Result<()> {
    let (content, tokens) = match reply {
        Reply::Text(t) => (t.clone(), word_pieces(&t).len()),
        Reply::Tokens(ts) | Reply::EndWithoutDone(ts) => (ts.concat(), ts.len()),
        Reply::Json(v) => {
            let s = v.to_string();
            let n = char_pieces(&s, 16).len();
            (s, n)
        }
        Reply::Status(code, msg) => return send_json(sock, code, &error_body(code, &msg)).await,
        Reply::SlowFirstToken(d, t) => {
            tokio::time::sleep(d).await;
            (t.clone(), word_pieces(&t).len())
        }
        Reply::CutAfter(_, ts) => {
            let body = completion(ctx, &ts.concat(), ts.len()).to_string();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            sock.write_all(head.as_bytes()).await?;
            sock.write_all(&body.as_bytes()[..body.len() / 2]).await?;
            sock.flush().await?;
            return Ok(()); // dropping the socket cuts the body
        }
        Reply::InvalidJson => {
            return send_raw(sock, 200, "application/json", b"this is not JSON").await;
        }
        Reply::StallAfter(..) | Reply::Hang => {
            wait_for_client_to_leave(sock).await;
            return Ok(());
        }
    };
    send_json(sock, 200, &completion(ctx, &content, tokens)).await
}

fn chunk(ctx: &Ctx, delta: Value, finish_reason: Option<&str>) -> Value {
    let mut c = json!({
        "id": ctx.id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": "fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
    });
    if ctx.include_usage {
        c["usage"] = Value::Null;
    }
    c
}

async fn write_chunk(sock: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    sock.write_all(format!("{:x}\r\n", data.len()).as_bytes())
        .await?;
    sock.write_all(data).await?;
    sock.write_all(b"\r\n").await?;
    sock.flush().await
}

async fn write_event(sock: &mut TcpStream, data: &str) -> std::io::Result<()> {
    write_chunk(sock, format!("data: {data}\n\n").as_bytes()).await
}

/// How a stream unfolds.
struct Plan {
    pieces: Vec<String>,
    delay_first: Option<Duration>,
    /// Send only the first N pieces, then…
    stop_after: Option<(usize, Ending)>,
    /// End the body cleanly right after the pieces (no finish_reason, usage, `[DONE]`).
    bare_end: bool,
}

#[derive(Clone, Copy)]
enum Ending {
    Cut,
    Stall,
}

async fn stream_reply(sock: &mut TcpStream, ctx: &Ctx, reply: Reply) -> std::io::Result<()> {
    let plan = |pieces: Vec<String>| Plan {
        pieces,
        delay_first: None,
        stop_after: None,
        bare_end: false,
    };
    let plan = match reply {
        Reply::Text(t) => plan(word_pieces(&t)),
        Reply::Tokens(ts) => plan(ts),
        Reply::Json(v) => plan(char_pieces(&v.to_string(), 16)),
        Reply::Status(code, msg) => return send_json(sock, code, &error_body(code, &msg)).await,
        Reply::SlowFirstToken(d, t) => Plan {
            delay_first: Some(d),
            ..plan(word_pieces(&t))
        },
        Reply::CutAfter(n, ts) => Plan {
            stop_after: Some((n, Ending::Cut)),
            ..plan(ts)
        },
        Reply::StallAfter(n, ts) => Plan {
            stop_after: Some((n, Ending::Stall)),
            ..plan(ts)
        },
        Reply::EndWithoutDone(ts) => Plan {
            bare_end: true,
            ..plan(ts)
        },
        Reply::InvalidJson => {
            send_sse_head(sock).await?;
            write_event(sock, r#"{"id": nope"#).await?;
            write_event(sock, "[DONE]").await?;
            return write_chunk(sock, b"").await;
        }
        Reply::Hang => {
            wait_for_client_to_leave(sock).await;
            return Ok(());
        }
    };
    send_sse_head(sock).await?;
    if let Some(d) = plan.delay_first {
        tokio::time::sleep(d).await;
    }
    let role = chunk(ctx, json!({"role": "assistant", "content": ""}), None);
    write_event(sock, &role.to_string()).await?;
    let count = plan.pieces.len();
    for (i, piece) in plan.pieces.into_iter().enumerate() {
        if let Some((n, ending)) = plan.stop_after
            && i >= n
        {
            if let Ending::Stall = ending {
                wait_for_client_to_leave(sock).await;
            }
            return Ok(()); // dropping the socket mid-body: no end chunk
        }
        write_event(
            sock,
            &chunk(ctx, json!({"content": piece}), None).to_string(),
        )
        .await?;
    }
    if let Some((n, ending)) = plan.stop_after
        && n >= count
    {
        if let Ending::Stall = ending {
            wait_for_client_to_leave(sock).await;
        }
        return Ok(());
    }
    if !plan.bare_end {
        write_event(sock, &chunk(ctx, json!({}), Some("stop")).to_string()).await?;
        if ctx.include_usage {
            let last = json!({
                "id": ctx.id,
                "object": "chat.completion.chunk",
                "created": ctx.created,
                "model": ctx.model,
                "system_fingerprint": "fake",
                "choices": [],
                "usage": usage(ctx, count),
            });
            write_event(sock, &last.to_string()).await?;
        }
        write_event(sock, "[DONE]").await?;
    }
    write_chunk(sock, b"").await // the end of the chunked body
}

async fn send_sse_head(sock: &mut TcpStream) -> std::io::Result<()> {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    sock.write_all(head.as_bytes()).await?;
    sock.flush().await
}

#[test]
fn word_pieces_concatenate_back() {
    for text in [
        "Hello there, world",
        "  lead and trail  ",
        "one",
        "",
        "a\nb  c",
    ] {
        assert_eq!(word_pieces(text).concat(), text);
    }
    assert_eq!(word_pieces("Hi there"), vec!["Hi", " there"]);
}
