//! The LLM layer: the `LlmClient` trait (one completion, or a stream of tokens), the
//! async-openai implementation for any OpenAI-compatible endpoint (`openai`), the reliability
//! wrapper every call goes through (`resilient`: timeouts, retry with backoff on 429/5xx, a
//! circuit breaker), token budgets and usage records (`usage`), and the prompts (`prompts`).
//! With no endpoint configured there is no client at all: callers use the offline responder in
//! `bot` instead, so the product works without any model.
use std::sync::Arc;

use futures_util::{future::BoxFuture, stream::BoxStream};
use serde::{Deserialize, Serialize};

pub mod openai;
pub mod prompts;
pub mod resilient;
pub mod usage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: ChatRole::Assistant,
            content: content.into(),
        }
    }
}

/// Ask for a JSON object matching `schema` (OpenAI `response_format: json_schema`, strict).
#[derive(Clone, Debug)]
pub struct JsonSchema {
    pub name: String,
    pub schema: serde_json::Value,
}

#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// Sent as `max_tokens` (llama.cpp ignores `max_completion_tokens`).
    pub max_tokens: u32,
    pub temperature: f32,
    pub json_schema: Option<JsonSchema>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub text: String,
    /// None when the server did not report usage (the caller estimates it).
    pub usage: Option<Usage>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StreamItem {
    /// The next piece of the answer.
    Delta(String),
    /// Token counts, when the server reports them (usually in the last chunk).
    Usage(Usage),
}

pub type TokenStream = BoxStream<'static, Result<StreamItem, LlmError>>;

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum LlmError {
    #[error("the model did not answer in time")]
    Timeout,
    #[error("the model endpoint is rate limiting us")]
    RateLimited,
    #[error("the model endpoint failed with HTTP {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("the model endpoint sent an invalid response: {0}")]
    InvalidResponse(String),
    #[error("the model endpoint is failing; calls are paused for a while")]
    CircuitOpen,
    #[error("token budget exhausted ({0})")]
    BudgetExceeded(&'static str),
    #[error("cannot reach the model endpoint: {0}")]
    Transport(String),
}

impl LlmError {
    /// Worth another attempt (after a backoff)?
    pub fn is_retryable(&self) -> bool {
        match self {
            LlmError::Timeout | LlmError::RateLimited | LlmError::Transport(_) => true,
            LlmError::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A chat model. Implementations must be cancel-safe: dropping the future or the stream stops
/// the request.
pub trait LlmClient: Send + Sync {
    /// The model name sent to the endpoint (recorded with usage).
    fn model(&self) -> &str;
    fn complete(&self, req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>>;
    /// Starts a streamed completion; the future resolves once the response headers arrived.
    fn stream(&self, req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>>;
}

pub type SharedLlm = Arc<dyn LlmClient>;

/// Rough token count for servers that report no usage: ~4 bytes per token.
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.len().div_ceil(4)).unwrap_or(u32::MAX)
}

/// Builds the configured client (async-openai behind the reliability wrapper), or None when no
/// endpoint is configured.
pub fn from_settings(s: &crate::config::Settings) -> Option<SharedLlm> {
    if s.llm_base_url.trim().is_empty() {
        return None;
    }
    let inner = openai::OpenAiClient::new(
        &s.llm_base_url,
        &s.llm_api_key,
        &s.llm_model,
        s.llm_timeout(),
    );
    Some(Arc::new(resilient::Resilient::new(
        inner,
        resilient::Policy::from_settings(s),
    )))
}
