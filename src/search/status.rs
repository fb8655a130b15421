//! What the indexer reports about itself, for `/readyz` and for tests that await "one more pass
//! done" instead of sleeping. The indexer task writes an [`IndexerState`] into a watch channel
//! held by the [`super::SearchIndex`] (so it travels in `AppContext` with the index);
//! [`IndexerReport`] is the JSON `/readyz` shows.
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexerState {
    /// This node's indexer holds the index writer (false before it has the lock, and on nodes
    /// without the `indexer` role).
    pub running: bool,
    /// Passes over the database (the catch-up at start, then every live round) that completed
    /// and committed.
    pub passes: u64,
    /// When the last complete pass started: every change made before it is searchable.
    pub caught_up_at: Option<DateTime<Utc>>,
    /// Why the latest attempt failed; cleared by the next complete pass.
    pub last_error: Option<String>,
    /// Failed attempts since the last complete pass.
    pub failures: u32,
}

/// `/readyz`'s `indexer` object.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct IndexerReport {
    /// The indexer holds the writer and its latest attempt succeeded.
    pub ok: bool,
    /// Seconds since the start of the last complete pass: changes older than this are
    /// searchable. `null` until the first pass after start has completed.
    pub lag_secs: Option<f64>,
    pub last_error: Option<String>,
    /// Failed attempts since the last complete pass (retried with backoff).
    pub failures: u32,
}

impl IndexerState {
    pub fn report(&self, now: DateTime<Utc>) -> IndexerReport {
        IndexerReport {
            ok: self.running && self.last_error.is_none(),
            lag_secs: self
                .caught_up_at
                .map(|t| ((now - t).num_milliseconds().max(0) as f64) / 1000.0),
            last_error: self.last_error.clone(),
            failures: self.failures,
        }
    }

    pub(super) fn passed(&mut self, started: DateTime<Utc>) {
        self.passes += 1;
        self.caught_up_at = self.caught_up_at.max(Some(started));
        self.last_error = None;
        self.failures = 0;
    }

    pub(super) fn failed(&mut self, e: &anyhow::Error) {
        self.last_error = Some(format!("{e:#}"));
        self.failures = self.failures.saturating_add(1);
    }
}
