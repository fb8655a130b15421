//! The reliability wrapper every model call goes through: a per-attempt timeout, retries with
//! exponential backoff and jitter on retryable errors (429, 5xx, timeouts, transport), and a
//! circuit breaker that stops calling a failing endpoint for a while.
//!
//! Streams: `Resilient::stream` resolves once the **first token** arrived (not merely the
//! headers), so everything that fails before it — the connection, an HTTP error, a first token
//! later than `first_token_timeout`, a stream broken before its first token — is retried like a
//! completion. After the first token nothing is retried (the caller already showed it): the
//! stream yields the error and ends. Between two items, `timeout` is the idle limit: past it
//! the stream yields `Err(Timeout)` and ends.
//!
//! Breaker: `breaker_failures` consecutive failed attempts (retryable errors and invalid
//! responses; a 4xx other than 429 proves the endpoint alive and counts as a success) open it.
//! While open, calls fail at once with `CircuitOpen` without touching the endpoint. After
//! `breaker_cooldown` one trial call goes through (others still get `CircuitOpen`); its success
//! closes the breaker, its failure opens it for another cooldown.
use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use futures_util::{StreamExt, future::BoxFuture, stream};

use super::{ChatRequest, Completion, LlmClient, LlmError, StreamItem, TokenStream};

/// Limits and retry behaviour of [`Resilient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Longest wait for a whole completion (one attempt), or between two streamed items.
    pub timeout: Duration,
    /// Longest wait for the first streamed token of one attempt (from the request on).
    pub first_token_timeout: Duration,
    /// Extra attempts after a retryable error.
    pub max_retries: u32,
    /// Backoff before retry n (0-based) is `backoff_base * 2^n`, capped at `backoff_max`, with
    /// "equal jitter": uniformly random in [half of it, all of it].
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failed attempts that open the breaker; 0 = no breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one trial call.
    pub breaker_cooldown: Duration,
}

impl Policy {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Self {
            timeout: s.llm_timeout(),
            first_token_timeout: s.llm_first_token_timeout(),
            max_retries: s.llm_max_retries,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            breaker_failures: s.llm_breaker_failures,
            breaker_cooldown: s.llm_breaker_cooldown(),
        }
    }

    /// Short limits for tests: 2 s timeout, 1 s to the first token, 2 retries 10–40 ms apart,
    /// breaker after 5 failures for 200 ms. Adjust with struct update syntax:
    /// `Policy { max_retries: 0, ..Policy::fast() }`.
    pub fn fast() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            first_token_timeout: Duration::from_secs(1),
            max_retries: 2,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_millis(200),
        }
    }

    /// The wait before retry `retry` (0 = the first retry), jitter included.
    pub fn backoff(&self, retry: u32) -> Duration {
        let full = self.backoff_ceiling(retry);
        let half = full / 2;
        let spread = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            random_u64() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// `backoff_base * 2^retry`, capped at `backoff_max` (the backoff without jitter).
    pub fn backoff_ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.backoff_base
            .checked_mul(factor)
            .unwrap_or(self.backoff_max)
            .min(self.backoff_max)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Self::from_settings(&crate::config::Settings::default())
    }
}

fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_ok() {
        return u64::from_le_bytes(buf);
    }
    // No OS randomness: the clock's low bits are good enough for jitter.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0)
}

/// Does this error say the endpoint is unhealthy (counts towards opening the breaker)?
fn is_endpoint_failure(e: &LlmError) -> bool {
    e.is_retryable() || matches!(e, LlmError::InvalidResponse(_))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Cooldown over; one trial call is in flight.
    HalfOpen,
}

/// The circuit breaker on its own (`Resilient` holds one; public for tests and status pages).
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold,
            cooldown,
            state: Mutex::new(BreakerState::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BreakerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        *self.lock()
    }

    /// May a call go out at `now`? `Ok(true)` = yes, as the trial call after a cooldown (its
    /// outcome must be reported, or `abandon_trial` called).
    pub fn try_acquire(&self, now: Instant) -> Result<bool, LlmError> {
        let mut st = self.lock();
        match *st {
            BreakerState::Closed { .. } => Ok(false),
            BreakerState::Open { until } if now >= until => {
                *st = BreakerState::HalfOpen;
                Ok(true)
            }
            BreakerState::Open { .. } | BreakerState::HalfOpen => Err(LlmError::CircuitOpen),
        }
    }

    pub fn on_success(&self) {
        *self.lock() = BreakerState::Closed { failures: 0 };
    }

    pub fn on_failure(&self, now: Instant) {
        let mut st = self.lock();
        let open = BreakerState::Open {
            until: now + self.cooldown,
        };
        *st = match *st {
            _ if self.threshold == 0 => BreakerState::Closed { failures: 0 },
            BreakerState::Closed { failures } if failures + 1 < self.threshold => {
                BreakerState::Closed {
                    failures: failures + 1,
                }
            }
            BreakerState::Closed { .. } | BreakerState::HalfOpen => open,
            // A call that started before the breaker opened: keep the later deadline.
            BreakerState::Open { until } => BreakerState::Open {
                until: until.max(now + self.cooldown),
            },
        };
    }

    /// The trial call was cancelled before it had an outcome: let the next call try.
    pub fn abandon_trial(&self, now: Instant) {
        let mut st = self.lock();
        if *st == BreakerState::HalfOpen {
            *st = BreakerState::Open { until: now };
        }
    }

    fn report(&self, result: Result<(), &LlmError>) {
        match result {
            Err(e) if is_endpoint_failure(e) => self.on_failure(Instant::now()),
            _ => self.on_success(),
        }
    }
}

/// One attempt's admission; a dropped, unsettled trial permit frees the half-open slot.
struct Permit {
    breaker: Arc<Breaker>,
    trial: bool,
    settled: bool,
}

impl Permit {
    fn acquire(breaker: &Arc<Breaker>) -> Result<Self, LlmError> {
        let trial = breaker.try_acquire(Instant::now())?;
        Ok(Self {
            breaker: breaker.clone(),
            trial,
            settled: false,
        })
    }

    fn settle(mut self, result: Result<(), &LlmError>) {
        self.settled = true;
        self.breaker.report(result);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.trial && !self.settled {
            self.breaker.abandon_trial(Instant::now());
        }
    }
}

/// Wraps a client with the [`Policy`]. Cheap to share behind an `Arc` (it is a `SharedLlm`).
pub struct Resilient<C> {
    inner: C,
    policy: Policy,
    breaker: Arc<Breaker>,
}

impl<C: LlmClient> Resilient<C> {
    pub fn new(inner: C, policy: Policy) -> Self {
        let breaker = Arc::new(Breaker::new(
            policy.breaker_failures,
            policy.breaker_cooldown,
        ));
        Self {
            inner,
            policy,
            breaker,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// One stream attempt: open it and read up to the first delta (or its end), all within
    /// `first_token_timeout`. Returns what was read and the rest of the stream.
    async fn open_stream(
        &self,
        req: ChatRequest,
    ) -> Result<(Vec<StreamItem>, Option<TokenStream>), LlmError> {
        let attempt = async {
            let mut s = self.inner.stream(req).await?;
            let mut head = Vec::new();
            loop {
                match s.next().await {
                    Some(Ok(item @ StreamItem::Delta(_))) => {
                        head.push(item);
                        return Ok((head, Some(s)));
                    }
                    Some(Ok(item)) => head.push(item),
                    Some(Err(e)) => return Err(e),
                    None => return Ok((head, None)),
                }
            }
        };
        match tokio::time::timeout(self.policy.first_token_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(LlmError::Timeout),
        }
    }

    /// Runs `attempt` under the breaker with retries; `last` error wins over `CircuitOpen`
    /// when the breaker opens between two attempts.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<T, LlmError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, LlmError>>,
    {
        let mut retry = 0u32;
        let mut last: Option<LlmError> = None;
        loop {
            let permit = match Permit::acquire(&self.breaker) {
                Ok(p) => p,
                Err(open) => return Err(last.unwrap_or(open)),
            };
            match attempt().await {
                Ok(v) => {
                    permit.settle(Ok(()));
                    return Ok(v);
                }
                Err(e) => {
                    permit.settle(Err(&e));
                    if !e.is_retryable() || retry >= self.policy.max_retries {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, retry, "LLM call failed; retrying");
                    tokio::time::sleep(self.policy.backoff(retry)).await;
                    retry += 1;
                    last = Some(e);
                }
            }
        }
    }
}

impl<C: LlmClient> LlmClient for Resilient<C> {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn complete(&self, req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
        Box::pin(async move {
            self.with_retries(|| {
                let req = req.clone();
                async move {
                    match tokio::time::timeout(self.policy.timeout, self.inner.complete(req)).await
                    {
                        Ok(r) => r,
                        Err(_) => Err(LlmError::Timeout),
                    }
                }
            })
            .await
        })
    }

    fn stream(&self, req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
        Box::pin(async move {
            let (head, rest) = self.with_retries(|| self.open_stream(req.clone())).await?;
            let head = stream::iter(head.into_iter().map(Ok));
            Ok(match rest {
                Some(rest) => head
                    .chain(guard_stream(
                        rest,
                        self.policy.timeout,
                        self.breaker.clone(),
                    ))
                    .boxed(),
                None => head.boxed(),
            })
        })
    }
}

/// The stream after its first token: `idle` between items (past it: `Err(Timeout)`, then the
/// end), ends after the first error, and reports failures to the breaker.
fn guard_stream(inner: TokenStream, idle: Duration, breaker: Arc<Breaker>) -> TokenStream {
    stream::unfold(Some(inner), move |state| {
        let breaker = breaker.clone();
        async move {
            let mut s = state?;
            let item = match tokio::time::timeout(idle, s.next()).await {
                Ok(Some(Ok(item))) => return Some((Ok(item), Some(s))),
                Ok(None) => return None,
                Ok(Some(Err(e))) => e,
                Err(_) => LlmError::Timeout,
            };
            if is_endpoint_failure(&item) {
                breaker.on_failure(Instant::now());
            }
            Some((Err(item), None))
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::{
        collections::VecDeque,
        sync::atomic::{AtomicUsize, Ordering},
    };

    use super::*;
    use crate::llm::{ChatMessage, Usage};

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_is_capped() {
        let p = Policy {
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            ..Policy::fast()
        };
        assert_eq!(p.backoff_ceiling(0), Duration::from_millis(200));
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(400));
        assert_eq!(p.backoff_ceiling(4), Duration::from_millis(3200));
        assert_eq!(p.backoff_ceiling(5), Duration::from_secs(5));
        assert_eq!(p.backoff_ceiling(100), Duration::from_secs(5));
        let mut seen = std::collections::HashSet::new();
        for retry in 0..8 {
            for _ in 0..50 {
                let d = p.backoff(retry);
                let ceiling = p.backoff_ceiling(retry);
                assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} for {ceiling:?}");
                seen.insert(d);
            }
        }
        assert!(seen.len() > 20, "jitter should vary the delays");
    }

    #[test]
    fn policy_reads_settings() {
        let s = crate::config::Settings {
            llm_timeout_secs: 7,
            llm_first_token_timeout_secs: 3,
            llm_max_retries: 4,
            llm_breaker_failures: 6,
            llm_breaker_cooldown_secs: 9,
            ..Default::default()
        };
        let p = Policy::from_settings(&s);
        assert_eq!(p.timeout, Duration::from_secs(7));
        assert_eq!(p.first_token_timeout, Duration::from_secs(3));
        assert_eq!(p.max_retries, 4);
        assert_eq!(p.breaker_failures, 6);
        assert_eq!(p.breaker_cooldown, Duration::from_secs(9));
    }

    #[test]
    fn breaker_opens_after_consecutive_failures_and_trials_after_cooldown() {
        let b = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success(); // resets the count
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(b.try_acquire(t0), Ok(false));
        b.on_failure(t0);
        assert_eq!(
            b.state(),
            BreakerState::Open {
                until: t0 + Duration::from_secs(10)
            }
        );
        assert_eq!(
            b.try_acquire(t0 + Duration::from_secs(9)),
            Err(LlmError::CircuitOpen)
        );
        // Cooldown over: exactly one trial.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.try_acquire(t1), Ok(true));
        assert_eq!(b.try_acquire(t1), Err(LlmError::CircuitOpen));
        // The trial fails: open for another cooldown.
        b.on_failure(t1);
        assert_eq!(
            b.try_acquire(t1 + Duration::from_secs(5)),
            Err(LlmError::CircuitOpen)
        );
        let t2 = t1 + Duration::from_secs(10);
        assert_eq!(b.try_acquire(t2), Ok(true));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { failures: 0 });
        assert_eq!(b.try_acquire(t2), Ok(false));
    }

    #[test]
    fn abandoned_trial_lets_the_next_call_try() {
        let b = Arc::new(Breaker::new(1, Duration::from_millis(0)));
        b.on_failure(Instant::now());
        let p = Permit::acquire(&b);
        assert!(matches!(&p, Ok(p) if p.trial));
        assert_eq!(b.try_acquire(Instant::now()), Err(LlmError::CircuitOpen));
        drop(p);
        assert_eq!(b.try_acquire(Instant::now()), Ok(true));
    }

    #[test]
    fn zero_threshold_never_opens() {
        let b = Breaker::new(0, Duration::from_secs(10));
        for _ in 0..10 {
            b.on_failure(Instant::now());
        }
        assert_eq!(b.try_acquire(Instant::now()), Ok(false));
    }

    #[test]
    fn client_errors_do_not_count_as_endpoint_failures() {
        assert!(is_endpoint_failure(&LlmError::Timeout));
        assert!(is_endpoint_failure(&LlmError::RateLimited));
        assert!(is_endpoint_failure(&LlmError::InvalidResponse("x".into())));
        assert!(is_endpoint_failure(&LlmError::Upstream {
            status: 503,
            message: String::new()
        }));
        assert!(!is_endpoint_failure(&LlmError::Upstream {
            status: 400,
            message: String::new()
        }));
    }

    /// A scripted client: each call pops the next outcome.
    enum Step {
        Fail(LlmError),
        Answer(&'static str),
        SlowAnswer(Duration, &'static str),
        Stream(Vec<Result<StreamItem, LlmError>>),
    }

    struct Scripted {
        steps: Mutex<VecDeque<Step>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(steps: Vec<Step>) -> Self {
            Self {
                steps: Mutex::new(steps.into()),
                calls: AtomicUsize::new(0),
            }
        }
        fn next(&self) -> Step {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.steps
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
                .unwrap_or(Step::Answer("default"))
        }
    }

    impl LlmClient for Scripted {
        fn model(&self) -> &str {
            "scripted"
        }
        fn complete(&self, _req: ChatRequest) -> BoxFuture<'_, Result<Completion, LlmError>> {
            let step = self.next();
            Box::pin(async move {
                let text = match step {
                    Step::Fail(e) => return Err(e),
                    Step::Answer(t) => t,
                    Step::SlowAnswer(d, t) => {
                        tokio::time::sleep(d).await;
                        t
                    }
                    Step::Stream(_) => "stream",
                };
                Ok(Completion {
                    text: text.into(),
                    usage: None,
                })
            })
        }
        fn stream(&self, _req: ChatRequest) -> BoxFuture<'_, Result<TokenStream, LlmError>> {
            let step = self.next();
            Box::pin(async move {
                match step {
                    Step::Fail(e) => Err(e),
                    Step::Stream(items) => Ok(stream::iter(items).boxed()),
                    Step::Answer(t) => Ok(stream::iter([Ok(StreamItem::Delta(t.into()))]).boxed()),
                    Step::SlowAnswer(d, t) => Ok(stream::once(async move {
                        tokio::time::sleep(d).await;
                        Ok(StreamItem::Delta(t.into()))
                    })
                    .boxed()),
                }
            })
        }
    }

    fn req() -> ChatRequest {
        ChatRequest {
            messages: vec![ChatMessage::user("hi")],
            max_tokens: 10,
            temperature: 0.0,
            json_schema: None,
        }
    }

    fn upstream(status: u16) -> LlmError {
        LlmError::Upstream {
            status,
            message: "boom".into(),
        }
    }

    #[tokio::test]
    async fn retries_retryable_errors_then_succeeds() {
        let r = Resilient::new(
            Scripted::new(vec![
                Step::Fail(LlmError::RateLimited),
                Step::Fail(upstream(502)),
                Step::Answer("ok"),
            ]),
            Policy::fast(),
        );
        let c = r.complete(req()).await;
        assert_eq!(c.map(|c| c.text), Ok("ok".to_string()));
        assert_eq!(r.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn does_not_retry_client_errors_and_gives_up_after_max_retries() {
        let r = Resilient::new(
            Scripted::new(vec![Step::Fail(upstream(400))]),
            Policy::fast(),
        );
        assert_eq!(r.complete(req()).await, Err(upstream(400)));
        assert_eq!(r.inner().calls.load(Ordering::SeqCst), 1);

        let r = Resilient::new(
            Scripted::new((0..5).map(|_| Step::Fail(upstream(500))).collect()),
            Policy {
                max_retries: 1,
                ..Policy::fast()
            },
        );
        assert_eq!(r.complete(req()).await, Err(upstream(500)));
        assert_eq!(r.inner().calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn per_attempt_timeout_applies_to_complete() {
        let r = Resilient::new(
            Scripted::new(vec![
                Step::SlowAnswer(Duration::from_secs(5), "late"),
                Step::Answer("ok"),
            ]),
            Policy {
                timeout: Duration::from_millis(50),
                ..Policy::fast()
            },
        );
        assert_eq!(r.complete(req()).await.map(|c| c.text), Ok("ok".into()));
        assert_eq!(r.inner().calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn open_breaker_fails_fast_without_calling_then_recovers() {
        let policy = Policy {
            max_retries: 0,
            breaker_failures: 2,
            breaker_cooldown: Duration::from_millis(100),
            ..Policy::fast()
        };
        let r = Resilient::new(
            Scripted::new(vec![Step::Fail(upstream(500)), Step::Fail(upstream(503))]),
            policy,
        );
        assert_eq!(r.complete(req()).await, Err(upstream(500)));
        assert_eq!(r.complete(req()).await, Err(upstream(503)));
        assert_eq!(r.complete(req()).await, Err(LlmError::CircuitOpen));
        assert!(matches!(
            r.stream(req()).await.err(),
            Some(LlmError::CircuitOpen)
        ));
        assert_eq!(r.inner().calls.load(Ordering::SeqCst), 2);
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(
            r.complete(req()).await.map(|c| c.text),
            Ok("default".into())
        );
        assert_eq!(r.breaker().state(), BreakerState::Closed { failures: 0 });
    }

    async fn collect(s: TokenStream) -> Vec<Result<StreamItem, LlmError>> {
        s.collect().await
    }

    #[tokio::test]
    async fn stream_retries_before_the_first_delta_only() {
        let delta = |t: &str| Ok(StreamItem::Delta(t.into()));
        let r = Resilient::new(
            Scripted::new(vec![
                Step::Stream(vec![Err(LlmError::Transport("reset".into()))]),
                Step::Stream(vec![
                    delta("a"),
                    delta("b"),
                    Err(LlmError::Transport("cut".into())),
                    delta("never"),
                ]),
            ]),
            Policy::fast(),
        );
        let s = r.stream(req()).await;
        let items = match s {
            Ok(s) => collect(s).await,
            Err(e) => panic!("stream failed: {e}"),
        };
        assert_eq!(
            items,
            vec![
                delta("a"),
                delta("b"),
                Err(LlmError::Transport("cut".into()))
            ]
        );
        assert_eq!(r.inner().calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn stream_first_token_timeout_and_usage_only_streams() {
        let r = Resilient::new(
            Scripted::new(vec![Step::SlowAnswer(Duration::from_secs(5), "late")]),
            Policy {
                max_retries: 0,
                first_token_timeout: Duration::from_millis(50),
                ..Policy::fast()
            },
        );
        assert!(matches!(
            r.stream(req()).await.err(),
            Some(LlmError::Timeout)
        ));

        let usage = Usage {
            prompt_tokens: 3,
            completion_tokens: 0,
        };
        let r = Resilient::new(
            Scripted::new(vec![Step::Stream(vec![Ok(StreamItem::Usage(usage))])]),
            Policy::fast(),
        );
        let items = match r.stream(req()).await {
            Ok(s) => collect(s).await,
            Err(e) => panic!("stream failed: {e}"),
        };
        assert_eq!(items, vec![Ok(StreamItem::Usage(usage))]);
    }

    #[tokio::test]
    async fn stream_idle_timeout_yields_timeout_then_ends() {
        let r = Resilient::new(
            Scripted::new(vec![Step::Stream(vec![])]),
            Policy {
                timeout: Duration::from_millis(50),
                ..Policy::fast()
            },
        );
        // A first delta, then silence.
        let inner = stream::iter([Ok(StreamItem::Delta("a".into()))])
            .chain(stream::pending())
            .boxed();
        let s = guard_stream(inner, r.policy().timeout, r.breaker.clone());
        assert_eq!(
            collect(s).await,
            vec![Ok(StreamItem::Delta("a".into())), Err(LlmError::Timeout)]
        );
    }
}
