//! Query execution: the parsed query as a tantivy query (scoped to the account), fuzzy
//! fallback for words the index does not know, ranking, paging and plain-text snippets.
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    ops::{Bound, Range},
};

use tantivy::{
    DocAddress, Order, Score, Searcher, TantivyDocument, Term,
    collector::{
        Count, TopDocs,
        sort_key::{SortBySimilarityScore, SortByStaticFastValue},
    },
    query::{
        AllQuery, Bm25StatisticsProvider, BooleanQuery, ConstScoreQuery, EmptyQuery,
        FuzzyTermQuery, Occur, PhraseQuery, Query, RangeQuery, TermQuery,
    },
    schema::{IndexRecordOption, Value},
    snippet::{SnippetGenerator, collapse_overlapped_ranges},
    tokenizer::TextAnalyzer,
};
use uuid::Uuid;

use super::{
    Hit, MAX_PER_PAGE, MAX_RESULT_DEPTH, SearchIndex, SearchOptions, SearchResults, Snippet, Sort,
    analyzer::{analyzer, tokens},
    document::{Stored, date},
    query::{self, Clause, Filter},
    schema::Fields,
    stats::ScopedStats,
};
use crate::error::{AppError, AppResult};

/// Words not in the index that get a fuzzy match, per query.
const MAX_FUZZY_WORDS: usize = 4;
/// Dictionary terms a misspelled word expands to, at most.
const MAX_FUZZY_EXPANSIONS: usize = 16;
/// Near terms of the whole dictionary examined for one misspelled word, at most.
const MAX_FUZZY_DICTIONARY: usize = 4096;
/// Words in one phrase, at most.
const MAX_PHRASE_WORDS: usize = 64;
const SNIPPET_CHARS: usize = 150;
const SNIPPETS_PER_HIT: usize = 3;

fn internal(e: impl Into<anyhow::Error>) -> AppError {
    AppError::Internal(e.into())
}

type BoxQuery = Box<dyn Query>;

fn filter_query(q: impl Query) -> BoxQuery {
    Box::new(ConstScoreQuery::new(Box::new(q), 0.0))
}

struct Fuzzy {
    span: Range<usize>,
    /// The analyzed dictionary term the word was corrected to.
    correction: Option<String>,
}

struct Build<'a> {
    searcher: &'a Searcher,
    fields: Fields,
    account: Option<Uuid>,
    analyzer: TextAnalyzer,
    /// Analyzed terms of the positive text clauses → weight, for snippets.
    snippet_terms: BTreeMap<String, Score>,
    fuzzy: Vec<Fuzzy>,
    has_text: bool,
    /// Term statistics of the account's documents only: everything that ranks or picks (BM25,
    /// fuzzy candidates, snippet weights) reads these, never index-wide counts.
    stats: &'a ScopedStats<'a>,
}

impl Build<'_> {
    fn raw(&self, field: tantivy::schema::Field, value: &str) -> BoxQuery {
        filter_query(TermQuery::new(
            Term::from_field_text(field, value),
            IndexRecordOption::Basic,
        ))
    }

    fn scope(&self) -> Option<BoxQuery> {
        self.account
            .map(|a| self.raw(self.fields.account_id, &a.to_string()))
    }

    fn text_term(&self, token: &str) -> Term {
        Term::from_field_text(self.fields.text, token)
    }

    /// Live documents of the account that hold `term`.
    fn doc_freq(&self, term: &Term) -> AppResult<u64> {
        self.stats.doc_freq(term).map_err(internal)
    }

    /// Whether a live document of the account holds `term`.
    fn exists_in_scope(&self, term: &Term) -> AppResult<bool> {
        Ok(self.doc_freq(term)? > 0)
    }

    fn note_snippet_term(&mut self, token: &str) -> AppResult<()> {
        if self.snippet_terms.contains_key(token) {
            return Ok(());
        }
        let df = self.doc_freq(&self.text_term(token))?;
        self.snippet_terms
            .insert(token.to_string(), 1.0 / (1.0 + df as Score));
        Ok(())
    }

    fn build(&mut self, parsed: &query::Parsed) -> AppResult<BoxQuery> {
        let mut clauses: Vec<(Occur, BoxQuery)> = Vec::new();
        if let Some(s) = self.scope() {
            clauses.push((Occur::Must, s));
        }
        let mut required = 0;
        for g in &parsed.groups {
            let mut alts = Vec::new();
            for c in &g.alternatives {
                if let Some(q) = self.clause(c, g.negated)? {
                    alts.push(q);
                }
            }
            let q: BoxQuery = match alts.len() {
                0 => continue, // nothing searchable in it (punctuation only)
                1 => alts.remove(0),
                _ => Box::new(BooleanQuery::new(
                    alts.into_iter().map(|q| (Occur::Should, q)).collect(),
                )),
            };
            if g.negated {
                clauses.push((Occur::MustNot, q));
            } else {
                required += 1;
                clauses.push((Occur::Must, q));
            }
        }
        if required == 0 {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Box::new(BooleanQuery::new(clauses)))
    }

    fn clause(&mut self, c: &Clause, negated: bool) -> AppResult<Option<BoxQuery>> {
        match c {
            Clause::Term { text, span } => {
                let toks = tokens(&mut self.analyzer, text);
                match toks.as_slice() {
                    [] => Ok(None),
                    [one] => self.word(one, Some(span.clone()), negated).map(Some),
                    _ => self.phrase(toks, negated).map(Some),
                }
            }
            Clause::Phrase(text) => {
                let toks = tokens(&mut self.analyzer, text);
                match toks.as_slice() {
                    [] => Ok(None),
                    [one] => self.word(one, None, negated).map(Some),
                    _ => self.phrase(toks, negated).map(Some),
                }
            }
            Clause::Filter(f) => Ok(Some(self.filter(f))),
        }
    }

    /// One analyzed word; a bare word the account's documents do not contain is matched
    /// fuzzily (`span` set: it can be corrected in "did you mean").
    fn word(
        &mut self,
        token: &str,
        span: Option<Range<usize>>,
        negated: bool,
    ) -> AppResult<BoxQuery> {
        let term = self.text_term(token);
        let exact: BoxQuery = Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs));
        if negated {
            return Ok(exact);
        }
        self.has_text = true;
        let Some(span) = span else {
            self.note_snippet_term(token)?;
            return Ok(exact);
        };
        let chars = token.chars().count();
        let fuzzable = chars >= 4
            && token.chars().all(char::is_alphabetic)
            && self.fuzzy.len() < MAX_FUZZY_WORDS;
        if !fuzzable || self.exists_in_scope(&term)? {
            self.note_snippet_term(token)?;
            return Ok(exact);
        }
        let distance = if chars >= 8 { 2 } else { 1 };
        // Every candidate occurs in the account: the closest, most frequent one is the fix.
        let candidates = self.fuzzy_candidates(token, distance)?;
        let correction = candidates.first().cloned();
        self.fuzzy.push(Fuzzy { span, correction });
        if candidates.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        let mut alts: Vec<(Occur, BoxQuery)> = Vec::new();
        for c in &candidates {
            self.note_snippet_term(c)?;
            let q = TermQuery::new(self.text_term(c), IndexRecordOption::WithFreqs);
            alts.push((Occur::Should, Box::new(q)));
        }
        Ok(Box::new(BooleanQuery::new(alts)))
    }

    /// Terms of the account's documents within `distance` edits (a transposition counts one) of
    /// `token`, closest and most frequent (in the account) first.
    fn fuzzy_candidates(&self, token: &str, distance: u8) -> AppResult<Vec<String>> {
        let fq = FuzzyTermQuery::new(self.text_term(token), distance, true);
        // The dictionary is shared by all accounts: collect every near term first, then keep
        // the account's own, so other tenants' words neither show up nor crowd them out (only
        // past MAX_FUZZY_DICTIONARY near terms, a degenerate dictionary, could they).
        let mut near: HashSet<String> = HashSet::new();
        'segments: for seg in self.searcher.segment_readers() {
            let inv = seg.inverted_index(self.fields.text).map_err(internal)?;
            let automaton = fq.automaton().map_err(internal)?;
            let mut stream = inv
                .terms()
                .search(automaton)
                .into_stream()
                .map_err(internal)?;
            while stream.advance() {
                if let Ok(k) = std::str::from_utf8(stream.key())
                    && k != token
                {
                    near.insert(k.to_string());
                }
                if near.len() >= MAX_FUZZY_DICTIONARY {
                    break 'segments;
                }
            }
        }
        let mut v: Vec<(usize, u64, String)> = Vec::new();
        for k in near {
            let n = self.doc_freq(&self.text_term(&k))?;
            if n > 0 {
                v.push((edit_distance(token, &k), n, k));
            }
        }
        v.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
        v.truncate(MAX_FUZZY_EXPANSIONS);
        Ok(v.into_iter().map(|(_, _, k)| k).collect())
    }

    fn phrase(&mut self, toks: Vec<String>, negated: bool) -> AppResult<BoxQuery> {
        if toks.len() > MAX_PHRASE_WORDS {
            return Err(AppError::Invalid(format!(
                "phrase too long: at most {MAX_PHRASE_WORDS} words"
            )));
        }
        if !negated {
            self.has_text = true;
            for t in &toks {
                self.note_snippet_term(t)?;
            }
        }
        let terms: Vec<Term> = toks.iter().map(|t| self.text_term(t)).collect();
        Ok(Box::new(PhraseQuery::new(terms)))
    }

    fn filter(&self, f: &Filter) -> BoxQuery {
        let f_ = &self.fields;
        let day = |d: &chrono::NaiveDate| {
            let t = d.and_time(chrono::NaiveTime::MIN).and_utc();
            Term::from_field_date_for_search(f_.created_at, date(t))
        };
        match f {
            Filter::Customer(v) => self.raw(f_.customer, v),
            Filter::Tag(v) => self.raw(f_.tag, v),
            Filter::Status(v) => self.raw(f_.status, v),
            Filter::Inbox(v) => self.raw(f_.inbox, v),
            Filter::Agent(v) => self.raw(f_.agent, v),
            Filter::Before(d) => {
                filter_query(RangeQuery::new(Bound::Unbounded, Bound::Excluded(day(d))))
            }
            Filter::After(d) => {
                filter_query(RangeQuery::new(Bound::Included(day(d)), Bound::Unbounded))
            }
        }
    }
}

/// Optimal-string-alignment distance (a transposition counts one edit), over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// Byte ranges within `text`, merged, as `[start, end)` pairs (only ones on char boundaries).
fn byte_ranges(text: &str, ranges: &[Range<usize>]) -> Vec<[usize; 2]> {
    collapse_overlapped_ranges(ranges)
        .into_iter()
        .filter(|r| text.get(r.clone()).is_some())
        .map(|r| [r.start, r.end])
        .collect()
}

pub(super) fn search(
    ix: &SearchIndex,
    account: Option<Uuid>,
    q: &str,
    opts: &SearchOptions,
) -> AppResult<SearchResults> {
    let parsed = query::parse(q).map_err(AppError::Invalid)?;
    let per_page = opts.per_page.clamp(1, MAX_PER_PAGE);
    let page = opts.page.max(1);
    if u64::from(page) * u64::from(per_page) > u64::from(MAX_RESULT_DEPTH) {
        return Err(AppError::Invalid(format!(
            "page too deep: only the first {MAX_RESULT_DEPTH} results can be paged through; narrow the query"
        )));
    }
    let searcher = ix.inner.reader.searcher();
    let fields = ix.inner.fields;
    let scope = ix
        .inner
        .scopes
        .get(&searcher, fields.account_id, account)
        .map_err(internal)?;
    let stats = scope.stats(&searcher);
    let mut b = Build {
        stats: &stats,
        searcher: &searcher,
        fields,
        account,
        analyzer: analyzer(),
        snippet_terms: BTreeMap::new(),
        fuzzy: Vec::new(),
        has_text: false,
    };
    let query = b.build(&parsed)?;

    let limit = per_page as usize;
    let offset = ((page - 1) * per_page) as usize;
    let created = || SortByStaticFastValue::<tantivy::DateTime>::for_field("created_at");
    let cid = || SortByStaticFastValue::<u64>::for_field("cid");
    let top = TopDocs::with_limit(limit).and_offset(offset);
    let (docs, total): (Vec<(Score, DocAddress)>, usize) = match opts.sort {
        Sort::Relevance => {
            let c = top.order_by((
                (SortBySimilarityScore, Order::Desc),
                (created(), Order::Desc),
                (cid(), Order::Desc),
            ));
            let (docs, n) = searcher
                .search_with_statistics_provider(&*query, &(c, Count), &stats)
                .map_err(internal)?;
            (docs.into_iter().map(|((s, _, _), a)| (s, a)).collect(), n)
        }
        Sort::Date => {
            let c = top.order_by((
                (created(), Order::Desc),
                (SortBySimilarityScore, Order::Desc),
                (cid(), Order::Desc),
            ));
            let (docs, n) = searcher
                .search_with_statistics_provider(&*query, &(c, Count), &stats)
                .map_err(internal)?;
            (docs.into_iter().map(|((_, s, _), a)| (s, a)).collect(), n)
        }
    };

    let mut show = Highlighter::new(&b, opts.snippets);
    let mut surfaces: HashMap<String, String> = HashMap::new();
    let mut results = Vec::with_capacity(docs.len());
    for (score, addr) in docs {
        let doc: TantivyDocument = searcher.doc(addr).map_err(internal)?;
        let id = doc
            .get_first(fields.conversation_id)
            .and_then(|v| v.as_str())
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| internal(anyhow::anyhow!("search document without an id")))?;
        let stored: Stored = doc
            .get_first(fields.doc)
            .and_then(|v| v.as_bytes())
            .ok_or_else(|| internal(anyhow::anyhow!("search document without content")))
            .and_then(|bytes| serde_json::from_slice(bytes).map_err(internal))?;
        results.push(show.hit(id, score, stored, &mut surfaces));
    }

    let did_you_mean = did_you_mean(q, &b.fuzzy, &surfaces);
    Ok(SearchResults {
        total: total as u64,
        page,
        per_page,
        did_you_mean,
        results,
    })
}

/// The query with each corrected word replaced by the word as it appears in the results (or
/// by its dictionary form).
fn did_you_mean(q: &str, fuzzy: &[Fuzzy], surfaces: &HashMap<String, String>) -> Option<String> {
    let mut fixes: Vec<(&Range<usize>, &str)> = fuzzy
        .iter()
        .filter_map(|f| {
            let c = f.correction.as_deref()?;
            Some((&f.span, surfaces.get(c).map_or(c, String::as_str)))
        })
        .collect();
    if fixes.is_empty() {
        return None;
    }
    fixes.sort_by_key(|(span, _)| std::cmp::Reverse(span.start));
    let mut out = q.to_string();
    for (span, word) in fixes {
        if out.is_char_boundary(span.start)
            && out.is_char_boundary(span.end)
            && span.end <= out.len()
        {
            out.replace_range(span.clone(), word);
        }
    }
    Some(out)
}

struct Highlighter {
    analyzer: TextAnalyzer,
    messages: Option<SnippetGenerator>,
    subject: Option<SnippetGenerator>,
    terms: BTreeMap<String, Score>,
    corrections: Vec<String>,
}

impl Highlighter {
    fn new(b: &Build<'_>, snippets: bool) -> Self {
        let active = b.has_text && !b.snippet_terms.is_empty();
        let make = |chars| {
            SnippetGenerator::new(b.snippet_terms.clone(), analyzer(), b.fields.text, chars)
        };
        Self {
            analyzer: analyzer(),
            messages: (active && snippets).then(|| make(SNIPPET_CHARS)),
            subject: active.then(|| make(100_000)),
            terms: b.snippet_terms.clone(),
            corrections: b
                .fuzzy
                .iter()
                .filter_map(|f| f.correction.clone())
                .collect(),
        }
    }

    /// Notes how corrected words are written in `text` (for "did you mean").
    fn note_surfaces(
        &mut self,
        text: &str,
        ranges: &[Range<usize>],
        surfaces: &mut HashMap<String, String>,
    ) {
        if self.corrections.len() == surfaces.len() {
            return;
        }
        for r in ranges {
            let Some(slice) = text.get(r.clone()) else {
                continue;
            };
            if let Some(t) = tokens(&mut self.analyzer, slice).into_iter().next()
                && self.corrections.contains(&t)
            {
                surfaces.entry(t).or_insert_with(|| slice.to_lowercase());
            }
        }
    }

    /// Sum of the weights of the distinct terms highlighted.
    fn weight(&mut self, text: &str, ranges: &[Range<usize>]) -> Score {
        let mut seen: Vec<String> = Vec::new();
        let mut w = 0.0;
        for r in ranges {
            let Some(slice) = text.get(r.clone()) else {
                continue;
            };
            if let Some(t) = tokens(&mut self.analyzer, slice).into_iter().next()
                && !seen.contains(&t)
            {
                w += self.terms.get(&t).copied().unwrap_or(0.0);
                seen.push(t);
            }
        }
        w
    }

    fn hit(
        &mut self,
        id: Uuid,
        score: Score,
        stored: Stored,
        surfaces: &mut HashMap<String, String>,
    ) -> Hit {
        let mut subject_highlights = Vec::new();
        if let (Some(g), Some(s)) = (&self.subject, &stored.subject) {
            let sn = g.snippet(s);
            if !sn.is_empty() {
                let base = sn.fragment_range().start;
                let ranges: Vec<Range<usize>> = sn
                    .highlighted()
                    .iter()
                    .map(|r| r.start + base..r.end + base)
                    .collect();
                self.note_surfaces(s, &ranges, surfaces);
                subject_highlights = byte_ranges(s, &ranges);
            }
        }
        let mut snippets = Vec::new();
        if let Some(g) = self.messages.take() {
            let mut found: Vec<(Score, Snippet)> = Vec::new();
            for m in &stored.messages {
                let sn = g.snippet(&m.body);
                if sn.is_empty() {
                    continue;
                }
                let text = sn.fragment();
                self.note_surfaces(text, sn.highlighted(), surfaces);
                let w = self.weight(text, sn.highlighted());
                found.push((
                    w,
                    Snippet {
                        seq: m.seq,
                        message_id: m.id,
                        private: m.private,
                        sender_type: m.sender_type.clone(),
                        text: text.to_string(),
                        highlights: byte_ranges(text, sn.highlighted()),
                    },
                ));
            }
            found.sort_by(|a, b| {
                b.0.partial_cmp(&a.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(a.1.seq.cmp(&b.1.seq))
            });
            found.truncate(SNIPPETS_PER_HIT);
            snippets = found.into_iter().map(|(_, s)| s).collect();
            snippets.sort_by_key(|s| s.seq);
            self.messages = Some(g);
        }
        Hit {
            conversation_id: id,
            external_id: stored.external_id,
            subject: stored.subject,
            subject_highlights,
            contact_name: stored.contact_name,
            contact_email: stored.contact_email,
            status: stored.status,
            tags: stored.tags,
            inbox: stored.inbox,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            score,
            snippets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osa_distance() {
        assert_eq!(edit_distance("studnet", "student"), 1);
        assert_eq!(edit_distance("ransomewar", "ransomwar"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn ranges_are_merged_byte_offsets() {
        let t = "Müller ok";
        assert_eq!(byte_ranges(t, &[0..7, 8..10, 0..3]), vec![[0, 7], [8, 10]]);
        // 0..2 ends inside `ü`: dropped rather than sliced.
        assert_eq!(byte_ranges(t, &[0..2, 0..2]), Vec::<[usize; 2]>::new());
    }
}
