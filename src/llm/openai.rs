//! Placeholder: being written (async-openai client).
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{ChatRequest, Completion, LlmClient, LlmError, TokenStream};

pub struct OpenAiClient {
    model: String,
}

impl OpenAiClient {
    pub fn new(_base_url: &str, _api_key: &str, model: &str, _timeout: Duration) -> Self {
        Self {
            model: model.to_string(),
        }
    }
}

impl LlmClient for OpenAiClient {
    fn model(&self) -> &str {
        &self.model
    }
    fn complete(&self, _req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
        Box::pin(async { Err(LlmError::Transport("not implemented".into())) })
    }
    fn stream(&self, _req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
        Box::pin(async { Err(LlmError::Transport("not implemented".into())) })
    }
}
