//! The engine under test: `crate::search` (tantivy), used exactly as the server and
//! `switchboard reindex` use it. The corpus becomes `ConvDoc`s in memory first (not timed); then
//! a new index in the temp dir, its bulk writer with the heap `reindex` uses, every document
//! added and one commit (`index_s`); background merges are waited for apart (`merge_s`) before
//! the queries run. A query is one `SearchIndex::search` call for the account with the default
//! options: first page of 20 conversations, total count, highlighted snippets.
use std::{path::Path, time::Instant};

use anyhow::Context;

use super::{
    super::stats::{Summary, micros},
    EngineRun,
    corpus::{self, AGENTS, Conv, Corpus, INBOXES},
    measure_sync, progress,
    queries::BenchQuery,
};
use switchboard::search::{ConvDoc, DocMessage, SearchIndex, SearchOptions};

/// Indexing memory of the bulk writer: what `switchboard reindex` gives it.
pub const WRITER_HEAP: usize = 256_000_000;

pub struct TantivyResult {
    pub corpus_s: f64,
    pub text_bytes: u64,
    pub index_s: f64,
    pub merge_s: f64,
    pub index_bytes: u64,
    pub segments: usize,
    /// The default search: first page of 20 with snippets, total count.
    pub run: EngineRun,
    /// The same queries with `snippets: false` (diagnostic only).
    pub no_snippets: EngineRun,
    /// The mix's first query as the first search on a freshly opened reader, as after every
    /// commit: what the per-reader caches (the account's statistics, `search::stats`) cost.
    pub first_after_commit: Summary,
}

pub async fn run(
    dir: &Path,
    corpus: &Corpus,
    queries: &[BenchQuery],
    reps: usize,
) -> anyhow::Result<TantivyResult> {
    // Indexing and queries are blocking work; `corpus` and `queries` outlive the call, so a
    // scoped thread is enough (the runtime has nothing else to do meanwhile).
    let dir = dir.join("tantivy");
    std::thread::scope(|s| {
        s.spawn(|| bench(&dir, corpus, queries, reps))
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the tantivy bench thread panicked")))
    })
}

fn bench(
    dir: &Path,
    corpus: &Corpus,
    queries: &[BenchQuery],
    reps: usize,
) -> anyhow::Result<TantivyResult> {
    progress(format_args!("tantivy: generating the corpus"));
    let t0 = Instant::now();
    let docs: Vec<ConvDoc> = (0..corpus.len())
        .map(|i| to_doc(corpus.conversation(i)))
        .collect();
    let corpus_s = t0.elapsed().as_secs_f64();
    let text_bytes: u64 = docs
        .iter()
        .flat_map(|d| &d.messages)
        .map(|m| m.body.len() as u64)
        .sum();
    progress(format_args!(
        "tantivy: corpus ready in {corpus_s:.1} s ({:.0} MB of text); indexing",
        text_bytes as f64 / 1e6
    ));

    let t1 = Instant::now();
    let ix = SearchIndex::create_in_dir(dir)?;
    let mut writer = ix.bulk_writer(WRITER_HEAP)?;
    for d in &docs {
        writer.add(d)?;
    }
    writer.commit(None)?;
    let index_s = t1.elapsed().as_secs_f64();
    progress(format_args!(
        "tantivy: {} conversations indexed and committed in {index_s:.1} s; waiting for merges",
        docs.len()
    ));
    drop(docs);
    let t2 = Instant::now();
    writer.finish()?;
    ix.reload()?;
    let merge_s = t2.elapsed().as_secs_f64();
    let index_bytes = ix.size_bytes().unwrap_or(0);
    let segments = std::fs::read_dir(dir)
        .context("listing the index")?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "store"))
        .count();
    anyhow::ensure!(
        ix.num_conversations() == corpus.len() as u64,
        "the index holds {} conversations, not {}",
        ix.num_conversations(),
        corpus.len()
    );
    progress(format_args!(
        "tantivy: merges done in {merge_s:.1} s ({segments} segments, {:.0} MB); {} queries × {reps} (after one warm-up round)",
        index_bytes as f64 / 1e6,
        queries.len()
    ));

    let timed = |opts: &SearchOptions| {
        measure_sync(queries, reps, |i| {
            let r = ix
                .search(Some(corpus::ACCOUNT_ID), &queries[i].text, opts)
                .map_err(|e| anyhow::anyhow!("query {:?}: {e}", queries[i].text))?;
            Ok((r.results.len(), Some(r.total)))
        })
    };
    let run = timed(&SearchOptions::default())?;
    progress(format_args!(
        "tantivy: the same without message snippets (to see what they cost)"
    ));
    let no_snippets = timed(&SearchOptions {
        snippets: false,
        ..SearchOptions::default()
    })?;
    progress(format_args!(
        "tantivy: {:?} as the first query on a fresh reader × {reps}",
        queries[0].text
    ));
    let mut first = Vec::with_capacity(reps);
    for _ in 0..reps {
        let fresh = SearchIndex::open_existing(dir)?;
        let t = Instant::now();
        fresh
            .search(
                Some(corpus::ACCOUNT_ID),
                &queries[0].text,
                &SearchOptions::default(),
            )
            .map_err(|e| anyhow::anyhow!("query {:?}: {e}", queries[0].text))?;
        first.push(micros(t.elapsed()));
    }
    Ok(TantivyResult {
        first_after_commit: Summary::of_micros(&mut first),
        corpus_s,
        text_bytes,
        index_s,
        merge_s,
        index_bytes,
        segments,
        run,
        no_snippets,
    })
}

fn to_doc(c: Conv) -> ConvDoc {
    let assignee = c.assignee.map(|a| (a, AGENTS[a]));
    ConvDoc {
        account_id: corpus::ACCOUNT_ID,
        conversation_id: c.id,
        external_id: Some(c.external_id),
        inbox_id: corpus::inbox_uuid(c.inbox),
        inbox_name: INBOXES[c.inbox].to_string(),
        subject: c.subject,
        status: c.status.to_string(),
        tags: c.tags.iter().map(|t| t.to_string()).collect(),
        contact_name: Some(c.contact_name),
        contact_email: Some(c.contact_email),
        assignee_id: assignee.map(|(a, _)| corpus::agent_uuid(a)),
        assignee_name: assignee.map(|(_, (n, _))| n.to_string()),
        assignee_email: assignee.map(|(_, (_, e))| e.to_string()),
        created_at: c.created_at,
        updated_at: c.updated_at,
        messages: c
            .messages
            .into_iter()
            .map(|m| DocMessage {
                id: m.uuid(),
                seq: m.seq,
                private: m.private,
                sender_type: m.sender_type.to_string(),
                body: m.body,
            })
            .collect(),
    }
}
