//! Transcript search: one tantivy index of conversations (`<data_dir>/search`), separate from any
//! other index. See `docs/search.md` for the query language, ranking and operations.
//!
//! - [`SearchIndex`]: opens the index (schema + the `sb` analyzer), answers queries
//!   ([`SearchIndex::search`], sync; [`SearchIndex::search_async`] on the blocking pool), and
//!   hands out the one [`BulkWriter`] (the index allows one writer at a time, across processes).
//! - [`indexer`]: the server's task that owns the writer and follows the database by
//!   `conversation.updated_at` (near-real-time, crash-safe through a watermark in the commit
//!   payload), and [`indexer::reindex`] for `switchboard reindex`.
//! - [`query`]: the query language parser; [`analyzer`]: tokenization shared by indexing and
//!   queries; [`schema`]: the fields.
pub mod analyzer;
pub mod cli;
mod document;
pub mod indexer;
pub mod query;
pub mod schema;
mod searcher;
mod stats;
pub mod status;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, Term, indexer::IndexWriterOptions};
use uuid::Uuid;

use crate::error::{AppError, AppResult};
pub use indexer::IndexerHandle;
use schema::{Fields, SCHEMA_VERSION};

/// One message of a conversation document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DocMessage {
    pub id: Uuid,
    pub seq: i64,
    pub private: bool,
    /// `customer`, `agent`, `bot` or `system`.
    pub sender_type: String,
    pub body: String,
}

/// Everything the index holds about one conversation (one tantivy document).
#[derive(Clone, Debug)]
pub struct ConvDoc {
    pub account_id: Uuid,
    pub conversation_id: Uuid,
    pub external_id: Option<String>,
    pub inbox_id: Uuid,
    pub inbox_name: String,
    pub subject: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub assignee_name: Option<String>,
    pub assignee_email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub messages: Vec<DocMessage>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Best match first (BM25); ties (and filter-only queries) newest first.
    #[default]
    Relevance,
    /// Newest conversation (creation time) first.
    Date,
}

#[derive(Clone, Debug)]
pub struct SearchOptions {
    pub sort: Sort,
    /// 1-based.
    pub page: u32,
    /// 1–100 (clamped).
    pub per_page: u32,
    /// Compute message snippets (on by default; the benchmark may measure without).
    pub snippets: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            sort: Sort::Relevance,
            page: 1,
            per_page: 20,
            snippets: true,
        }
    }
}

/// Deepest result reachable by paging (`page * per_page`).
pub const MAX_RESULT_DEPTH: u32 = 10_000;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchResults {
    /// Matching conversations (not messages).
    pub total: u64,
    pub page: u32,
    pub per_page: u32,
    /// The query with misspelled words replaced, when some word was not in the index and was
    /// matched fuzzily.
    pub did_you_mean: Option<String>,
    pub results: Vec<Hit>,
}

/// One matching conversation. All text is plain text (never HTML): render it with
/// `textContent`, highlighting the `[start, end)` ranges, which are **UTF-8 byte offsets** into
/// the string they belong to (always on character boundaries; merged, sorted).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Hit {
    pub conversation_id: Uuid,
    pub external_id: Option<String>,
    pub subject: Option<String>,
    /// Matches within `subject`.
    pub subject_highlights: Vec<[usize; 2]>,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub status: String,
    pub tags: Vec<String>,
    /// The inbox's name.
    pub inbox: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub score: f32,
    /// Up to 3 matching messages, in conversation order.
    pub snippets: Vec<Snippet>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snippet {
    pub seq: i64,
    pub message_id: Uuid,
    /// A private note (agents only; search is agents-only).
    pub private: bool,
    pub sender_type: String,
    /// A fragment (≤ ~150 characters) of the message body, as plain text.
    pub text: String,
    /// `[start, end)` UTF-8 byte ranges within `text`.
    pub highlights: Vec<[usize; 2]>,
}

/// What the index records in each commit: how far it has followed the database.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub schema: u32,
    /// Every conversation with `updated_at` before this (minus a small overlap) is indexed.
    pub watermark: Option<DateTime<Utc>>,
    /// A fingerprint of the database the index was built from: another database → rebuild.
    #[serde(default)]
    pub db: Option<String>,
}

impl Payload {
    pub fn parse(s: Option<&str>) -> Option<Payload> {
        s.and_then(|s| serde_json::from_str(s).ok())
    }
}

/// The transcript index: cheap to clone, shared by the HTTP workers and the indexer.
#[derive(Clone)]
pub struct SearchIndex {
    inner: Arc<Inner>,
}

struct Inner {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    path: Option<PathBuf>,
    /// Per-account statistics of the current reader generation (see `stats`).
    scopes: stats::ScopeCache,
    /// Written by this node's indexer task (see `status`).
    indexer: tokio::sync::watch::Sender<status::IndexerState>,
}

/// Takes the writer lock of the index directory `dir`; fails while another writer (this or
/// another process: a running server, a `reindex`) holds it.
pub fn lock_dir(dir: &Path) -> anyhow::Result<tantivy::directory::DirectoryLock> {
    use tantivy::directory::{Directory, INDEX_WRITER_LOCK, MmapDirectory};
    let d = MmapDirectory::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    d.acquire_lock(&INDEX_WRITER_LOCK).map_err(|_| {
        anyhow::anyhow!(
            "the search index in {} is in use by another process — a running server keeps it \
             up to date itself. Stop the server, then retry",
            dir.display()
        )
    })
}

fn prepare(index: &Index) {
    index
        .tokenizers()
        .register(analyzer::ANALYZER, analyzer::analyzer());
}

impl SearchIndex {
    fn from_index(index: Index, path: Option<PathBuf>) -> anyhow::Result<Self> {
        prepare(&index);
        let fields = schema::fields(&index.schema())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            inner: Arc::new(Inner {
                index,
                reader,
                fields,
                path,
                scopes: stats::ScopeCache::default(),
                indexer: tokio::sync::watch::Sender::new(status::IndexerState::default()),
            }),
        })
    }

    /// Opens the index in `dir`, creating it when missing. An index with another schema, or one
    /// that cannot be opened, is deleted and recreated (it is derived data: the indexer then
    /// rebuilds it from the database), unless another process is writing to it.
    pub fn open_or_create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let want = schema::build();
        if dir.join("meta.json").exists() {
            let why = match Index::open_in_dir(dir) {
                Ok(index) if index.schema() == want => {
                    return Self::from_index(index, Some(dir.to_path_buf()));
                }
                Ok(_) => "its schema changed".to_string(),
                Err(e) => format!("it cannot be opened ({e})"),
            };
            // Make sure nobody writes to it, then start over.
            let lock = lock_dir(dir).with_context(|| {
                format!(
                    "the search index in {} must be rebuilt because {why}",
                    dir.display()
                )
            })?;
            tracing::warn!(dir = %dir.display(), "rebuilding the search index: {why}");
            for entry in std::fs::read_dir(dir)? {
                let p = entry?.path();
                if p.is_dir() {
                    std::fs::remove_dir_all(&p)?;
                } else if p.file_name() != Some(std::ffi::OsStr::new(".tantivy-writer.lock")) {
                    std::fs::remove_file(&p)?;
                }
            }
            drop(lock);
        }
        let index = Index::create_in_dir(dir, want)
            .with_context(|| format!("creating the search index in {}", dir.display()))?;
        Self::from_index(index, Some(dir.to_path_buf()))
    }

    /// Opens an existing index for reading (the CLI; no lock is taken).
    pub fn open_existing(dir: &Path) -> anyhow::Result<Self> {
        if !dir.join("meta.json").exists() {
            anyhow::bail!(
                "no search index in {}: start the server (it builds the index) or run `switchboard reindex`",
                dir.display()
            );
        }
        let index = Index::open_in_dir(dir)
            .with_context(|| format!("opening the search index in {}", dir.display()))?;
        if index.schema() != schema::build() {
            anyhow::bail!(
                "the search index in {} was built by another version: run `switchboard reindex` (or start the server)",
                dir.display()
            );
        }
        Self::from_index(index, Some(dir.to_path_buf()))
    }

    /// A new, empty index in memory (tests, benchmarks).
    pub fn create_in_ram() -> anyhow::Result<Self> {
        Self::from_index(Index::create_in_ram(schema::build()), None)
    }

    /// A new, empty index in `dir`, which must not hold one (benchmarks, reindex).
    pub fn create_in_dir(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let index = Index::create_in_dir(dir, schema::build())
            .with_context(|| format!("creating the search index in {}", dir.display()))?;
        Self::from_index(index, Some(dir.to_path_buf()))
    }

    /// The indexer's state as it changes (tests await passes with it).
    pub fn indexer_watch(&self) -> tokio::sync::watch::Receiver<status::IndexerState> {
        self.inner.indexer.subscribe()
    }

    /// What `/readyz` shows about the indexer.
    pub fn indexer_report(&self) -> status::IndexerReport {
        self.inner.indexer.borrow().report(Utc::now())
    }

    fn indexer_state(&self, f: impl FnOnce(&mut status::IndexerState)) {
        self.inner.indexer.send_modify(f);
    }

    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The last committed payload (None for a new index).
    pub fn payload(&self) -> anyhow::Result<Option<Payload>> {
        let metas = self.inner.index.load_metas()?;
        Ok(Payload::parse(metas.payload.as_deref()))
    }

    /// Makes the latest commit visible to searches.
    pub fn reload(&self) -> anyhow::Result<()> {
        self.inner.reader.reload()?;
        Ok(())
    }

    /// Conversations in the index (as of the last reload).
    pub fn num_conversations(&self) -> u64 {
        self.inner.reader.searcher().num_docs()
    }

    /// Total size of the index files, in bytes (None in memory).
    pub fn size_bytes(&self) -> Option<u64> {
        let dir = self.path()?;
        let rd = std::fs::read_dir(dir).ok()?;
        Some(
            rd.filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum(),
        )
    }

    /// The index's one writer, with `heap_bytes` of indexing memory split over up to as many
    /// threads as there are cores (each needs ≥ 15 MB). Fails with a lock error while another
    /// writer (in this or another process) is open.
    pub fn bulk_writer(&self, heap_bytes: usize) -> anyhow::Result<BulkWriter> {
        const MIN_PER_THREAD: usize = 15_000_000;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = cores.min(8).min(heap_bytes / MIN_PER_THREAD).max(1);
        let per_thread = (heap_bytes / threads).max(MIN_PER_THREAD);
        self.writer_with(threads, per_thread)
    }

    fn writer_with(&self, threads: usize, per_thread: usize) -> anyhow::Result<BulkWriter> {
        let options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .memory_budget_per_thread(per_thread)
            .num_merge_threads(1)
            .build();
        let writer = self.inner.index.writer_with_options(options)?;
        Ok(BulkWriter {
            writer,
            index: self.clone(),
            db: None,
        })
    }

    /// Runs a query for one account (None: every account; the CLI). Blocking: call it from a
    /// blocking thread or use [`SearchIndex::search_async`].
    pub fn search(
        &self,
        account: Option<Uuid>,
        query: &str,
        opts: &SearchOptions,
    ) -> AppResult<SearchResults> {
        searcher::search(self, account, query, opts)
    }

    /// [`SearchIndex::search`] on tokio's blocking pool.
    pub async fn search_async(
        &self,
        account: Option<Uuid>,
        query: String,
        opts: SearchOptions,
    ) -> AppResult<SearchResults> {
        let ix = self.clone();
        tokio::task::spawn_blocking(move || ix.search(account, &query, &opts))
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("search task failed: {e}")))?
    }
}

/// The index's writer: adds, replaces and deletes conversation documents; nothing is visible to
/// searches (or durable) until [`BulkWriter::commit`].
pub struct BulkWriter {
    writer: IndexWriter,
    index: SearchIndex,
    db: Option<String>,
}

impl BulkWriter {
    /// Records which database the documents come from (see [`Payload::db`]).
    pub fn set_db_fingerprint(&mut self, db: Option<String>) {
        self.db = db;
    }

    /// Adds a conversation that is not in the index yet (a fresh index: no delete needed).
    pub fn add(&mut self, doc: &ConvDoc) -> anyhow::Result<()> {
        let d = document::build(&self.index.inner.fields, doc)?;
        self.writer.add_document(d)?;
        Ok(())
    }

    /// Adds or replaces a conversation.
    pub fn upsert(&mut self, doc: &ConvDoc) -> anyhow::Result<()> {
        self.delete(doc.conversation_id);
        self.add(doc)
    }

    pub fn delete(&mut self, conversation_id: Uuid) {
        self.writer.delete_term(Term::from_field_text(
            self.index.inner.fields.conversation_id,
            &conversation_id.to_string(),
        ));
    }

    pub fn delete_all(&mut self) -> anyhow::Result<()> {
        self.writer.delete_all_documents()?;
        Ok(())
    }

    /// Makes everything so far durable and searchable, recording `watermark` (see [`Payload`]).
    pub fn commit(&mut self, watermark: Option<DateTime<Utc>>) -> anyhow::Result<()> {
        let payload = Payload {
            schema: SCHEMA_VERSION,
            watermark,
            db: self.db.clone(),
        };
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&serde_json::to_string(&payload)?);
        prepared.commit()?;
        self.index.reload()?;
        Ok(())
    }

    /// Drops everything since the last commit and reopens the writer on the committed index.
    /// After a failed commit the writer's state is unknown: this is the way back to a known one.
    /// The reopened writer has nothing in flight, so the files the failed attempt wrote are
    /// removed as a crash's would be — a retry replays the same operations, so the same file
    /// names.
    pub fn rollback(&mut self) -> anyhow::Result<()> {
        self.writer.rollback()?;
        self.remove_orphan_files()?;
        Ok(())
    }

    /// Deletes files a crash left in the index directory: a `kill -9` during a commit leaves
    /// the commit's new segment and delete files (`<segment>.<opstamp>.del`) without the
    /// `meta.json` naming them, and the next commit that reuses such a name fails with
    /// `FileAlreadyExists` — for ever, when it replays the same operations. tantivy's own
    /// garbage collection only removes the files listed in `.managed.json`; whatever else is
    /// named like a segment file and not used by the committed segments goes too.
    ///
    /// Call it right after opening the writer, before adding anything: no segment is being
    /// written then, so every segment file not in `meta.json` is garbage. Returns how many files
    /// were removed besides tantivy's.
    pub fn remove_orphan_files(&mut self) -> anyhow::Result<usize> {
        self.writer.garbage_collect_files().wait()?;
        let Some(dir) = self.index.path() else {
            return Ok(0);
        };
        let living: std::collections::HashMap<String, Option<u64>> = self
            .index
            .inner
            .index
            .searchable_segment_metas()?
            .iter()
            .map(|m| (m.id().uuid_string(), m.delete_opstamp()))
            .collect();
        let mut removed = 0;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some((id, rest)) = name.split_once('.') else {
                continue;
            };
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue; // not a segment file (meta.json, .managed.json, the lock)
            }
            let orphan = match living.get(id) {
                None => true,
                Some(del) => {
                    rest.ends_with(".del")
                        && Some(rest) != del.map(|o| format!("{o}.del")).as_deref()
                }
            };
            if orphan && entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Waits for background merges and releases the writer lock.
    pub fn finish(self) -> anyhow::Result<()> {
        self.writer.wait_merging_threads()?;
        Ok(())
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }
}

impl SearchIndex {
    /// The conversations with a live document (as of the last reload).
    pub fn live_ids(&self) -> anyhow::Result<std::collections::HashSet<Uuid>> {
        use tantivy::{DocSet, TERMINATED, schema::IndexRecordOption};
        let searcher = self.inner.reader.searcher();
        let mut out = std::collections::HashSet::new();
        for seg in searcher.segment_readers() {
            let inv = seg.inverted_index(self.inner.fields.conversation_id)?;
            let alive = seg.alive_bitset();
            let mut stream = inv.terms().stream()?;
            while stream.advance() {
                let live = match alive {
                    None => true,
                    Some(bits) => {
                        let mut postings = inv.read_postings_from_terminfo(
                            stream.value(),
                            IndexRecordOption::Basic,
                        )?;
                        let mut d = postings.doc();
                        let mut any = false;
                        while d != TERMINATED {
                            if bits.is_alive(d) {
                                any = true;
                                break;
                            }
                            d = postings.advance();
                        }
                        any
                    }
                };
                if live
                    && let Some(id) = std::str::from_utf8(stream.key())
                        .ok()
                        .and_then(|s| Uuid::parse_str(s).ok())
                {
                    out.insert(id);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(account: Uuid, ext: &str, subject: &str, bodies: &[&str]) -> ConvDoc {
        let t = DateTime::parse_from_rfc3339("2024-02-05T08:00:00Z")
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default();
        ConvDoc {
            account_id: account,
            conversation_id: Uuid::new_v4(),
            external_id: Some(ext.into()),
            inbox_id: Uuid::nil(),
            inbox_name: "Website".into(),
            subject: Some(subject.into()),
            status: crate::db::entities::conversation::Status::Open
                .as_str()
                .into(),
            tags: vec!["billing".into()],
            contact_name: Some("Jörg Müller".into()),
            contact_email: Some("Joerg@Example.com".into()),
            assignee_id: None,
            assignee_name: Some("Marta Lind".into()),
            assignee_email: Some("marta@example.com".into()),
            created_at: t,
            updated_at: t,
            messages: bodies
                .iter()
                .enumerate()
                .map(|(i, b)| DocMessage {
                    id: Uuid::new_v4(),
                    seq: i as i64 + 1,
                    private: i == 1,
                    sender_type: "customer".into(),
                    body: (*b).into(),
                })
                .collect(),
        }
    }

    fn ids(ix: &SearchIndex, account: Uuid, q: &str) -> Vec<String> {
        ix.search(Some(account), q, &SearchOptions::default())
            .map(|r| {
                r.results
                    .into_iter()
                    .filter_map(|h| h.external_id)
                    .collect()
            })
            .unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    #[test]
    fn operators_filters_and_isolation() -> anyhow::Result<()> {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let ix = SearchIndex::create_in_ram()?;
        let mut w = ix.bulk_writer(30_000_000)?;
        w.add(&doc(
            a,
            "one",
            "Sync error NW-1004",
            &["the copy", "conflicted again"],
        ))?;
        w.add(&doc(
            a,
            "two",
            "Refund",
            &["I was refunded twice", "conflicted copy"],
        ))?;
        w.add(&doc(b, "three", "Refund", &["refunded"]))?;
        w.commit(None)?;
        assert_eq!(ids(&ix, a, "refund"), ["two"]);
        assert_eq!(ids(&ix, b, "refund"), ["three"]);
        // A phrase does not run across two messages.
        assert_eq!(ids(&ix, a, "\"copy conflicted\""), Vec::<String>::new());
        assert_eq!(ids(&ix, a, "\"conflicted copy\""), ["two"]);
        assert_eq!(ids(&ix, a, "conflicted -refund"), ["one"]);
        let mut both = ids(&ix, a, "nw-1004 OR twice");
        both.sort();
        assert_eq!(both, ["one", "two"]);
        assert_eq!(ids(&ix, a, "nw-1005"), Vec::<String>::new());
        assert_eq!(ids(&ix, a, "joerg@example.com").len(), 2);
        assert_eq!(ids(&ix, a, "customer:JOERG@example.com").len(), 2);
        assert_eq!(ids(&ix, a, "customer:joerg@example").len(), 0);
        assert_eq!(
            ids(&ix, a, "muller agent:\"marta lind\" tag:billing").len(),
            2
        );
        assert_eq!(ids(&ix, a, "after:2024-02-05 before:2024-02-06").len(), 2);
        assert_eq!(ids(&ix, a, "after:2024-02-06").len(), 0);
        let r = ix.search(Some(a), "refundd twice", &SearchOptions::default())?;
        assert_eq!(r.did_you_mean.as_deref(), Some("refund twice"));
        let hit = &r.results[0];
        assert_eq!(hit.subject_highlights, vec![[0, 6]]);
        assert_eq!(hit.snippets.len(), 1);
        assert_eq!(hit.snippets[0].text, "I was refunded twice");
        assert_eq!(hit.snippets[0].highlights, vec![[6, 14], [15, 20]]);
        // Deletes.
        let two = ix
            .search(Some(a), "twice", &SearchOptions::default())?
            .results[0]
            .conversation_id;
        w.delete(two);
        w.commit(None)?;
        assert_eq!(ids(&ix, a, "refund"), Vec::<String>::new());
        assert_eq!(ix.live_ids()?.len(), 2);
        Ok(())
    }

    /// A commit that fails half-way (here on a file a crash left, as tantivy would name the
    /// commit's delete file) leaves the writer unusable until it is rolled back; after
    /// `rollback` the same work, redone, commits.
    #[test]
    fn a_failed_commit_is_rolled_back_and_redone() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let ix = SearchIndex::create_in_dir(dir.path())?;
        let a = Uuid::new_v4();
        let mut w = ix.bulk_writer(30_000_000)?;
        let mut d = doc(a, "one", "Sync", &["first words"]);
        w.add(&d)?;
        w.commit(None)?;
        let meta = ix.inner.index.load_metas()?;
        for seg in &meta.segments {
            for stamp in meta.opstamp + 1..=meta.opstamp + 20 {
                let name = format!("{}.{stamp}.del", seg.id().uuid_string());
                std::fs::write(dir.path().join(name), b"left by a crash")?;
            }
        }
        d.messages[0].body = "second words".into();
        w.upsert(&d)?;
        let err = w
            .commit(None)
            .expect_err("the leftover delete file is in the way");
        assert!(format!("{err:#}").contains("already exists"), "{err:#}");
        w.rollback()?;
        w.upsert(&d)?;
        w.commit(None)?;
        assert_eq!(ids(&ix, a, "second"), ["one"]);
        assert_eq!(ids(&ix, a, "first"), Vec::<String>::new());
        Ok(())
    }
}
