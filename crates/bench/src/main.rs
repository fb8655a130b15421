//! `switchboard-bench …`: load generators that print figures (never assertions). A separate
//! binary so that the server crate ships none of it; it drives the `switchboard` library
//! in-process (messages, relay, search, suggest) or a `switchboard` server in a child process
//! (connections, reconnect: `--server-bin`). See docs/benchmarks.md.
mod assets;
mod connections;
mod cpu;
mod fsync;
mod messages;
mod nodes;
mod reconnect;
mod relay;
mod search;
mod sockets;
mod stats;
mod suggest;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use switchboard::config::Settings;

#[derive(Parser, Debug)]
#[command(
    name = "switchboard-bench",
    version,
    about = "Switchboard load generators that print figures; see docs/benchmarks.md"
)]
struct Cli {
    /// TOML settings file (also `SWITCHBOARD_CONFIG`); `SWITCHBOARD_*` env vars override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Durable message throughput and latency over real WebSockets; see docs/benchmarks.md.
    Messages(Box<messages::Args>),
    /// Bytes the browser downloads for the widget and the dashboard (raw and gzipped).
    Assets(assets::Args),
    /// Transcript search at a million messages: tantivy against SQLite FTS5 and PostgreSQL
    /// (`ILIKE`, `tsvector`) on the same synthetic corpus; see docs/benchmarks.md.
    Search(Box<search::Args>),
    /// Latency the server adds before the first token of a suggested reply (against an
    /// instant built-in model, or a real endpoint with --llm-url).
    Suggest(suggest::Args),
    /// Idle sockets one server node holds: opens N customer sockets (plus a few agents) to a
    /// server in a child process and reports the time to open them, RSS per socket and idle
    /// CPU; see docs/benchmarks.md.
    Connections(connections::Args),
    /// Mass reconnect: clients dropped at once while messages keep coming, then all resume at
    /// once; time until all are live again, and no message lost or duplicated.
    Reconnect(reconnect::Args),
    /// Typing relay latency (customer socket → agent socket) through one node and across two
    /// nodes via NATS, against a raw NATS publish → subscribe; see docs/benchmarks.md.
    Relay(relay::Args),
}

async fn run(cmd: BenchCommand, settings: Settings) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Messages(a) => messages::run(*a, settings).await,
        BenchCommand::Assets(a) => assets::run(a),
        BenchCommand::Search(a) => search::run(*a, settings).await,
        BenchCommand::Suggest(a) => suggest::run(a, settings).await,
        BenchCommand::Connections(a) => connections::run(a, settings).await,
        BenchCommand::Reconnect(a) => reconnect::run(a, settings).await,
        BenchCommand::Relay(a) => relay::run(a, settings).await,
    }
}

fn main() -> std::process::ExitCode {
    switchboard::install_crypto_provider();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let settings = Settings::load(cli.config.as_deref())?;
        run(cli.command, settings).await
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
