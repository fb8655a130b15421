//! Transcript search: the eval corpus (`tests/data/eval/conversations.jsonl`) imported through
//! the importer, every eval query (`search_queries.jsonl`) over the HTTP API, near-real-time
//! indexing, GDPR deletions, account isolation, plain-text (never HTML) results, hostile
//! queries, crash catch-up, `switchboard reindex` equivalence and the `search --json` CLI.
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;
use switchboard::{
    accounts,
    actor::Role,
    config::Settings,
    db::entities::{contact, conversation, inbox, message, read_marker},
    inboxes,
    search::{SearchIndex, SearchOptions},
    startup::Application,
};
use uuid::Uuid;

use crate::{api_helpers::*, helpers::*};

/// The evaluation data: a copy of the shared synthetic set lives in `tests/data/eval/`;
/// `SWITCHBOARD_EVAL_DIR` points the tests at another set (e.g. held-out queries).
fn eval_file(name: &str) -> PathBuf {
    match std::env::var_os("SWITCHBOARD_EVAL_DIR") {
        Some(dir) => PathBuf::from(dir).join(name),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/eval")
            .join(name),
    }
}

struct EvalQuery {
    query: String,
    must_find: Vec<String>,
    must_not_find: Vec<String>,
}

fn eval_queries() -> Vec<EvalQuery> {
    let text = std::fs::read_to_string(eval_file("search_queries.jsonl")).expect("queries");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("query json");
            let list = |k: &str| -> Vec<String> {
                v[k].as_array()
                    .expect("list")
                    .iter()
                    .map(|x| x.as_str().expect("id").to_string())
                    .collect()
            };
            EvalQuery {
                query: v["query"].as_str().expect("query").to_string(),
                must_find: list("must_find"),
                must_not_find: list("must_not_find"),
            }
        })
        .collect()
}

/// The account and inbox of the seeded workspace.
async fn workspace(db: &sea_orm::DatabaseConnection) -> (Uuid, Uuid) {
    let ib = inbox::Entity::find()
        .one(db)
        .await
        .expect("inbox query")
        .expect("an inbox");
    (ib.account_id, ib.id)
}

/// Imports the eval corpus and waits until the indexer has all 40 conversations.
async fn import_eval(ctx: &switchboard::context::AppContext) -> Uuid {
    let (account, inbox) = workspace(&ctx.db).await;
    let stats = switchboard::import::conversations(
        ctx,
        &eval_file("conversations.jsonl"),
        account,
        inbox,
        false,
    )
    .await
    .expect("import");
    assert_eq!(stats.conversations, 40, "{:?}", stats.errors);
    wait_until("40 conversations indexed", Duration::from_secs(30), || {
        ctx.search.num_conversations() == 40
    })
    .await;
    account
}

async fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn search(app: &TestApp, bearer: &str, q: &str, extra: &str) -> (StatusCode, Value) {
    get(
        app,
        &format!("/api/v1/search?q={}{extra}", urlencode(q)),
        bearer,
    )
    .await
}

fn external_ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["external_id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Searches until `pred` holds for the response (or fails after `limit`); returns it and when.
async fn search_until(
    app: &TestApp,
    bearer: &str,
    q: &str,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let start = Instant::now();
    loop {
        let (s, v) = search(app, bearer, q, "").await;
        assert_eq!(s, 200, "{q}: {v}");
        if pred(&v) {
            return (v, start.elapsed());
        }
        assert!(
            start.elapsed() < limit,
            "{q}: condition never held; last {v}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn check_eval(q: &EvalQuery, top: &[String], all: &[String]) -> Result<(), String> {
    let top10 = &top[..top.len().min(10)];
    let missing: Vec<&String> = q
        .must_find
        .iter()
        .filter(|id| !top10.contains(id))
        .collect();
    let wrong: Vec<&String> = q
        .must_not_find
        .iter()
        .filter(|id| all.contains(id))
        .collect();
    if missing.is_empty() && wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{:?}: missing from top 10 {missing:?}, wrongly found {wrong:?} (got {all:?})",
            q.query
        ))
    }
}

#[tokio::test]
async fn eval_queries_find_what_they_should() {
    let app = spawn_app().await;
    import_eval(&app.ctx).await;
    let admin = app.login(ADMIN).await;
    let mut failures = Vec::new();
    let queries = eval_queries();
    for q in &queries {
        let (s, v) = search(&app, &admin.session, &q.query, "&per_page=100").await;
        assert_eq!(s, 200, "{}: {v}", q.query);
        let all = external_ids(&v);
        assert_eq!(v["total"].as_u64(), Some(all.len() as u64), "{}", q.query);
        if let Err(e) = check_eval(q, &all, &all) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} eval queries failed:\n{}",
        failures.len(),
        queries.len(),
        failures.join("\n")
    );

    // Typos: fuzzy matches and a correction.
    let (_, v) = search(&app, &admin.session, "ransomeware rollback", "").await;
    assert_eq!(v["did_you_mean"], "ransomware rollback", "{v}");
    let (_, v) = search(&app, &admin.session, "studnet discount", "").await;
    assert!(v["total"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["did_you_mean"], "student discount", "{v}");
    // A word that exists is never fuzzed into another one.
    let (_, v) = search(&app, &admin.session, "lawyer", "").await;
    assert!(v["did_you_mean"].is_null(), "{v}");
    // Codes are whole tokens.
    let (_, a) = search(&app, &admin.session, "NW-1004", "&per_page=100").await;
    let (_, b) = search(&app, &admin.session, "nw-1005", "&per_page=100").await;
    let (a, b) = (external_ids(&a), external_ids(&b));
    assert!(a.contains(&"conv-001".to_string()), "{a:?}");
    assert!(!b.contains(&"conv-001".to_string()), "{b:?}");

    // Paging: disjoint pages, a stable total; date sort is newest first.
    let (_, p1) = search(&app, &admin.session, "", "&per_page=15&page=1").await;
    let (_, p2) = search(&app, &admin.session, "", "&per_page=15&page=2").await;
    assert_eq!(p1["total"], 40);
    assert_eq!(p2["total"], 40);
    let (i1, i2) = (external_ids(&p1), external_ids(&p2));
    assert_eq!((i1.len(), i2.len()), (15, 15));
    assert!(i1.iter().all(|x| !i2.contains(x)), "{i1:?} {i2:?}");
    let (_, d) = search(&app, &admin.session, "sync", "&sort=date&per_page=100").await;
    let dates: Vec<&str> = d["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|h| h["created_at"].as_str().expect("created_at"))
        .collect();
    let mut sorted = dates.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dates, sorted);
    // Date filters (creation time, after inclusive, before exclusive).
    let (_, v) = search(
        &app,
        &admin.session,
        "after:2024-02-05 before:2024-02-06",
        "",
    )
    .await;
    assert!(external_ids(&v).contains(&"conv-001".to_string()), "{v}");
    let (_, v) = search(&app, &admin.session, "before:2024-02-05", "&per_page=100").await;
    assert!(!external_ids(&v).contains(&"conv-001".to_string()), "{v}");
    app.stop().await;
}

#[tokio::test]
async fn results_are_plain_text_never_html() {
    let app = spawn_app().await;
    import_eval(&app.ctx).await;
    let admin = app.login(ADMIN).await;
    let r = app
        .http
        .get(app.url("/api/v1/search?q=onerror"))
        .bearer_auth(&admin.session)
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 200);
    let raw = r.text().await.expect("body");
    assert!(!raw.contains("<b>") && !raw.contains("&lt;"), "{raw}");
    let v: Value = serde_json::from_str(&raw).expect("json");
    let hit = &v["results"][0];
    assert_eq!(hit["external_id"], "conv-028", "{v}");
    let snippet = hit["snippets"]
        .as_array()
        .expect("snippets")
        .iter()
        .find(|s| {
            s["text"]
                .as_str()
                .is_some_and(|t| t.contains("<img src=x onerror=alert(1)>"))
        })
        .unwrap_or_else(|| panic!("a snippet with the literal file name: {v}"));
    let text = snippet["text"].as_str().expect("text");
    for h in snippet["highlights"].as_array().expect("highlights") {
        let (s, e) = (h[0].as_u64().expect("start"), h[1].as_u64().expect("end"));
        assert_eq!(&text[s as usize..e as usize], "onerror");
    }
    app.stop().await;
}

#[tokio::test]
async fn new_messages_are_searchable_within_a_second() {
    let app = spawn_app().await;
    let admin = app.login(ADMIN).await;
    // An empty conversation is not indexed; its first message makes it searchable.
    let c = writing_customer(&app, "Hello, my zebrafrost backup is stuck").await;
    let (v, _) = search_until(
        &app,
        &admin.session,
        "zebrafrost",
        Duration::from_secs(5),
        |v| v["total"] == 1,
    )
    .await;
    assert_eq!(
        v["results"][0]["conversation_id"],
        c.conversation_id.to_string()
    );
    for (i, word) in ["quasarplinth", "mistralvoxel", "obsidianquill"]
        .iter()
        .enumerate()
    {
        let private = i == 2;
        let posted = Instant::now();
        reply(
            &app,
            &admin,
            c.conversation_id,
            &format!("Note: {word} checked"),
            private,
        )
        .await;
        let (v, _) = search_until(&app, &admin.session, word, Duration::from_secs(5), |v| {
            v["total"] == 1
        })
        .await;
        let lag = posted.elapsed();
        eprintln!("{word}: searchable {lag:?} after posting");
        assert!(
            lag < Duration::from_secs(1),
            "{word} searchable after {lag:?}"
        );
        let snippet = &v["results"][0]["snippets"][0];
        assert_eq!(snippet["private"], private, "{v}");
        assert!(snippet["text"].as_str().unwrap_or("").contains(word));
    }
    app.stop().await;
}

#[tokio::test]
async fn deleted_messages_and_erased_contacts_leave_the_results() {
    let app = spawn_app().await;
    import_eval(&app.ctx).await;
    let admin = app.login(ADMIN).await;
    // One message of conv-032 mentions a lawyer.
    let (_, v) = search(&app, &admin.session, "lawyer", "").await;
    let hit = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|h| h["external_id"] == "conv-032")
        .unwrap_or_else(|| panic!("conv-032: {v}"))
        .clone();
    let conv = hit["conversation_id"].as_str().expect("id").to_string();
    for s in hit["snippets"].as_array().expect("snippets") {
        let mid = s["message_id"].as_str().expect("message id");
        let st = delete(
            &app,
            &format!("/api/v1/conversations/{conv}/messages/{mid}"),
            &admin.session,
        )
        .await;
        assert_eq!(st, 204);
    }
    search_until(
        &app,
        &admin.session,
        "lawyer",
        Duration::from_secs(3),
        |v| !external_ids(v).contains(&"conv-032".to_string()),
    )
    .await;
    // The rest of the conversation is still found.
    let (_, v) = search(&app, &admin.session, "status:open", "&per_page=100").await;
    assert!(external_ids(&v).contains(&"conv-032".to_string()), "{v}");

    // Erasing Anna Berg removes both her conversations.
    let (_, v) = search(&app, &admin.session, "customer:anna.berg@example.com", "").await;
    assert_eq!(v["total"], 2, "{v}");
    let id: Uuid = v["results"][0]["conversation_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let conv = conversation::Entity::find_by_id(id)
        .one(&app.ctx.db)
        .await
        .expect("query")
        .expect("conversation");
    let (st, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/v1/contacts/{}", conv.contact_id),
        &admin.session,
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    search_until(
        &app,
        &admin.session,
        "customer:anna.berg@example.com",
        Duration::from_secs(3),
        |v| v["total"] == 0,
    )
    .await;
    let (_, v) = search(&app, &admin.session, "anna berg", "").await;
    assert!(
        external_ids(&v)
            .iter()
            .all(|x| x != "conv-001" && x != "conv-006"),
        "{v}"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_account_finds_nothing_of_ours() {
    let app = spawn_app().await;
    import_eval(&app.ctx).await;
    let db = &app.ctx.db;
    let other = accounts::service::create_account(db, "Other")
        .await
        .expect("account");
    accounts::service::create_agent(
        db,
        other.id,
        "eve@other.example",
        "Eve",
        PASSWORD,
        Role::Admin,
    )
    .await
    .expect("agent");
    let eve = app.login("eve@other.example").await;
    for q in [
        "refund",
        "customer:anna.berg@example.com",
        "status:open",
        "",
        "ransomeware",
    ] {
        let (s, v) = search(&app, &eve.session, q, "").await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["total"], 0, "{q}: {v}");
        assert!(v["did_you_mean"].is_null(), "{q}: {v}");
    }
    // Without a session: no search at all.
    let r = app
        .http
        .get(app.url("/api/v1/search?q=refund"))
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 401);
    // A visitor token is not an agent.
    let c = app.customer().await;
    let (s, _) = search(&app, &c.token, "refund", "").await;
    assert_eq!(s, 401);
    app.stop().await;
}

/// What an agent of the account sees for each query: the whole response (ids, order, scores,
/// snippets, totals, corrections).
async fn answers(app: &TestApp, bearer: &str, queries: &[String]) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for q in queries {
        let (s, v) = search(app, bearer, q, "&per_page=100").await;
        assert_eq!(s, 200, "{q}: {v}");
        out.push((q.clone(), v));
    }
    out
}

#[tokio::test]
async fn another_accounts_words_change_nothing_in_our_scores() {
    let app = spawn_app().await;
    let ours = import_eval(&app.ctx).await;
    let admin = app.login(ADMIN).await;
    // Every eval query, typos (fuzzy candidates and "did you mean") and a phrase.
    let mut queries: Vec<String> = eval_queries().into_iter().map(|q| q.query).collect();
    queries.extend(
        [
            "ransomeware rollback",
            "studnet discount",
            "\"double charge\"",
        ]
        .map(String::from),
    );
    let before = answers(&app, &admin.session, &queries).await;
    assert!(
        before
            .iter()
            .any(|(_, v)| v["results"][0]["score"].as_f64().unwrap_or(0.0) > 0.0),
        "nothing was scored"
    );

    // Another tenant writes the same words, many times over: the same 40 conversations.
    let db = &app.ctx.db;
    let other = accounts::service::create_account(db, "Other")
        .await
        .expect("account");
    let inbox = inboxes::create(db, other.id, "Their site", &[])
        .await
        .expect("inbox");
    let stats = switchboard::import::conversations(
        &app.ctx,
        &eval_file("conversations.jsonl"),
        other.id,
        inbox.id,
        false,
    )
    .await
    .expect("import");
    assert_eq!(stats.conversations, 40, "{:?}", stats.errors);
    wait_until("80 conversations indexed", Duration::from_secs(30), || {
        app.ctx.search.num_conversations() == 80
    })
    .await;
    // The other account's conversations are in the index (its own searches find them)…
    let r = app
        .ctx
        .search
        .search(Some(other.id), "refund", &SearchOptions::default())
        .expect("search");
    assert!(r.total > 0);
    // …and ours are scored, ordered and corrected exactly as before.
    let after = answers(&app, &admin.session, &queries).await;
    for ((q, a), (_, b)) in before.iter().zip(&after) {
        assert_eq!(
            a, b,
            "{q}: the other account's conversations changed our results"
        );
    }
    assert_ne!(ours, other.id);
    app.stop().await;
}

#[tokio::test]
async fn hostile_queries_get_a_quick_clear_400() {
    let app = spawn_app().await;
    import_eval(&app.ctx).await;
    let admin = app.login(ADMIN).await;
    let ors = vec!["refund"; 501].join(" OR ");
    let cases = [
        "x".repeat(10_000),
        ors,
        "*foo".to_string(),
        "refund*".to_string(),
        "\"unbalanced phrase".to_string(),
        "tag:\"billing".to_string(),
        "a OR".to_string(),
        "before:someday".to_string(),
        vec!["w"; 40].join(" "),
    ];
    for q in &cases {
        let start = Instant::now();
        let (s, v) = search(&app, &admin.session, q, "").await;
        assert_eq!(s, 400, "{}: {v}", &q[..q.len().min(40)]);
        assert_eq!(v["code"], "invalid");
        assert!(v["message"].as_str().is_some_and(|m| m.len() > 10), "{v}");
        assert!(start.elapsed() < Duration::from_secs(1));
    }
    let (s, v) = search(&app, &admin.session, "refund", "&page=1000&per_page=100").await;
    assert_eq!(s, 400, "{v}");
    // Odd but valid input is fine, and the server still answers.
    for q in [
        "((refund))",
        "-",
        "\"\"",
        "refund -",
        "é",
        "<script>",
        "OR-ed",
    ] {
        let (s, v) = search(&app, &admin.session, q, "").await;
        assert_eq!(s, 200, "{q}: {v}");
    }
    let (s, v) = search(&app, &admin.session, "vault passphrase", "").await;
    assert_eq!(s, 200);
    assert!(external_ids(&v).contains(&"conv-026".to_string()));
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Restarts on the same database and data dir, with writes while the server is down.
// ---------------------------------------------------------------------------------------------

struct Server {
    ctx: switchboard::context::AppContext,
    port: u16,
    handle: switchboard::startup::StopHandle,
    join: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(settings: &Settings) -> Server {
    let app = Application::build(settings.clone()).await.expect("build");
    let ctx = app.context().clone();
    let port = app.port();
    let handle = app.handle();
    let join = tokio::spawn(app.run_until_stopped(false));
    Server {
        ctx,
        port,
        handle,
        join,
    }
}

impl Server {
    async fn stop(self) {
        drop(self.ctx);
        self.handle.stop().await;
        self.join.await.expect("join").expect("clean stop");
    }
}

/// Every eval query's result ids, in rank order, with totals.
fn ranked(ix: &SearchIndex, account: Uuid) -> Vec<(String, u64, Vec<String>)> {
    eval_queries()
        .into_iter()
        .map(|q| {
            let opts = SearchOptions {
                per_page: 100,
                ..Default::default()
            };
            let r = ix.search(Some(account), &q.query, &opts).expect("search");
            let ids = r
                .results
                .iter()
                .map(|h| h.conversation_id.to_string())
                .collect();
            (q.query, r.total, ids)
        })
        .collect()
}

/// Appends a customer message to the conversation with this external id, straight in the
/// database (as another process would, while the server is down).
async fn add_message_while_down(db: &sea_orm::DatabaseConnection, ext: &str, body: &str) {
    let c = conversation::Entity::find()
        .filter(conversation::Column::ExternalId.eq(ext))
        .one(db)
        .await
        .expect("q")
        .expect("conversation");
    let now = chrono::Utc::now();
    message::ActiveModel {
        id: Set(Uuid::now_v7()),
        account_id: Set(c.account_id),
        conversation_id: Set(c.id),
        seq: Set(c.last_seq + 1),
        client_msg_id: Set(format!("downtime-{}", c.last_seq + 1)),
        sender_type: Set("customer".into()),
        sender_id: Set(c.contact_id),
        private: Set(false),
        body: Set(body.into()),
        created_at: Set(now),
    }
    .insert(db)
    .await
    .expect("insert message");
    let mut am: conversation::ActiveModel = c.clone().into();
    am.last_seq = Set(c.last_seq + 1);
    am.updated_at = Set(now);
    am.update(db).await.expect("bump conversation");
}

#[tokio::test]
async fn catch_up_after_downtime_reindex_and_cli() {
    switchboard::install_crypto_provider();
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    if let Some(url) = fresh_database_url().await {
        settings.database_url = url;
    }
    let s1 = start(&settings).await;
    let acc = accounts::service::create_account(&s1.ctx.db, "Acme")
        .await
        .expect("account");
    inboxes::create(&s1.ctx.db, acc.id, "Website", &[])
        .await
        .expect("inbox");
    let account = import_eval(&s1.ctx).await;
    s1.stop().await;

    // While the server is down: a new message, and a conversation deleted behind its back.
    let db = switchboard::db::connect(&settings).await.expect("db");
    add_message_while_down(
        &db,
        "conv-003",
        "Written while the server was down: quokkafrost",
    )
    .await;
    let by_ext = |ext: &'static str| {
        conversation::Entity::find().filter(conversation::Column::ExternalId.eq(ext))
    };
    let c40 = by_ext("conv-040")
        .one(&db)
        .await
        .expect("q")
        .expect("conv-040");
    message::Entity::delete_many()
        .filter(message::Column::ConversationId.eq(c40.id))
        .exec(&db)
        .await
        .expect("delete messages");
    read_marker::Entity::delete_many()
        .filter(read_marker::Column::ConversationId.eq(c40.id))
        .exec(&db)
        .await
        .expect("delete markers");
    conversation::Entity::delete_by_id(c40.id)
        .exec(&db)
        .await
        .expect("delete conversation");
    contact::Entity::delete_by_id(c40.contact_id)
        .exec(&db)
        .await
        .expect("delete contact");

    // Restart: the index catches up from its watermark and drops what is gone.
    let s2 = start(&settings).await;
    let opts = SearchOptions::default();
    let start_wait = Instant::now();
    loop {
        let r = s2
            .ctx
            .search
            .search(Some(account), "quokkafrost", &opts)
            .expect("search");
        if r.total == 1 {
            assert_eq!(r.results[0].external_id.as_deref(), Some("conv-003"));
            break;
        }
        assert!(
            start_wait.elapsed() < Duration::from_secs(10),
            "no catch-up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = s2
        .ctx
        .search
        .search(Some(account), "muller", &opts)
        .expect("search");
    assert_eq!(r.total, 0, "deleted conv-040 still found");
    let before = ranked(&s2.ctx.search, account);

    // Reindex refuses while the server owns the index.
    let err = switchboard::search::cli::reindex(&settings, false)
        .await
        .expect_err("reindex must refuse while the server runs");
    assert!(err.to_string().contains("in use"), "{err:#}");
    s2.stop().await;

    let stats = switchboard::search::cli::reindex(&settings, false)
        .await
        .expect("reindex");
    assert_eq!(stats.conversations, 39);
    let ix = SearchIndex::open_existing(&dir.path().join("search")).expect("open");
    let after = ranked(&ix, account);
    assert_eq!(before, after, "reindex changed results");

    // The CLI searches the data dir's index and prints one JSON object on its last line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["search", "refund double charge", "--json"])
        .env("SWITCHBOARD_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.lines().last().expect("a line")).expect("json");
    let ids = external_ids(&v);
    assert!(ids.contains(&"conv-002".to_string()), "{v}");
    assert!(v["results"][0]["score"].as_f64().is_some(), "{v}");
    assert!(v["results"][0]["snippets"].is_array(), "{v}");

    // The server starts on the rebuilt index without rebuilding it again.
    let s3 = start(&settings).await;
    let r = s3
        .ctx
        .search
        .search(Some(account), "quokkafrost", &opts)
        .expect("search");
    assert_eq!(r.total, 1);
    s3.stop().await;
    drop_database(&settings.database_url).await;
}

/// Plants what a `kill -9` in the middle of a commit leaves behind: the commit's delete files
/// (`<segment>.<opstamp>.del`, written before `meta.json`) for every committed segment, at each
/// opstamp the next commits may use, as tantivy names them — plus a half-written segment.
/// Returns the planted file names.
fn plant_crash_leftovers(index_dir: &Path) -> Vec<String> {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(index_dir.join("meta.json")).expect("meta.json"))
            .expect("meta json");
    let opstamp = meta["opstamp"].as_u64().expect("opstamp");
    let mut planted = Vec::new();
    for seg in meta["segments"].as_array().expect("segments") {
        let id = seg["segment_id"]
            .as_str()
            .expect("segment id")
            .replace('-', "");
        for stamp in opstamp + 1..=opstamp + 300 {
            planted.push(format!("{id}.{stamp}.del"));
        }
    }
    planted.push(format!("{}.idx", Uuid::new_v4().simple()));
    for name in &planted {
        std::fs::write(index_dir.join(name), b"half-written").expect("plant");
    }
    planted
}

/// A `kill -9` while the indexer commits leaves orphan files. After a restart the indexer must
/// neither fail on them (`FileAlreadyExists` when its replayed commit reuses a name) nor stall:
/// its first pass succeeds, every change is searchable, and `/readyz` says so.
#[tokio::test]
async fn a_crash_during_a_commit_does_not_stall_the_index() {
    switchboard::install_crypto_provider();
    let dir = Arc::new(tempfile::tempdir().expect("tempdir"));
    let index_dir = dir.path().join("search");
    let mut settings = Settings {
        bind: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Settings::default()
    };
    if let Some(url) = fresh_database_url().await {
        settings.database_url = url;
    }
    let s1 = start(&settings).await;
    let acc = accounts::service::create_account(&s1.ctx.db, "Acme")
        .await
        .expect("account");
    inboxes::create(&s1.ctx.db, acc.id, "Website", &[])
        .await
        .expect("inbox");
    let account = import_eval(&s1.ctx).await;
    s1.stop().await;

    // A change while the server is down (its commit will delete from a committed segment),
    // and the crash's leftovers.
    let db = switchboard::db::connect(&settings).await.expect("db");
    add_message_while_down(&db, "conv-003", "Crashed mid-commit: wombatlantern").await;
    let planted = plant_crash_leftovers(&index_dir);

    let s2 = start(&settings).await;
    let mut status = s2.ctx.search.indexer_watch();
    let state = tokio::time::timeout(
        Duration::from_secs(60),
        status.wait_for(|s| s.passes > 0 || s.last_error.is_some()),
    )
    .await
    .expect("the indexer neither finished a pass nor failed")
    .expect("indexer status")
    .clone();
    assert_eq!(
        state.last_error, None,
        "the first pass after the crash failed"
    );
    let opts = SearchOptions::default();
    let r = s2
        .ctx
        .search
        .search(Some(account), "wombatlantern", &opts)
        .expect("search");
    assert_eq!(
        r.total, 1,
        "the change is not searchable after the first pass"
    );
    let meta = std::fs::read_to_string(index_dir.join("meta.json")).expect("meta.json");
    for name in &planted {
        let id = name.split('.').next().unwrap_or(name);
        assert!(
            !index_dir.join(name).exists() || meta.contains(id),
            "{name} left behind"
        );
    }
    let ready: Value = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/readyz", s2.port))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["indexer"]["ok"], true, "{ready}");
    assert!(ready["indexer"]["last_error"].is_null(), "{ready}");
    assert!(ready["indexer"]["lag_secs"].as_f64().is_some(), "{ready}");
    s2.stop().await;
    drop_database(&settings.database_url).await;
}
