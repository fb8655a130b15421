//! BM25 statistics restricted to one account (issue 13, finding 4).
//!
//! tantivy scores with index-wide statistics by default: the number of documents, the average
//! text length and each term's document frequency count every account's conversations. The
//! account is only a filter, so a term's score for account A moved when account B wrote it, and
//! `score` is in the API's response. [`Scope`] computes the same statistics over the *live*
//! documents of one account only (all accounts for the CLI), and is handed to tantivy as its
//! [`Bm25StatisticsProvider`]; the fuzzy fallback and snippet weights use it too. Scores and
//! ranking then depend on nothing but the account's own conversations — not on other tenants,
//! nor on deleted documents waiting for a merge.
//!
//! The account's document ids (per segment) and text lengths are computed once per reader
//! generation and account, and cached until the next commit: they cost a walk over the account's
//! posting list. Document frequencies are computed per query (one posting list each, intersected
//! with the account's documents).
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tantivy::{
    DocId, DocSet, Searcher, TERMINATED, Term,
    query::Bm25StatisticsProvider,
    schema::{Field, IndexRecordOption},
};
use uuid::Uuid;

/// Accounts whose [`Scope`] is kept per reader generation (a busy multi-tenant node searches
/// for many; each entry costs 4 bytes per conversation of its account).
const CACHED_SCOPES: usize = 32;

/// The live documents of one account (or of all, `None`) in one reader generation.
pub(super) struct Scope {
    /// Per segment (in the searcher's order): sorted document ids.
    docs: Vec<Vec<DocId>>,
    /// Per segment: every live document is in scope (one account per index, the usual case),
    /// so a term's count needs no intersection.
    whole: Vec<bool>,
    num_docs: u64,
    /// Sum of the field lengths (tantivy's fieldnorms) of the scope's documents, per field.
    tokens: Mutex<HashMap<Field, u64>>,
}

/// The scopes of one reader generation, by account.
type Generation = (u64, HashMap<Option<Uuid>, Arc<Scope>>);

/// Per-generation cache of [`Scope`]s, shared by all searches of one index.
#[derive(Default)]
pub(super) struct ScopeCache {
    inner: Mutex<Generation>,
}

impl ScopeCache {
    /// The scope of `account` for this searcher, computed on first use in its generation.
    pub(super) fn get(
        &self,
        searcher: &Searcher,
        account_field: Field,
        account: Option<Uuid>,
    ) -> tantivy::Result<Arc<Scope>> {
        let generation = searcher.generation().generation_id();
        if let Ok(guard) = self.inner.lock()
            && guard.0 == generation
            && let Some(s) = guard.1.get(&account)
        {
            return Ok(s.clone());
        }
        // Computed outside the lock: a slow account must not hold up the others.
        let scope = Arc::new(Scope::compute(searcher, account_field, account)?);
        if let Ok(mut guard) = self.inner.lock() {
            if guard.0 != generation || guard.1.len() >= CACHED_SCOPES {
                guard.1.clear();
                guard.0 = generation;
            }
            guard.1.insert(account, scope.clone());
        }
        Ok(scope)
    }
}

impl Scope {
    fn compute(
        searcher: &Searcher,
        account_field: Field,
        account: Option<Uuid>,
    ) -> tantivy::Result<Scope> {
        let term = account.map(|a| Term::from_field_text(account_field, &a.to_string()));
        let mut docs = Vec::with_capacity(searcher.segment_readers().len());
        let mut whole = Vec::with_capacity(docs.capacity());
        for seg in searcher.segment_readers() {
            let alive = seg.alive_bitset();
            let is_alive = |d: DocId| alive.is_none_or(|b| b.is_alive(d));
            let ids: Vec<DocId> = match &term {
                None => (0..seg.max_doc()).filter(|d| is_alive(*d)).collect(),
                Some(t) => {
                    let inv = seg.inverted_index(account_field)?;
                    let mut ids = Vec::new();
                    if let Some(mut p) = inv.read_postings(t, IndexRecordOption::Basic)? {
                        let mut d = p.doc();
                        while d != TERMINATED {
                            if is_alive(d) {
                                ids.push(d);
                            }
                            d = p.advance();
                        }
                    }
                    ids
                }
            };
            whole.push(ids.len() as u64 == u64::from(seg.num_docs()));
            docs.push(ids);
        }
        let num_docs = docs.iter().map(|d| d.len() as u64).sum();
        Ok(Scope {
            docs,
            whole,
            num_docs,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// Statistics for one query over `searcher` (the searcher this scope was computed from).
    pub(super) fn stats<'a>(self: &'a Arc<Self>, searcher: &'a Searcher) -> ScopedStats<'a> {
        ScopedStats {
            scope: self,
            searcher,
            doc_freqs: Mutex::new(HashMap::new()),
        }
    }
}

/// [`Scope`] as tantivy's statistics provider for one query, memoizing document frequencies.
pub(super) struct ScopedStats<'a> {
    scope: &'a Scope,
    searcher: &'a Searcher,
    doc_freqs: Mutex<HashMap<Term, u64>>,
}

fn poisoned() -> tantivy::TantivyError {
    tantivy::TantivyError::InternalError("search statistics lock poisoned".into())
}

impl ScopedStats<'_> {
    fn count_in_segment(&self, ord: usize, term: &Term) -> tantivy::Result<u64> {
        let ids = &self.scope.docs[ord];
        if ids.is_empty() {
            return Ok(0);
        }
        let seg = self.searcher.segment_reader(ord as u32);
        let inv = seg.inverted_index(term.field())?;
        let Some(info) = inv.get_term_info(term)? else {
            return Ok(0);
        };
        // The same exact count whichever way it is taken (so no tenant can tell which).
        if self.scope.whole[ord] && seg.alive_bitset().is_none() {
            return Ok(u64::from(info.doc_freq));
        }
        let mut p = inv.read_postings_from_terminfo(&info, IndexRecordOption::Basic)?;
        let mut n = 0;
        if self.scope.whole[ord] {
            let mut d = p.doc();
            while d != TERMINATED {
                n += u64::from(!seg.is_deleted(d));
                d = p.advance();
            }
        } else if (info.doc_freq as usize) < ids.len() {
            // A rarer term than the account is large: walk the term, look each doc up.
            let mut d = p.doc();
            while d != TERMINATED {
                if ids.binary_search(&d).is_ok() {
                    n += 1;
                }
                d = p.advance();
            }
        } else {
            // A small account: walk its documents, skipping through the term's postings.
            for &d in ids {
                if p.doc() < d && p.seek(d) == TERMINATED {
                    break;
                }
                if p.doc() == d {
                    n += 1;
                }
            }
        }
        Ok(n)
    }
}

impl Bm25StatisticsProvider for ScopedStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut cache = self.scope.tokens.lock().map_err(|_| poisoned())?;
        if let Some(n) = cache.get(&field) {
            return Ok(*n);
        }
        let mut total = 0u64;
        for (ord, ids) in self.scope.docs.iter().enumerate() {
            if ids.is_empty() {
                continue;
            }
            let norms = self
                .searcher
                .segment_reader(ord as u32)
                .get_fieldnorms_reader(field)?;
            total += ids
                .iter()
                .map(|&d| u64::from(norms.fieldnorm(d)))
                .sum::<u64>();
        }
        cache.insert(field, total);
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.scope.num_docs)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        if let Some(n) = self.doc_freqs.lock().map_err(|_| poisoned())?.get(term) {
            return Ok(*n);
        }
        let mut n = 0;
        for ord in 0..self.scope.docs.len() {
            n += self.count_in_segment(ord, term)?;
        }
        self.doc_freqs
            .lock()
            .map_err(|_| poisoned())?
            .insert(term.clone(), n);
        Ok(n)
    }
}
