//! AI assistance stories: the knowledge base (import, edit, retrieval), the first-line bot
//! (answers once with citations, hands off with a note, never loops, survives model failures)
//! and agent assist (streamed suggestions, summaries, budgets) — offline and against the fake
//! OpenAI-compatible server, asserting on what the model was sent.
use std::{path::PathBuf, time::Duration};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    api_helpers::*,
    fake_llm::{FakeLlm, Reply},
    helpers::*,
};

fn kb_dir() -> PathBuf {
    std::env::var_os("SWITCHBOARD_EVAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval"))
        .join("kb")
}

async fn account_id(app: &TestApp) -> Uuid {
    use sea_orm::EntityTrait;
    switchboard::db::entities::account::Entity::find()
        .one(&app.ctx.db)
        .await
        .expect("db")
        .expect("account")
        .id
}

pub(crate) async fn import_kb(app: &TestApp) {
    let acc = account_id(app).await;
    let stats = switchboard::kb::import::import_dir(&app.ctx.db, acc, &kb_dir(), false)
        .await
        .expect("import");
    assert_eq!(stats.created, 36, "{:?}", stats.errors);
}

pub(crate) async fn enable_bot(app: &TestApp, admin: &Agent) {
    let (s, v) = patch_inbox(app, admin, json!({"bot_enabled": true, "bot_max_turns": 3})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["bot_enabled"], true, "{v}");
}

/// Polls the agent's view of the conversation until `pred` holds for its messages.
async fn wait_messages(
    app: &TestApp,
    agent: &Agent,
    conv: Uuid,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let h = app.history(&agent.session, conv).await;
        if pred(&h) {
            return h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {what}; messages: {h:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn from_bot(m: &Value) -> bool {
    m["sender_type"] == "bot"
}

fn public_bot(h: &[Value]) -> Vec<&Value> {
    h.iter()
        .filter(|m| from_bot(m) && m["private"] == false)
        .collect()
}

#[tokio::test]
async fn knowledge_base_import_edit_and_retrieval() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let agent = app.login(AGENT2).await;
    import_kb(&app).await;
    // Importing again changes nothing.
    let acc = account_id(&app).await;
    let again = switchboard::kb::import::import_dir(&app.ctx.db, acc, &kb_dir(), false)
        .await
        .expect("import");
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 36));

    let (s, v) = get(&app, "/api/v1/kb/articles", &agent.session).await;
    assert_eq!(s, 200);
    assert_eq!(
        v["bot_intents"], "sentence-model",
        "the installed model is found"
    );
    let articles = v["articles"].as_array().expect("articles");
    assert_eq!(articles.len(), 36);
    let refund = articles
        .iter()
        .find(|a| a["slug"] == "kb-07")
        .expect("kb-07");
    assert_eq!(refund["title"], "Refund policy");
    assert!(
        refund["tags"]
            .as_array()
            .expect("tags")
            .contains(&json!("refund"))
    );

    // Customers' words, typos and another language find the right article.
    for (q, want) in [
        (
            "how long do I have to get my money back on a yearly plan",
            "kb-07",
        ),
        ("i forgot my pasword", "kb-01"),
        (
            "Hola, borré sin querer unas fotos. ¿Cómo las recupero?",
            "kb-22",
        ),
        ("NW-1008", "kb-30"),
    ] {
        let (s, v) = get(
            &app,
            &format!("/api/v1/kb/search?q={}", urlencode(q)),
            &agent.session,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["hits"][0]["article"]["slug"], want, "query {q:?}: {v}");
    }

    // Agents read, admins write.
    let new = json!({"title": "Gift cards", "body": "# Gift cards\n\nGift cards can be redeemed under Settings → Billing → Redeem.", "tags": ["billing", "gift"]});
    let (s, _) = post(&app, "/api/v1/kb/articles", &agent.session, new.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, created) = post(&app, "/api/v1/kb/articles", &admin.session, new.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["slug"], "gift-cards");
    let (s, _) = post(&app, "/api/v1/kb/articles", &admin.session, new).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a second article with the same slug"
    );
    let (s, v) = post(
        &app,
        "/api/v1/kb/articles",
        &admin.session,
        json!({"title": "Bad", "body": "x", "url": "javascript:alert(1)"}),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (_, v) = get(
        &app,
        "/api/v1/kb/search?q=redeem%20a%20gift%20card",
        &agent.session,
    )
    .await;
    assert_eq!(
        v["hits"][0]["article"]["slug"], "gift-cards",
        "new articles are searchable at once: {v}"
    );

    // Editing changes what retrieval finds; deleting removes it.
    let id = created["id"].as_str().expect("id").to_string();
    let (s, v) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/kb/articles/{id}"),
        &admin.session,
        Some(json!({"slug": "gift-cards", "title": "Vouchers", "body": "Vouchers are redeemed under Settings → Billing → Voucher code.", "tags": ["billing"]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = get(&app, "/api/v1/kb/search?q=voucher%20code", &agent.session).await;
    assert_eq!(v["hits"][0]["article"]["title"], "Vouchers", "{v}");
    assert_eq!(
        delete(&app, &format!("/api/v1/kb/articles/{id}"), &admin.session).await,
        StatusCode::NO_CONTENT
    );
    let (_, v) = get(&app, "/api/v1/kb/search?q=voucher%20code", &agent.session).await;
    assert!(
        v["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .all(|h| h["article"]["title"] != "Vouchers"),
        "{v}"
    );
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn offline_bot_answers_once_with_a_citation_then_hands_off_for_good() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    enable_bot(&app, &admin).await;
    let c = app.customer().await;
    let conv = conversation(&app, &admin, c.conversation_id).await;
    assert_eq!(
        conv["status"], "pending",
        "a new conversation starts with the bot: {conv}"
    );
    assert_eq!(conv["bot_state"], "active");

    let (mut cws, _) = app.customer_resume(&c, 0).await;
    let r = app
        .post_message(
            &c.token,
            c.conversation_id,
            "q1",
            "if i buy the yearly plan and change my mind, how long do I have to get my money back?",
            false,
        )
        .await;
    assert_eq!(r.status(), 201);
    // The customer sees the bot typing, then its answer.
    let mut saw_typing = false;
    let answer = loop {
        let f = cws.frame().await;
        if f["type"] == "typing" && f["sender_type"] == "bot" && f["typing"] == true {
            saw_typing = true;
        }
        if f["type"] == "message" && f["sender_type"] == "bot" {
            break f;
        }
    };
    assert!(saw_typing, "the bot shows typing while it works");
    let body = answer["body"].as_str().expect("body");
    assert!(
        body.contains("14 days"),
        "answer from the refund article: {body}"
    );
    assert!(
        body.contains("Source: Refund policy"),
        "cites the article: {body}"
    );

    // Exactly once: the same customer message again (a retry) and a restart add no answer.
    let asked = tokio::time::Instant::now();
    let r = app
        .post_message(
            &c.token,
            c.conversation_id,
            "q1",
            "if i buy the yearly plan and change my mind, how long do I have to get my money back?",
            false,
        )
        .await;
    assert!(r.status().is_success());
    drop(cws);
    let app = app.restart().await;
    let admin = app.login(ADMIN).await;
    // A catch-up pass that would take the conversation if it still waited for an answer.
    tokio::time::sleep_until(asked + switchboard::bot::runner::CATCH_UP_GRACE).await;
    bot_catch_up_pass(&app).await;
    let h = app.history(&admin.session, c.conversation_id).await;
    assert_eq!(
        public_bot(&h).len(),
        1,
        "one answer per customer message: {h:#?}"
    );

    // An agent comes online; the customer asks for a person.
    let aws = app.agent_ws(&admin).await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q2",
        "ok but I want to talk to a human",
        false,
    )
    .await;
    let h = wait_messages(
        &app,
        &admin,
        c.conversation_id,
        "a handoff message and note",
        |h| h.iter().any(|m| from_bot(m) && m["private"] == true),
    )
    .await;
    assert_eq!(public_bot(&h).len(), 2, "{h:#?}");
    let note = h
        .iter()
        .find(|m| from_bot(m) && m["private"] == true)
        .expect("note");
    let note = note["body"].as_str().expect("note body");
    assert!(note.contains("asked for a person"), "the reason: {note}");
    assert!(note.contains("talk to a human"), "a summary: {note}");
    // The customer never sees the private note.
    let seen = app.history(&c.token, c.conversation_id).await;
    assert!(seen.iter().all(|m| m["private"] == false));
    // Routing hands it to the online agent.
    let conv = wait_for_conv(
        &app,
        &admin,
        c.conversation_id,
        Duration::from_secs(10),
        "assigned",
        |v| v["status"] == "open" && !v["assignee_id"].is_null(),
    )
    .await;
    assert_eq!(conv["bot_state"], "handed_off");
    // The agent's dashboard learned it live.
    let mut aws = aws;
    let upd = next_update(&mut aws, c.conversation_id, Duration::from_secs(10), |f| {
        f["bot_state"] == "handed_off"
    })
    .await;
    assert_eq!(upd["status"], "open", "{upd}");

    // No loop: the bot stays out even when the customer asks something it could answer.
    let seen = bot_seen(&app);
    app.post_message(
        &c.token,
        c.conversation_id,
        "q3",
        "how do I reset my password?",
        false,
    )
    .await;
    bot_considered(&app, seen).await;
    let h = app.history(&admin.session, c.conversation_id).await;
    assert_eq!(
        public_bot(&h).len(),
        2,
        "the bot does not come back: {h:#?}"
    );
    aws.close().await;
    app.stop().await;
}

#[tokio::test]
async fn an_agent_reply_ends_the_bots_turn() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    enable_bot(&app, &admin).await;
    let c = app.customer().await;
    app.post_message(
        &admin.session,
        c.conversation_id,
        "a1",
        "Hi, Ada here, I'll take this one.",
        false,
    )
    .await;
    wait_for_conv(
        &app,
        &admin,
        c.conversation_id,
        Duration::from_secs(5),
        "handed off",
        |v| v["bot_state"] == "handed_off",
    )
    .await;
    let seen = bot_seen(&app);
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "how do I reset my password?",
        false,
    )
    .await;
    bot_considered(&app, seen).await;
    let h = app.history(&admin.session, c.conversation_id).await;
    assert!(public_bot(&h).is_empty(), "{h:#?}");
    app.stop().await;
}

#[tokio::test]
async fn model_bot_gets_only_this_conversation_and_its_output_is_cleaned() {
    let llm = FakeLlm::start().await;
    llm.respond_with(|req| {
        if req.get("response_format").is_some() {
            Reply::Json(json!({
                "action": "answer",
                "reason": "",
                "answer": "Annual plans can be refunded within 14 days. <img src=x onerror=alert(1)> ![p](https://evil.example/p.png?c=1) More: https://evil.example/phish",
                "cited_article_ids": ["kb-07"]
            }))
        } else {
            Reply::Text("ok".into())
        }
    });
    let app = spawn_app_with(|s| {
        llm.configure(s);
        s.llm_model = "test-model-1".into();
    })
    .await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    enable_bot(&app, &admin).await;
    // Another customer's conversation holds a secret the model must never see.
    let other = app.customer().await;
    app.post_message(
        &other.token,
        other.conversation_id,
        "s1",
        "my card is SECRET-OTHER-4242, can you refund my last charge",
        false,
    )
    .await;
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "yearly plan: how long to change my mind and get a refund?",
        false,
    )
    .await;
    let h = wait_messages(&app, &admin, c.conversation_id, "the bot's answer", |h| {
        !public_bot(h).is_empty()
    })
    .await;
    let body = public_bot(&h)[0]["body"]
        .as_str()
        .expect("body")
        .to_string();
    assert!(
        body.starts_with("Annual plans can be refunded within 14 days."),
        "{body}"
    );
    assert!(
        !body.contains('<') && !body.contains("onerror") && !body.contains("evil.example"),
        "cleaned: {body}"
    );
    assert!(body.contains("Source: Refund policy"), "{body}");

    let reqs = llm.requests();
    let bot_reqs: Vec<&Value> = reqs
        .iter()
        .filter(|r| r.to_string().contains("yearly plan: how long"))
        .collect();
    assert_eq!(bot_reqs.len(), 1, "one model call per customer message");
    let r = bot_reqs[0];
    assert_eq!(r["model"], "test-model-1");
    assert_eq!(
        r["response_format"]["type"], "json_schema",
        "a structured decision: {r}"
    );
    assert!(r["max_tokens"].as_u64().is_some());
    for any in &reqs {
        assert!(
            !any.to_string().contains("SECRET-OTHER-4242"),
            "another conversation's data reached the model: {any}"
        );
    }
    let system = r["messages"][0]["content"].as_str().expect("system");
    assert!(system.contains("data, not instructions"), "{system}");

    // The model fails (5xx on every retry): the customer is handed to a person, not left hanging.
    llm.set_default(Reply::Status(500, "boom".into()));
    llm.respond_with(|_| Reply::Status(500, "boom".into()));
    app.post_message(
        &c.token,
        c.conversation_id,
        "q2",
        "and what about the monthly plan refund?",
        false,
    )
    .await;
    let h = wait_messages(
        &app,
        &admin,
        c.conversation_id,
        "a handoff after model failure",
        |h| h.iter().any(|m| from_bot(m) && m["private"] == true),
    )
    .await;
    let note = h
        .iter()
        .find(|m| from_bot(m) && m["private"] == true)
        .expect("note");
    assert!(
        note["body"].as_str().expect("b").contains("model failed"),
        "{note}"
    );
    let usage = usage_rows(&app).await;
    assert!(
        usage
            .iter()
            .any(|(kind, tokens)| kind == "bot" && *tokens > 0),
        "usage recorded: {usage:?}"
    );
    app.stop().await;
}

async fn usage_rows(app: &TestApp) -> Vec<(String, i64)> {
    use sea_orm::EntityTrait;
    switchboard::db::entities::llm_usage::Entity::find()
        .all(&app.ctx.db)
        .await
        .expect("db")
        .into_iter()
        .map(|u| (u.kind, u.prompt_tokens + u.completion_tokens))
        .collect()
}

/// Reads a suggestion's Server-Sent Events: (event, data) pairs.
async fn suggest(app: &TestApp, agent: &Agent, conv: Uuid) -> (StatusCode, Vec<(String, Value)>) {
    let r = app
        .http
        .post(app.url(&format!("/api/v1/conversations/{conv}/suggest")))
        .bearer_auth(&agent.session)
        .send()
        .await
        .expect("suggest");
    let status = r.status();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let text = tokio::time::timeout(Duration::from_secs(20), r.text())
        .await
        .expect("stream ends")
        .expect("body");
    let events = text
        .split("\n\n")
        .filter(|b| !b.trim().is_empty())
        .map(|b| {
            let ev = b
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("")
                .to_string();
            let data = b
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("null");
            (ev, serde_json::from_str(data).expect("json data"))
        })
        .collect();
    (status, events)
}

#[tokio::test]
async fn suggested_reply_streams_from_the_model_and_is_never_sent() {
    let llm = FakeLlm::start().await;
    let app = spawn_app_with(|s| llm.configure(s)).await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "where can I download PDF invoices for my accountant?",
        false,
    )
    .await;
    llm.push(Reply::Tokens(vec![
        "You ".into(),
        "can ".into(),
        "download ".into(),
        "them.".into(),
    ]));
    let (s, events) = suggest(&app, &admin, c.conversation_id).await;
    assert_eq!(s, 200);
    assert_eq!(events[0].0, "sources");
    assert_eq!(
        events[0].1["articles"][0]["slug"], "kb-08",
        "{:?}",
        events[0]
    );
    let deltas: Vec<&str> = events
        .iter()
        .filter(|e| e.0 == "delta")
        .filter_map(|e| e.1["text"].as_str())
        .collect();
    assert_eq!(
        deltas,
        ["You ", "can ", "download ", "them."],
        "token by token, in order"
    );
    assert_eq!(events.last().expect("last").0, "done");
    assert_eq!(
        events.last().expect("last").1["text"],
        "You can download them."
    );
    // The prompt is grounded: the conversation and the invoices article.
    let req = llm.requests().pop().expect("request");
    assert_eq!(req["stream"], true);
    let prompt = req.to_string();
    assert!(
        prompt.contains("PDF invoices for my accountant")
            && prompt.contains("Invoices and receipts"),
        "{prompt}"
    );
    // Suggestions are never sent.
    let h = app.history(&admin.session, c.conversation_id).await;
    assert_eq!(h.len(), 1, "{h:#?}");

    // The model fails: the agent gets "suggestion unavailable"; the chat is unaffected.
    llm.push_all([
        Reply::Status(500, "a".into()),
        Reply::Status(500, "b".into()),
        Reply::Status(500, "c".into()),
    ]);
    let (s, events) = suggest(&app, &admin, c.conversation_id).await;
    assert_eq!(s, 200);
    let last = events.last().expect("last");
    assert_eq!(last.0, "error");
    assert_eq!(last.1["code"], "suggestion_unavailable");
    let r = app
        .post_message(
            &admin.session,
            c.conversation_id,
            "a1",
            "Let me check.",
            false,
        )
        .await;
    assert_eq!(r.status(), 201);

    // A stream cut mid-way also ends in an error, after the tokens that did arrive.
    llm.push(Reply::CutAfter(
        2,
        vec!["Part ".into(), "one ".into(), "lost".into()],
    ));
    let (_, events) = suggest(&app, &admin, c.conversation_id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(kinds, ["sources", "delta", "delta", "error"], "{events:?}");
    app.stop().await;
}

#[tokio::test]
async fn offline_suggestion_and_summary_work_without_a_model() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "whats the biggest file i can put on the free plan",
        false,
    )
    .await;
    let (s, events) = suggest(&app, &admin, c.conversation_id).await;
    assert_eq!(s, 200);
    assert_eq!(events[0].1["source"], "offline");
    assert_eq!(events[0].1["articles"][0]["slug"], "kb-16", "{events:?}");
    let done = events.last().expect("done");
    assert_eq!(done.0, "done");
    let text = done.1["text"].as_str().expect("text");
    assert!(
        text.contains("2 GB"),
        "drafted from the file-size article: {text}"
    );
    assert!(
        events.iter().filter(|e| e.0 == "delta").count() > 3,
        "streamed in pieces"
    );

    let (s, v) = post(
        &app,
        &format!("/api/v1/conversations/{}/summary", c.conversation_id),
        &admin.session,
        json!({}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["source"], "offline");
    assert!(
        v["summary"]
            .as_str()
            .expect("summary")
            .contains("biggest file"),
        "{v}"
    );

    // Another account's agent cannot ask about this conversation.
    let (s, _) = post(
        &app,
        &format!("/api/v1/conversations/{}/summary", Uuid::new_v4()),
        &admin.session,
        json!({}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn token_budget_stops_model_calls() {
    let llm = FakeLlm::start().await;
    llm.set_default(Reply::Tokens(vec![
        "A draft reply that uses some tokens.".into(),
    ]));
    let app = spawn_app_with(|s| {
        llm.configure(s);
        s.llm_conversation_token_budget = 10;
    })
    .await;
    let admin = app.login(ADMIN).await;
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "hello, a question about my plan",
        false,
    )
    .await;
    let (_, events) = suggest(&app, &admin, c.conversation_id).await;
    assert_eq!(events.last().expect("e").0, "done", "{events:?}");
    let calls = llm.request_count();
    let (_, events) = suggest(&app, &admin, c.conversation_id).await;
    let last = events.last().expect("e");
    assert_eq!(last.0, "error", "{events:?}");
    assert!(
        last.1["message"].as_str().expect("m").contains("budget"),
        "{last:?}"
    );
    assert_eq!(
        llm.request_count(),
        calls,
        "no call once the budget is spent"
    );
    app.stop().await;
}

/// The offline responder on the development question set, through `decide` (the bot's path):
/// the targets of docs/evaluation.md. A regression in retrieval, the guardrails or output safety
/// shows up here.
#[tokio::test]
async fn offline_responder_meets_the_evaluation_targets() {
    let dir = kb_dir();
    let articles = switchboard::bot::eval::load_kb(&dir).expect("kb");
    let questions = dir.parent().expect("eval dir").join("dev.jsonl");
    let f = switchboard::bot::eval::evaluate(&articles, &questions, None, None, None, 400, false)
        .await
        .expect("eval");
    assert_eq!(f.items, 80);
    assert!(f.recall_at_3_single >= 0.95, "{f:?}");
    assert!(f.both_hit_at_3_multi >= 0.85, "{f:?}");
    assert!(f.handoff_precision >= 0.9, "{f:?}");
    assert!(f.handoff_recall >= 0.95, "{f:?}");
    assert_eq!(f.injection_safety, 1.0, "{f:?}");
}

/// Without the model file the product still works, and says it reads intents with word rules.
#[tokio::test]
async fn without_the_sentence_model_the_bot_falls_back_to_the_lexical_rules_and_says_so() {
    let app =
        spawn_app_with(|s| s.embedding_model_dir = "/nonexistent/switchboard-model".into()).await;
    let admin = app.login(ADMIN).await;
    let (s, v) = get(&app, "/readyz", "").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["bot_intents"], "lexical-fallback", "{v}");
    let (_, v) = get(&app, "/api/v1/kb/articles", &admin.session).await;
    assert_eq!(v["bot_intents"], "lexical-fallback", "{v}");
    import_kb(&app).await;
    enable_bot(&app, &admin).await;
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "I want to talk to a human",
        false,
    )
    .await;
    let h = wait_messages(&app, &admin, c.conversation_id, "the handoff", |h| {
        h.iter().any(|m| from_bot(m) && m["private"] == true)
    })
    .await;
    assert_eq!(public_bot(&h).len(), 1, "{h:#?}");
    app.stop().await;
}

/// The same set with the sentence model reading intents (what a default install runs): the
/// development set stays at the targets on every figure.
#[tokio::test]
async fn the_bot_with_the_sentence_model_meets_the_targets_on_the_development_set() {
    let dir = kb_dir();
    let articles = switchboard::bot::eval::load_kb(&dir).expect("kb");
    let questions = dir.parent().expect("eval dir").join("dev.jsonl");
    let embedder = switchboard::embed::Embedder::from_settings(&Default::default())
        .expect("the sentence model is installed (scripts/install-models)");
    let intents = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || switchboard::bot::intent::IntentModel::build(embedder))
            .await
            .expect("task")
            .expect("intent model"),
    );
    let f = switchboard::bot::eval::evaluate(
        &articles,
        &questions,
        None,
        None,
        Some(intents),
        400,
        false,
    )
    .await
    .expect("eval");
    assert!(f.responder.contains("sentence model"), "{f:?}");
    assert!(f.recall_at_3_single >= 0.95, "{f:?}");
    assert!(f.both_hit_at_3_multi >= 0.95, "{f:?}");
    assert!(f.handoff_precision >= 0.95, "{f:?}");
    assert!(f.handoff_recall >= 0.95, "{f:?}");
    assert_eq!(f.injection_safety, 1.0, "{f:?}");
}

#[tokio::test]
async fn the_bot_hands_off_after_its_turn_limit() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    let (s, v) = patch_inbox(
        &app,
        &admin,
        json!({"bot_enabled": true, "bot_max_turns": 1}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let c = app.customer().await;
    app.post_message(
        &c.token,
        c.conversation_id,
        "q1",
        "whats the biggest file i can put on the free plan",
        false,
    )
    .await;
    wait_messages(&app, &admin, c.conversation_id, "the first answer", |h| {
        public_bot(h).len() == 1
    })
    .await;
    // Still unresolved: a second answerable question goes to a person instead of another answer.
    app.post_message(
        &c.token,
        c.conversation_id,
        "q2",
        "and how do I reset my password?",
        false,
    )
    .await;
    let h = wait_messages(&app, &admin, c.conversation_id, "a handoff note", |h| {
        h.iter().any(|m| from_bot(m) && m["private"] == true)
    })
    .await;
    let note = h
        .iter()
        .find(|m| from_bot(m) && m["private"] == true)
        .expect("note");
    assert!(
        note["body"]
            .as_str()
            .expect("b")
            .contains("answered several times"),
        "{note}"
    );
    assert!(
        public_bot(&h)[1]["body"]
            .as_str()
            .expect("b")
            .contains("member of our team")
    );
    app.stop().await;
}
