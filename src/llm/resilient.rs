//! Placeholder: being written (timeouts, retries, circuit breaker).
use futures_util::future::BoxFuture;

use super::{ChatRequest, Completion, LlmClient, LlmError, TokenStream};

#[derive(Clone, Debug)]
pub struct Policy {}

impl Policy {
    pub fn from_settings(_s: &crate::config::Settings) -> Self {
        Self {}
    }
}

pub struct Resilient<C> {
    inner: C,
    _policy: Policy,
}

impl<C: LlmClient> Resilient<C> {
    pub fn new(inner: C, policy: Policy) -> Self {
        Self {
            inner,
            _policy: policy,
        }
    }
}

impl<C: LlmClient> LlmClient for Resilient<C> {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn complete(&self, req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
        self.inner.complete(req)
    }
    fn stream(&self, req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
        self.inner.stream(req)
    }
}
