//! `Application::build`: connect and migrate the database, load the signing key, start the hub
//! and the message writer, bind the HTTP server (port 0 works, for tests). `run_until_stopped`
//! serves until stopped, then closes sockets with "going away" and drains the writer.
use std::{net::TcpListener, path::Path, sync::Arc, time::Duration};

use actix_web::{App, HttpServer, dev::ServerHandle, web};
use anyhow::Context;
use tokio::sync::mpsc;

use crate::{
    auth::{Signer, tokens},
    config::Settings,
    context::AppContext,
    db,
    events::Events,
    messages, realtime,
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
    /// Owns the search index writer: stopped (releasing its lock) on shutdown.
    search_indexer: crate::search::IndexerHandle,
}

/// Loads the HMAC key: from settings, else from `<data_dir>/secret.key`, created on first start.
fn load_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if !settings.secret_key.is_empty() {
        return Ok(settings.secret_key.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("secret.key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim();
        if k.len() >= 32 {
            return Ok(k.as_bytes().to_vec());
        }
    }
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
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
    Ok(())
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let conn = db::connect(&settings)
            .await
            .context("connecting to the database")?;
        db::migrate(&conn).await.context("running migrations")?;
        let signer = Signer::new(&load_secret(&settings)?);

        let (hub_events_tx, hub_events_rx) = mpsc::channel(65_536);
        let (routing_tx, routing_rx) = mpsc::channel(65_536);
        let (search_tx, search_rx) = mpsc::channel(65_536);
        let (bot_tx, bot_rx) = mpsc::channel(65_536);
        let events = Events::new(vec![hub_events_tx, routing_tx, search_tx, bot_tx]);
        let search = crate::search::SearchIndex::open_or_create(&settings.data_dir.join("search"))
            .context("opening the search index")?;
        let (hub, hub_task) = realtime::hub::spawn(hub_events_rx);
        let (writer, writer_task) = messages::writer::spawn(
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
            limits: Arc::new(crate::web::limits::Limits::new(settings.rate_limits)),
            search,
            kb: crate::kb::KbIndexes::default(),
            llm: crate::llm::from_settings(&settings),
        };
        let routing_task = crate::routing::spawn(ctx.clone(), routing_rx);
        let bot_task = crate::bot::runner::spawn(ctx.clone(), bot_rx);

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let data = web::Data::new(ctx.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .configure(crate::web::routes)
        })
        .shutdown_timeout(5)
        // Sockets carry streams of small frames: without this, Nagle + delayed ACK hold them back.
        .tcp_nodelay(true)
        .disable_signals()
        .listen(listener)?
        .run();
        let search_indexer = crate::search::indexer::spawn(
            ctx.db.clone(),
            ctx.search.clone(),
            Some(crate::search::indexer::db_fingerprint(
                &settings.database_url(),
            )),
            search_rx,
        );
        Ok(Self {
            port,
            ctx,
            server,
            tasks: vec![hub_task, writer_task],
            routing: routing_task,
            bot: bot_task,
            search_indexer,
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
            ..
        } = self;
        let handle = server.handle();
        if signals {
            let stop = StopHandle {
                hub: ctx.hub.clone(),
                server: handle,
            };
            tokio::spawn(async move {
                shutdown_signal().await;
                tracing::info!("shutting down");
                stop.stop().await;
            });
        }
        server.await?;
        routing.abort();
        let _ = routing.await;
        bot.abort();
        let _ = bot.await;
        search_indexer.stop().await;
        ctx.hub.shutdown().await;
        // Dropping the last writer handle lets the writer finish its queue and stop.
        drop(ctx);
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        Ok(())
    }
}

/// Stops a running server gracefully: sockets are closed first with 1001 "going away" (clients
/// reconnect, with jittered backoff, to another node or to this one once restarted), then HTTP
/// stops accepting and in-flight requests finish.
#[derive(Clone)]
pub struct StopHandle {
    hub: crate::realtime::HubHandle,
    server: ServerHandle,
}

impl StopHandle {
    pub async fn stop(&self) {
        self.hub.shutdown().await;
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
