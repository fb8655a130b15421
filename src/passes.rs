//! "One more pass done" for the background loops (the router's tick with the snooze wake-up, the
//! bot's catch-up, the cluster catch-up) and "the bot has considered this message": each counts
//! what it completed, and a test (or anything that must act after the loop has seen a change)
//! awaits a pass that started after it asked, instead of sleeping for a tick and hoping.
//! `/readyz` reports the counts, so a stalled loop shows, and tests of server processes can wait
//! on them too.
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

/// The counters of this node's background work.
#[derive(Clone, Default)]
pub struct BackgroundPasses {
    /// Router ticks (assignment, then waking due snoozes).
    pub routing: Passes,
    /// Bot catch-up passes (answering bot conversations whose customer still waits).
    pub bot_catch_up: Passes,
    /// Customer messages the bot has finished considering (answered, handed off or left alone).
    pub bot_messages: Passes,
    /// Cluster catch-ups after a bus outage (re-delivery from the database).
    pub cluster_catch_up: Passes,
}

#[derive(Serialize)]
pub struct PassCounts {
    pub routing: u64,
    pub bot_catch_up: u64,
    pub bot_messages: u64,
    pub cluster_catch_up: u64,
}

impl BackgroundPasses {
    pub fn counts(&self) -> PassCounts {
        PassCounts {
            routing: self.routing.count(),
            bot_catch_up: self.bot_catch_up.count(),
            bot_messages: self.bot_messages.count(),
            cluster_catch_up: self.cluster_catch_up.count(),
        }
    }
}

#[derive(Clone)]
pub struct Passes(Arc<watch::Sender<u64>>);

impl Default for Passes {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl Passes {
    /// Called by the loop at the end of each pass.
    pub fn done(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    /// Completed passes so far.
    pub fn count(&self) -> u64 {
        *self.0.borrow()
    }

    /// Returns once the count is past `seen` (read with [`Passes::count`] before the action
    /// whose processing is awaited).
    pub async fn past(&self, seen: u64) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|n| *n > seen).await;
    }

    /// Returns once a whole pass has run after this call: the pass in flight when it was made
    /// may have begun before, so two more must complete.
    pub async fn next_complete(&self) {
        let mut rx = self.0.subscribe();
        let start = *rx.borrow_and_update();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = rx.wait_for(|n| *n >= start + 2).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_a_pass_that_started_after_the_call() {
        let p = Passes::default();
        p.done();
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.next_complete().await }
        });
        tokio::task::yield_now().await;
        p.done();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the pass in flight does not count");
        p.done();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("the second pass ends the wait"));
        assert_eq!(p.count(), 3);
    }
}
