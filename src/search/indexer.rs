//! The indexer: one task owns the index writer and follows the database.
//!
//! Every change to a conversation (a message through the group-commit writer, status, assignee,
//! tags, a message deletion) moves `conversation.updated_at`. The indexer keeps a **watermark**,
//! the largest `updated_at` it has indexed, in the payload of each commit. It upserts (delete by
//! `conversation_id`, add) every conversation with `updated_at >= watermark - 2 s` — the overlap
//! covers transactions that commit out of timestamp order — in batches of 500, loading
//! messages, contacts, inboxes and assignees with one `IN` query each per batch.
//!
//! - **Live:** domain events wake it; it waits [`DEBOUNCE`] for more, reads what changed, commits
//!   and reloads the reader: a new message is searchable well within a second. Without events it
//!   still looks every [`POLL`] (imports by the CLI, other nodes).
//! - **Crash-safe:** on start it removes the files a crash left behind (see
//!   [`BulkWriter::remove_orphan_files`]) and catches up from the committed watermark (a crash
//!   loses at most uncommitted work, which is simply redone). An index of another schema
//!   version or built from another database is rebuilt from scratch.
//! - **Failures:** a failed round or commit never moves the watermark: the writer is rolled back
//!   to the last commit and the work since then redone after a [`backoff`] (0.25 s doubling to
//!   30 s). Each pass and failure is reported through [`super::status`] (`/readyz`).
//! - **Deletions:** `ContactErased` deletes the listed conversations at once; a deleted message
//!   moves `updated_at` (the conversation is re-indexed without it); conversations that are in
//!   the index but no longer in the database are removed on start and every [`RECONCILE`].
//! - Empty conversations (no message yet) are not indexed.
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tokio::sync::{Notify, mpsc, watch};
use uuid::Uuid;

use super::{BulkWriter, ConvDoc, DocMessage, SearchIndex, schema::SCHEMA_VERSION};
use crate::{
    db::entities::{agent, contact, conversation, inbox, message},
    events::DomainEvent,
};

pub const DEBOUNCE: Duration = Duration::from_millis(200);
pub const POLL: Duration = Duration::from_secs(2);
pub const RECONCILE: Duration = Duration::from_secs(5 * 60);
/// The longest wait between retries after failures (see [`backoff`]).
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Re-read window before the watermark (transactions committing out of timestamp order).
pub const OVERLAP: chrono::Duration = chrono::Duration::seconds(2);
pub const BATCH: u64 = 500;
/// While catching up, commit (and so record progress) every this many batches.
const COMMIT_EVERY_BATCHES: usize = 20;
/// Indexing memory of the server's writer.
const SERVER_HEAP: usize = 64_000_000;

/// What the event relay hands the indexer: a wake-up, and conversations to drop at once.
#[derive(Default)]
struct Wake {
    notify: Notify,
    erased: Mutex<Vec<Uuid>>,
}

/// The running indexer; [`IndexerHandle::stop`] commits nothing new, releases the writer lock and
/// waits for the task.
pub struct IndexerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    relay: tokio::task::JoinHandle<()>,
}

impl IndexerHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .is_err()
        {
            tracing::warn!("search indexer did not stop within 30 s");
        }
        self.relay.abort();
    }
}

/// A short fingerprint of the database URL (without credentials), recorded in the index.
pub fn db_fingerprint(database_url: &str) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(crate::config::redact_url(database_url).as_bytes());
    h.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Starts the indexer. `events` must be a listener channel of [`crate::events::Events`].
pub fn spawn(
    db: DatabaseConnection,
    index: SearchIndex,
    db_fingerprint: Option<String>,
    mut events: mpsc::Receiver<DomainEvent>,
) -> IndexerHandle {
    let wake = Arc::new(Wake::default());
    // The relay never blocks: a slow indexer (a rebuild) must not slow the event publishers.
    let relay = {
        let wake = wake.clone();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    DomainEvent::ContactErased {
                        conversation_ids, ..
                    } => {
                        if let Ok(mut e) = wake.erased.lock() {
                            e.extend(conversation_ids);
                        }
                    }
                    DomainEvent::ReadUpdated { .. } | DomainEvent::BotDraft { .. } => continue,
                    DomainEvent::MessageCreated { .. }
                    | DomainEvent::ConversationCreated { .. }
                    | DomainEvent::MessageDeleted { .. }
                    | DomainEvent::ConversationUpdated { .. } => {}
                }
                wake.notify.notify_one();
            }
        })
    };
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(
        Indexer {
            db,
            index,
            db_fingerprint,
            wake,
            stop: stop_rx,
            writer: None,
            watermark: None,
            committed: None,
            settled: None,
            seen: HashMap::new(),
        }
        .run(),
    );
    IndexerHandle { stop, task, relay }
}

struct Indexer {
    db: DatabaseConnection,
    index: SearchIndex,
    db_fingerprint: Option<String>,
    wake: Arc<Wake>,
    stop: watch::Receiver<bool>,
    writer: Option<Arc<Mutex<BulkWriter>>>,
    watermark: Option<DateTime<Utc>>,
    /// The watermark of the last successful commit.
    committed: Option<DateTime<Utc>>,
    /// Every conversation with `updated_at` at or before this was read by a complete round
    /// that started at least [`OVERLAP`] later (so its transaction had committed): later
    /// rounds need not read it again. Without it, a burst of conversations sharing one
    /// timestamp was re-read on every poll for as long as nothing newer came.
    settled: Option<DateTime<Utc>>,
    /// Conversations indexed within the overlap window, with the `updated_at` indexed: not
    /// re-indexed on every poll.
    seen: HashMap<Uuid, DateTime<Utc>>,
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Runs `f` on the writer on the blocking pool.
async fn with_writer<T: Send + 'static>(
    writer: &Arc<Mutex<BulkWriter>>,
    f: impl FnOnce(&mut BulkWriter) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let w = writer.clone();
    tokio::task::spawn_blocking(move || {
        let mut guard = w
            .lock()
            .map_err(|_| anyhow::anyhow!("search writer poisoned"))?;
        f(&mut guard)
    })
    .await
    .context("search writer task")?
}

/// How long to wait before retrying after the `n`th failure in a row: 0.25 s, doubling, at most
/// [`MAX_BACKOFF`]. A transient error (a busy database) is retried at once; a persistent one
/// does not spin.
pub fn backoff(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(10);
    Duration::from_millis(250u64 << doublings).min(MAX_BACKOFF)
}

impl Indexer {
    async fn run(mut self) {
        if !self.acquire().await {
            return;
        }
        while let Err(e) = self.start().await {
            tracing::error!(error = %format!("{e:#}"), "search index catch-up failed; retrying");
            if !self.recover(e).await {
                return self.release().await;
            }
        }
        let mut last_reconcile = Instant::now();
        let mut retry = false;
        loop {
            // A retry goes at once (recover() has waited); otherwise wait for a change.
            if !retry {
                let woken = tokio::select! {
                    _ = stopped(&mut self.stop) => break,
                    _ = self.wake.notify.notified() => true,
                    _ = tokio::time::sleep(POLL) => false,
                };
                if woken {
                    tokio::select! {
                        _ = stopped(&mut self.stop) => break,
                        _ = tokio::time::sleep(DEBOUNCE) => {}
                    }
                }
            }
            let mut res = self.round().await.map(drop);
            if res.is_ok() && last_reconcile.elapsed() >= RECONCILE {
                last_reconcile = Instant::now();
                res = self.reconcile().await;
            }
            retry = false;
            if let Err(e) = res {
                tracing::warn!(error = %format!("{e:#}"), "search indexing failed; will retry");
                if !self.recover(e).await {
                    break;
                }
                retry = true;
            }
        }
        self.release().await;
    }

    /// After a failed attempt: records it (for `/readyz`), forgets everything since the last
    /// commit — it is redone, upserts are idempotent, and the watermark never moves past a
    /// failed commit — and rolls the writer back to that commit, since a failed commit leaves
    /// it in an unknown state. A writer that cannot be rolled back is closed and reopened.
    /// Then waits [`backoff`]. False when the server is stopping.
    async fn recover(&mut self, e: anyhow::Error) -> bool {
        self.index.indexer_state(|s| s.failed(&e));
        let failures = self.index.inner.indexer.borrow().failures;
        self.watermark = self.committed;
        self.settled = None;
        self.seen.clear();
        let rolled_back = match self.writer() {
            Ok(w) => with_writer(w, |w| w.rollback()).await,
            Err(e) => Err(e),
        };
        if let Err(e) = rolled_back {
            tracing::warn!(error = %format!("{e:#}"), "rolling the search writer back failed; reopening it");
            self.release().await;
        }
        tokio::select! {
            _ = stopped(&mut self.stop) => return false,
            _ = tokio::time::sleep(backoff(failures)) => {}
        }
        self.writer.is_some() || self.acquire().await
    }

    /// Takes the writer lock, waiting while another process (a `reindex`) holds it.
    async fn acquire(&mut self) -> bool {
        let mut warned = false;
        loop {
            let ix = self.index.clone();
            let res = tokio::task::spawn_blocking(move || {
                let mut w = ix.bulk_writer(SERVER_HEAP)?;
                // Before anything is added: a crash's leftovers would fail our commits.
                match w.remove_orphan_files() {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(files = n, "removed files a crash left in the search index"),
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "cleaning the search index directory failed"),
                }
                anyhow::Ok(w)
            })
            .await;
            match res {
                Ok(Ok(mut w)) => {
                    w.set_db_fingerprint(self.db_fingerprint.clone());
                    self.writer = Some(Arc::new(Mutex::new(w)));
                    self.index.indexer_state(|s| s.running = true);
                    return true;
                }
                Ok(Err(e)) if !warned => {
                    tracing::warn!(error = %e, "search index is locked by another process; search stays read-only until it is released");
                    self.index.indexer_state(|s| s.failed(&e));
                    warned = true;
                }
                Ok(Err(_)) => {}
                Err(e) => tracing::error!(error = %e, "opening the search writer failed"),
            }
            tokio::select! {
                _ = stopped(&mut self.stop) => return false,
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    async fn release(&mut self) {
        self.index.indexer_state(|s| s.running = false);
        if let Some(w) = self.writer.take() {
            // Dropping the writer joins its threads: not on the async runtime.
            let _ = tokio::task::spawn_blocking(move || drop(w)).await;
        }
    }

    fn writer(&self) -> anyhow::Result<&Arc<Mutex<BulkWriter>>> {
        self.writer
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no search writer"))
    }

    /// Reads the last commit's payload (rebuilding when it does not match), removes deleted
    /// conversations and catches up with the database.
    async fn start(&mut self) -> anyhow::Result<()> {
        self.index.reload()?;
        let payload = self.index.payload()?;
        let usable = payload.as_ref().is_some_and(|p| {
            p.schema == SCHEMA_VERSION && (p.db.is_none() || p.db == self.db_fingerprint)
        });
        if usable {
            self.watermark = payload.and_then(|p| p.watermark);
            self.committed = self.watermark;
        } else {
            if self.index.num_conversations() > 0 || payload.is_some() {
                tracing::info!("search index is from another version or database: rebuilding");
            }
            self.watermark = None;
            self.committed = None;
            with_writer(self.writer()?, |w| {
                w.delete_all()?;
                w.commit(None)
            })
            .await?;
        }
        self.seen.clear();
        self.reconcile().await?;
        let started = Instant::now();
        let n = self.round().await?;
        if n > 0 {
            tracing::info!(
                conversations = n,
                secs = started.elapsed().as_secs_f32(),
                "search index caught up"
            );
        }
        Ok(())
    }

    /// Deletes conversations that are in the index but no longer in the database.
    async fn reconcile(&mut self) -> anyhow::Result<()> {
        // The index first: whatever it holds was in the database before this snapshot.
        let ix = self.index.clone();
        let in_index = tokio::task::spawn_blocking(move || ix.live_ids()).await??;
        if in_index.is_empty() {
            return Ok(());
        }
        let in_db: HashSet<Uuid> = conversation::Entity::find()
            .select_only()
            .column(conversation::Column::Id)
            .into_tuple::<Uuid>()
            .all(&self.db)
            .await?
            .into_iter()
            .collect();
        let gone: Vec<Uuid> = in_index.difference(&in_db).copied().collect();
        if gone.is_empty() {
            return Ok(());
        }
        tracing::info!(
            conversations = gone.len(),
            "removing deleted conversations from the search index"
        );
        let watermark = self.watermark;
        with_writer(self.writer()?, move |w| {
            for id in gone {
                w.delete(id);
            }
            w.commit(watermark)
        })
        .await
    }

    async fn commit(&mut self) -> anyhow::Result<()> {
        let wm = self.watermark;
        with_writer(self.writer()?, move |w| w.commit(wm)).await?;
        self.committed = wm;
        Ok(())
    }

    /// Applies erasures and indexes every conversation changed since the watermark; commits if
    /// anything changed. Returns how many conversations were (re-)indexed.
    async fn round(&mut self) -> anyhow::Result<usize> {
        let erased: Vec<Uuid> = self
            .wake
            .erased
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        let mut dirty = !erased.is_empty();
        if dirty {
            with_writer(self.writer()?, move |w| {
                for id in erased {
                    w.delete(id);
                }
                Ok(())
            })
            .await?;
        }
        let started = Utc::now();
        let from = match (self.watermark.map(|w| w - OVERLAP), self.settled) {
            (Some(f), Some(s)) if s >= f => Some(Since::After(s)),
            (f, _) => f.map(Since::From),
        };
        let mut after: Option<(DateTime<Utc>, Uuid)> = None;
        let mut batches = 0;
        let mut indexed = 0;
        let mut complete = true;
        loop {
            let rows = changed_since(&self.db, from, after, BATCH).await?;
            let Some(last) = rows.last() else { break };
            let next = (last.updated_at, last.id);
            if after == Some(next) {
                break; // no progress: never loop
            }
            after = Some(next);
            let full = rows.len() as u64 == BATCH;
            let fresh: Vec<conversation::Model> = rows
                .into_iter()
                .filter(|c| self.seen.get(&c.id) != Some(&c.updated_at))
                .collect();
            if !fresh.is_empty() {
                let docs = load_docs(&self.db, &fresh).await?;
                indexed += docs.len();
                dirty = true;
                with_writer(self.writer()?, move |w| {
                    for d in &docs {
                        w.upsert(d)?;
                    }
                    Ok(())
                })
                .await?;
                for c in &fresh {
                    self.seen.insert(c.id, c.updated_at);
                }
            }
            // Only once the batch is in the writer: a failure retries it next round.
            self.watermark = self.watermark.max(Some(next.0));
            batches += 1;
            if dirty && batches % COMMIT_EVERY_BATCHES == 0 {
                self.commit().await?;
                dirty = false;
            }
            // A long catch-up stops (keeping its progress) when the server does.
            if !full {
                break;
            }
            if *self.stop.borrow() {
                complete = false;
                break;
            }
        }
        if dirty {
            self.commit().await?;
        }
        if complete {
            self.settled = self.settled.max(Some(started - OVERLAP));
            // Everything changed before `started` is now committed and searchable.
            self.index.indexer_state(|s| s.passed(started));
        }
        if let Some(w) = self.watermark {
            let horizon = w - OVERLAP;
            self.seen.retain(|_, u| *u >= horizon);
        }
        Ok(indexed)
    }
}

/// Where a round starts reading `updated_at`.
#[derive(Clone, Copy, Debug)]
pub enum Since {
    /// At or after (the overlap window before the watermark).
    From(DateTime<Utc>),
    /// Strictly after (what is settled was read already).
    After(DateTime<Utc>),
}

/// Conversations changed since `from`, after the keyset cursor `after`, oldest first.
pub async fn changed_since(
    db: &DatabaseConnection,
    from: Option<Since>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<conversation::Model>, sea_orm::DbErr> {
    use conversation::Column as C;
    let mut q = conversation::Entity::find();
    match from {
        Some(Since::From(f)) => q = q.filter(C::UpdatedAt.gte(f)),
        Some(Since::After(f)) => q = q.filter(C::UpdatedAt.gt(f)),
        None => {}
    }
    if let Some((u, id)) = after {
        q = q.filter(
            Condition::any()
                .add(C::UpdatedAt.gt(u))
                .add(Condition::all().add(C::UpdatedAt.eq(u)).add(C::Id.gt(id))),
        );
    }
    q.order_by_asc(C::UpdatedAt)
        .order_by_asc(C::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The index documents of these conversations (empty ones skipped), with a fixed number of
/// queries: messages, contacts, inboxes and assignees, one `IN` list each.
pub async fn load_docs(
    db: &DatabaseConnection,
    convs: &[conversation::Model],
) -> anyhow::Result<Vec<ConvDoc>> {
    let convs: Vec<&conversation::Model> = convs.iter().filter(|c| c.last_seq > 0).collect();
    if convs.is_empty() {
        return Ok(Vec::new());
    }
    fn uniq(it: impl Iterator<Item = Uuid>) -> Vec<Uuid> {
        let s: HashSet<Uuid> = it.collect();
        s.into_iter().collect()
    }
    let ids: Vec<Uuid> = convs.iter().map(|c| c.id).collect();
    let contact_ids = uniq(convs.iter().map(|c| c.contact_id));
    let inbox_ids = uniq(convs.iter().map(|c| c.inbox_id));
    let agent_ids = uniq(convs.iter().filter_map(|c| c.assignee_id));

    let contacts: HashMap<Uuid, contact::Model> = contact::Entity::find()
        .filter(contact::Column::Id.is_in(contact_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let inboxes: HashMap<Uuid, String> = inbox::Entity::find()
        .select_only()
        .column(inbox::Column::Id)
        .column(inbox::Column::Name)
        .filter(inbox::Column::Id.is_in(inbox_ids))
        .into_tuple::<(Uuid, String)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let agents: HashMap<Uuid, (String, String)> = if agent_ids.is_empty() {
        HashMap::new()
    } else {
        agent::Entity::find()
            .select_only()
            .column(agent::Column::Id)
            .column(agent::Column::Name)
            .column(agent::Column::Email)
            .filter(agent::Column::Id.is_in(agent_ids))
            .into_tuple::<(Uuid, String, String)>()
            .all(db)
            .await?
            .into_iter()
            .map(|(id, n, e)| (id, (n, e)))
            .collect()
    };
    let mut messages: HashMap<Uuid, Vec<DocMessage>> = HashMap::new();
    let rows = message::Entity::find()
        .select_only()
        .column(message::Column::ConversationId)
        .column(message::Column::Id)
        .column(message::Column::Seq)
        .column(message::Column::Private)
        .column(message::Column::SenderType)
        .column(message::Column::Body)
        .filter(message::Column::ConversationId.is_in(ids))
        .order_by_asc(message::Column::ConversationId)
        .order_by_asc(message::Column::Seq)
        .into_tuple::<(Uuid, Uuid, i64, bool, String, String)>()
        .all(db)
        .await?;
    for (conv, id, seq, private, sender_type, body) in rows {
        messages.entry(conv).or_default().push(DocMessage {
            id,
            seq,
            private,
            sender_type,
            body,
        });
    }
    Ok(convs
        .into_iter()
        .map(|c| {
            let contact = contacts.get(&c.contact_id);
            let assignee = c.assignee_id.and_then(|a| agents.get(&a));
            ConvDoc {
                account_id: c.account_id,
                conversation_id: c.id,
                external_id: c.external_id.clone(),
                inbox_id: c.inbox_id,
                inbox_name: inboxes.get(&c.inbox_id).cloned().unwrap_or_default(),
                subject: c.subject.clone(),
                status: c.status.as_str().to_string(),
                tags: c
                    .tags
                    .split('\n')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect(),
                contact_name: contact.and_then(|k| k.name.clone()),
                contact_email: contact.and_then(|k| k.email.clone()),
                assignee_id: c.assignee_id,
                assignee_name: assignee.map(|a| a.0.clone()),
                assignee_email: assignee.map(|a| a.1.clone()),
                created_at: c.created_at,
                updated_at: c.updated_at,
                messages: messages.remove(&c.id).unwrap_or_default(),
            }
        })
        .collect())
}

/// Conversations with at least one message (the ones indexed).
pub async fn count_indexable(db: &DatabaseConnection) -> Result<u64, sea_orm::DbErr> {
    conversation::Entity::find()
        .filter(conversation::Column::LastSeq.gt(0))
        .count(db)
        .await
}
