//! `switchboard-bench suggest`: how much latency the server adds before an agent sees the
//! first token of a suggested reply. A built-in OpenAI-compatible endpoint answers instantly
//! (SSE chunks written as soon as the request is read); each round measures the time to the first
//! token straight from that endpoint, then through `POST /conversations/{id}/suggest` (auth, the
//! conversation and its messages from the database, KB retrieval, budget check, prompt, relay).
//! The difference, round by round, is the server's share. With `--llm-url`, the same figures
//! against a real endpoint, plus its tokens per second.
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::{io::AsyncWriteExt, net::TcpListener};

use super::stats::{Summary, micros};
use switchboard::{actor::Role, config::Settings, startup::Application};
use testkit::seed::NewAgent;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Measured rounds (after 20 warm-up rounds).
    #[arg(long, default_value_t = 500)]
    pub rounds: usize,
    /// Knowledge-base folder to import (retrieval is part of the path).
    #[arg(long, default_value = "tests/data/eval/kb")]
    pub kb: std::path::PathBuf,
    /// Measure against this OpenAI-compatible endpoint instead of the instant built-in one.
    #[arg(long)]
    pub llm_url: Option<String>,
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// Print the figures as one JSON object on the last line.
    #[arg(long)]
    pub json: bool,
}

const TOKENS: &[&str] = &[
    "Thanks ",
    "for ",
    "asking! ",
    "You ",
    "can ",
    "download ",
    "invoices ",
    "under ",
    "Settings.",
];

/// An OpenAI-compatible endpoint that streams a fixed answer the moment a request is read.
async fn instant_model() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                // One request per connection: headers, then Content-Length bytes.
                if testkit::http1::read_request(&mut sock).await.is_some() {
                    let mut body = String::from(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
                    );
                    for (i, t) in TOKENS.iter().enumerate() {
                        let delta = if i == 0 {
                            json!({"role": "assistant", "content": t})
                        } else {
                            json!({"content": t})
                        };
                        let c = json!({"id": "b", "object": "chat.completion.chunk", "created": 0, "model": "instant",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
                        body.push_str(&format!("data: {c}\n\n"));
                    }
                    let fin = json!({"id": "b", "object": "chat.completion.chunk", "created": 0, "model": "instant",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
                    body.push_str(&format!("data: {fin}\n\ndata: [DONE]\n\n"));
                    let _ = sock.write_all(body.as_bytes()).await;
                    let _ = sock.shutdown().await;
                }
            });
        }
    });
    Ok(format!("http://{addr}/v1"))
}

/// Time to the first token (and to the end, and the number of content chunks) of a streamed
/// completion straight from the endpoint.
async fn direct(
    http: &reqwest::Client,
    base: &str,
    model: &str,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let body = json!({"model": model, "stream": true, "max_tokens": 120,
        "messages": [{"role": "system", "content": "You draft replies for a support agent."},
                     {"role": "user", "content": "Where do I find my invoices?"}]});
    let t0 = Instant::now();
    let mut r = http
        .post(format!("{}/chat/completions", base.trim_end_matches('/')))
        .json(&body)
        .send()
        .await?;
    let mut first = None;
    let mut pieces = 0;
    let mut buf = String::new();
    while let Some(c) = r.chunk().await? {
        buf.push_str(&String::from_utf8_lossy(&c));
        // Whole SSE lines only; count chunks that carry text.
        while let Some(nl) = buf.find('\n') {
            let line: String = buf.drain(..=nl).collect();
            let Some(data) = line.trim().strip_prefix("data:") else {
                continue;
            };
            let v: serde_json::Value = serde_json::from_str(data.trim()).unwrap_or_default();
            let has_text = v["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|t| !t.is_empty());
            if has_text {
                if first.is_none() {
                    first = Some(t0.elapsed());
                }
                pieces += 1;
            }
        }
    }
    Ok((first.unwrap_or_else(|| t0.elapsed()), t0.elapsed(), pieces))
}

/// Time to the first `delta` event of a suggestion through the server.
async fn through(
    http: &reqwest::Client,
    url: &str,
    bearer: &str,
) -> anyhow::Result<(Duration, Duration)> {
    let t0 = Instant::now();
    let mut r = http.post(url).bearer_auth(bearer).send().await?;
    anyhow::ensure!(r.status().is_success(), "suggest answered {}", r.status());
    let mut first = None;
    let mut all = String::new();
    while let Some(c) = r.chunk().await? {
        all.push_str(&String::from_utf8_lossy(&c));
        if first.is_none() && all.contains("event: delta") {
            first = Some(t0.elapsed());
        }
        if all.contains("event: error") {
            anyhow::bail!("the suggestion failed: {all}");
        }
    }
    Ok((first.unwrap_or_else(|| t0.elapsed()), t0.elapsed()))
}

pub async fn run(a: Args, mut settings: Settings) -> anyhow::Result<()> {
    let (base, model) = match &a.llm_url {
        Some(u) => (u.clone(), a.model.clone()),
        None => (instant_model().await?, "instant".to_string()),
    };
    let dir = tempfile::Builder::new().prefix("sb-bench-").tempdir()?;
    settings.bind = "127.0.0.1:0".into();
    settings.data_dir = dir.path().to_path_buf();
    settings.database_url = String::new();
    settings.rate_limits = false;
    settings.llm_base_url = base.clone();
    settings.llm_model = model.clone();
    settings.llm_conversation_token_budget = 0;
    settings.llm_daily_token_budget = 0;
    let app = Application::build(settings).await?;
    let ctx = app.context().clone();
    let password = "bench-password-1";
    let admin = NewAgent::new("admin@bench.example", "Admin", Role::Admin);
    let seeded = testkit::seed::account(&ctx.db, "Bench", &[admin], password, "Bench").await?;
    let (acc, inbox) = (seeded.account, seeded.inbox);
    let articles = if a.kb.is_dir() {
        switchboard::kb::import::import_dir(&ctx.db, acc.id, &a.kb, false)
            .await?
            .created
    } else {
        0
    };
    let port = app.port();
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped(false));
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .build()?;
    let server = format!("http://127.0.0.1:{port}");
    let login: serde_json::Value = http
        .post(format!("{server}/api/v1/auth/login"))
        .json(&json!({"email": "admin@bench.example", "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let bearer = login["token"].as_str().context("login token")?.to_string();
    // A customer conversation with a question, as an agent would open it.
    let session: serde_json::Value = http
        .post(format!("{server}/api/v1/widget/session"))
        .json(&json!({"inbox_token": inbox.widget_token}))
        .send()
        .await?
        .json()
        .await?;
    let conv: uuid::Uuid = session["conversation_id"]
        .as_str()
        .context("conversation")?
        .parse()?;
    let visitor = session["visitor_token"].as_str().context("visitor token")?;
    for (i, q) in [
        "Hi!",
        "my accountant needs pdf copies of every bill from last year, where do I find those",
    ]
    .iter()
    .enumerate()
    {
        let r = http
            .post(format!("{server}/api/v1/conversations/{conv}/messages"))
            .bearer_auth(visitor)
            .json(&json!({"client_msg_id": format!("q{i}"), "body": q}))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "customer message: {}", r.status());
    }
    let url = format!("{server}/api/v1/conversations/{conv}/suggest");
    let rounds = a.rounds.max(1);
    let warmup = if a.llm_url.is_some() { 1 } else { 20 };
    let (mut d_first, mut t_first, mut added, mut d_total) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut pieces = 0usize;
    for i in 0..warmup + rounds {
        let (df, dt, n) = direct(&http, &base, &model).await?;
        let (tf, _) = through(&http, &url, &bearer).await?;
        if i >= warmup {
            d_first.push(micros(df));
            t_first.push(micros(tf));
            d_total.push(micros(dt));
            pieces += n;
            added.push(micros(tf.saturating_sub(df)));
        }
    }
    let direct_s = Summary::of_micros(&mut d_first);
    let through_s = Summary::of_micros(&mut t_first);
    let added_s = Summary::of_micros(&mut added);
    let total_s: f64 = d_total.iter().map(|&v| f64::from(v) / 1e6).sum();
    let tokens_per_s = if total_s > 0.0 {
        pieces as f64 / total_s
    } else {
        0.0
    };
    println!(
        "suggested reply: time to first token ({rounds} rounds, {articles} KB articles, model {model})"
    );
    println!(
        "  straight from the endpoint   p50 {:>7.2} ms  p99 {:>7.2} ms",
        direct_s.p50_ms, direct_s.p99_ms
    );
    println!(
        "  through the server           p50 {:>7.2} ms  p99 {:>7.2} ms",
        through_s.p50_ms, through_s.p99_ms
    );
    println!(
        "  added by the server          p50 {:>7.2} ms  p99 {:>7.2} ms  max {:.2} ms",
        added_s.p50_ms, added_s.p99_ms, added_s.max_ms
    );
    if a.llm_url.is_some() {
        println!(
            "  endpoint throughput          {tokens_per_s:.1} tokens/s (streamed pieces over whole-request time)"
        );
    }
    if a.json {
        println!(
            "{}",
            json!({"rounds": rounds, "model": model, "direct_first_token": direct_s, "through_first_token": through_s,
                   "server_added": added_s, "tokens_per_s": tokens_per_s})
        );
    }
    handle.stop().await;
    drop(ctx);
    let _ = join.await;
    Ok(())
}
