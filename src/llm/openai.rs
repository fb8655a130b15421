//! `LlmClient` for any OpenAI-compatible endpoint (OpenAI, llama.cpp's `llama-server`,
//! `llama_cpp.server`, vLLM, …) through async-openai's Chat Completions API.
//!
//! What goes on the wire: `model`, `messages`, `max_tokens` (not `max_completion_tokens`, which
//! llama.cpp ignores), `temperature`, and `response_format: {type: json_schema, …, strict: true}`
//! when the request asks for a schema. Streams add `stream: true` and
//! `stream_options.include_usage: true`.
//!
//! Error mapping (see [`map_error`]): HTTP 429 → `RateLimited`, any other HTTP error status →
//! `Upstream`, a body that does not parse → `InvalidResponse`, connection refused / reset / a
//! body cut short → `Transport`, reqwest timeouts → `Timeout`.
//!
//! async-openai ends its stream silently both at `data: [DONE]` and when the body simply ends
//! (its `[DONE]` is swallowed, never shown to us). So a stream that ends without a
//! `finish_reason` and without the final usage chunk is reported here as a `Transport` error
//! instead of passing for a complete answer.
use std::{collections::VecDeque, time::Duration};

use async_openai::{
    Client,
    config::OpenAIConfig,
    error::{OpenAIError, StreamError},
    types::chat::{
        ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
        ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
        ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
        ChatCompletionRequestUserMessageContent, ChatCompletionResponseStream,
        ChatCompletionStreamOptions, CompletionUsage, CreateChatCompletionRequest,
        CreateChatCompletionStreamResponse, ResponseFormat, ResponseFormatJsonSchema,
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
    /// None when the HTTP client could not be built (the reason is in `build_error`): every call
    /// then fails with `Transport` instead of the constructor panicking.
    client: Option<Client<OpenAIConfig>>,
    build_error: String,
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
            .build();
        let config = OpenAIConfig::new()
            .with_api_base(base_url.trim_end_matches('/'))
            .with_api_key(api_key);
        let (client, build_error) = match http {
            Ok(http) => (Some(Client::build(http, config)), String::new()),
            Err(e) => (None, error_chain(&e)),
        };
        Self {
            client,
            build_error,
            model: model.to_string(),
            timeout,
        }
    }

    fn client(&self) -> Result<&Client<OpenAIConfig>, LlmError> {
        self.client.as_ref().ok_or_else(|| {
            LlmError::Transport(format!("cannot build the HTTP client: {}", self.build_error))
        })
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

/// async-openai's error → ours.
pub fn map_error(e: OpenAIError) -> LlmError {
    match e {
        OpenAIError::Reqwest(e) => {
            if e.is_timeout() {
                LlmError::Timeout
            } else {
                LlmError::Transport(error_chain(&e))
            }
        }
        OpenAIError::ApiError(r) => {
            let status = r.status_code.as_u16();
            if status == 429 {
                LlmError::RateLimited
            } else {
                LlmError::Upstream {
                    status,
                    message: excerpt(r.api_error.message.trim()),
                }
            }
        }
        OpenAIError::JSONDeserialize(e, content) => {
            LlmError::InvalidResponse(format!("{e} in {:?}", excerpt(&content)))
        }
        OpenAIError::StreamError(s) => match *s {
            // The body stream failed: reqwest's error arrives here only as a string.
            StreamError::EventStream(msg) => {
                let lower = msg.to_ascii_lowercase();
                if lower.contains("timed out") || lower.contains("timeout") {
                    LlmError::Timeout
                } else if lower.contains("utf8") || lower.contains("utf-8") {
                    LlmError::InvalidResponse(msg)
                } else {
                    LlmError::Transport(format!("the stream broke off: {msg}"))
                }
            }
            StreamError::UnknownEvent(ev) => {
                LlmError::InvalidResponse(format!("unexpected event {:?}", excerpt(&ev.data)))
            }
        },
        OpenAIError::InvalidArgument(msg) => {
            LlmError::InvalidResponse(format!("request rejected by the client library: {msg}"))
        }
        other => LlmError::Transport(other.to_string()),
    }
}

impl LlmClient for OpenAiClient {
    fn model(&self) -> &str {
        &self.model
    }

    fn complete(&self, req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
        Box::pin(async move {
            let client = self.client()?;
            let request = self.build_request(&req, false);
            let response =
                match tokio::time::timeout(self.timeout, client.chat().create(request)).await {
                    Err(_) => return Err(LlmError::Timeout),
                    Ok(r) => r.map_err(map_error)?,
                };
            let Some(choice) = response.choices.into_iter().next() else {
                return Err(LlmError::InvalidResponse("the answer has no choices".into()));
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
        })
    }

    fn stream(&self, req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
        Box::pin(async move {
            let client = self.client()?;
            let request = self.build_request(&req, true);
            let inner = match tokio::time::timeout(
                self.timeout,
                client.chat().create_stream(request),
            )
            .await
            {
                Err(_) => return Err(LlmError::Timeout),
                Ok(r) => r.map_err(map_error)?,
            };
            Ok(map_stream(inner))
        })
    }
}

struct StreamState {
    inner: ChatCompletionResponseStream,
    pending: VecDeque<Result<StreamItem, LlmError>>,
    /// A `finish_reason` or the final usage chunk was seen: the answer is complete.
    finished: bool,
    /// Nothing more to read (an error was yielded, or the inner stream ended).
    done: bool,
}

/// Chunks → `StreamItem`s. Ends after the first error. Dropping it drops async-openai's
/// receiver, whose reader task then drops the HTTP response (cancel-safe).
fn map_stream(inner: ChatCompletionResponseStream) -> TokenStream {
    let state = StreamState {
        inner,
        pending: VecDeque::new(),
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
                Some(Ok(chunk)) => absorb_chunk(&mut st, chunk),
                Some(Err(e)) => {
                    st.done = true;
                    st.pending.push_back(Err(map_error(e)));
                }
                None => {
                    st.done = true;
                    if !st.finished {
                        st.pending.push_back(Err(LlmError::Transport(
                            "the stream ended before [DONE] (no finish_reason)".into(),
                        )));
                    }
                }
            }
        }
    })
    .boxed()
}

fn absorb_chunk(st: &mut StreamState, chunk: CreateChatCompletionStreamResponse) {
    for choice in chunk.choices {
        if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
            st.pending.push_back(Ok(StreamItem::Delta(text)));
        }
        if choice.finish_reason.is_some() {
            st.finished = true;
        }
    }
    if let Some(u) = chunk.usage {
        st.finished = true;
        st.pending.push_back(Ok(StreamItem::Usage(to_usage(&u))));
    }
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
}
