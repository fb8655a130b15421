//! `Application::build`: connect and migrate the database, load the signing key, start the hub
//! and the message writer, bind the HTTP server (port 0 works, for tests). `run_until_stopped`
//! serves until stopped, then closes sockets with "going away" and drains the writer, in a bounded
//! time (`web::server::HTTP_SHUTDOWN_SECS` + `AFTER_HTTP` + `BUS_FLUSH`, docs/deployment.md).
use std::{net::TcpListener, path::Path, sync::Arc, time::Duration};

use actix_web::dev::ServerHandle;
use anyhow::Context;
use tokio::sync::mpsc;

use crate::{
    auth::{Signer, tokens},
    config::Settings,
    context::AppContext,
    db,
    events::Events,
    realtime,
};

pub struct Application {
    port: u16,
    ctx: AppContext,
    server: actix_web::dev::Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Holds a context (and so the writer) open: stopped first on shutdown.
    routing: tokio::task::JoinHandle<()>,
    /// The first-line bot (holds a context): stopped with routing.
    bot: tokio::task::JoinHandle<()>,
    /// Owns the search index writer: stopped (releasing its lock) on shutdown. None on a node
    /// without the `indexer` role.
    search_indexer: Option<crate::search::IndexerHandle>,
    /// The bus tasks (publisher, receiver) and this node's notice receiver task.
    bus: Option<BusTasks>,
}

struct BusTasks {
    publisher: tokio::task::JoinHandle<()>,
    receiver: tokio::task::JoinHandle<()>,
    cluster: tokio::task::JoinHandle<()>,
}

/// Loads the HMAC key: from settings, else from `<data_dir>/secret.key`, created on first start.
fn load_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if !settings.secret_key.is_empty() {
        return Ok(settings.secret_key.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("secret.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim();
        if k.len() >= crate::config::MIN_SECRET_KEY_BYTES {
            db::private::tighten(&path, 0o600)
                .with_context(|| format!("making {} private", path.display()))?;
            return Ok(k.as_bytes().to_vec());
        }
    }
    let key = tokens::random_hex(32)?;
    write_private(&path, &key)?;
    Ok(key.into_bytes())
}

fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    // `mode` applies only when the file is created: an older, readable one is tightened.
    db::private::tighten(path, 0o600)?;
    Ok(())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid settings: {e}"))?;
        let settings = Arc::new(settings);
        // Before anything writes into it: the database, the key and the index are private.
        db::private::dir(&settings.data_dir)
            .with_context(|| format!("creating {}", settings.data_dir.display()))?;
        let conn = db::connect(&settings)
            .await
            .context("connecting to the database")?;
        db::migrate(&conn).await.context("running migrations")?;
        let signer = Signer::new(&load_secret(&settings)?);

        let (hub_events_tx, hub_events_rx) = mpsc::channel(65_536);
        let (routing_tx, routing_rx) = mpsc::channel(65_536);
        let (search_tx, search_rx) = mpsc::channel(65_536);
        let (bot_tx, bot_rx) = mpsc::channel(65_536);
        let events = Events::new(vec![hub_events_tx, routing_tx, search_tx.clone(), bot_tx]);
        let search_dir = settings.data_dir.join("search");
        db::private::dir(&search_dir)
            .with_context(|| format!("creating {}", search_dir.display()))?;
        let search = crate::search::SearchIndex::open_or_create(&search_dir)
            .context("opening the search index")?;
        let bus = if settings.bus_url.trim().is_empty() {
            None
        } else {
            let bus = realtime::bus::Bus::connect(settings.bus_url.trim(), &settings.bus_prefix)
                .await
                .context("starting the cluster bus")?;
            Some(bus.into_parts())
        };
        let (hub, hub_task) =
            realtime::hub::spawn(hub_events_rx, bus.as_ref().map(|(tx, _, _)| tx.clone()));
        let (writer, writer_task) = crate::writer::spawn(
            conn.clone(),
            events.clone(),
            settings.group_commit_max_batch,
        );
        let ctx = AppContext {
            db: conn,
            settings: settings.clone(),
            signer,
            events,
            hub,
            writer,
            limits: Arc::new(crate::limits::Limits::new(&settings).map_err(anyhow::Error::msg)?),
            search,
            kb: crate::kb::KbIndexes::default(),
            draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            bus_up: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            passes: crate::passes::BackgroundPasses::default(),
            llm: crate::llm::from_settings(&settings),
            embedder: {
                let s = settings.clone();
                tokio::task::spawn_blocking(move || crate::embed::Embedder::from_settings(&s))
                    .await
                    .ok()
                    .flatten()
            },
        };
        let indexer_role = settings.has_role("indexer");
        let bus = bus.map(|(_, rx, (publisher, receiver))| BusTasks {
            publisher,
            receiver,
            cluster: crate::cluster::spawn(ctx.clone(), rx, indexer_role.then_some(search_tx)),
        });
        let routing_task = crate::routing::spawn(ctx.clone(), routing_rx);
        let bot_task = crate::bot::runner::spawn(ctx.clone(), bot_rx);

        let listener = listen(&settings.bind, settings.http_backlog)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let server = crate::web::server::start(listener, &ctx)?;
        let search_indexer = indexer_role.then(|| {
            crate::search::indexer::spawn(
                ctx.db.clone(),
                ctx.search.clone(),
                Some(crate::search::indexer::db_fingerprint(
                    &settings.database_url(),
                )),
                search_rx,
            )
        });
        Ok(Self {
            port,
            ctx,
            server,
            tasks: vec![hub_task, writer_task],
            routing: routing_task,
            bot: bot_task,
            search_indexer,
            bus,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &AppContext {
        &self.ctx
    }

    pub fn base_url(&self) -> String {
        self.ctx.settings.public_base(self.port)
    }

    pub fn handle(&self) -> StopHandle {
        StopHandle {
            hub: self.ctx.hub.clone(),
            server: self.server.handle(),
            draining: self.ctx.draining.clone(),
            grace: Duration::ZERO,
        }
    }

    /// Serves until `handle().stop(..)` (or Ctrl-C / SIGTERM when `signals` is true).
    pub async fn run_until_stopped(self, signals: bool) -> anyhow::Result<()> {
        let Application {
            ctx,
            server,
            tasks,
            routing,
            bot,
            search_indexer,
            bus,
            ..
        } = self;
        let handle = server.handle();
        if signals {
            let stop = StopHandle {
                hub: ctx.hub.clone(),
                server: handle,
                draining: ctx.draining.clone(),
                grace: ctx.settings.drain_grace(),
            };
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("draining: closing sockets, finishing in-flight requests");
                stop.drain().await;
            });
        }
        server.await?;
        // HTTP is done (in-flight requests finished or were cut at `web::server::HTTP_SHUTDOWN_SECS`); the rest
        // gets one shared deadline, so the exit time has a bound whatever is stuck.
        let deadline = tokio::time::Instant::now() + AFTER_HTTP;
        routing.abort();
        let _ = routing.await;
        bot.abort();
        let _ = bot.await;
        if let Some(indexer) = search_indexer
            && tokio::time::timeout_at(deadline, indexer.stop())
                .await
                .is_err()
        {
            // The index follows the database and catches up at the next start.
            tracing::warn!("search indexer still busy at shutdown; leaving it");
        }
        let publisher = bus.map(|b| {
            b.cluster.abort();
            b.receiver.abort();
            b.publisher
        });
        // Dropping the last writer handle lets the writer finish its queue and stop; the hub
        // still runs meanwhile, so the events of those last writes reach the other nodes.
        let hub = ctx.hub.clone();
        drop(ctx);
        let mut tasks = tasks.into_iter();
        let hub_task = tasks.next();
        for mut t in tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                // A context clone outlived the server (or a write is stuck): nothing acked is
                // lost by stopping here, and an unacked send is re-sent by its client.
                tracing::warn!("message writer still busy at shutdown; stopping it");
                t.abort();
            }
        }
        hub.shutdown().await;
        drop(hub);
        if let Some(t) = hub_task {
            let _ = tokio::time::timeout_at(deadline, t).await;
        }
        // The hub is gone (it queued `Leaving`): the publisher sends what is queued and ends.
        if let Some(p) = publisher {
            let _ = tokio::time::timeout_at(deadline + BUS_FLUSH, p).await;
        }
        Ok(())
    }
}

/// After HTTP has stopped: the writer's last batch, the search indexer's last commit, the hub.
const AFTER_HTTP: Duration = Duration::from_secs(2);
/// And the bus publisher's last notices (the others learn this node left).
const BUS_FLUSH: Duration = Duration::from_secs(1);

/// Stops a running server gracefully: sockets are closed first with 1001 "going away" (clients
/// reconnect, with jittered backoff, to another node or to this one once restarted), then HTTP
/// stops accepting and in-flight requests finish.
#[derive(Clone)]
pub struct StopHandle {
    hub: crate::realtime::HubHandle,
    server: ServerHandle,
    draining: Arc<std::sync::atomic::AtomicBool>,
    grace: Duration,
}

impl StopHandle {
    pub async fn stop(&self) {
        self.hub.shutdown().await;
        self.server.stop(true).await;
    }

    /// SIGTERM: `/readyz` turns 503 (the load balancer stops sending clients here), after the
    /// grace period sockets close with 1012 "service restart" (clients reconnect, jittered, to
    /// another node and resume), HTTP stops accepting and in-flight requests and writes finish.
    pub async fn drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if !self.grace.is_zero() {
            tokio::time::sleep(self.grace).await;
        }
        self.hub
            .close_all(crate::realtime::hub::CloseReason {
                code: crate::realtime::protocol::close::SERVICE_RESTART,
                reason: "service restart",
            })
            .await;
        self.server.stop(true).await;
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A listening socket with room for `backlog` pending connections (`TcpListener::bind` in std
/// always asks for 128; actix's `backlog()` only applies to addresses it binds itself). Like
/// std, it tries each address the name resolves to.
fn listen(addr: &str, backlog: u32) -> anyhow::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        let bound = (|| -> std::io::Result<TcpListener> {
            let socket = socket2::Socket::new(
                socket2::Domain::for_address(addr),
                socket2::Type::STREAM,
                Some(socket2::Protocol::TCP),
            )?;
            // As std does: a restarted server binds while old connections sit in TIME_WAIT.
            #[cfg(unix)]
            socket.set_reuse_address(true)?;
            socket.bind(&addr.into())?;
            socket.listen(backlog.clamp(1, i32::MAX as u32) as i32)?;
            Ok(socket.into())
        })();
        match bound {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || anyhow::anyhow!("the address resolves to nothing"),
        anyhow::Error::from,
    ))
}
