//! The knowledge base: articles in the database (`service`), imported from Markdown folders
//! (`import`, `frontmatter`), and retrieved through a per-account in-memory tantivy index
//! (`index`, `lexicon`). `KbIndexes` caches one index per account and rebuilds it when the
//! account's articles change — on this node at once, on other nodes within `RECHECK` (each
//! node compares the article count and newest `updated_at` with what it indexed).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::{db::entities::kb_article, error::AppResult};

pub mod frontmatter;
pub mod import;
pub mod index;
pub mod lexicon;
pub mod requests;
pub mod service;

pub use index::{Fused, Hit, KbIndex, Retrieval};

const RECHECK: Duration = Duration::from_secs(2);

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
struct Version {
    n: i64,
    newest: Option<DateTime<Utc>>,
}

struct Entry {
    version: Version,
    checked: Instant,
    index: Arc<KbIndex>,
}

#[derive(Clone, Default)]
pub struct KbIndexes {
    inner: Arc<Mutex<HashMap<Uuid, Entry>>>,
}

async fn version(db: &impl ConnectionTrait, account_id: Uuid) -> AppResult<Version> {
    let v = kb_article::Entity::find()
        .select_only()
        .column_as(kb_article::Column::Id.count(), "n")
        .column_as(kb_article::Column::UpdatedAt.max(), "newest")
        .filter(kb_article::Column::AccountId.eq(account_id))
        .into_model::<Version>()
        .one(db)
        .await?;
    Ok(v.unwrap_or(Version { n: 0, newest: None }))
}

impl KbIndexes {
    /// Forgets an account's index (after a local write): the next lookup rebuilds it.
    pub fn invalidate(&self, account_id: Uuid) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(&account_id);
        }
    }

    /// The account's current index (built on first use, rebuilt after changes).
    pub async fn get(
        &self,
        db: &impl ConnectionTrait,
        account_id: Uuid,
    ) -> AppResult<Arc<KbIndex>> {
        let cached = self.inner.lock().ok().and_then(|m| {
            m.get(&account_id).map(|e| {
                (
                    e.index.clone(),
                    e.version.clone(),
                    e.checked.elapsed() < RECHECK,
                )
            })
        });
        let current = match cached {
            Some((idx, _, true)) => return Ok(idx),
            Some((idx, v, false)) => {
                let now = version(db, account_id).await?;
                if now == v {
                    if let Ok(mut m) = self.inner.lock()
                        && let Some(e) = m.get_mut(&account_id)
                    {
                        e.checked = Instant::now();
                    }
                    return Ok(idx);
                }
                now
            }
            None => version(db, account_id).await?,
        };
        let articles = service::list_all(db, account_id).await?;
        // Building takes milliseconds for hundreds of articles, but is CPU work: off the runtime.
        let index = Arc::new(
            tokio::task::spawn_blocking(move || KbIndex::build(&articles))
                .await
                .map_err(|e| crate::error::AppError::Internal(e.into()))?
                .map_err(crate::error::AppError::Internal)?,
        );
        if let Ok(mut m) = self.inner.lock() {
            m.insert(
                account_id,
                Entry {
                    version: current,
                    checked: Instant::now(),
                    index: index.clone(),
                },
            );
        }
        Ok(index)
    }
}
