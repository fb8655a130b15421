//! `LlmClient` for any OpenAI-compatible endpoint (OpenAI, llama.cpp's `llama-server`,
//! `llama_cpp.server`, vLLM, …): `POST {base_url}/chat/completions`, plain or streamed (SSE).
//!
//! What goes on the wire: `model`, `messages`, `max_tokens` (not `max_completion_tokens`, which
//! llama.cpp ignores), `temperature`, and `response_format: {type: json_schema, …, strict: true}`
//! when the request asks for a schema. Streams add `stream: true` and
//! `stream_options.include_usage: true`.
//!
//! The request and response bodies are async-openai 0.43's types, but the HTTP exchange is done
//! here with reqwest (the same 0.13 async-openai uses, ring-only rustls), because async-openai's
//! own `Client` (without its `middleware` feature) silently wraps every call in a retry layer
//! (3 retries on 429, 5xx and connect errors, 100 ms·2ⁿ backoff, an uncapped `Retry-After`)
//! that would multiply the retries and blind the circuit breaker of `resilient`. It also hides
//! `data: [DONE]` (a body that ends cleanly between two events looks complete) and turns a 4xx
//! whose body is not JSON into a parse error without the status.
//!
//! Errors: HTTP 429 → `RateLimited`, any other HTTP error status → `Upstream` (message from
//! `{"error": {"message"}}` or the body), a body that does not parse → `InvalidResponse`,
//! connection refused / reset / a body cut short / a stream without `[DONE]` → `Transport`,
//! reqwest timeouts → `Timeout`. Never panics.
//!
//! Cancel-safety: the futures and streams own the HTTP response; dropping them drops the
//! connection.
use std::{collections::VecDeque, time::Duration};

use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionStreamOptions, CompletionUsage,
    CreateChatCompletionRequest, CreateChatCompletionResponse, CreateChatCompletionStreamResponse,
    ResponseFormat, ResponseFormatJsonSchema,
};
use futures_util::{StreamExt, future::BoxFuture, stream};

use super::{
    ChatMessage, ChatRequest, ChatRole, Completion, LlmClient, LlmError, StreamItem, TokenStream,
    Usage,
};

/// Longest excerpt of an unparseable body kept in an error message.
const MAX_ERROR_EXCERPT: usize = 300;
/// Longest SSE line accepted (a chunk is a few hundred bytes).
const MAX_SSE_LINE: usize = 1 << 20;

pub struct OpenAiClient {
    /// Err when the HTTP client could not be built: every call then fails with `Transport`
    /// instead of the constructor panicking.
    http: Result<reqwest::Client, String>,
    url: String,
    api_key: String,
    model: String,
    timeout: Duration,
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
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .read_timeout(timeout)
            .build()
            .map_err(|e| error_chain(&e));
        Self {
            http,
            url: format!("{}/chat/completions", base_url.trim().trim_end_matches('/')),
            api_key: api_key.trim().to_string(),
            model: model.to_string(),
            timeout,
        }
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

    /// Sends the request; Ok only for a 2xx status (the body is not read yet).
    async fn send(
        &self,
        body: &CreateChatCompletionRequest,
    ) -> Result<reqwest::Response, LlmError> {
        let http = self
            .http
            .as_ref()
            .map_err(|e| LlmError::Transport(format!("cannot build the HTTP client: {e}")))?;
        let mut rb = http.post(&self.url).json(body);
        if !self.api_key.is_empty() {
            rb = rb.bearer_auth(&self.api_key);
        }
        let response = rb.send().await.map_err(map_reqwest)?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status.as_u16() == 429 {
            return Err(LlmError::RateLimited);
        }
        let text = response.text().await.unwrap_or_default();
        Err(LlmError::Upstream {
            status: status.as_u16(),
            message: error_message(&text),
        })
    }
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
        LlmError::Timeout
    } else {
        LlmError::Transport(error_chain(&e))
    }
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

fn invalid(what: &str, e: impl std::fmt::Display, body: &str) -> LlmError {
    LlmError::InvalidResponse(format!("{what}: {e} in {:?}", excerpt(body)))
}

fn parse_completion(bytes: &[u8]) -> Result<Completion, LlmError> {
    let body = String::from_utf8_lossy(bytes);
    let response: CreateChatCompletionResponse =
        serde_json::from_slice(bytes).map_err(|e| invalid("unexpected answer", e, &body))?;
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

impl LlmClient for OpenAiClient {
    fn model(&self) -> &str {
        &self.model
    }

    fn complete(&self, req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
        Box::pin(async move {
            let request = self.build_request(&req, false);
            let exchange = async {
                let response = self.send(&request).await?;
                let bytes = response.bytes().await.map_err(map_reqwest)?;
                parse_completion(&bytes)
            };
            match tokio::time::timeout(self.timeout, exchange).await {
                Ok(r) => r,
                Err(_) => Err(LlmError::Timeout),
            }
        })
    }

    fn stream(&self, req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
        Box::pin(async move {
            let request = self.build_request(&req, true);
            let response = match tokio::time::timeout(self.timeout, self.send(&request)).await {
                Ok(r) => r?,
                Err(_) => return Err(LlmError::Timeout),
            };
            let is_sse = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/event-stream"));
            if !is_sse {
                // A server that ignored `stream: true` and answered in one piece.
                let bytes = match tokio::time::timeout(self.timeout, response.bytes()).await {
                    Ok(r) => r.map_err(map_reqwest)?,
                    Err(_) => return Err(LlmError::Timeout),
                };
                let c = parse_completion(&bytes)?;
                let mut items = Vec::new();
                if !c.text.is_empty() {
                    items.push(Ok(StreamItem::Delta(c.text)));
                }
                if let Some(u) = c.usage {
                    items.push(Ok(StreamItem::Usage(u)));
                }
                return Ok(stream::iter(items).boxed());
            }
            Ok(sse_stream(response))
        })
    }
}

/// Reads `text/event-stream` chunk events into `StreamItem`s.
#[derive(Default)]
struct SseParser {
    /// Bytes received but not yet split into lines.
    buf: Vec<u8>,
    /// `data:` lines of the event being read.
    data: Vec<String>,
    pending: VecDeque<Result<StreamItem, LlmError>>,
    /// A `finish_reason` or the usage chunk was seen.
    finished: bool,
    /// `[DONE]` seen, an error yielded, or the body ended: nothing more to read.
    done: bool,
}

impl SseParser {
    /// Handles one line (without its line ending).
    fn line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
        } else if let Some(v) = line.strip_prefix("data:") {
            self.data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
        }
        // `event:`, `id:`, `retry:` and `:` comments (keep-alives) carry nothing for us.
    }

    /// The end of an event (a blank line).
    fn dispatch(&mut self) {
        if self.data.is_empty() {
            return;
        }
        let data = self.data.join("\n");
        self.data.clear();
        if data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        match serde_json::from_str::<CreateChatCompletionStreamResponse>(&data) {
            Ok(chunk) => self.absorb(chunk),
            Err(e) => {
                // An error event (`data: {"error": {…}}`) mid-stream, or garbage.
                let is_error_event = serde_json::from_str::<serde_json::Value>(&data)
                    .ok()
                    .is_some_and(|v| v.get("error").is_some());
                let err = if is_error_event {
                    LlmError::Upstream {
                        status: 500,
                        message: error_message(&data),
                    }
                } else {
                    invalid("unexpected stream chunk", e, &data)
                };
                self.fail(err);
            }
        }
    }

    fn absorb(&mut self, chunk: CreateChatCompletionStreamResponse) {
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

    /// Splits the complete lines out of `buf`.
    fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while !self.done {
            let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let end = start + nl;
            let raw = &self.buf[start..end];
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            match std::str::from_utf8(raw) {
                Ok(line) => {
                    let line = line.to_string();
                    self.line(&line);
                }
                Err(e) => self.fail(invalid("stream is not UTF-8", e, "")),
            }
            start = end + 1;
        }
        self.buf.drain(..start);
        if !self.done && self.buf.len() > MAX_SSE_LINE {
            self.fail(LlmError::InvalidResponse("an endless stream line".into()));
        }
    }

    /// The body ended.
    fn eof(&mut self) {
        if !self.buf.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf)).to_string();
            self.line(&rest);
        }
        self.dispatch();
        if !self.done && !self.finished {
            self.fail(LlmError::Transport(
                "the stream ended before [DONE] (no finish_reason)".into(),
            ));
        }
        self.done = true;
    }
}

fn sse_stream(response: reqwest::Response) -> TokenStream {
    stream::unfold(
        (response, SseParser::default()),
        |(mut response, mut st)| async move {
            loop {
                if let Some(item) = st.pending.pop_front() {
                    return Some((item, (response, st)));
                }
                if st.done {
                    return None;
                }
                match response.chunk().await {
                    Ok(Some(bytes)) => st.feed(&bytes),
                    Ok(None) => st.eof(),
                    Err(e) => st.fail(match map_reqwest(e) {
                        LlmError::Transport(m) => {
                            LlmError::Transport(format!("the stream broke off: {m}"))
                        }
                        other => other,
                    }),
                }
            }
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
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

    fn parse(parts: &[&str], end: bool) -> Vec<Result<StreamItem, LlmError>> {
        let mut p = SseParser::default();
        for part in parts {
            if p.done {
                break;
            }
            p.feed(part.as_bytes());
        }
        if end && !p.done {
            p.eof();
        }
        p.pending.into_iter().collect()
    }

    const CHUNK_A: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hé"},"finish_reason":null}]}"#;
    const CHUNK_B: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"llo"},"finish_reason":"stop"}]}"#;
    const USAGE: &str = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#;

    #[test]
    fn sse_events_split_anywhere_parse_the_same() {
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
        assert_eq!(parse(&[&body], true), expected);
        // Byte by byte (splitting "é" in two too).
        let bytes = body.as_bytes();
        let mut p = SseParser::default();
        for b in bytes {
            p.feed(std::slice::from_ref(b));
        }
        assert!(p.done, "[DONE] ends the stream");
        assert_eq!(p.pending.into_iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn sse_without_done_or_finish_reason_is_an_error() {
        let items = parse(&[&format!("data: {CHUNK_A}\n\n")], true);
        assert_eq!(items.len(), 2);
        assert!(matches!(items[1], Err(LlmError::Transport(_))), "{items:?}");
        // finish_reason seen but no [DONE]: tolerated.
        let items = parse(&[&format!("data: {CHUNK_A}\n\ndata: {CHUNK_B}\n\n")], true);
        assert!(items.iter().all(|i| i.is_ok()), "{items:?}");
    }

    #[test]
    fn sse_garbage_and_error_events() {
        let items = parse(&["data: {\"id\": nope\n\n", "data: [DONE]\n\n"], true);
        assert!(
            matches!(items.as_slice(), [Err(LlmError::InvalidResponse(_))]),
            "{items:?}"
        );
        let items = parse(
            &["data: {\"error\":{\"message\":\"overloaded\"}}\n\n"],
            true,
        );
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
