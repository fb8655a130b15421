//! Nobody can answer: outside business hours (and no agent online) the widget says so, tells
//! when the team is back, takes the visitor's email, and still stores what they write.
use chrono::{Datelike, Utc};
use serde_json::{Value, json};

use super::{
    harness::{Browser, Surface::Widget, WAIT, story_slot},
    host::HostPage,
};
use crate::helpers::*;

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[tokio::test]
async fn outside_business_hours_the_widget_takes_an_email_and_keeps_the_message() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await.session;
    let inboxes: Value = app
        .http
        .get(app.url("/api/v1/inboxes"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list inboxes")
        .json()
        .await
        .expect("inboxes json");
    let inbox_id = inboxes["inboxes"][0]["id"]
        .as_str()
        .expect("inbox id")
        .to_string();
    // Open only two days from now, so "now" is outside business hours whatever the time.
    let open_day = DAYS[(Utc::now().weekday().num_days_from_monday() as usize + 2) % 7];
    let patch = json!({
        "offline_message": "We are closed right now. Back soon!",
        "business_hours": {"utc_offset_minutes": 0, "days": {open_day: ["09:00", "17:00"]}},
    });
    let r = app
        .http
        .patch(app.url(&format!("/api/v1/inboxes/{inbox_id}")))
        .bearer_auth(&admin)
        .json(&patch)
        .send()
        .await
        .expect("patch inbox");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    let host = HostPage::start(&app.base, &app.inbox_token).await;
    let b = Browser::new("customer").await;
    b.goto(&host.url).await;
    b.click(Widget, "[data-testid=launcher]").await;
    b.wait_visible(Widget, "[data-testid=offline]", WAIT).await;
    let notice = b
        .element(Widget, "[data-testid=offline]", WAIT)
        .await
        .text()
        .await
        .expect("offline text");
    assert!(
        notice.contains("We are closed right now. Back soon!"),
        "the inbox's offline message is shown: {notice:?}"
    );
    assert!(
        notice.to_lowercase().contains("back"),
        "the visitor is told when the team is back: {notice:?}"
    );

    b.type_and_enter(Widget, "input[data-testid=email]", "night.owl@example.com")
        .await;
    b.type_and_enter(
        Widget,
        "textarea[data-testid=composer]",
        "Is the shop open on Sunday?",
    )
    .await;
    b.poll(
        "the message to be acknowledged",
        WAIT,
        "const r = document.querySelector('#switchboard-widget').shadowRoot; \
         return [...r.querySelectorAll('[data-testid=message]')].some(m => \
           m.textContent.includes('Is the shop open on Sunday?') && m.dataset.seq);",
        vec![],
        |v| v == &json!(true),
    )
    .await;

    // The agent finds the message and the email when they come back.
    let list: Value = app
        .http
        .get(app.url("/api/v1/conversations?view=all&status=open"))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("list json");
    let conv = &list["conversations"][0];
    assert_eq!(
        conv["last_message"]["body"], "Is the shop open on Sunday?",
        "the message written while closed is stored: {list}"
    );
    let id = conv["id"].as_str().expect("conversation id");
    let detail: Value = app
        .http
        .get(app.url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("detail")
        .json()
        .await
        .expect("detail json");
    assert_eq!(
        detail["contact"]["email"], "night.owl@example.com",
        "the email left in the widget reaches the contact panel: {detail}"
    );
    b.assert_no_alert("offline story").await;
    b.close().await;
    app.stop().await;
}
