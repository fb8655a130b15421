//! `switchboard search` and `switchboard reindex`.
use std::{io::IsTerminal, path::Path, time::Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    SearchIndex, SearchOptions, SearchResults, Sort,
    indexer::{self, BATCH},
};
use crate::config::Settings;

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum SortArg {
    #[default]
    Relevance,
    Date,
}

#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The query, e.g. `refund "double charge" tag:billing` (see docs/search.md).
    pub query: String,
    /// Print one JSON object (the API's response) on the last line.
    #[arg(long)]
    pub json: bool,
    /// Only this account's conversations (default: every account).
    #[arg(long)]
    pub account: Option<Uuid>,
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    pub sort: SortArg,
    #[arg(long, default_value_t = 1)]
    pub page: u32,
    #[arg(long, default_value_t = 20)]
    pub per_page: u32,
}

#[derive(clap::Args, Debug)]
pub struct ReindexArgs {
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

pub fn index_dir(settings: &Settings) -> std::path::PathBuf {
    settings.data_dir.join("search")
}

pub async fn search(settings: &Settings, args: SearchArgs) -> anyhow::Result<()> {
    let ix = SearchIndex::open_existing(&index_dir(settings))?;
    let opts = SearchOptions {
        sort: match args.sort {
            SortArg::Relevance => Sort::Relevance,
            SortArg::Date => Sort::Date,
        },
        page: args.page,
        per_page: args.per_page,
        snippets: true,
    };
    let res = ix
        .search_async(args.account, args.query.clone(), opts)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string(&res)?);
    } else {
        print_results(&args.query, &res);
    }
    Ok(())
}

/// `text` with its highlighted byte ranges marked (bold on a terminal, else `[…]`).
fn marked(text: &str, ranges: &[[usize; 2]], tty: bool) -> String {
    let (open, close) = if tty {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("[", "]")
    };
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.char_indices() {
        if ranges.iter().any(|r| r[0] == i) {
            out.push_str(open);
        }
        // Control characters would drive the terminal: show them as spaces.
        out.push(if c.is_control() { ' ' } else { c });
        if ranges.iter().any(|r| r[1] == i + c.len_utf8()) {
            out.push_str(close);
        }
    }
    out
}

fn print_results(query: &str, res: &SearchResults) {
    let tty = std::io::stdout().is_terminal();
    println!(
        "{} conversation{} match {:?} (page {}, {} per page)",
        res.total,
        if res.total == 1 { "" } else { "s" },
        query,
        res.page,
        res.per_page
    );
    if let Some(d) = &res.did_you_mean {
        println!("did you mean: {d}");
    }
    let first = (res.page.saturating_sub(1) * res.per_page) as usize;
    for (i, h) in res.results.iter().enumerate() {
        let who = match (&h.contact_name, &h.contact_email) {
            (Some(n), Some(e)) => format!("{n} <{e}>"),
            (Some(n), None) => n.clone(),
            (None, Some(e)) => e.clone(),
            (None, None) => "(anonymous)".into(),
        };
        println!(
            "\n{}. {}  [{}]  {}  {}  score {:.2}",
            first + i + 1,
            h.external_id.as_deref().unwrap_or("-"),
            h.status,
            h.created_at.format("%Y-%m-%d"),
            who,
            h.score
        );
        println!(
            "   {}  (id {}, inbox {}{})",
            marked(
                h.subject.as_deref().unwrap_or("(no subject)"),
                &h.subject_highlights,
                tty
            ),
            h.conversation_id,
            h.inbox,
            if h.tags.is_empty() {
                String::new()
            } else {
                format!(", tags {}", h.tags.join(" "))
            }
        );
        for s in &h.snippets {
            println!(
                "   #{} {}{}: {}",
                s.seq,
                s.sender_type,
                if s.private { " (private note)" } else { "" },
                marked(&s.text, &s.highlights, tty)
            );
        }
    }
}

#[derive(Debug, Clone)]
pub struct ReindexStats {
    pub conversations: u64,
    pub messages: u64,
    pub secs: f64,
    pub bytes: u64,
    pub watermark: Option<DateTime<Utc>>,
}

pub async fn reindex_command(settings: &Settings, args: ReindexArgs) -> anyhow::Result<()> {
    let s = reindex(settings, !args.quiet).await?;
    println!(
        "indexed {} conversations ({} messages) in {:.1} s; index size {:.1} MB",
        s.conversations,
        s.messages,
        s.secs,
        s.bytes as f64 / 1e6
    );
    Ok(())
}

/// Rebuilds `<data_dir>/search` from the database: into a fresh directory, then swapped in.
pub async fn reindex(settings: &Settings, progress: bool) -> anyhow::Result<ReindexStats> {
    let db = crate::db::connect(settings)
        .await
        .context("connecting to the database")?;
    crate::db::migrate(&db)
        .await
        .context("running migrations")?;
    let dir = index_dir(settings);
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    // Held for the whole rebuild: a server starting meanwhile waits for the new index.
    let guard = if dir.is_dir() {
        Some(super::lock_dir(&dir)?)
    } else {
        None
    };
    let tmp = settings
        .data_dir
        .join(format!("search.reindex-{}", Uuid::new_v4().simple()));
    let fingerprint = indexer::db_fingerprint(&settings.database_url());
    let built = build_into(&db, &tmp, fingerprint, progress).await;
    let mut stats = match built {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let trash = settings
        .data_dir
        .join(format!("search.old-{}", Uuid::new_v4().simple()));
    if dir.exists() {
        std::fs::rename(&dir, &trash).context("moving the old index aside")?;
    }
    std::fs::rename(&tmp, &dir).context("moving the new index in place")?;
    drop(guard);
    if trash.exists()
        && let Err(e) = std::fs::remove_dir_all(&trash)
    {
        tracing::warn!(error = %e, dir = %trash.display(), "could not remove the old index");
    }
    stats.bytes = SearchIndex::open_existing(&dir)?
        .size_bytes()
        .unwrap_or_default();
    db.close().await.ok();
    Ok(stats)
}

async fn build_into(
    db: &DatabaseConnection,
    dir: &Path,
    fingerprint: String,
    progress: bool,
) -> anyhow::Result<ReindexStats> {
    let started = Instant::now();
    let ix = SearchIndex::create_in_dir(dir)?;
    let mut writer = ix.bulk_writer(256_000_000)?;
    writer.set_db_fingerprint(Some(fingerprint));
    let total = indexer::count_indexable(db).await?;
    let bar = if progress {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} indexing [{bar:40}] {pos}/{len} conversations, {msg} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut watermark: Option<DateTime<Utc>> = None;
    let mut after = None;
    let (mut conversations, mut messages) = (0u64, 0u64);
    let writer = std::sync::Arc::new(std::sync::Mutex::new(writer));
    loop {
        let rows = indexer::changed_since(db, None, after, BATCH).await?;
        let Some(last) = rows.last() else { break };
        let next = (last.updated_at, last.id);
        if after == Some(next) {
            break;
        }
        after = Some(next);
        watermark = watermark.max(Some(next.0));
        let full = rows.len() as u64 == BATCH;
        let docs = indexer::load_docs(db, &rows).await?;
        conversations += docs.len() as u64;
        let n_msgs: u64 = docs.iter().map(|d| d.messages.len() as u64).sum();
        messages += n_msgs;
        let w = writer.clone();
        let n = docs.len() as u64;
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut w = w.lock().map_err(|_| anyhow::anyhow!("writer poisoned"))?;
            for d in &docs {
                w.add(d)?;
            }
            Ok(())
        })
        .await??;
        bar.inc(n);
        bar.set_message(format!("{messages} messages"));
        if !full {
            break;
        }
    }
    let writer = std::sync::Arc::try_unwrap(writer)
        .map_err(|_| anyhow::anyhow!("writer still shared"))?
        .into_inner()
        .map_err(|_| anyhow::anyhow!("writer poisoned"))?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut writer = writer;
        writer.commit(watermark)?;
        writer.finish()
    })
    .await??;
    bar.finish_and_clear();
    Ok(ReindexStats {
        conversations,
        messages,
        secs: started.elapsed().as_secs_f64(),
        bytes: 0,
        watermark,
    })
}
