//! Two real server processes on one PostgreSQL database, linked by a real NATS (or Redis): a
//! customer on node A, agents on node B. Conversation both ways, typing, read state, presence
//! and routing across nodes, logout closing a socket on the other node; node A killed with
//! SIGKILL mid-conversation and the customer resuming on B; the bus cut off and restored;
//! two agents on two nodes claiming one conversation at once.
//!
//! Needs PostgreSQL (`TEST_DATABASE_URL`, default the local server), NATS (`TEST_NATS_URL`,
//! default nats://127.0.0.1:4222) and Redis (`TEST_REDIS_URL`, default redis://127.0.0.1:6379);
//! `.ci/run` starts them. Each test uses its own database and its own bus prefix.
use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use switchboard::{actor::Role, config::Settings, db};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::Mutex,
};
use uuid::Uuid;

use crate::helpers::*;

const SECRET: &str = "cluster-test-secret-0123456789abcdef0123456789";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn nats_url() -> String {
    env_or("TEST_NATS_URL", "nats://127.0.0.1:4222")
}

fn redis_url() -> String {
    env_or("TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// A fresh PostgreSQL database, migrated and seeded (admin, agent2, inbox).
struct Cluster {
    db_url: String,
    inbox_token: String,
    prefix: String,
}

impl Cluster {
    async fn new() -> Cluster {
        Self::seeded(false).await
    }

    /// With `bot`: the sample knowledge base imported and the first-line bot on in the inbox.
    async fn seeded(bot: bool) -> Cluster {
        switchboard::install_crypto_provider();
        let admin = env_or(
            "TEST_DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/postgres",
        );
        let db_url = testkit::pg::ScratchDb::create(&admin, "sb_test_")
            .await
            .expect("PostgreSQL is needed for the cluster tests (TEST_DATABASE_URL)")
            .url()
            .to_string();
        let settings = Settings {
            database_url: db_url.clone(),
            ..Settings::default()
        };
        let conn = db::connect(&settings).await.expect("connect");
        db::migrate(&conn).await.expect("migrate");
        let agents = [
            testkit::seed::NewAgent::new(ADMIN, "Ada Admin", Role::Admin),
            testkit::seed::NewAgent::new(AGENT2, "Bo Agent", Role::Agent),
        ];
        let seeded = testkit::seed::account(&conn, "Acme", &agents, PASSWORD, "Website")
            .await
            .expect("seed account");
        let (acc, inbox) = (seeded.account, seeded.inbox);
        if bot {
            use sea_orm::{ActiveModelTrait, ActiveValue::Set};
            let kb = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/eval/kb");
            switchboard::kb::import::import_dir(&conn, acc.id, &kb, false)
                .await
                .expect("import the knowledge base");
            let mut am: switchboard::db::entities::inbox::ActiveModel = inbox.clone().into();
            am.bot_enabled = Set(true);
            am.update(&conn).await.expect("bot on");
        }
        let _ = conn.close().await;
        Cluster {
            db_url,
            inbox_token: inbox.widget_token,
            prefix: format!("sbtest{}", Uuid::new_v4().simple()),
        }
    }

    async fn node(&self, bus_url: &str) -> Node {
        self.node_with(bus_url, &[]).await
    }

    async fn node_with(&self, bus_url: &str, env: &[(&str, &str)]) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("serve")
            .env("SWITCHBOARD_DATA_DIR", dir.path())
            .env("SWITCHBOARD_BIND", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD_DATABASE_URL", &self.db_url)
            .env("SWITCHBOARD_SECRET_KEY", SECRET)
            .env("SWITCHBOARD_BUS_URL", bus_url)
            .env("SWITCHBOARD_BUS_PREFIX", &self.prefix)
            .env("SWITCHBOARD_RATE_LIMITS", "false")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node");
        let node = Node {
            ep: Endpoint::new(&format!("http://127.0.0.1:{port}"), &self.inbox_token),
            child: Some(child),
            _dir: dir,
        };
        for _ in 0..300 {
            if let Ok(r) = node.ep.http.get(node.ep.url("/readyz")).send().await
                && r.status() == 200
            {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node at {} never became ready", node.ep.base);
    }

    async fn drop_db(self) {
        drop_database(&self.db_url).await;
    }
}

struct Node {
    ep: Endpoint,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Node {
    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            let _ = c.wait();
        }
    }
}

impl Node {
    /// SIGTERM, as a service manager or a rolling deploy stops a node.
    fn sigterm(&self) {
        let pid = self.child.as_ref().map(|c| c.id()).expect("running");
        let ok = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(ok.success());
    }

    /// Waits for the process to exit by itself; its exit status.
    async fn exited(&mut self, within: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                self.child = None;
                return st;
            }
            assert!(
                start.elapsed() < within,
                "the node did not exit within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.sigkill();
    }
}

impl std::ops::Deref for Node {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.ep
    }
}

/// Polls `check` until it holds (cross-node state converges asynchronously).
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {within:?}");
}

async fn agent_status(node: &Endpoint, bearer: &str, email: &str) -> String {
    let v: Value = node
        .http
        .get(node.url("/api/v1/agents"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("agents")
        .json()
        .await
        .expect("json");
    v["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["email"] == email)
        .and_then(|a| a["status"].as_str())
        .unwrap_or("missing")
        .to_string()
}

async fn conversation(node: &Endpoint, bearer: &str, id: Uuid) -> Value {
    let v: Value = node
        .http
        .get(node.url(&format!("/api/v1/conversations/{id}")))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("conversation")
        .json()
        .await
        .expect("json");
    v["conversation"].clone()
}

/// A socket and every message frame it has received so far, in arrival order (messages that
/// arrive while the test waits for another frame are kept, not skipped).
struct Peer {
    ws: Ws,
    msgs: Vec<Value>,
}

impl Peer {
    fn new(ws: Ws) -> Peer {
        Peer {
            ws,
            msgs: Vec::new(),
        }
    }

    /// Next frame of type `ty` within `within`.
    async fn frame_of(&mut self, ty: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ws.frame_within(left).await {
                Some(f) if f["type"] == ty => return f,
                Some(f) if f["type"] == "message" => self.msgs.push(f),
                Some(_) => {}
                None => panic!("no {ty} frame within {within:?}"),
            }
        }
    }

    /// Waits until `total` messages of `conv` have arrived.
    async fn wait_messages(&mut self, conv: Uuid, total: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.seqs(conv).len() < total {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ws.frame_within(left).await {
                Some(f) if f["type"] == "message" => self.msgs.push(f),
                Some(_) => {}
                None => panic!(
                    "only {:?} of {total} messages within {within:?}",
                    self.seqs(conv)
                ),
            }
        }
    }

    /// Subscribes to `conv` after `after_seq` and records the replay.
    async fn subscribe(&mut self, conv: Uuid, after_seq: i64) {
        self.ws
            .send(json!({"type": "subscribe", "conversation_id": conv, "after_seq": after_seq}))
            .await;
        self.frame_of("replay_done", TIMEOUT).await;
    }

    fn seqs(&self, conv: Uuid) -> Vec<i64> {
        let conv = conv.to_string();
        self.msgs
            .iter()
            .filter(|m| m["conversation_id"] == conv.as_str())
            .filter_map(|m| m["seq"].as_i64())
            .collect()
    }

    /// Reads until the socket closes (the node died), keeping messages and acks.
    async fn drain_until_closed(&mut self, acked: &mut HashMap<String, i64>) {
        while let Some(f) = self.ws.frame_within(TIMEOUT).await {
            match f["type"].as_str() {
                Some("ack") => record_ack(acked, &f),
                Some("message") => self.msgs.push(f),
                _ => {}
            }
        }
    }
}

fn record_ack(acked: &mut HashMap<String, i64>, f: &Value) {
    if let (Some(id), Some(seq)) = (f["client_msg_id"].as_str(), f["seq"].as_i64()) {
        acked.insert(id.to_string(), seq);
    }
}

/// The two-node story, on NATS or Redis.
async fn two_node_story(bus_url: &str) {
    let cluster = Cluster::new().await;
    let mut a = cluster.node(bus_url).await;
    let b = cluster.node(bus_url).await;

    // Agents on node B; node A sees them online (presence is cluster-wide).
    let admin = b.login(ADMIN).await;
    let mut agent = Peer::new(b.agent_ws(&admin).await);
    let bo = b.login(AGENT2).await;
    let mut bo_ws = b.agent_ws(&bo).await;
    eventually(
        "node A sees the agent on node B online",
        TIMEOUT,
        || async { agent_status(&a, &admin.session, ADMIN).await == "online" },
    )
    .await;

    // Logging Bo out through node A closes his socket on node B.
    let r = a
        .http
        .post(a.url("/api/v1/auth/logout"))
        .bearer_auth(&bo.session)
        .send()
        .await
        .expect("logout");
    assert!(r.status().is_success(), "logout: {}", r.status());
    let (close, _) = tokio::time::timeout(TIMEOUT, bo_ws.until_closed())
        .await
        .expect("Bo's socket on node B closes after his logout on node A");
    assert_eq!(close.map(|c| u16::from(c.code)), Some(4003));

    // A customer on node A; the agent on B sees the message live, and routing on A assigns
    // the conversation to the agent who is online on B.
    let c = a.customer().await;
    let conv = c.conversation_id;
    let (ws, replayed) = a.customer_resume(&c, 0).await;
    assert!(replayed.is_empty());
    let mut cust = Peer::new(ws);
    cust.ws
        .send(json!({"type": "send", "client_msg_id": "c-1", "body": "Hello from node A"}))
        .await;
    let ack = cust.frame_of("ack", TIMEOUT).await;
    assert_eq!(ack["seq"], 1);
    agent.wait_messages(conv, 1, TIMEOUT).await;
    assert_eq!(agent.msgs[0]["body"], "Hello from node A");
    let admin_id = me(&b, &admin.session).await.to_string();
    eventually(
        "assigned to the agent online on node B",
        TIMEOUT,
        || async {
            conversation(&b, &admin.session, conv).await["assignee_id"] == admin_id.as_str()
        },
    )
    .await;

    // The agent opens the conversation on B; typing crosses nodes both ways.
    agent.subscribe(conv, 1).await;
    agent
        .ws
        .send(json!({"type": "typing", "conversation_id": conv, "typing": true}))
        .await;
    let t = cust.frame_of("typing", TIMEOUT).await;
    assert_eq!(
        (t["sender_type"].as_str(), t["typing"].as_bool()),
        (Some("agent"), Some(true))
    );
    cust.ws
        .send(json!({"type": "typing", "typing": true}))
        .await;
    let t = agent.frame_of("typing", TIMEOUT).await;
    assert_eq!(t["sender_type"], "customer");

    // The agent answers from B; the customer on A gets it and reads it; the agent sees that.
    agent
        .ws
        .send(json!({"type": "send", "conversation_id": conv,
                     "client_msg_id": "a-1", "body": "Hi, agent on node B here"}))
        .await;
    cust.wait_messages(conv, 2, TIMEOUT).await;
    assert_eq!(cust.msgs[1]["body"], "Hi, agent on node B here");
    cust.ws.send(json!({"type": "read", "seq": 2})).await;
    let read = agent.frame_of("read", TIMEOUT).await;
    assert_eq!(
        (read["reader_type"].as_str(), read["seq"].as_i64()),
        (Some("customer"), Some(2))
    );

    // A burst from the customer; node A is killed in the middle of it.
    for i in 0..40 {
        cust.ws
            .send(
                json!({"type": "send", "client_msg_id": format!("burst-{i}"),
                         "body": format!("burst {i}")}),
            )
            .await;
    }
    let mut acked: HashMap<String, i64> = HashMap::new();
    while acked.len() < 5 {
        let f = cust.frame_of("ack", TIMEOUT).await;
        record_ack(&mut acked, &f);
    }
    a.sigkill();
    cust.drain_until_closed(&mut acked).await;

    // The customer reconnects to node B and resumes after the last seq it saw.
    let last_seen = cust.seqs(conv).last().copied().unwrap_or(0);
    let (ws, replayed) = b.customer_resume(&c, last_seen).await;
    let mut resumed = Peer::new(ws);
    resumed.msgs = cust.msgs.clone();
    resumed.msgs.extend(replayed);
    let history = b.history(&c.token, conv).await;
    let n = history.len() as i64;
    assert!(n >= 2 + 5, "at least the acked messages are stored: {n}");
    assert_eq!(
        resumed.seqs(conv),
        (1..=n).collect::<Vec<_>>(),
        "the customer saw every stored message once, in order, across the two nodes"
    );
    let by_id: HashMap<&str, i64> = history
        .iter()
        .filter_map(|m| Some((m["client_msg_id"].as_str()?, m["seq"].as_i64()?)))
        .collect();
    for (id, seq) in &acked {
        assert_eq!(
            by_id.get(id.as_str()),
            Some(seq),
            "acked {id}: stored once, same seq"
        );
    }

    // The customer goes on through B; the agent on B has every message once, in order.
    resumed
        .ws
        .send(json!({"type": "send", "client_msg_id": "after-1", "body": "still here"}))
        .await;
    let ack = resumed.frame_of("ack", TIMEOUT).await;
    assert_eq!(ack["seq"].as_i64(), Some(n + 1));
    agent.wait_messages(conv, (n + 1) as usize, TIMEOUT).await;
    assert_eq!(agent.seqs(conv), (1..=n + 1).collect::<Vec<_>>());
    drop(b);
    cluster.drop_db().await;
}

#[tokio::test]
async fn two_nodes_on_nats() {
    two_node_story(&nats_url()).await;
}

#[tokio::test]
async fn two_nodes_on_redis() {
    two_node_story(&redis_url()).await;
}

/// A TCP relay in front of the bus that the test can cut (existing links closed, new ones
/// refused) and restore: a node losing its bus for a while.
struct Cuttable {
    port: u16,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Cuttable {
    async fn start(target: String) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the node sees the bus refuse it
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                links2.lock().await.push(link);
            }
        });
        Cuttable { port, up, links }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for l in self.links.lock().await.drain(..) {
            l.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn bus_outage_then_everyone_converges() {
    let cluster = Cluster::new().await;
    let nats = nats_url();
    let relay = Cuttable::start(nats.trim_start_matches("nats://").to_string()).await;
    let a = cluster
        .node(&format!("nats://127.0.0.1:{}", relay.port))
        .await;
    let b = cluster.node(&nats).await;

    let admin = b.login(ADMIN).await;
    let mut agent = Peer::new(b.agent_ws(&admin).await);
    let c = a.customer().await;
    let conv = c.conversation_id;
    let mut cust = Peer::new(a.customer_resume(&c, 0).await.0);
    cust.ws
        .send(json!({"type": "send", "client_msg_id": "before", "body": "before the outage"}))
        .await;
    cust.frame_of("ack", TIMEOUT).await;
    agent.wait_messages(conv, 1, TIMEOUT).await;
    agent.subscribe(conv, 1).await;

    // Node A loses the bus (its readiness says so, but it stays ready). Both sides keep
    // writing: everything is stored and acked.
    assert_eq!(bus_state(&a).await, "connected");
    relay.cut().await;
    eventually("A reports the bus down", TIMEOUT, || async {
        bus_state(&a).await == "down"
    })
    .await;
    for i in 0..3 {
        cust.ws
            .send(json!({"type": "send", "client_msg_id": format!("cut-c{i}"),
                         "body": format!("customer during outage {i}")}))
            .await;
        let ack = cust.frame_of("ack", TIMEOUT).await;
        assert_eq!(ack["duplicate"], false);
    }
    for i in 0..2 {
        let r = b
            .post_message(
                &admin.session,
                conv,
                &format!("cut-a{i}"),
                &format!("agent during outage {i}"),
                false,
            )
            .await;
        assert_eq!(r.status(), 201, "stored while the bus is down");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let caught_up = passes(&a, "cluster_catch_up").await;
    relay.restore();
    eventually(
        "A reports the bus back",
        Duration::from_secs(20),
        || async { bus_state(&a).await == "connected" },
    )
    .await;

    // Once the bus is back, both clients converge: every message once, in seq order.
    let within = Duration::from_secs(20);
    cust.wait_messages(conv, 6, within).await;
    agent.wait_messages(conv, 6, within).await;
    let all: Vec<i64> = (1..=6).collect();
    assert_eq!(cust.seqs(conv), all, "the customer on A");
    assert_eq!(agent.seqs(conv), all, "the agent on B");
    assert_eq!(seqs(&b.history(&admin.session, conv).await), all);
    // Nothing more trickles in later (no duplicate from the catch-up).
    eventually("A's catch-up after the outage", within, || async {
        passes(&a, "cluster_catch_up").await > caught_up
    })
    .await;
    cust.ws.assert_no_message(Duration::from_millis(300)).await;
    agent.ws.assert_no_message(Duration::from_millis(300)).await;
    drop((a, b));
    cluster.drop_db().await;
}

#[tokio::test]
async fn races_across_two_nodes_have_one_winner() {
    let cluster = Cluster::new().await;
    let nats = nats_url();
    let a = cluster.node(&nats).await;
    let b = cluster.node(&nats).await;
    let ada = a.login(ADMIN).await;
    let bo = b.login(AGENT2).await;
    for round in 0..8 {
        let c = a.customer().await;
        let claim = |node: &Node, bearer: String, me: Uuid| {
            let req = node
                .http
                .post(node.url(&format!(
                    "/api/v1/conversations/{}/assign",
                    c.conversation_id
                )))
                .bearer_auth(bearer)
                .json(&json!({"agent_id": me, "only_if_unassigned": true}));
            async move { req.send().await.expect("claim") }
        };
        let ada_id = me(&a, &ada.session).await;
        let bo_id = me(&b, &bo.session).await;
        let (ra, rb) = tokio::join!(
            claim(&a, ada.session.clone(), ada_id),
            claim(&b, bo.session.clone(), bo_id)
        );
        let mut codes = vec![ra.status().as_u16(), rb.status().as_u16()];
        codes.sort_unstable();
        assert_eq!(
            codes,
            vec![200, 409],
            "round {round}: one winner, one conflict"
        );
        let winner = if ra.status() == 200 { ada_id } else { bo_id };
        let conv = conversation(&b, &bo.session, c.conversation_id).await;
        assert_eq!(conv["assignee_id"], winner.to_string(), "round {round}");
        let conv = conversation(&a, &ada.session, c.conversation_id).await;
        assert_eq!(conv["assignee_id"], winner.to_string(), "round {round}");
    }

    // One message retried many times in parallel through both nodes is stored once.
    let c = a.customer().await;
    let sends = (0..16).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.post_message(
            &c.token,
            c.conversation_id,
            "same-id",
            "sent everywhere",
            false,
        )
    });
    let replies = futures_util::future::join_all(sends).await;
    let mut ids = Vec::new();
    for r in replies {
        assert!(r.status() == 201 || r.status() == 200, "{}", r.status());
        let v: Value = r.json().await.expect("json");
        let m = if v["message"].is_object() {
            &v["message"]
        } else {
            &v
        };
        ids.push((
            m["id"].as_str().unwrap_or("").to_string(),
            m["seq"].as_i64(),
        ));
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same message: {ids:?}");
    assert_eq!(seqs(&a.history(&c.token, c.conversation_id).await), vec![1]);
    drop((a, b));
    cluster.drop_db().await;
}

async fn me(node: &Endpoint, bearer: &str) -> Uuid {
    let v: Value = node
        .http
        .get(node.url("/api/v1/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    v["agent_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("my id")
}

#[tokio::test]
async fn sigterm_drains_a_node_and_its_clients_resume_on_the_other() {
    let cluster = Cluster::new().await;
    let nats = nats_url();
    let mut a = cluster
        .node_with(&nats, &[("SWITCHBOARD_DRAIN_GRACE_SECS", "1")])
        .await;
    let b = cluster.node(&nats).await;
    let admin = b.login(ADMIN).await;
    let mut agent = Peer::new(b.agent_ws(&admin).await);
    let bo = a.login(AGENT2).await;
    let _bo_ws = a.agent_ws(&bo).await;
    eventually("B sees Bo (on A) online", TIMEOUT, || async {
        agent_status(&b, &admin.session, AGENT2).await == "online"
    })
    .await;

    let c = a.customer().await;
    let conv = c.conversation_id;
    let mut cust = Peer::new(a.customer_resume(&c, 0).await.0);
    let total = 30;
    for i in 0..total {
        cust.ws
            .send(json!({"type": "send", "client_msg_id": format!("m-{i}"), "body": format!("m {i}")}))
            .await;
    }
    let mut acked: HashMap<String, i64> = HashMap::new();
    let f = cust.frame_of("ack", TIMEOUT).await;
    record_ack(&mut acked, &f);
    a.sigterm();
    // Draining: the load balancer's readiness probe fails first, sockets are still open.
    eventually(
        "readyz answers 503 while draining",
        Duration::from_millis(900),
        || async {
            let r = a.http.get(a.url("/readyz")).send().await.expect("readyz");
            r.status() == 503
        },
    )
    .await;
    // Then sockets close with 1012 "service restart" after in-flight sends were acked.
    let close = loop {
        match tokio::time::timeout(TIMEOUT, cust.ws.next())
            .await
            .expect("close in time")
        {
            Next::Frame(f) if f["type"] == "ack" => record_ack(&mut acked, &f),
            Next::Frame(f) if f["type"] == "message" => cust.msgs.push(f),
            Next::Frame(_) => {}
            Next::Closed(c) => break c,
        }
    };
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1012));
    let status = a.exited(Duration::from_secs(15)).await;
    assert!(status.success(), "a drained node exits cleanly: {status:?}");
    // Bo's presence leaves with the node at once, not at the heartbeat timeout.
    eventually(
        "Bo offline on B after A drained",
        Duration::from_secs(4),
        || async { agent_status(&b, &admin.session, AGENT2).await == "offline" },
    )
    .await;

    // The customer reconnects to B, resumes, and re-sends what was never acked.
    let last = cust.seqs(conv).last().copied().unwrap_or(0);
    let (ws, replayed) = b.customer_resume(&c, last).await;
    let mut resumed = Peer::new(ws);
    resumed.msgs = cust.msgs.clone();
    resumed.msgs.extend(replayed);
    for i in 0..total {
        let id = format!("m-{i}");
        if !acked.contains_key(&id) {
            resumed
                .ws
                .send(json!({"type": "send", "client_msg_id": id, "body": format!("m {i}")}))
                .await;
            let f = resumed.frame_of("ack", TIMEOUT).await;
            record_ack(&mut acked, &f);
        }
    }
    resumed.wait_messages(conv, total, TIMEOUT).await;
    let all: Vec<i64> = (1..=total as i64).collect();
    assert_eq!(
        resumed.seqs(conv),
        all,
        "the customer: every message once, in order"
    );
    let history = b.history(&c.token, conv).await;
    assert_eq!(seqs(&history), all);
    for (id, seq) in &acked {
        let stored: Vec<&Value> = history
            .iter()
            .filter(|m| m["client_msg_id"] == id.as_str())
            .collect();
        assert_eq!(stored.len(), 1, "{id} stored once");
        assert_eq!(
            stored[0]["seq"].as_i64(),
            Some(*seq),
            "{id} kept the seq it was acked with"
        );
    }
    agent.wait_messages(conv, total, TIMEOUT).await;
    assert_eq!(
        agent.seqs(conv),
        all,
        "the agent on B: every message once, in order"
    );
    drop(b);
    cluster.drop_db().await;
}

#[tokio::test]
async fn the_bot_answers_once_with_two_nodes_even_when_the_model_is_slow() {
    // The model takes 7 s: node B's catch-up pass (every 5 s, for customers waiting > 3 s)
    // sees the customer still waiting while node A is on it, and must not call the model too.
    let llm = crate::fake_llm::FakeLlm::start().await;
    llm.respond_with(|req| {
        if req.get("response_format").is_some() {
            let decision = json!({
                "action": "answer",
                "reason": "",
                "answer": "Annual plans can be refunded within 14 days.",
                "cited_article_ids": ["kb-07"]
            });
            crate::fake_llm::Reply::SlowFirstToken(Duration::from_secs(7), decision.to_string())
        } else {
            crate::fake_llm::Reply::Text("ok".into())
        }
    });
    let cluster = Cluster::seeded(true).await;
    let nats = nats_url();
    let base = llm.base_url();
    let env = [
        ("SWITCHBOARD_LLM_BASE_URL", base.as_str()),
        ("SWITCHBOARD_LLM_API_KEY", crate::fake_llm::FakeLlm::API_KEY),
        ("SWITCHBOARD_LLM_MAX_RETRIES", "0"),
    ];
    let a = cluster.node_with(&nats, &env).await;
    let b = cluster.node_with(&nats, &env).await;
    let admin = b.login(ADMIN).await;
    let c = a.customer().await;
    let r = a
        .post_message(
            &c.token,
            c.conversation_id,
            "q1",
            "yearly plan: how long to change my mind and get a refund?",
            false,
        )
        .await;
    assert_eq!(r.status(), 201);
    let bot_replies = |h: &[Value]| {
        h.iter()
            .filter(|m| m["sender_type"] == "bot" && m["private"] == false)
            .count()
    };
    eventually("the bot's answer", Duration::from_secs(25), || async {
        bot_replies(&b.history(&admin.session, c.conversation_id).await) >= 1
    })
    .await;
    // A whole catch-up pass on both nodes after it: still one answer, and one model call.
    tokio::join!(next_pass(&a, "bot_catch_up"), next_pass(&b, "bot_catch_up"));
    let h = b.history(&admin.session, c.conversation_id).await;
    assert_eq!(bot_replies(&h), 1, "{h:#?}");
    let decisions = llm
        .requests()
        .iter()
        .filter(|r| r.get("response_format").is_some())
        .count();
    assert_eq!(
        decisions, 1,
        "one model call for one customer message across two nodes"
    );
    drop((a, b));
    cluster.drop_db().await;
}

/// Completed passes of one of a node's background loops (`/readyz` `passes`).
async fn passes(node: &Endpoint, which: &str) -> u64 {
    let r = node
        .http
        .get(node.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let v: Value = r.json().await.expect("json");
    v["passes"][which]
        .as_u64()
        .unwrap_or_else(|| panic!("/readyz has no passes.{which}: {v}"))
}

/// Returns once `node` has run a whole pass of `which` that started after the call.
async fn next_pass(node: &Endpoint, which: &str) {
    let start = passes(node, which).await;
    eventually(
        &format!("a complete {which} pass"),
        Duration::from_secs(30),
        || async { passes(node, which).await >= start + 2 },
    )
    .await;
}

/// The bus state `/readyz` reports (the node stays ready: 200).
async fn bus_state(node: &Endpoint) -> String {
    let r = node
        .http
        .get(node.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["bus"].as_str().unwrap_or("missing").to_string()
}

#[tokio::test]
async fn a_node_without_the_indexer_role_sends_searches_elsewhere() {
    let app = spawn_app_with(|s| s.roles = vec!["web".into()]).await;
    let admin = app.login(ADMIN).await;
    let r = app
        .http
        .get(app.url("/api/v1/search?q=refund"))
        .bearer_auth(&admin.session)
        .send()
        .await
        .expect("search");
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["code"], "unavailable", "{v}");
    // Everything else works on it.
    let c = app.customer().await;
    let r = app
        .post_message(&c.token, c.conversation_id, "r1", "hello", false)
        .await;
    assert_eq!(r.status(), 201);
    app.stop().await;
}
