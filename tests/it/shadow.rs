//! Shadow mode of the first-line bot: it decides and drafts on live conversations but sends
//! nothing; agents (only) see the drafts live and rate them; the KB page's figures come from
//! those ratings.
use std::{sync::Arc, time::Duration};

use chrono::Utc;
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use switchboard::db::entities::bot_draft;
use uuid::Uuid;

use crate::{ai::import_kb, api_helpers::*, helpers::*};

async fn set_mode(app: &TestApp, admin: &Agent, mode: &str) -> Value {
    let (s, v) = patch_inbox(app, admin, json!({ "bot_mode": mode })).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["inbox"]["bot_mode"], mode, "{v}");
    v["inbox"].clone()
}

/// The drafts of a conversation once `n` are there.
async fn wait_drafts(app: &TestApp, agent: &Agent, conv: Uuid, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (s, v) = get(
            app,
            &format!("/api/v1/conversations/{conv}/bot-drafts"),
            &agent.session,
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let d = v["drafts"].as_array().expect("drafts").clone();
        if d.len() >= n {
            return d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} drafts, have {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn other_account_admin(app: &TestApp) -> Agent {
    let db = &app.ctx.db;
    let other = switchboard::accounts::service::create_account(db, "Globex")
        .await
        .expect("account");
    switchboard::accounts::service::create_agent(
        db,
        other.id,
        "spy@globex.example",
        "Spy",
        PASSWORD,
        switchboard::actor::Role::Admin,
    )
    .await
    .expect("agent");
    app.login("spy@globex.example").await
}

#[tokio::test]
async fn shadow_bot_drafts_for_agents_and_sends_the_customer_nothing() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    // The mode, and the older `bot_enabled` flag kept working beside it.
    let ib = set_mode(&app, &admin, "on").await;
    assert_eq!(ib["bot_enabled"], true);
    let (_, v) = patch_inbox(&app, &admin, json!({"bot_enabled": false})).await;
    assert_eq!(v["inbox"]["bot_mode"], "off", "{v}");
    let (_, v) = patch_inbox(&app, &admin, json!({"bot_enabled": true})).await;
    assert_eq!(v["inbox"]["bot_mode"], "on", "{v}");
    let (s, v) = patch_inbox(&app, &admin, json!({"bot_mode": "maybe"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let ib = set_mode(&app, &admin, "shadow").await;
    assert_eq!(ib["bot_enabled"], false);

    let mut agent_ws = app.agent_ws(&admin).await;
    let c = app.customer().await;
    let (mut cws, _) = app.customer_resume(&c, 0).await;
    let conv = conversation(&app, &admin, c.conversation_id).await;
    assert_eq!(conv["status"], "open", "routed to humans: {conv}");
    assert!(conv["bot_state"].is_null(), "not bot-held: {conv}");

    say(&app, &c, "i forgot my pasword, how do I reset it?").await;
    let drafts = wait_drafts(&app, &admin, c.conversation_id, 1).await;
    let d = &drafts[0];
    assert_eq!(d["action"], "answer", "{d}");
    assert_eq!(d["feedback"], "none");
    assert!(d["reason"].is_null());
    assert!(!d["text"].as_str().expect("text").is_empty());
    assert_eq!(d["sources"][0]["slug"], "kb-01", "{d}");
    let frame = agent_ws.expect_type("bot_draft").await;
    assert_eq!(frame["draft"]["id"], d["id"], "agents see it live: {frame}");

    say(&app, &c, "I want to talk to a human please").await;
    let drafts = wait_drafts(&app, &admin, c.conversation_id, 2).await;
    assert_eq!(drafts[1]["action"], "handoff", "{}", drafts[1]);
    assert_eq!(drafts[1]["reason"], "human_requested");
    assert!(drafts[1]["reason_text"].as_str().is_some());

    // Nothing reached the customer: no bot message, no draft frame, no bot typing.
    let h = app.history(&admin.session, c.conversation_id).await;
    assert!(
        h.iter().all(|m| m["sender_type"] == "customer"),
        "only the customer's messages: {h:#?}"
    );
    let mut seen = Vec::new();
    while let Some(f) = cws.frame_within(Duration::from_millis(1500)).await {
        seen.push(f);
    }
    assert!(
        seen.iter().all(|f| f["type"] != "bot_draft"
            && !(f["type"] == "message" && f["sender_type"] != "customer")
            && !(f["type"] == "typing" && f["sender_type"] == "bot")),
        "the customer saw: {seen:#?}"
    );
    let conv = conversation(&app, &admin, c.conversation_id).await;
    assert!(conv["bot_state"].is_null(), "{conv}");

    // Back to off: no more drafts.
    set_mode(&app, &admin, "off").await;
    say(&app, &c, "how do I export my data?").await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        wait_drafts(&app, &admin, c.conversation_id, 2).await.len(),
        2
    );
    app.stop().await;
}

#[tokio::test]
async fn shadow_feedback_is_validated_last_one_wins_and_stays_in_the_account() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let agent = app.login(AGENT2).await;
    import_kb(&app).await;
    set_mode(&app, &admin, "shadow").await;
    let c = writing_customer(&app, "i forgot my pasword").await;
    say(&app, &c, "get me a real person").await;
    let drafts = wait_drafts(&app, &agent, c.conversation_id, 2).await;
    let answer = drafts[0]["id"].as_str().expect("id").to_string();
    let handoff = drafts[1]["id"].as_str().expect("id").to_string();
    let fb = |id: &str| format!("/api/v1/bot-drafts/{id}/feedback");

    for bad in [
        json!({"feedback": "meh"}),
        json!({"feedback": "none"}),
        json!({}),
        json!({"feedback": "up", "x": 1}),
    ] {
        let (s, v) = post(&app, &fb(&answer), &agent.session, bad.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad} → {v}");
    }
    let (s, v) = post(
        &app,
        &fb(&handoff),
        &agent.session,
        json!({"feedback": "should_handoff"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a handoff draft cannot miss a handoff: {v}"
    );

    let mut ws = app.agent_ws(&admin).await;
    let (s, v) = post(
        &app,
        &fb(&answer),
        &agent.session,
        json!({"feedback": "up"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["draft"]["feedback"], "up");
    let (s, v) = post(
        &app,
        &fb(&answer),
        &agent.session,
        json!({"feedback": "should_handoff"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["draft"]["feedback"], "should_handoff");
    assert_eq!(v["draft"]["feedback_by"], json!(me(&app, &agent).await));
    assert!(v["draft"]["feedback_at"].is_string());
    let f = ws.expect_type("bot_draft").await;
    assert_eq!(
        f["draft"]["feedback"], "up",
        "other agents see ratings live: {f}"
    );
    let f = ws.expect_type("bot_draft").await;
    assert_eq!(f["draft"]["feedback"], "should_handoff", "{f}");
    let drafts = wait_drafts(&app, &admin, c.conversation_id, 2).await;
    assert_eq!(drafts[0]["feedback"], "should_handoff", "the last one wins");

    // Another account sees and rates nothing of ours.
    let spy = other_account_admin(&app).await;
    let (s, _) = post(
        &app,
        &fb(&answer),
        &spy.session,
        json!({"feedback": "down"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = get(
        &app,
        &format!("/api/v1/conversations/{}/bot-drafts", c.conversation_id),
        &spy.session,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post(
        &app,
        &fb(&Uuid::new_v4().to_string()),
        &agent.session,
        json!({"feedback": "up"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = get(&app, "/api/v1/kb/shadow-stats", &spy.session).await;
    assert_eq!(s, 200);
    assert_eq!(v["stats"]["drafts"], 0, "{v}");
    let inbox = seeded_inbox_id(&app, &admin).await;
    let (s, _) = get(
        &app,
        &format!("/api/v1/kb/shadow-stats?inbox_id={inbox}"),
        &spy.session,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let drafts = wait_drafts(&app, &admin, c.conversation_id, 2).await;
    assert_eq!(
        drafts[0]["feedback"], "should_handoff",
        "unchanged by the other account"
    );
    app.stop().await;
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[tokio::test]
async fn shadow_stats_follow_the_definitions() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    let agent = app.login(AGENT2).await;
    let inbox: Uuid = seeded_inbox_id(&app, &admin).await.parse().expect("uuid");
    let c = app.customer().await;
    let account = switchboard::db::entities::inbox::Entity::find_by_id(inbox)
        .one(&app.ctx.db)
        .await
        .expect("db")
        .expect("inbox")
        .account_id;
    let other_inbox = switchboard::inboxes::create(&app.ctx.db, account, "Shop", &[])
        .await
        .expect("inbox")
        .id;
    let rows = [
        // (inbox, action, feedback, days ago)
        (inbox, "answer", "up", 1),
        (inbox, "answer", "up", 2),
        (inbox, "answer", "down", 3),
        (inbox, "answer", "should_handoff", 4),
        (inbox, "answer", "none", 5),
        (inbox, "handoff", "up", 6),
        (inbox, "handoff", "down", 7),
        (inbox, "handoff", "none", 8),
        (inbox, "answer", "up", 40), // older than 30 days: not counted
        (other_inbox, "handoff", "up", 1),
    ];
    for (ib, action, feedback, days) in rows {
        let at = Utc::now() - chrono::Duration::days(days);
        bot_draft::Entity::insert(bot_draft::ActiveModel::from(bot_draft::Model {
            id: Uuid::now_v7(),
            account_id: account,
            inbox_id: ib,
            conversation_id: c.conversation_id,
            message_id: Uuid::now_v7(),
            action: action.into(),
            reason: if action == "handoff" {
                "not_confident".into()
            } else {
                String::new()
            },
            text: "draft".into(),
            sources: "[]".into(),
            created_at: at,
            feedback: feedback.into(),
            feedback_by: None,
            feedback_at: (feedback != "none").then_some(at),
        }))
        .exec_without_returning(&app.ctx.db)
        .await
        .expect("insert");
    }
    let (s, v) = get(
        &app,
        &format!("/api/v1/kb/shadow-stats?inbox_id={inbox}"),
        &agent.session,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let st = &v["stats"];
    assert_eq!(st["days"], 30);
    assert_eq!(st["drafts"], 8, "{st}");
    assert_eq!(st["would_answer"], 5);
    assert!(close(&st["would_answer_rate"], 5.0 / 8.0), "{st}");
    assert_eq!(st["rated"], 6);
    assert!(close(&st["agreement"], 3.0 / 6.0), "{st}");
    assert_eq!(st["handoff_rated"], 2);
    assert!(close(&st["handoff_precision"], 1.0 / 2.0), "{st}");
    // 1 would-handoff rated up; 1 would-answer that should have handed off.
    assert!(close(&st["handoff_recall"], 1.0 / 2.0), "{st}");

    let (_, v) = get(&app, "/api/v1/kb/shadow-stats", &agent.session).await;
    let st = &v["stats"];
    assert_eq!(st["drafts"], 9, "account-wide: {st}");
    assert!(close(&st["handoff_precision"], 2.0 / 3.0), "{st}");
    assert!(close(&st["handoff_recall"], 2.0 / 3.0), "{st}");
    app.stop().await;
}

#[tokio::test]
async fn shadow_drafts_exactly_once_per_message_when_retried() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    set_mode(&app, &admin, "shadow").await;
    let c = app.customer().await;
    // The customer's client retries the same message (same client_msg_id) three times.
    for _ in 0..3 {
        let r = app
            .post_message(
                &c.token,
                c.conversation_id,
                "retry-1",
                "i forgot my pasword",
                false,
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
    }
    let drafts = wait_drafts(&app, &admin, c.conversation_id, 1).await;
    // The stored message is delivered to the bot again (a catch-up, a second node).
    let stored = switchboard::db::entities::message::Entity::find()
        .filter(switchboard::db::entities::message::Column::ConversationId.eq(c.conversation_id))
        .one(&app.ctx.db)
        .await
        .expect("db")
        .expect("message");
    let msg = Arc::new(switchboard::messages::Message::from(stored));
    assert_eq!(drafts[0]["message_id"], json!(msg.id));
    let account = account_of(&app, c.conversation_id).await;
    for _ in 0..3 {
        app.ctx
            .events
            .publish(switchboard::events::DomainEvent::MessageCreated {
                account_id: account,
                message: msg.clone(),
            })
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = bot_draft::Entity::find()
        .filter(bot_draft::Column::MessageId.eq(msg.id))
        .count(&app.ctx.db)
        .await
        .expect("count");
    assert_eq!(n, 1, "one draft for the message");
    assert_eq!(
        wait_drafts(&app, &admin, c.conversation_id, 1).await.len(),
        1
    );
    app.stop().await;
}

async fn account_of(app: &TestApp, conv: Uuid) -> Uuid {
    switchboard::db::entities::conversation::Entity::find_by_id(conv)
        .one(&app.ctx.db)
        .await
        .expect("db")
        .expect("conversation")
        .account_id
}

#[tokio::test]
async fn shadow_drafts_go_with_erased_messages_and_contacts() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    import_kb(&app).await;
    set_mode(&app, &admin, "shadow").await;
    let c = writing_customer(&app, "i forgot my pasword").await;
    say(&app, &c, "how do I export my data?").await;
    let drafts = wait_drafts(&app, &admin, c.conversation_id, 2).await;
    let first = drafts[0]["message_id"]
        .as_str()
        .expect("message id")
        .to_string();
    assert_eq!(
        delete(
            &app,
            &format!(
                "/api/v1/conversations/{}/messages/{first}",
                c.conversation_id
            ),
            &admin.session
        )
        .await,
        StatusCode::NO_CONTENT
    );
    let left = wait_drafts(&app, &admin, c.conversation_id, 1).await;
    assert_eq!(
        left.len(),
        1,
        "the deleted message's draft went with it: {left:?}"
    );
    assert_ne!(left[0]["message_id"], json!(first));

    let d = detail(&app, &admin, c.conversation_id).await;
    let contact = d["contact"]["id"].as_str().expect("contact id").to_string();
    assert_eq!(
        delete(&app, &format!("/api/v1/contacts/{contact}"), &admin.session).await,
        StatusCode::OK
    );
    let n = bot_draft::Entity::find()
        .filter(bot_draft::Column::ConversationId.eq(c.conversation_id))
        .count(&app.ctx.db)
        .await
        .expect("count");
    assert_eq!(n, 0, "an erased contact's drafts are erased");
    app.stop().await;
}
