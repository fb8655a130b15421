//! Shadow mode in the real browser: the admin sets the inbox's bot to "Shadow", a customer writes
//! in the widget and gets no bot answer, the agent sees the bot's draft under the customer's
//! message, rates it "Should have handed off", and the knowledge-base page's figures move.
use std::time::Duration;

use serde_json::json;

use super::{
    harness::{
        Browser,
        Surface::{Dashboard, Widget},
        WAIT, story_slot,
    },
    host::HostPage,
    stories::{customer, dashboard, open_conversation, open_widget, wait_list_item, widget_send},
};
use crate::ai::import_kb;
use crate::{api_helpers, helpers::*};

const LONG: Duration = Duration::from_secs(30);
const REFUND_QUESTION: &str = "how long do I have to get a refund on a yearly plan?";

async fn wait_true(b: &Browser, what: &str, js: &str) {
    b.poll(what, LONG, js, vec![], |v| v == &json!(true)).await;
}

/// Opens the knowledge-base page and returns its shadow figures once `pred` holds for them.
async fn kb_figures(
    b: &Browser,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    b.js("location.hash = '#/admin/kb';", vec![]).await;
    b.poll(
        what,
        LONG,
        r#"const s = document.querySelector('[data-testid=shadow-stats]');
           if (!s || s.getAttribute('aria-busy')) return null;
           const out = { drafts: s.getAttribute('data-drafts'), rated: s.getAttribute('data-rated') };
           for (const it of s.querySelectorAll('[data-testid=shadow-stat]'))
             out[it.getAttribute('data-label')] = it.querySelector('.shadow-stats__value').textContent;
           return out;"#,
        vec![],
        pred,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_rates_the_shadow_bot_and_the_kb_page_shows_it() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    import_kb(&app).await;
    let admin = app.login(ADMIN).await;
    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let agent = dashboard(&app, ADMIN).await;
    wait_true(
        &agent,
        "the dashboard connected",
        "return !!document.querySelector('[data-testid=connection][data-state=online]');",
    )
    .await;

    // The admin sets the inbox's bot to shadow.
    agent.js("location.hash = '#/admin/inboxes';", vec![]).await;
    agent
        .wait_visible(Dashboard, "select[data-testid=bot-mode]", LONG)
        .await;
    agent
        .js(
            r#"const s = document.querySelector('select[data-testid=bot-mode]');
               s.value = 'shadow'; s.dispatchEvent(new Event('change', { bubbles: true }));"#,
            vec![],
        )
        .await;
    agent
        .click(Dashboard, "[data-testid=inbox-form] button[type=submit]")
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ib = api_helpers::seeded_inbox(&app, &admin).await;
        if ib["bot_mode"] == "shadow" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the inbox in shadow: {ib}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = kb_figures(&agent, "the shadow figures (no drafts yet)", |v| {
        v["drafts"] == "0"
    })
    .await;
    assert_eq!(before["rated"], "0", "{before}");
    agent
        .js("location.hash = '#/inbox?view=all&status=open';", vec![])
        .await;

    // A customer asks; the bot drafts for the agent and sends nothing.
    let cust = customer(&host).await;
    open_widget(&cust).await;
    widget_send(&cust, REFUND_QUESTION).await;
    let id = wait_list_item(&agent, "refund on a yearly plan").await;
    open_conversation(&agent, &id).await;
    let card = agent
        .poll(
            "the bot's draft ([data-testid=bot-draft][data-action=answer]) under the customer's message",
            LONG,
            r#"const m = [...document.querySelectorAll('[data-testid=message][data-sender=customer]')]
                 .find(m => m.querySelector('[data-testid=bot-draft]'));
               const d = m && m.querySelector('[data-testid=bot-draft]');
               if (!d) return null;
               const t = (s) => { const e = d.querySelector(s); return e ? e.textContent : null; };
               return { action: d.getAttribute('data-action'), head: t('[data-testid=draft-headline]'),
                        text: t('[data-testid=draft-text]'), sources: t('[data-testid=draft-sources]'),
                        buttons: d.querySelectorAll('button').length, feedback: d.getAttribute('data-feedback') };"#,
            vec![],
            |v| v["action"] == "answer",
        )
        .await;
    assert_eq!(card["head"], "Bot (shadow) would answer:", "{card}");
    assert!(
        card["text"].as_str().is_some_and(|t| t.contains("14 days")),
        "{card}"
    );
    assert!(
        card["sources"]
            .as_str()
            .is_some_and(|t| t.contains("Refund policy")),
        "{card}"
    );
    assert_eq!(card["buttons"], 3, "👍, 👎, should have handed off: {card}");
    assert_eq!(card["feedback"], "none");

    let after_draft = kb_figures(&agent, "the shadow figures counting the draft", |v| {
        v["drafts"] == "1"
    })
    .await;
    assert_eq!(after_draft["rated"], "0", "{after_draft}");
    assert_eq!(after_draft["Would answer"], "100 %", "{after_draft}");
    agent
        .js("location.hash = '#/c/' + arguments[0];", vec![json!(id)])
        .await;
    agent
        .wait_visible(
            Dashboard,
            "[data-testid=bot-draft] [data-testid=draft-fb-should_handoff]",
            LONG,
        )
        .await;
    // Keyboard first: Enter on 👍 rates it, and the focus stays on the button.
    agent
        .type_and_enter(
            Dashboard,
            "[data-testid=bot-draft] [data-testid=draft-fb-up]",
            "",
        )
        .await;
    agent
        .poll(
            "the draft rated 👍 from the keyboard, focus kept on the button",
            LONG,
            r#"const d = document.querySelector('[data-testid=bot-draft]');
               const a = document.activeElement;
               return d ? { feedback: d.getAttribute('data-feedback'),
                            focused: a ? a.getAttribute('data-testid') : null } : null;"#,
            vec![],
            |v| v["feedback"] == "up" && v["focused"] == "draft-fb-up",
        )
        .await;
    // Then the agent changes their mind: the last verdict wins.
    agent
        .click(
            Dashboard,
            "[data-testid=bot-draft] [data-testid=draft-fb-should_handoff]",
        )
        .await;
    let rated = agent
        .poll(
            "the draft marked \"Should have handed off\"",
            LONG,
            r#"const d = document.querySelector('[data-testid=bot-draft]');
               const b = d && d.querySelector('[data-testid=draft-fb-should_handoff]');
               return d ? { feedback: d.getAttribute('data-feedback'), pressed: b && b.getAttribute('aria-pressed'),
                            verdict: d.querySelector('[data-testid=draft-feedback]').textContent } : null;"#,
            vec![],
            |v| v["feedback"] == "should_handoff",
        )
        .await;
    assert_eq!(rated["pressed"], "true", "{rated}");
    assert!(
        rated["verdict"]
            .as_str()
            .is_some_and(|t| t.contains("Should have handed off")),
        "{rated}"
    );

    let after = kb_figures(&agent, "the shadow figures counting the rating", |v| {
        v["rated"] == "1"
    })
    .await;
    assert_eq!(after["Agreement"], "0 %", "{after}");
    assert_eq!(after["Handoff recall"], "0 %", "a missed handoff: {after}");
    assert_eq!(after["Handoff precision"], "—", "{after}");

    // The customer never saw anything from the bot.
    let ms = cust.messages(Widget).await.unwrap_or_default();
    assert!(
        ms.iter().all(|m| m.sender.as_deref() == Some("customer")),
        "the widget shows only the customer's message: {:?}",
        ms.iter()
            .map(|m| (m.sender.clone(), m.text().to_string()))
            .collect::<Vec<_>>()
    );
    let (_, hist) = api_helpers::get(
        &app,
        &format!("/api/v1/conversations/{id}/messages"),
        &admin.session,
    )
    .await;
    assert!(
        hist["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m["sender_type"] == "customer"),
        "{hist}"
    );
    agent
        .assert_no_alert("dashboard after rating a draft")
        .await;
    cust.assert_no_alert("widget in a shadow inbox").await;
    agent.close().await;
    cust.close().await;
    app.stop().await;
}
