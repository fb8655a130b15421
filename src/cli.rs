//! Subcommands: `serve` (default), `migrate`, `create-admin`, `demo`, `import`,
//! `search`, `reindex`.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    accounts, actor::Role, auth::tokens, config::Settings, db, startup::Application, telemetry,
};

#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about = "Self-hosted, AI-assisted customer support chat"
)]
pub struct Cli {
    /// TOML settings file (also `SWITCHBOARD_CONFIG`); `SWITCHBOARD_*` env vars override it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (runs pending migrations first). The default.
    Serve {
        /// What this node does, comma-separated: `web` (HTTP, sockets, pages) and `indexer`
        /// (local search index replica). Default both; see docs/deployment.md.
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account with its first admin agent. The password is read from
    /// `SWITCHBOARD_ADMIN_PASSWORD` or generated and printed once.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        name: String,
        #[arg(long, default_value = "My company")]
        account: String,
    },
    /// Create a demo workspace (admin, inbox, sample conversations) and serve it.
    Demo,
    /// Import data from another tool.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Search transcripts in the data dir's index (all accounts unless --account); see
    /// docs/search.md.
    Search(crate::search::cli::SearchArgs),
    /// Rebuild the search index from the database (the server must be stopped).
    Reindex(crate::search::cli::ReindexArgs),
    /// Knowledge base: import a folder of Markdown articles.
    #[command(subcommand)]
    Kb(KbCommand),
    /// Score the bot and retrieval on a question set; see docs/evaluation.md.
    Eval(crate::bot::eval::EvalArgs),
}

#[derive(Subcommand, Debug)]
pub enum KbCommand {
    /// Import every `*.md` file of DIR (YAML front matter: id, title, tags, url); articles are
    /// matched by id, so importing again updates them.
    Import {
        dir: PathBuf,
        /// Account to import into (its id); optional when there is exactly one account.
        #[arg(long)]
        account: Option<uuid::Uuid>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Transcripts, one JSON object per line (see docs/search.md#import); each keeps its source
    /// `id` as `external_id`, so importing a file twice adds nothing.
    Conversations {
        file: PathBuf,
        /// Account to import into (its id); optional when there is exactly one account.
        #[arg(long)]
        account: Option<uuid::Uuid>,
        /// Inbox to file the conversations under (its name); created when missing.
        #[arg(long, default_value = "Imported")]
        inbox: String,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    let command = cli.command.unwrap_or(Command::Serve { roles: None });
    if let Command::Serve { roles: Some(r) } = &command {
        settings.roles = r.iter().map(|x| x.trim().to_ascii_lowercase()).collect();
    }
    for r in &settings.roles {
        if !matches!(r.trim(), "web" | "indexer") {
            anyhow::bail!("unknown role {r:?}: roles are `web` and `indexer`");
        }
    }
    if !matches!(command, Command::Eval(_)) {
        telemetry::init(&settings.log_format);
    }
    match command {
        Command::Serve { .. } => serve(settings).await,
        Command::Migrate => {
            let conn = db::connect(&settings).await?;
            db::migrate(&conn).await?;
            println!(
                "migrations applied to {}",
                crate::config::redact_url(&settings.database_url())
            );
            Ok(())
        }
        Command::CreateAdmin {
            email,
            name,
            account,
        } => {
            let conn = db::connect(&settings).await?;
            db::migrate(&conn).await?;
            let (password, generated) = match std::env::var("SWITCHBOARD_ADMIN_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ => (tokens::random_hex(10)?, true),
            };
            let acc = accounts::service::create_account(&conn, &account).await?;
            let agent = accounts::service::create_agent(
                &conn,
                acc.id,
                &email,
                &name,
                &password,
                Role::Admin,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created admin {} in account {:?}", agent.email, account);
            if generated {
                println!("password (shown once): {password}");
            }
            Ok(())
        }
        Command::Demo => crate::demo::run(settings).await,
        Command::Import(ImportCommand::Conversations {
            file,
            account,
            inbox,
        }) => import_conversations(settings, &file, account, &inbox).await,
        Command::Search(a) => crate::search::cli::search(&settings, a).await,
        Command::Reindex(a) => crate::search::cli::reindex_command(&settings, a).await,
        Command::Kb(KbCommand::Import { dir, account }) => kb_import(settings, &dir, account).await,
        Command::Eval(a) => crate::bot::eval::run(&settings, a).await,
    }
}

async fn import_conversations(
    settings: Settings,
    file: &std::path::Path,
    account: Option<uuid::Uuid>,
    inbox_name: &str,
) -> anyhow::Result<()> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    use crate::db::entities::inbox as inbox_e;
    let conn = db::connect(&settings).await?;
    db::migrate(&conn).await?;
    let account_id = pick_account(&conn, account).await?;
    let inbox = match inbox_e::Entity::find()
        .filter(inbox_e::Column::AccountId.eq(account_id))
        .filter(inbox_e::Column::Name.eq(inbox_name))
        .one(&conn)
        .await?
    {
        Some(i) => i,
        None => crate::inboxes::create(&conn, account_id, inbox_name, &[])
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let stats = crate::import::conversations_into(&conn, file, account_id, inbox.id, true).await?;
    println!(
        "imported {} conversations ({} messages) into inbox \"{}\"; {} already there",
        stats.conversations, stats.messages, inbox.name, stats.skipped
    );
    for e in &stats.errors {
        eprintln!("skipped {e}");
    }
    if !stats.errors.is_empty() {
        anyhow::bail!(
            "{} line(s) could not be imported (the others were)",
            stats.errors.len()
        );
    }
    Ok(())
}

/// The account named by `--account`, or the only one.
async fn pick_account(
    conn: &sea_orm::DatabaseConnection,
    account: Option<uuid::Uuid>,
) -> anyhow::Result<uuid::Uuid> {
    use sea_orm::EntityTrait;

    use crate::db::entities::account as account_e;
    Ok(match account {
        Some(a) => {
            account_e::Entity::find_by_id(a)
                .one(conn)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account {a}"))?
                .id
        }
        None => {
            let all = account_e::Entity::find().all(conn).await?;
            match all.as_slice() {
                [one] => one.id,
                [] => anyhow::bail!(
                    "no account yet: create one with `switchboard create-admin` first"
                ),
                _ => anyhow::bail!(
                    "several accounts exist: choose one with --account <id> ({})",
                    all.iter()
                        .map(|a| format!("{} = {}", a.id, a.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }
    })
}

async fn kb_import(
    settings: Settings,
    dir: &std::path::Path,
    account: Option<uuid::Uuid>,
) -> anyhow::Result<()> {
    let conn = db::connect(&settings).await?;
    db::migrate(&conn).await?;
    let account_id = pick_account(&conn, account).await?;
    let stats = crate::kb::import::import_dir(&conn, account_id, dir, true).await?;
    println!(
        "knowledge base: {} created, {} updated, {} unchanged",
        stats.created, stats.updated, stats.unchanged
    );
    for e in &stats.errors {
        eprintln!("skipped {e}");
    }
    if !stats.errors.is_empty() {
        anyhow::bail!(
            "{} file(s) could not be imported (the others were)",
            stats.errors.len()
        );
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let base = app.base_url();
    if accounts::service::count_agents(&app.context().db).await? == 0 {
        println!(
            "No agent exists yet. Create the first admin with:\n  switchboard create-admin --email you@example.com --account \"Your company\"\n(this server can keep running: the new admin can log in at once)"
        );
    }
    tracing::info!(url = %base, "Switchboard is listening");
    app.run_until_stopped(true).await
}
