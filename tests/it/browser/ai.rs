//! AI assistance in the real browser, with no model configured (the offline responder) and the
//! evaluation knowledge base imported: an agent drafts a reply with "Suggest reply" and sends it
//! after review; the first-line bot answers a customer in the widget and hands off to a person.
use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    harness::{
        Browser, Msg,
        Surface::{Dashboard, Widget},
        WAIT, story_slot,
    },
    host::HostPage,
    stories::{
        customer, dashboard, only_conversation, open_conversation, open_widget, wait_list_item,
        widget_send,
    },
};
use crate::ai::{enable_bot, import_kb};
use crate::helpers::*;

/// Generous: the suggestion streams, the bot waits a moment before it "types".
const LONG: Duration = Duration::from_secs(30);

const FILE_QUESTION: &str = "whats the biggest file i can put on the free plan";
const REFUND_QUESTION: &str = "how long do I have to get a refund on a yearly plan?";
const HUMAN_PLEASE: &str = "I want to talk to a human";

/// Waits until the script `js` returns `true`.
async fn wait_true(b: &Browser, what: &str, timeout: Duration, js: &str) {
    b.poll(what, timeout, js, vec![], |v| v == &json!(true))
        .await;
}

/// Waits until the dashboard's socket is up and the agent shows as online.
async fn wait_online(b: &Browser) {
    wait_true(
        b,
        "the dashboard to be connected ([data-testid=connection][data-state=online]) and the \
         agent online ([data-testid=presence][data-status=online])",
        WAIT,
        r#"const c = document.querySelector('[data-testid=connection]');
           const p = document.querySelector('[data-testid=presence]');
           return !!c && c.getAttribute('data-state') === 'online'
               && (!p || p.getAttribute('data-status') === 'online');"#,
    )
    .await;
}

fn describe(ms: &[Msg]) -> Vec<String> {
    ms.iter()
        .map(|m| {
            format!(
                "{}#{}{} {:?}",
                m.sender.as_deref().unwrap_or("?"),
                m.seq.as_deref().unwrap_or(""),
                if m.private.as_deref() == Some("true") {
                    "[private]"
                } else {
                    ""
                },
                m.text()
            )
        })
        .collect()
}

/// The messages of `conv` as `bearer` sees them: (sender_type, private, body).
async fn api_history(app: &TestApp, bearer: &str, conv: Uuid) -> Vec<(String, bool, String)> {
    app.history(bearer, conv)
        .await
        .iter()
        .map(|m: &Value| {
            (
                m["sender_type"].as_str().unwrap_or_default().to_string(),
                m["private"].as_bool().unwrap_or(false),
                m["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. The agent asks for a suggested reply, reviews it in the composer and sends it.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_gets_a_suggested_reply() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    import_kb(&app).await;
    let admin = app.login(ADMIN).await;
    let c = app.customer().await;
    let r = app
        .post_message(&c.token, c.conversation_id, "q1", FILE_QUESTION, false)
        .await;
    assert_eq!(r.status(), 201, "the customer's question");

    let agent = dashboard(&app, ADMIN).await;
    let id = wait_list_item(&agent, "biggest file").await;
    assert_eq!(id, c.conversation_id.to_string());
    open_conversation(&agent, &id).await;
    agent
        .wait_messages(Dashboard, "the customer's question", WAIT, |ms| {
            ms.iter().any(|m| m.is("customer", FILE_QUESTION))
        })
        .await;

    agent.click(Dashboard, "[data-testid=suggest-reply]").await;
    // The draft streams into the composer; the stream is over once the button is enabled again
    // and the composer is editable.
    let state = agent
        .poll(
            "the suggested draft (containing \"2 GB\") in the composer, streaming finished",
            LONG,
            r#"const ta = document.querySelector('textarea[data-testid=composer]');
               const btn = document.querySelector('[data-testid=suggest-reply]');
               const err = document.querySelector('[data-testid=suggest-error]');
               return { value: ta ? ta.value : null, read_only: ta ? ta.readOnly : null,
                        busy: btn ? btn.disabled : null,
                        error: err ? (err.textContent + ' / ' + (err.title || '')) : null };"#,
            vec![],
            |v| {
                v["error"].is_null()
                    && v["busy"] == json!(false)
                    && v["read_only"] == json!(false)
                    && v["value"].as_str().is_some_and(|s| s.contains("2 GB"))
            },
        )
        .await;
    let draft = state["value"].as_str().expect("draft").to_string();
    assert!(
        draft.contains("2 GB"),
        "the draft comes from the file-size article: {draft:?}"
    );
    let sources = agent
        .poll(
            "[data-testid=suggest-sources] naming \"Maximum file size by plan\"",
            WAIT,
            r#"const s = document.querySelector('[data-testid=suggest-sources]');
               return s && visible(s) ? { text: s.textContent, source: s.getAttribute('data-source') } : null;"#,
            vec![],
            |v| {
                v["text"]
                    .as_str()
                    .is_some_and(|t| t.contains("Maximum file size by plan"))
            },
        )
        .await;
    assert_eq!(
        sources["source"], "offline",
        "no model is configured: {sources}"
    );

    // Nothing was sent automatically.
    let h = api_history(&app, &admin.session, c.conversation_id).await;
    assert_eq!(
        h,
        vec![("customer".to_string(), false, FILE_QUESTION.to_string())],
        "a suggestion must never be sent by itself"
    );

    // The agent sends the draft as it is.
    agent.click(Dashboard, "[data-testid=send]").await;
    agent
        .wait_messages(
            Dashboard,
            "the agent's reply with the draft, stored (data-seq set)",
            WAIT,
            |ms| {
                ms.iter().any(|m| {
                    m.sender.as_deref() == Some("agent")
                        && m.seq().is_some()
                        && m.text().contains("2 GB")
                })
            },
        )
        .await;
    agent
        .poll(
            "the composer emptied and [data-testid=suggest-sources] gone after sending",
            WAIT,
            r#"const ta = document.querySelector('textarea[data-testid=composer]');
               const s = document.querySelector('[data-testid=suggest-sources]');
               return { value: ta ? ta.value : null, sources: !!s && visible(s) };"#,
            vec![],
            |v| v == &json!({"value": "", "sources": false}),
        )
        .await;

    // The customer's history has the reply exactly once.
    let h = api_history(&app, &c.token, c.conversation_id).await;
    let replies: Vec<&(String, bool, String)> = h
        .iter()
        .filter(|(sender, _, body)| sender == "agent" && body.contains("2 GB"))
        .collect();
    assert_eq!(
        replies.len(),
        1,
        "the customer must get the agent's reply exactly once: {h:#?}"
    );
    assert_eq!(
        replies[0].2.trim(),
        draft.trim(),
        "the sent reply is the reviewed draft"
    );
    assert_eq!(h.len(), 2, "question and reply only: {h:#?}");

    // A summary for a quick catch-up.
    agent.click(Dashboard, "[data-testid=summarize]").await;
    agent
        .wait_visible(Dashboard, "[data-testid=summary]", LONG)
        .await;
    let summary = agent
        .poll(
            "[data-testid=summary] with data-state=ok and text in [data-testid=summary-text]",
            LONG,
            r#"const s = document.querySelector('[data-testid=summary]');
               const t = s && s.querySelector('[data-testid=summary-text]');
               return s ? { state: s.getAttribute('data-state'), source: s.getAttribute('data-source'),
                            text: t ? t.textContent : null } : null;"#,
            vec![],
            |v| v["state"] == "ok" && v["text"].as_str().is_some_and(|t| !t.trim().is_empty()),
        )
        .await;
    assert_eq!(summary["source"], "offline", "{summary}");
    agent
        .assert_no_alert("dashboard after suggest and summary")
        .await;

    agent.close().await;
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. The bot answers the customer in the widget, then hands off to a person on request.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_answers_in_the_widget_then_hands_off() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    import_kb(&app).await;
    let admin = app.login(ADMIN).await;
    enable_bot(&app, &admin).await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;

    // The agent is online before the customer writes, so the hand-off can route to them.
    let agent = dashboard(&app, ADMIN).await;
    wait_online(&agent).await;

    let cust = customer(&host).await;
    open_widget(&cust).await;
    widget_send(&cust, REFUND_QUESTION).await;
    let ms = cust
        .wait_messages(
            Widget,
            "a bot answer (data-sender=bot) with \"14 days\" citing \"Refund policy\"",
            LONG,
            |ms| {
                ms.iter().any(|m| {
                    m.sender.as_deref() == Some("bot")
                        && m.text().contains("14 days")
                        && m.text().contains("Refund policy")
                })
            },
        )
        .await;
    let answer = ms
        .iter()
        .find(|m| m.sender.as_deref() == Some("bot") && m.text().contains("14 days"))
        .expect("answer")
        .text()
        .to_string();
    let label = cust
        .js(
            r#"const m = sbAll('[data-testid=messages] [data-testid=message]').find(m => m.getAttribute('data-sender') === 'bot');
               return m ? m.textContent : null;"#,
            vec![],
        )
        .await;
    assert!(
        label.as_str().is_some_and(|t| t.contains("Assistant")),
        "a bot message is labelled \"Assistant\" in the widget: {label}"
    );

    widget_send(&cust, HUMAN_PLEASE).await;
    cust.wait_messages(
        Widget,
        "the bot's hand-off message (\"member of our team\")",
        LONG,
        |ms| {
            ms.iter().any(|m| {
                m.sender.as_deref() == Some("bot") && m.text().contains("member of our team")
            })
        },
    )
    .await;
    // Late duplicates (a replay racing the live frame) would show up within this time.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cust.assert_no_alert("widget after the hand-off").await;
    let ms = cust.messages(Widget).await.unwrap_or_default();
    let bots: Vec<&Msg> = ms
        .iter()
        .filter(|m| m.sender.as_deref() == Some("bot"))
        .collect();
    assert_eq!(
        bots.len(),
        2,
        "the widget shows exactly the answer and the hand-off message from the bot: {:?}",
        describe(&ms)
    );
    assert_eq!(
        bots.iter().filter(|m| m.text() == answer).count(),
        1,
        "the answer shows once: {:?}",
        describe(&ms)
    );
    assert_eq!(
        bots.iter()
            .filter(|m| m.text().contains("member of our team"))
            .count(),
        1,
        "the hand-off message shows once: {:?}",
        describe(&ms)
    );
    assert!(
        ms.iter().all(|m| m.private.as_deref() != Some("true")),
        "the customer must never see a private note: {:?}",
        describe(&ms)
    );
    let widget_text = cust
        .js("const r = sbRoot(); return r ? r.textContent : '';", vec![])
        .await;
    assert!(
        !widget_text
            .as_str()
            .unwrap_or_default()
            .contains("asked for a person"),
        "the hand-off note's text leaked into the widget"
    );
    for t in [REFUND_QUESTION, HUMAN_PLEASE] {
        assert_eq!(
            ms.iter().filter(|m| m.is("customer", t)).count(),
            1,
            "{t:?} shows once: {:?}",
            describe(&ms)
        );
    }

    // The agent's dashboard: the conversation (now open) with the bot's hand-off note.
    // (The list preview shows the latest message, here the bot's note: find the item by id.)
    let id = only_conversation(&app, &admin.session).await.to_string();
    wait_true(
        &agent,
        "the handed-off conversation in the dashboard's list of open conversations",
        WAIT,
        &format!("return !!document.querySelector('[data-testid=conv-item][data-id=\"{id}\"]');"),
    )
    .await;
    let item_state = agent
        .poll(
            "the list item's bot chip to leave \"active\"",
            WAIT,
            r#"const b = document.querySelector(`[data-testid=conv-item][data-id="${arguments[0]}"] [data-testid=bot-state]`);
               return b ? b.getAttribute('data-state') : 'none';"#,
            vec![json!(id)],
            |v| v != "active",
        )
        .await;
    open_conversation(&agent, &id).await;
    let ms = agent
        .wait_messages(
            Dashboard,
            "the bot's private hand-off note in the conversation",
            WAIT,
            |ms| {
                ms.iter().any(|m| {
                    m.sender.as_deref() == Some("bot") && m.private.as_deref() == Some("true")
                })
            },
        )
        .await;
    let note = agent
        .js(
            r#"const m = [...document.querySelectorAll('[data-testid=messages] [data-testid=message]')]
                 .find(m => m.getAttribute('data-sender') === 'bot' && m.getAttribute('data-private') === 'true');
               return m ? m.textContent : null;"#,
            vec![],
        )
        .await;
    assert!(
        note.as_str()
            .is_some_and(|t| t.contains("Bot handoff note")),
        "the private bot note is labelled \"Bot handoff note\": {note}; messages: {:?}",
        describe(&ms)
    );
    let header_state = agent
        .poll(
            "the conversation header's bot chip to not be \"active\"",
            WAIT,
            r#"const chips = [...document.querySelectorAll('[data-testid=bot-state]')]
                 .filter(b => !b.closest('[data-testid=conv-item]'));
               return chips.map(b => b.getAttribute('data-state'));"#,
            vec![],
            |v| {
                v.as_array()
                    .is_some_and(|a| a.iter().all(|s| s != "active"))
            },
        )
        .await;
    assert!(
        item_state == "handed_off" || item_state == "none",
        "list item bot chip: {item_state}"
    );
    assert!(
        header_state
            .as_array()
            .is_some_and(|a| a.iter().all(|s| s == "handed_off")),
        "header bot chip: {header_state}"
    );
    for t in [
        answer.as_str(),
        "I'm passing this to a member of our team so they can help you properly. They'll reply right here in this chat.",
    ] {
        assert_eq!(
            ms.iter().filter(|m| m.is("bot", t)).count(),
            1,
            "the dashboard shows {t:?} once: {:?}",
            describe(&ms)
        );
    }
    agent.assert_no_alert("dashboard after the hand-off").await;

    // The server agrees: handed off, open, and the customer never got the note.
    let conv: Uuid = id.parse().expect("uuid");
    let (s, v) = crate::api_helpers::get(
        &app,
        &format!("/api/v1/conversations/{conv}"),
        &admin.session,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conversation"]["bot_state"], "handed_off", "{v}");
    let seen = api_history(&app, &admin.session, conv).await;
    assert_eq!(
        seen.iter().filter(|(s, p, _)| s == "bot" && *p).count(),
        1,
        "one hand-off note: {seen:#?}"
    );

    cust.close().await;
    agent.close().await;
    app.stop().await;
}
