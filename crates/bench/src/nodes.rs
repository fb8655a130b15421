//! Server nodes the cluster benches start in this process. Each extra node gets its own Tokio
//! runtime (default size, like the runtime of a `serve` process) and its own actix workers, so
//! on this machine it competes for the cores exactly as a second process would; being in one
//! process only lets the bench read every node's CPU time per thread group.
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;

use switchboard::{auth::tokens, config::Settings, startup::Application};

/// What links the nodes of one bench cluster: the bus, a prefix no other cluster uses, and the
/// shared signing key (a token minted by one node is valid on the others).
#[derive(Clone)]
pub struct ClusterLink {
    pub bus_url: String,
    pub prefix: String,
    pub secret: String,
}

impl ClusterLink {
    pub fn new(bus_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            bus_url: bus_url.to_string(),
            prefix: format!("sbbench{}", tokens::random_hex(6)?),
            secret: tokens::random_hex(32)?,
        })
    }

    pub fn apply(&self, settings: &mut Settings) {
        settings.bus_url = self.bus_url.clone();
        settings.bus_prefix = self.prefix.clone();
        settings.secret_key = self.secret.clone();
    }
}

/// `nats` / `redis` → the bus URL: `--bus-url` if given (it must match), else the local default.
pub fn bus_url(kind: &str, given: Option<&str>) -> anyhow::Result<String> {
    let default = match kind {
        "nats" => "nats://127.0.0.1:4222",
        "redis" => "redis://127.0.0.1:6379",
        other => anyhow::bail!("unknown bus {other:?} (nats or redis)"),
    };
    match given {
        None => Ok(default.to_string()),
        Some(u) if u.starts_with(&format!("{kind}://")) => Ok(u.to_string()),
        Some(u) => anyhow::bail!(
            "--bus {kind} needs a {kind}:// URL, not {}",
            switchboard::config::redact_url(u)
        ),
    }
}

/// A server running on its own runtime in this process.
pub struct Node {
    pub port: u16,
    handle: switchboard::startup::StopHandle,
    join: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Node {
    /// Builds the server of `settings` (database migrated, bus joined) on a new runtime whose
    /// threads are called `name`, and starts serving.
    pub async fn start(settings: Settings, name: &str) -> anyhow::Result<Node> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .thread_name(name)
            .enable_all()
            .build()
            .with_context(|| format!("starting the runtime of {name}"))?;
        let (tx, rx) = oneshot::channel();
        let join = rt.spawn(async move {
            let app = match Application::build(settings).await {
                Ok(app) => app,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return Ok(());
                }
            };
            let _ = tx.send(Ok((app.port(), app.handle())));
            app.run_until_stopped(false).await
        });
        match rx.await {
            Ok(Ok((port, handle))) => Ok(Node {
                port,
                handle,
                join: Some(join),
                rt: Some(rt),
            }),
            Ok(Err(e)) => {
                rt.shutdown_background();
                Err(e.context(format!("building {name}")))
            }
            Err(_) => {
                rt.shutdown_background();
                anyhow::bail!("{name} stopped while starting")
            }
        }
    }

    /// Closes its sockets, stops serving, waits for the writer to finish, ends the runtime.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.handle.stop().await;
        let result = match self.join.take() {
            Some(join) => match tokio::time::timeout(Duration::from_secs(30), join).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(anyhow::anyhow!("server task failed: {e}")),
                Err(_) => Err(anyhow::anyhow!("server did not stop within 30 s")),
            },
            None => Ok(()),
        };
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
        result
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // An early error: end the runtime without blocking (we may be inside another one).
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
