//! `cargo test --test it browser::screenshots -- --ignored`: renders the dashboard with an open
//! conversation and the open widget on a customer's page into `docs/img/{dashboard,widget}.png`
//! (1280×800).
use std::path::PathBuf;

use serde_json::json;

use super::{
    harness::{Browser, Surface::Widget, WAIT, story_slot},
    host::HostPage,
    stories::{
        dashboard, dashboard_send, open_conversation, open_widget, wait_list_item, widget_send,
    },
};
use crate::helpers::*;

async fn viewport(b: &Browser) {
    b.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false }),
    )
    .await;
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && &png[1..4] == b"PNG", "not a PNG");
    let w = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let h = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    (w, h)
}

async fn save(b: &Browser, name: &str) {
    let png = b.client.screenshot().await.expect("screenshot");
    assert_eq!(png_size(&png), (1280, 800), "{name} screenshot size");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/img");
    std::fs::create_dir_all(&dir).expect("create docs/img");
    let path = dir.join(name);
    std::fs::write(&path, png).expect("write screenshot");
    println!("wrote {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/img/*.png; run explicitly"]
async fn screenshots() {
    let _slot = story_slot().await;
    let app = spawn_app().await;
    let host = HostPage::presentable(&app.base, &app.inbox_token).await;
    let agent = dashboard(&app, ADMIN).await;
    viewport(&agent).await;
    let cust = Browser::new("customer").await;
    viewport(&cust).await;
    cust.goto(&host.url).await;
    cust.wait_visible(Widget, "[data-testid=launcher]", WAIT)
        .await;
    open_widget(&cust).await;

    let first = "Hi! My order #1042 hasn't arrived yet, can you check where it is?";
    widget_send(&cust, first).await;
    let id = wait_list_item(&agent, "order #1042").await;
    open_conversation(&agent, &id).await;
    dashboard_send(
        &agent,
        "Sorry about that! It left our warehouse yesterday and should be with you tomorrow.",
    )
    .await;
    widget_send(&cust, "Great, thank you!").await;
    cust.wait_messages(Widget, "three messages", WAIT, |ms| ms.len() >= 3)
        .await;
    agent
        .wait_messages(
            super::harness::Surface::Dashboard,
            "three messages",
            WAIT,
            |ms| ms.len() >= 3,
        )
        .await;
    // Let transitions and the "seen" markers settle.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    save(&agent, "dashboard.png").await;
    save(&cust, "widget.png").await;

    cust.close().await;
    agent.close().await;
    app.stop().await;
}
