//! "One more pass done" for a background loop (the router's tick): the loop counts its completed
//! passes, and a test (or anything that must act after the loop has seen a change) awaits a
//! pass that started after it asked, instead of sleeping for a tick and hoping.
use std::sync::Arc;

use tokio::sync::watch;

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
