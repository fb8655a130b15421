//! `switchboard demo`: one command that shows the product. Creates (once) a demo account with an
//! admin whose password is printed once, an inbox with its public widget token and a few sample
//! conversations, then serves them.
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::{
    accounts,
    actor::{Actor, AgentIdentity, Role},
    auth::tokens,
    config::Settings,
    db::entities::{agent, inbox},
    messages::SendCommand,
    startup::Application,
    visitors::{VisitorSessionRequest, open_session},
};

pub const DEMO_EMAIL: &str = "admin@demo.switchboard.example";

const SAMPLES: [(&str, &[(&str, &str)]); 3] = [
    (
        "Ada",
        &[
            ("c", "Hi! I can't find where to download my invoices."),
            (
                "a",
                "Hello Ada, they are under Settings → Billing → Invoices.",
            ),
            ("c", "Found them, thanks!"),
        ],
    ),
    (
        "Grace",
        &[
            ("c", "My desktop app says sync is paused. What should I do?"),
            ("n", "Probably the storage quota; check her plan."),
            (
                "a",
                "Hi Grace, sync pauses when the storage is full. Could you check Settings → Storage?",
            ),
        ],
    ),
    ("Linus", &[("c", "Do you offer a student discount?")]),
];

/// Sample knowledge base imported by the demo (when run from a checkout of the repository).
const DEMO_KB: &str = "tests/data/eval/kb";

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let ctx = app.context().clone();
    let existing = agent::Entity::find()
        .filter(agent::Column::Email.eq(DEMO_EMAIL))
        .one(&ctx.db)
        .await?;
    let (admin, password) = match existing {
        Some(a) => (a, None),
        None => {
            let password = tokens::random_hex(8)?;
            let acc = accounts::service::create_account(&ctx.db, "Demo Company").await?;
            accounts::service::create_agent(
                &ctx.db,
                acc.id,
                DEMO_EMAIL,
                "Demo Admin",
                &password,
                Role::Admin,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let a = agent::Entity::find()
                .filter(agent::Column::Email.eq(DEMO_EMAIL))
                .one(&ctx.db)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo admin vanished"))?;
            (a, Some(password))
        }
    };
    let inbox = match inbox::Entity::find()
        .filter(inbox::Column::AccountId.eq(admin.account_id))
        .one(&ctx.db)
        .await?
    {
        Some(i) => i,
        None => {
            let i = crate::inboxes::create(&ctx.db, admin.account_id, "Website", &[]).await?;
            seed(&ctx, &admin, &i.widget_token).await?;
            let who = crate::actor::AgentIdentity {
                agent_id: admin.id,
                account_id: admin.account_id,
                role: Role::Admin,
                session_id: None,
                session_expires: None,
            };
            for (shortcut, body) in [
                (
                    "hello",
                    "Hi! Thanks for reaching out — how can I help you today?",
                ),
                (
                    "refund",
                    "Refunds go back to the original payment method within 5–10 business days.",
                ),
                ("bye", "Glad I could help. Have a great day!"),
            ] {
                let input = crate::canned::CannedInput {
                    shortcut: Some(shortcut.into()),
                    body: Some(body.into()),
                };
                crate::canned::create(&ctx, &who, input)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            // The sample knowledge base (a fictional cloud-storage company), for suggested
            // replies and for the first-line bot once an admin turns it on for the inbox. (Off by
            // default: scripts and tests drive the demo inbox as a plain human-staffed inbox.)
            let kb_dir = std::path::Path::new(DEMO_KB);
            if kb_dir.is_dir() {
                crate::kb::import::import_dir(&ctx.db, admin.account_id, kb_dir, false).await?;
            }
            i
        }
    };
    let kb_articles = crate::kb::service::list_all(&ctx.db, admin.account_id)
        .await?
        .len();
    let base = app.base_url();
    let site = demo_site(&base, &inbox.widget_token)?;
    println!("\nSwitchboard demo is running at {base}");
    println!("  dashboard   : {base}/login");
    println!("  demo website with the chat widget (another origin): {site}");
    println!("  admin login : {DEMO_EMAIL}");
    match password {
        Some(p) => println!(
            "  password    : {p}   (shown once; run `switchboard create-admin` for more admins)"
        ),
        None => println!(
            "  password    : printed when the demo was first created (delete the data dir to start over)"
        ),
    }
    println!("  widget token: {}", inbox.widget_token);
    if kb_articles > 0 {
        println!(
            "  AI          : {kb_articles} knowledge-base articles for \"Suggest reply\" ({}); turn on the first-line bot in Admin → Inboxes",
            if ctx.llm.is_some() {
                "model configured"
            } else {
                "offline responder — set SWITCHBOARD_LLM_BASE_URL for a model"
            }
        );
    }
    println!("  API         : {base}/api/v1   health: {base}/healthz");
    println!("\nTry it as a website visitor (protocol: docs/protocol.md):");
    println!(
        "  curl -s -X POST {base}/api/v1/widget/session -H 'content-type: application/json' -d '{{\"inbox_token\":\"{}\"}}'",
        inbox.widget_token
    );
    println!(
        "  then connect a WebSocket to {}/ws/widget?token=<visitor_token>\n",
        base.replacen("http", "ws", 1)
    );
    // The server drains its message writer on shutdown once every context is gone.
    drop(ctx);
    app.run_until_stopped(true).await
}

async fn seed(
    ctx: &crate::context::AppContext,
    admin: &agent::Model,
    widget_token: &str,
) -> anyhow::Result<()> {
    let agent = Actor::Agent(AgentIdentity {
        agent_id: admin.id,
        account_id: admin.account_id,
        role: Role::Admin,
        session_id: None,
        session_expires: None,
    });
    for (name, lines) in SAMPLES {
        let req = VisitorSessionRequest {
            inbox_token: widget_token.to_string(),
            visitor_token: None,
            name: Some(name.to_string()),
            email: Some(format!("{}@example.com", name.to_lowercase())),
            page: Some(crate::visitors::PageInput {
                url: "https://shop.example/pricing".into(),
                title: "Pricing".into(),
            }),
            user: None,
        };
        let s = open_session(ctx, req, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let customer = Actor::Customer(
            ctx.signer
                .open_visitor(&s.visitor_token, chrono::Utc::now().timestamp())
                .ok_or_else(|| anyhow::anyhow!("fresh visitor token did not verify"))?,
        );
        for (i, (who, body)) in lines.iter().enumerate() {
            let actor = if *who == "c" { customer } else { agent };
            let cmd = SendCommand {
                conversation_id: s.conversation_id,
                client_msg_id: format!("demo-{i}"),
                body: body.to_string(),
                private: *who == "n",
            };
            crate::delivery::send::send(ctx, actor, cmd)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
    }
    Ok(())
}

/// A small "customer website" on another port (so another origin), with the install snippet:
/// what a company's own site looks like with Switchboard's widget on it.
fn demo_site(base: &str, widget_token: &str) -> anyhow::Result<String> {
    let page = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Shop</title>
<style>body{{font-family:Georgia,serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.6}}
header{{border-bottom:2px solid #222;margin-bottom:1rem}}</style></head>
<body><header><h1>Acme Shop</h1></header>
<p>This page stands for your own website. It is served from another origin than Switchboard and
includes the widget with one line:</p>
<pre>&lt;script src="{base}/widget.js" data-inbox="{widget_token}" async&gt;&lt;/script&gt;</pre>
<p>Open the chat bubble at the bottom right and write; answer from the dashboard.</p>
<script src="{base}/widget.js" data-inbox="{widget_token}" async></script>
</body></html>"#
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = actix_web::HttpServer::new(move || {
        let page = page.clone();
        actix_web::App::new().default_service(actix_web::web::to(move || {
            let page = page.clone();
            async move {
                actix_web::HttpResponse::Ok()
                    .content_type("text/html; charset=utf-8")
                    .body(page)
            }
        }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    tokio::spawn(server);
    Ok(url)
}
