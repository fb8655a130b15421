//! The LLM client stack (`Resilient<OpenAiClient>`) against the fake OpenAI-compatible server:
//! the request on the wire, streaming, retries, the circuit breaker, timeouts and every kind
//! of broken answer.
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use switchboard::llm::{
    ChatMessage, ChatRequest, JsonSchema, LlmClient, LlmError, StreamItem, TokenStream, Usage,
    openai::OpenAiClient,
    resilient::{Policy, Resilient},
};

use crate::fake_llm::{FakeLlm, Reply};

const MODEL: &str = "test-model";

fn client_at(base_url: &str, policy: Policy) -> Resilient<OpenAiClient> {
    switchboard::install_crypto_provider();
    let inner = OpenAiClient::new(base_url, FakeLlm::API_KEY, MODEL, Duration::from_secs(5));
    Resilient::new(inner, policy)
}

fn client(fake: &FakeLlm, policy: Policy) -> Resilient<OpenAiClient> {
    client_at(&fake.base_url(), policy)
}

fn request() -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Hi?"),
        ],
        max_tokens: 77,
        temperature: 0.5,
        json_schema: None,
    }
}

/// Everything the stream yields, errors included (bounded: a hanging stream fails the test).
async fn collect(s: TokenStream) -> Vec<Result<StreamItem, LlmError>> {
    tokio::time::timeout(Duration::from_secs(10), s.collect())
        .await
        .expect("the stream ended")
}

async fn stream_items(c: &impl LlmClient, req: ChatRequest) -> Vec<Result<StreamItem, LlmError>> {
    let s = c.stream(req).await.expect("stream opened");
    collect(s).await
}

fn delta(t: &str) -> Result<StreamItem, LlmError> {
    Ok(StreamItem::Delta(t.into()))
}

#[tokio::test]
async fn completion_sends_model_messages_max_tokens_and_schema() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.push(Reply::Text("Hello world".into()));
    let c = llm.complete(request()).await.expect("completion");
    assert_eq!(c.text, "Hello world");
    // The fake counts ⌈len/4⌉ per message ("You are terse." → 4, "Hi?" → 1) and one token per word.
    assert_eq!(
        c.usage,
        Some(Usage {
            prompt_tokens: 5,
            completion_tokens: 2
        })
    );

    let seen = fake.recorded();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer test-key"));
    let body = &seen[0].body;
    assert_eq!(body["model"], MODEL);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hi?"},
        ])
    );
    assert_eq!(body["max_tokens"], 77);
    assert!(body.get("max_completion_tokens").is_none());
    assert_eq!(body["temperature"], 0.5);
    assert!(body.get("response_format").is_none());
    assert!(body.get("stream").is_none_or(|s| s == false));

    // With a schema: response_format json_schema, strict.
    let schema = json!({
        "type": "object",
        "properties": {"reply": {"type": "string"}},
        "required": ["reply"],
        "additionalProperties": false,
    });
    fake.push(Reply::Json(json!({"reply": "Sure."})));
    let c = llm
        .complete(ChatRequest {
            json_schema: Some(JsonSchema {
                name: "suggestion".into(),
                schema: schema.clone(),
            }),
            ..request()
        })
        .await
        .expect("json completion");
    let v: serde_json::Value = serde_json::from_str(&c.text).expect("the content is JSON");
    assert_eq!(v, json!({"reply": "Sure."}));
    let body = &fake.requests()[1];
    assert_eq!(
        body["response_format"],
        json!({
            "type": "json_schema",
            "json_schema": {"name": "suggestion", "schema": schema, "strict": true}
        })
    );
}

#[tokio::test]
async fn streaming_yields_deltas_in_order_then_usage() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.push(Reply::Tokens(vec![
        "Hel".into(),
        "lo".into(),
        " wor".into(),
        "ld".into(),
    ]));
    let items = stream_items(&llm, request()).await;
    assert_eq!(
        items,
        vec![
            delta("Hel"),
            delta("lo"),
            delta(" wor"),
            delta("ld"),
            Ok(StreamItem::Usage(Usage {
                prompt_tokens: 5,
                completion_tokens: 4
            })),
        ]
    );
    let body = &fake.requests()[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["max_tokens"], 77);
    assert_eq!(body["model"], MODEL);

    // Text replies stream word by word.
    fake.push(Reply::Text("One two three".into()));
    let items = stream_items(&llm, request()).await;
    let text: String = items
        .iter()
        .filter_map(|i| match i {
            Ok(StreamItem::Delta(d)) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "One two three");
    assert_eq!(
        items
            .iter()
            .filter(|i| matches!(i, Ok(StreamItem::Delta(_))))
            .count(),
        3
    );
}

#[tokio::test]
async fn rate_limit_then_success_is_retried() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.push_all([
        Reply::Status(429, "slow down".into()),
        Reply::Text("ok".into()),
    ]);
    let c = llm.complete(request()).await.expect("retried completion");
    assert_eq!(c.text, "ok");
    assert_eq!(fake.request_count(), 2);

    // The same before the first streamed token.
    fake.push_all([
        Reply::Status(429, "slow down".into()),
        Reply::Text("streamed ok".into()),
    ]);
    let items = stream_items(&llm, request()).await;
    assert_eq!(items[..2], [delta("streamed"), delta(" ok")]);
    assert_eq!(fake.request_count(), 4);

    // Without retries the 429 surfaces as RateLimited.
    let no_retry = client(
        &fake,
        Policy {
            max_retries: 0,
            ..Policy::fast()
        },
    );
    fake.push(Reply::Status(429, "slow down".into()));
    assert_eq!(
        no_retry.complete(request()).await,
        Err(LlmError::RateLimited)
    );
    assert_eq!(fake.request_count(), 5);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.push(Reply::Status(400, "bad schema".into()));
    assert_eq!(
        llm.complete(request()).await,
        Err(LlmError::Upstream {
            status: 400,
            message: "bad schema".into()
        })
    );
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn repeated_server_errors_open_the_breaker_until_a_trial_succeeds() {
    let fake = FakeLlm::start().await;
    let cooldown = Duration::from_millis(300);
    let llm = client(
        &fake,
        Policy {
            max_retries: 1,
            breaker_failures: 2,
            breaker_cooldown: cooldown,
            ..Policy::fast()
        },
    );
    fake.set_default(Reply::Status(500, "model crashed".into()));
    assert_eq!(
        llm.complete(request()).await,
        Err(LlmError::Upstream {
            status: 500,
            message: "model crashed".into()
        })
    );
    assert_eq!(fake.request_count(), 2, "one attempt and one retry");

    // Open: fails at once, nothing reaches the server.
    assert_eq!(llm.complete(request()).await, Err(LlmError::CircuitOpen));
    assert_eq!(
        llm.stream(request()).await.err(),
        Some(LlmError::CircuitOpen)
    );
    assert_eq!(fake.request_count(), 2);

    // After the cooldown one trial goes out; it succeeds and closes the breaker.
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    fake.set_default(Reply::Text("back again".into()));
    let c = llm.complete(request()).await.expect("trial call");
    assert_eq!(c.text, "back again");
    assert_eq!(fake.request_count(), 3);
    let items = stream_items(&llm, request()).await;
    assert_eq!(items[0], delta("back"));
    assert_eq!(fake.request_count(), 4);
}

#[tokio::test]
async fn slow_first_token_times_out_and_is_retried() {
    let fake = FakeLlm::start().await;
    let policy = Policy {
        max_retries: 0,
        first_token_timeout: Duration::from_millis(300),
        ..Policy::fast()
    };
    let llm = client(&fake, policy.clone());
    fake.push(Reply::SlowFirstToken(Duration::from_secs(3), "late".into()));
    let started = Instant::now();
    assert_eq!(llm.stream(request()).await.err(), Some(LlmError::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // With a retry, the second (prompt) attempt answers.
    let llm = client(
        &fake,
        Policy {
            max_retries: 1,
            ..policy
        },
    );
    fake.push_all([
        Reply::SlowFirstToken(Duration::from_secs(3), "late".into()),
        Reply::Text("on time".into()),
    ]);
    let items = stream_items(&llm, request()).await;
    assert_eq!(items[..2], [delta("on"), delta(" time")]);
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn a_whole_completion_past_the_timeout_fails_with_timeout() {
    let fake = FakeLlm::start().await;
    let llm = client(
        &fake,
        Policy {
            max_retries: 0,
            timeout: Duration::from_millis(300),
            ..Policy::fast()
        },
    );
    fake.push(Reply::Hang);
    let started = Instant::now();
    assert_eq!(llm.complete(request()).await, Err(LlmError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_stream_cut_midway_yields_its_deltas_then_an_error() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    let pieces: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();

    // The connection drops mid-body.
    fake.push(Reply::CutAfter(2, pieces.clone()));
    let items = stream_items(&llm, request()).await;
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[..2], [delta("a"), delta("b")]);
    assert!(
        matches!(&items[2], Err(LlmError::Transport(_))),
        "{:?}",
        items[2]
    );

    // The body ends cleanly but without finish_reason / [DONE]: not a complete answer either.
    fake.push(Reply::EndWithoutDone(pieces));
    let items = stream_items(&llm, request()).await;
    assert_eq!(items.len(), 5, "{items:?}");
    assert!(
        matches!(&items[4], Err(LlmError::Transport(_))),
        "{:?}",
        items[4]
    );
    // Nothing was retried after the first token.
    assert_eq!(fake.request_count(), 2);

    // Cut before the first token: retried transparently.
    fake.push_all([
        Reply::CutAfter(0, vec!["x".into()]),
        Reply::Text("fine".into()),
    ]);
    let items = stream_items(&llm, request()).await;
    assert_eq!(items[0], delta("fine"));
    assert_eq!(fake.request_count(), 4);
}

#[tokio::test]
async fn a_stalled_stream_times_out_between_tokens() {
    let fake = FakeLlm::start().await;
    let llm = client(
        &fake,
        Policy {
            timeout: Duration::from_millis(300),
            ..Policy::fast()
        },
    );
    fake.push(Reply::StallAfter(1, vec!["a".into(), "b".into()]));
    let items = stream_items(&llm, request()).await;
    assert_eq!(items, vec![delta("a"), Err(LlmError::Timeout)]);
}

#[tokio::test]
async fn dropping_a_stream_closes_the_connection() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.push(Reply::StallAfter(1, vec!["a".into(), "b".into()]));
    let mut s = llm.stream(request()).await.expect("stream opened");
    assert_eq!(s.next().await, Some(delta("a")));
    assert_eq!(fake.open_connections(), 1);
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(3);
    while fake.open_connections() > 0 {
        assert!(
            Instant::now() < deadline,
            "the request kept running after the stream was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn invalid_json_is_an_invalid_response() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.push(Reply::InvalidJson);
    let r = llm.complete(request()).await;
    assert!(matches!(r, Err(LlmError::InvalidResponse(_))), "{r:?}");
    fake.push(Reply::InvalidJson);
    let r = llm.stream(request()).await.err();
    assert!(matches!(r, Some(LlmError::InvalidResponse(_))), "{r:?}");
    // Not retryable.
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let llm = client_at(
        &format!("http://127.0.0.1:{port}/v1"),
        Policy {
            max_retries: 0,
            ..Policy::fast()
        },
    );
    let r = llm.complete(request()).await;
    assert!(matches!(r, Err(LlmError::Transport(_))), "{r:?}");
    let r = llm.stream(request()).await.err();
    assert!(matches!(r, Some(LlmError::Transport(_))), "{r:?}");
}

#[tokio::test]
async fn the_fake_answers_from_the_request_when_asked_to() {
    let fake = FakeLlm::start().await;
    let llm = client(&fake, Policy::fast());
    fake.respond_with(|req| {
        let q = FakeLlm::last_user_message(req).unwrap_or_default();
        Reply::Text(format!("You said: {q}"))
    });
    let c = llm.complete(request()).await.expect("completion");
    assert_eq!(c.text, "You said: Hi?");
    let got = fake.wait_for_requests(1, Duration::from_secs(1)).await;
    assert_eq!(got.len(), 1);
}
