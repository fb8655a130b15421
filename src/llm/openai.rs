//! `LlmClient` for any OpenAI-compatible endpoint (OpenAI, llama.cpp's `llama-server`,
//! `llama_cpp.server`, vLLM, …): `POST {base_url}/chat/completions`, plain or streamed (SSE),
//! sent through async-openai's `Client` (`chat().create` / `chat().create_stream`).
//!
//! What goes on the wire: `model`, `messages`, `max_tokens` (not `max_completion_tokens`, which
//! llama.cpp ignores), `temperature`, and `response_format: {type: json_schema, …, strict: true}`
//! when the request asks for a schema. Streams add `stream: true` and
//! `stream_options.include_usage: true`.
//!
//! No hidden retries: async-openai's default `Client` wraps every call in its `OpenAIRetryLayer`
//! (3 retries on 429, 5xx and connect errors, an uncapped `Retry-After`), which would multiply
//! the retries of `resilient` and blind its circuit breaker. The client here is built with the
//! `middleware` feature's `with_http_service(ReqwestService::new(…))`: a bare reqwest transport,
//! one HTTP request per call.
//!
//! Errors: HTTP 429 → `RateLimited`, any other HTTP error status → `Upstream` (message from
//! `{"error": {"message"}}` or the body), a body that does not parse → `InvalidResponse`,
//! connection refused / reset / a body cut short → `Transport`, reqwest timeouts → `Timeout`.
//! Never panics. Limits of async-openai's transport:
//! - a 4xx whose body is not an OpenAI error object (`{"error": {"message": "…", "code":
//!   "…"|null}}`) reaches us as a parse error without its status: it becomes `InvalidResponse`
//!   (not retried), or `RateLimited` when the body says `rate_limit`;
//! - async-openai ends a stream silently at `data: [DONE]` and also when the body ends cleanly
//!   without it, so completeness is judged from the chunks: a stream that ends before any chunk
//!   carried a `finish_reason` or the usage yields `Err(Transport)` (an answer cut short), or
//!   `Err(InvalidResponse)` when it carried no event at all (e.g. a server that ignores
//!   `stream: true` and answers with plain JSON: async-openai does not expose the response's
//!   content type, so that answer cannot be used);
//! - a broken stream reaches us as text only, so a reqwest read timeout mid-stream is a
//!   `Transport` error (`resilient` applies its own idle timeout between items anyway).
//!
//! Cancel-safety: dropping the future drops the request; dropping the stream drops the
//! receiver of async-openai's reader task, which then drops the response (the connection).
use std::{collections::VecDeque, time::Duration};

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::{OpenAIError, StreamError},
    middleware::ReqwestService,
    types::chat::{
        ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
        ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
        ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
        ChatCompletionRequestUserMessageContent, ChatCompletionResponseStream,
        ChatCompletionStreamOptions, CompletionUsage, CreateChatCompletionRequest,
        CreateChatCompletionResponse, CreateChatCompletionStreamResponse, ResponseFormat,
        ResponseFormatJsonSchema,
    },
};
use futures_util::{StreamExt, future::BoxFuture, stream};

use super::{
    ChatMessage, ChatRequest, ChatRole, Completion, LlmClient, LlmError, StreamItem, TokenStream,
    Usage,
};

/// Longest excerpt of an unparseable body kept in an error message.
const MAX_ERROR_EXCERPT: usize = 300;

pub struct OpenAiClient {
    /// Err when the client could not be built (no TLS, an API key that is not a valid header
    /// value): every call then fails with `Transport` instead of the constructor panicking.
    client: Result<Client<OpenAIConfig>, String>,
    model: String,
    timeout: Duration,
    /// The endpoint refused `response_format: json_schema` once (llama-cpp-python, older
    /// servers): structured calls use JSON mode (`json_object`) with the schema in the
    /// instructions from then on. The answer is still parsed as that JSON object, never as prose.
    json_object_only: std::sync::atomic::AtomicBool,
}

impl OpenAiClient {
    /// `base_url` includes the version prefix, e.g. `http://127.0.0.1:8081/v1`. `timeout` bounds
    /// a whole non-streamed completion, and each wait for bytes of a streamed one (the
    /// reliability wrapper adds its own, finer limits on top).
    pub fn new(base_url: &str, api_key: &str, model: &str, timeout: Duration) -> Self {
        // reqwest is built with `rustls-no-provider` and panics at `build()` when no provider is
        // installed; installing ring here is idempotent (main does it too).
        crate::install_crypto_provider();
        let timeout = timeout.max(Duration::from_millis(1));
        Self {
            client: build_client(base_url, api_key.trim(), timeout),
            model: model.to_string(),
            timeout,
            json_object_only: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// `req` for an endpoint without `json_schema` support: JSON mode (`json_object`) plus the
    /// schema, both in the instructions and as `response_format.schema` (llama-cpp-python turns
    /// that into a grammar, so even a tiny model emits the right keys; others ignore it).
    fn json_mode(&self, req: &ChatRequest) -> serde_json::Value {
        let mut plain = req.clone();
        let schema = plain.json_schema.take();
        if let Some(s) = &schema {
            let rule = format!(
                "\nAnswer with one JSON object only, matching this JSON schema:\n{}",
                s.schema
            );
            match plain
                .messages
                .iter_mut()
                .find(|m| m.role == super::ChatRole::System)
            {
                Some(m) => m.content.push_str(&rule),
                None => plain.messages.insert(0, ChatMessage::system(rule)),
            }
        }
        let wire = self.build_request(&plain, false);
        let mut v = serde_json::to_value(&wire).unwrap_or_default();
        if let (Some(s), Some(o)) = (schema, v.as_object_mut()) {
            o.insert(
                "response_format".into(),
                serde_json::json!({"type": "json_object", "schema": s.schema}),
            );
        }
        v
    }

    /// The wire request (public for tests and diagnostics).
    #[allow(deprecated)] // `max_tokens`: deprecated by OpenAI, but the one llama.cpp honours
    pub fn build_request(&self, req: &ChatRequest, stream: bool) -> CreateChatCompletionRequest {
        CreateChatCompletionRequest {
            model: self.model.clone(),
            messages: req.messages.iter().map(to_wire_message).collect(),
            max_tokens: Some(req.max_tokens),
            temperature: Some(req.temperature),
            response_format: req
                .json_schema
                .as_ref()
                .map(|s| ResponseFormat::JsonSchema {
                    json_schema: ResponseFormatJsonSchema {
                        description: None,
                        name: s.name.clone(),
                        schema: s.schema.clone(),
                        strict: Some(true),
                    },
                }),
            stream: stream.then_some(true),
            stream_options: stream.then_some(ChatCompletionStreamOptions {
                include_usage: Some(true),
                include_obfuscation: None,
            }),
            ..Default::default()
        }
    }

    fn client(&self) -> Result<&Client<OpenAIConfig>, LlmError> {
        self.client
            .as_ref()
            .map_err(|e| LlmError::Transport(format!("cannot build the HTTP client: {e}")))
    }
}

/// async-openai's `Client` over a bare reqwest transport (no retry layer).
fn build_client(
    base_url: &str,
    api_key: &str,
    timeout: Duration,
) -> Result<Client<OpenAIConfig>, String> {
    let http = reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .read_timeout(timeout)
        .build()
        .map_err(|e| error_chain(&e))?;
    // `OpenAIConfig::headers` unwraps the parsed `Bearer …` value: check it first.
    reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}"))
        .map_err(|_| "the API key is not a valid HTTP header value".to_string())?;
    // Explicit values everywhere: `OpenAIConfig::new` reads `OPENAI_*` environment variables,
    // which must neither leak to a self-hosted endpoint nor change the target.
    let config = OpenAIConfig::new()
        .with_api_base(base_url.trim().trim_end_matches('/'))
        .with_api_key(api_key)
        .with_org_id("")
        .with_project_id("");
    Ok(Client::build(http.clone(), config).with_http_service(ReqwestService::new(http)))
}

fn to_wire_message(m: &ChatMessage) -> ChatCompletionRequestMessage {
    let text = m.content.clone();
    match m.role {
        ChatRole::System => {
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(text),
                name: None,
            })
        }
        ChatRole::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(text),
            name: None,
        }),
        ChatRole::Assistant => {
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::Text(text)),
                ..Default::default()
            })
        }
    }
}

fn to_usage(u: &CompletionUsage) -> Usage {
    Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    }
}

/// An error with its sources (reqwest's own `Display` says little: "error sending request").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn excerpt(s: &str) -> String {
    if s.len() <= MAX_ERROR_EXCERPT {
        return s.to_string();
    }
    let mut end = MAX_ERROR_EXCERPT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn map_reqwest(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        return LlmError::Timeout;
    }
    match e.status().map(|s| s.as_u16()) {
        Some(429) => LlmError::RateLimited,
        Some(status) => LlmError::Upstream {
            status,
            message: error_chain(&e),
        },
        None => LlmError::Transport(error_chain(&e)),
    }
}

/// `{"error": …}` bodies: an error sent with a 2xx status (mid-stream), or an error status
/// whose body async-openai could not parse into its `ApiError`.
fn error_object(body: &str) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error").cloned()
}

/// Maps async-openai's errors. `in_stream`: the error came from an event of an open stream
/// (HTTP status 200 already received).
fn map_error(e: OpenAIError, in_stream: bool) -> LlmError {
    match e {
        OpenAIError::ApiError(r) => {
            let status = r.status_code.as_u16();
            if status == 429 {
                LlmError::RateLimited
            } else {
                // 5xx: the raw body; 4xx: the parsed `error.message`.
                LlmError::Upstream {
                    status,
                    message: error_message(&r.api_error.message),
                }
            }
        }
        OpenAIError::Reqwest(e) => map_reqwest(e),
        OpenAIError::JSONDeserialize(e, body) => match error_object(&body) {
            // An error event (`data: {"error": {…}}`) mid-stream.
            Some(_) if in_stream => LlmError::Upstream {
                status: 500,
                message: error_message(&body),
            },
            // An error status whose body is not OpenAI's error object: the status is lost.
            Some(err) if err.to_string().contains("rate_limit") => LlmError::RateLimited,
            Some(_) => LlmError::InvalidResponse(format!(
                "HTTP error (status unknown): {}",
                error_message(&body)
            )),
            None if in_stream => invalid("unexpected stream chunk", e, &body),
            None => invalid("unexpected answer", e, &body),
        },
        OpenAIError::StreamError(se) => match *se {
            StreamError::EventStream(m)
                if m.starts_with("UTF8 error") || m.starts_with("Parse error") =>
            {
                LlmError::InvalidResponse(format!("unreadable event stream: {m}"))
            }
            StreamError::EventStream(m) => {
                LlmError::Transport(format!("the stream broke off: {m}"))
            }
            StreamError::UnknownEvent(ev) => {
                LlmError::InvalidResponse(format!("unexpected stream event {:?}", ev.event))
            }
        },
        other => LlmError::Transport(error_chain(&other)),
    }
}

fn invalid(what: &str, e: impl std::fmt::Display, body: &str) -> LlmError {
    LlmError::InvalidResponse(format!("{what}: {e} in {:?}", excerpt(body)))
}

fn to_completion(response: CreateChatCompletionResponse) -> Result<Completion, LlmError> {
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(LlmError::InvalidResponse(
            "the answer has no choices".into(),
        ));
    };
    let text = match (choice.message.content, choice.message.refusal) {
        (Some(text), _) => text,
        (None, Some(refusal)) => refusal,
        (None, None) => {
            return Err(LlmError::InvalidResponse(
                "the answer has no content".into(),
            ));
        }
    };
    Ok(Completion {
        text,
        usage: response.usage.as_ref().map(to_usage),
    })
}

impl OpenAiClient {
    async fn create_json_mode(
        &self,
        client: &Client<OpenAIConfig>,
        req: &ChatRequest,
    ) -> Result<Result<CreateChatCompletionResponse, LlmError>, tokio::time::error::Elapsed> {
        let body = self.json_mode(req);
        tokio::time::timeout(self.timeout, client.chat().create_byot(body))
            .await
            .map(|r| r.map_err(|e| map_error(e, false)))
    }
}

impl LlmClient for OpenAiClient {
    fn model(&self) -> &str {
        &self.model
    }

    fn complete(&self, req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
        Box::pin(async move {
            use std::sync::atomic::Ordering;
            let client = self.client()?;
            let structured = req.json_schema.is_some();
            let json_mode = structured && self.json_object_only.load(Ordering::Relaxed);
            let first = if json_mode {
                self.create_json_mode(client, &req).await
            } else {
                let request = self.build_request(&req, false);
                tokio::time::timeout(self.timeout, client.chat().create(request))
                    .await
                    .map(|r| r.map_err(|e| map_error(e, false)))
            };
            let first = match first {
                Ok(Ok(response)) => return to_completion(response),
                Ok(Err(e)) => e,
                Err(_) => return Err(LlmError::Timeout),
            };
            let refused_schema = match &first {
                LlmError::Upstream { status, message } => {
                    *status < 500
                        || message.contains("response_format")
                        || message.contains("json_schema")
                }
                LlmError::InvalidResponse(m) => {
                    m.contains("response_format") || m.contains("json_schema")
                }
                _ => false,
            };
            if !(structured && !json_mode && refused_schema) {
                return Err(first);
            }
            tracing::info!("the endpoint refused response_format json_schema; using JSON mode");
            self.json_object_only.store(true, Ordering::Relaxed);
            match self.create_json_mode(client, &req).await {
                Ok(Ok(response)) => to_completion(response),
                Ok(Err(e)) => Err(e),
                Err(_) => Err(LlmError::Timeout),
            }
        })
    }

    fn stream(&self, req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
        Box::pin(async move {
            let client = self.client()?;
            let request = self.build_request(&req, true);
            match tokio::time::timeout(self.timeout, client.chat().create_stream(request)).await {
                Ok(Ok(chunks)) => Ok(token_stream(chunks)),
                Ok(Err(e)) => Err(map_error(e, false)),
                Err(_) => Err(LlmError::Timeout),
            }
        })
    }
}

/// Turns async-openai's chunk stream into `StreamItem`s, and tells a complete answer from one
/// cut short (async-openai ends the stream the same way at `[DONE]` and at a bare end).
struct Chunks {
    inner: ChatCompletionResponseStream,
    pending: VecDeque<Result<StreamItem, LlmError>>,
    /// A chunk was received.
    any: bool,
    /// A `finish_reason` or the usage chunk was seen.
    finished: bool,
    /// An error was yielded or the stream ended: nothing more to read.
    done: bool,
}

impl Chunks {
    fn absorb(&mut self, chunk: CreateChatCompletionStreamResponse) {
        self.any = true;
        for choice in chunk.choices {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.pending.push_back(Ok(StreamItem::Delta(text)));
            }
            if choice.finish_reason.is_some() {
                self.finished = true;
            }
        }
        if let Some(u) = chunk.usage {
            self.finished = true;
            self.pending.push_back(Ok(StreamItem::Usage(to_usage(&u))));
        }
    }

    fn fail(&mut self, e: LlmError) {
        self.done = true;
        self.pending.push_back(Err(e));
    }

    /// async-openai's stream ended (`[DONE]` or the end of the body).
    fn end(&mut self) {
        if self.finished {
            self.done = true;
        } else if self.any {
            self.fail(LlmError::Transport(
                "the stream ended before the answer did (no finish_reason)".into(),
            ));
        } else {
            self.fail(LlmError::InvalidResponse(
                "the answer carried no stream event (does the server support streaming?)".into(),
            ));
        }
    }
}

fn token_stream(inner: ChatCompletionResponseStream) -> TokenStream {
    let state = Chunks {
        inner,
        pending: VecDeque::new(),
        any: false,
        finished: false,
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            match st.inner.next().await {
                Some(Ok(chunk)) => st.absorb(chunk),
                Some(Err(e)) => st.fail(map_error(e, true)),
                None => st.end(),
            }
        }
    })
    .boxed()
}
/// The message of an OpenAI-style error body (`{"error": {"message": …}}` or
/// `{"error": "…"}`), else an excerpt of the raw body.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        let e = v.get("error")?;
        e.get("message")
            .and_then(|m| m.as_str())
            .or_else(|| e.as_str())
            .map(str::to_string)
    });
    excerpt(from_json.as_deref().unwrap_or(body).trim())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::llm::JsonSchema;

    fn req(schema: Option<JsonSchema>) -> ChatRequest {
        ChatRequest {
            messages: vec![
                ChatMessage::system("be brief"),
                ChatMessage::user("hi"),
                ChatMessage::assistant("hello"),
            ],
            max_tokens: 42,
            temperature: 0.25,
            json_schema: schema,
        }
    }

    #[test]
    fn wire_request_has_max_tokens_and_schema() {
        let c = OpenAiClient::new("http://127.0.0.1:1/v1/", "k", "m1", Duration::from_secs(5));
        let schema = JsonSchema {
            name: "answer".into(),
            schema: serde_json::json!({"type": "object"}),
        };
        let v = serde_json::to_value(c.build_request(&req(Some(schema)), true)).unwrap_or_default();
        assert_eq!(v["model"], "m1");
        assert_eq!(v["max_tokens"], 42);
        assert!(v.get("max_completion_tokens").is_none());
        assert_eq!(v["temperature"], 0.25);
        assert_eq!(v["messages"][0]["role"], "system");
        assert_eq!(v["messages"][2]["role"], "assistant");
        assert_eq!(v["messages"][2]["content"], "hello");
        assert_eq!(v["response_format"]["type"], "json_schema");
        assert_eq!(v["response_format"]["json_schema"]["name"], "answer");
        assert_eq!(v["response_format"]["json_schema"]["strict"], true);
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);

        let v = serde_json::to_value(c.build_request(&req(None), false)).unwrap_or_default();
        assert!(v.get("response_format").is_none());
        assert!(v.get("stream").is_none());
        assert!(v.get("stream_options").is_none());
    }

    #[test]
    fn long_bodies_are_cut_on_char_boundaries() {
        let s = "é".repeat(400);
        let e = excerpt(&s);
        assert!(e.len() <= MAX_ERROR_EXCERPT + "…".len());
        assert!(e.ends_with('…'));
    }

    #[tokio::test]
    async fn an_api_key_that_is_no_header_value_fails_calls_without_panicking() {
        let c = OpenAiClient::new(
            "http://127.0.0.1:1/v1",
            "a\u{7f}b",
            "m",
            Duration::from_secs(1),
        );
        assert!(matches!(
            c.complete(req(None)).await,
            Err(LlmError::Transport(_))
        ));
    }

    /// Serves one SSE answer whose body is sent in `parts` (one HTTP chunk each), then ends the
    /// body cleanly. Returns the base URL.
    async fn serve_sse(parts: Vec<Vec<u8>>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let _ = sock.set_nodelay(true);
            // Read the whole request (headers, then content-length bytes) before answering.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for part in parts {
                let mut out = format!("{:x}\r\n", part.len()).into_bytes();
                out.extend_from_slice(&part);
                out.extend_from_slice(b"\r\n");
                if sock.write_all(&out).await.is_err() || sock.flush().await.is_err() {
                    return;
                }
            }
            let _ = sock.write_all(b"0\r\n\r\n").await;
            let _ = sock.flush().await;
        });
        format!("http://{addr}/v1")
    }

    /// Everything a stream over `parts` yields, errors included (an open error as one item).
    async fn stream_parts(parts: Vec<Vec<u8>>) -> Vec<Result<StreamItem, LlmError>> {
        let base = serve_sse(parts).await;
        let c = OpenAiClient::new(&base, "k", "m", Duration::from_secs(5));
        let run = async {
            match c.stream(req(None)).await {
                Ok(s) => s.collect::<Vec<_>>().await,
                Err(e) => vec![Err(e)],
            }
        };
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the stream ended")
    }

    async fn stream_body(parts: &[&str]) -> Vec<Result<StreamItem, LlmError>> {
        stream_parts(parts.iter().map(|p| p.as_bytes().to_vec()).collect()).await
    }

    const CHUNK_A: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hé"},"finish_reason":null}]}"#;
    const CHUNK_B: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}"#;
    const USAGE: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

    #[tokio::test]
    async fn sse_events_split_anywhere_parse_the_same() {
        let body = format!(
            ": keep-alive\r\n\r\ndata: {CHUNK_A}\r\n\r\ndata: {CHUNK_B}\n\ndata: {USAGE}\n\ndata: [DONE]\n\n"
        );
        let expected = vec![
            Ok(StreamItem::Delta("Hé".into())),
            Ok(StreamItem::Delta("llo".into())),
            Ok(StreamItem::Usage(Usage {
                prompt_tokens: 3,
                completion_tokens: 2,
            })),
        ];
        assert_eq!(stream_body(&[&body]).await, expected);
        // Byte by byte (splitting "é" in two too).
        let bytes = body.bytes().map(|b| vec![b]).collect();
        assert_eq!(stream_parts(bytes).await, expected);
        // Whatever follows `[DONE]` is not read.
        let more = format!("{body}data: {CHUNK_A}\n\n");
        assert_eq!(stream_body(&[&more]).await, expected);
    }

    #[tokio::test]
    async fn sse_without_done_or_finish_reason_is_an_error() {
        let items = stream_body(&[&format!("data: {CHUNK_A}\n\n")]).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0], Ok(StreamItem::Delta("Hé".into())));
        assert!(matches!(items[1], Err(LlmError::Transport(_))), "{items:?}");
        // finish_reason seen but no [DONE]: tolerated.
        let items = stream_body(&[&format!("data: {CHUNK_A}\n\ndata: {CHUNK_B}\n\n")]).await;
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(items.iter().all(|i| i.is_ok()), "{items:?}");
        // Not a single event (a server that ignored `stream: true`): not retryable.
        let items = stream_body(&[r#"{"id":"c","choices":[]}"#]).await;
        assert!(
            matches!(items.as_slice(), [Err(LlmError::InvalidResponse(_))]),
            "{items:?}"
        );
    }

    #[tokio::test]
    async fn sse_garbage_and_error_events() {
        let items = stream_body(&["data: {\"id\": nope\n\n", "data: [DONE]\n\n"]).await;
        assert!(
            matches!(items.as_slice(), [Err(LlmError::InvalidResponse(_))]),
            "{items:?}"
        );
        let items = stream_body(&["data: {\"error\":{\"message\":\"overloaded\"}}\n\n"]).await;
        assert_eq!(
            items,
            vec![Err(LlmError::Upstream {
                status: 500,
                message: "overloaded".into()
            })]
        );
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message(r#"{"error":{"message":"bad key"}}"#),
            "bad key"
        );
        assert_eq!(error_message(r#"{"error":"nope"}"#), "nope");
        assert_eq!(error_message("<html>502</html>\n"), "<html>502</html>");
    }
}
