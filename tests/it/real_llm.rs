//! End-to-end stories against a REAL small model (SmolLM2-135M-Instruct served by llama.cpp's
//! OpenAI-compatible server, through async-openai). `.ci/run` starts the model and runs these with
//! `SWITCHBOARD_TEST_LLM_URL` set (`cargo test --test it real_llm -- --ignored`). They assert
//! structure — tokens stream, the reply is stored once, handoff still works — never wording.
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    ai::{enable_bot, import_kb},
    api_helpers::*,
    helpers::*,
};

fn endpoint() -> String {
    std::env::var("SWITCHBOARD_TEST_LLM_URL").expect(
        "set SWITCHBOARD_TEST_LLM_URL to a running OpenAI-compatible server (e.g. `.ci/local-llm serve 8091` → http://127.0.0.1:8091/v1)",
    )
}

async fn real_app() -> TestApp {
    let url = endpoint();
    spawn_app_with(move |s| {
        s.llm_base_url = url;
        s.llm_model =
            std::env::var("SWITCHBOARD_TEST_LLM_MODEL").unwrap_or_else(|_| "smollm2".into());
        // A 135M model on one busy core: seconds per answer.
        s.llm_timeout_secs = 120;
        s.llm_first_token_timeout_secs = 120;
        s.llm_max_tokens = 80;
    })
    .await
}

async fn usage_kinds(app: &TestApp) -> Vec<(String, i64)> {
    use sea_orm::EntityTrait;
    switchboard::db::entities::llm_usage::Entity::find()
        .all(&app.ctx.db)
        .await
        .expect("db")
        .into_iter()
        .map(|u| (u.kind, u.completion_tokens))
        .collect()
}

#[tokio::test]
#[ignore = "needs a real model: SWITCHBOARD_TEST_LLM_URL (run by .ci/run)"]
async fn real_model_streams_a_suggested_reply_to_the_agent() {
    let app = real_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "where do I download PDF invoices?",
        false,
    )
    .await;
    let r = app
        .http
        .post(app.url(&format!(
            "/api/v1/conversations/{}/suggest",
            c.conversation_id
        )))
        .bearer_auth(&admin.session)
        .send()
        .await
        .expect("suggest");
    assert_eq!(r.status(), StatusCode::OK);
    let text = tokio::time::timeout(Duration::from_secs(180), r.text())
        .await
        .expect("the stream ends")
        .expect("body");
    let events: Vec<(&str, Value)> = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let ev = b
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = b
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (ev, serde_json::from_str(data).expect("json"))
        })
        .collect();
    assert_eq!(events[0].0, "sources");
    assert_eq!(events[0].1["source"], "llm");
    let deltas = events.iter().filter(|e| e.0 == "delta").count();
    assert!(
        deltas >= 2,
        "the model's answer arrives token by token: {events:?}"
    );
    let done = events.last().expect("last");
    assert_eq!(done.0, "done", "{events:?}");
    assert!(!done.1["text"].as_str().unwrap_or("").trim().is_empty());
    // A suggestion is never sent; its tokens are counted.
    assert_eq!(
        app.history(&admin.session, c.conversation_id).await.len(),
        1
    );
    let usage = usage_kinds(&app).await;
    assert!(
        usage.iter().any(|(k, n)| k == "suggest" && *n > 0),
        "{usage:?}"
    );
    app.stop().await;
}

#[tokio::test]
#[ignore = "needs a real model: SWITCHBOARD_TEST_LLM_URL (run by .ci/run)"]
async fn real_model_bot_answers_once_in_the_widget_and_still_hands_off() {
    let app = real_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    enable_bot(&app, &admin).await;
    let c = app.customer().await;
    let (mut cws, _) = app.customer_resume(&c, 0).await;
    let asked = tokio::time::Instant::now();
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "how long do I have to get a refund on a yearly plan?",
        false,
    )
    .await;
    // The widget sees the bot typing, then exactly one bot message (an answer, or a handoff when
    // the small model's decision is unusable — both are stored once).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let mut typing = false;
    let first = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let f = cws.frame_within(left).await.expect("a bot message in time");
        if f["type"] == "typing" && f["sender_type"] == "bot" {
            typing = true;
        }
        if f["type"] == "message" && f["sender_type"] == "bot" {
            break f;
        }
    };
    assert!(typing, "typing shown while the model works");
    let body = first["body"].as_str().expect("body");
    assert!(!body.contains('<'), "{body}");
    // A catch-up pass that would take the conversation if it still waited must not answer again.
    tokio::time::sleep_until(asked + switchboard::bot::runner::CATCH_UP_GRACE).await;
    bot_catch_up_pass(&app).await;
    let h = app.history(&admin.session, c.conversation_id).await;
    let bot_public = h
        .iter()
        .filter(|m| m["sender_type"] == "bot" && m["private"] == false)
        .count();
    assert_eq!(bot_public, 1, "one reply per customer message: {h:#?}");
    let conv = conversation(&app, &admin, c.conversation_id).await;
    if conv["bot_state"] == "active" {
        assert!(
            body.contains("Source"),
            "an answer cites its article: {body}"
        );
        let usage = usage_kinds(&app).await;
        assert!(
            usage.iter().any(|(k, _)| k == "bot"),
            "model tokens recorded: {usage:?}"
        );
        // Asking for a person hands off, model or not.
        app.post_message(
            &c.token,
            c.conversation_id,
            "q2",
            "I want to talk to a human please",
            false,
        )
        .await;
    }
    let conv = wait_for_conv(
        &app,
        &admin,
        c.conversation_id,
        Duration::from_secs(180),
        "handed off",
        |v| v["bot_state"] == "handed_off" && v["status"] == "open",
    )
    .await;
    assert!(conv["waiting_since"].is_string());
    let h = app.history(&admin.session, c.conversation_id).await;
    assert_eq!(
        h.iter()
            .filter(|m| m["sender_type"] == "bot" && m["private"] == true)
            .count(),
        1,
        "one handoff note: {h:#?}"
    );
    cws.close().await;
    app.stop().await;
}
