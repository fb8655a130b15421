//! Retrieval over one account's knowledge base: an in-memory tantivy index (separate from the
//! transcript index) with one document per article **section** (`## heading`), so a long article
//! answers with the part that matters. Each section carries its article's title and tags as
//! fields of their own (boosted), so title words and tag "synonyms" count for every section.
//!
//! A question goes through `lexicon::expand` (colloquial and German/French/Spanish words →
//! the words articles use), stop-word removal and the same `sb` analyzer as transcripts (codes
//! like `NW-1004` stay whole, ASCII folding, English stemming). A word the KB does not contain
//! is replaced by the KB words within a small edit distance (typos: `pasword` → `password`);
//! one with no near neighbour is reported as `unknown` (the bot uses that to tell "the KB does
//! not cover this" from "the customer phrased it differently"). Sections are ranked by BM25;
//! an article scores its best section plus a share of its second best.
use std::collections::{HashMap, HashSet};

use tantivy::{
    Index, IndexReader, TantivyDocument,
    collector::TopDocs,
    query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery},
    schema::{
        Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
    },
    tokenizer::TextAnalyzer,
};
use uuid::Uuid;

use super::{lexicon, requests, service::Article};
use crate::search::analyzer::{self, ANALYZER};

const W_TITLE: f32 = 2.0;
const W_TAGS: f32 = 2.0;
const W_HEADING: f32 = 1.5;
const W_BODY: f32 = 1.0;
/// Weight of a typo-corrected word relative to a word spelled as in the KB.
const W_FUZZY: f32 = 0.8;
/// Share of an article's second-best section added to its score.
const SECOND_SECTION: f32 = 0.3;
/// Weight of the whole-article match (words spread over several sections).
const W_WHOLE: f32 = 0.5;
/// `section` value of the one whole-article document per article.
const WHOLE: u64 = u64::MAX;

#[derive(Clone, Debug)]
pub struct Section {
    pub heading: String,
    pub text: String,
}

#[derive(Clone, Debug)]
pub struct KbDoc {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub url: Option<String>,
    pub tags: Vec<String>,
    pub sections: Vec<Section>,
    /// Every analyzed word of the article (title, tags, body).
    vocab: HashSet<String>,
}

/// One retrieved article: its score, how much of the question it covers, and its matching
/// sections, best first.
#[derive(Clone, Debug)]
pub struct Hit {
    pub doc: usize,
    pub score: f32,
    /// Share of the question's known words (after expansion) found in this article.
    pub coverage: f32,
    /// (section index, score), best first.
    pub sections: Vec<(usize, f32)>,
}

#[derive(Clone, Debug, Default)]
pub struct Retrieval {
    pub hits: Vec<Hit>,
    /// The analyzed question words that were searched for (after expansion and typo fixing).
    pub terms: Vec<String>,
    /// Question words found nowhere in the KB, even with a typo allowance.
    pub unknown: Vec<String>,
}

pub struct KbIndex {
    docs: Vec<KbDoc>,
    reader: Option<IndexReader>,
    fields: Fields,
    vocab: HashMap<String, u32>,
    /// The codes the articles use (`nw-1004`), so loosely typed ones can be spelled the same.
    codes: HashSet<String>,
    analyzer: TextAnalyzer,
}

/// The retrieval of a message with several requests: each request retrieved on its own, and
/// the articles fused so that every request's best article gets a place near the top.
#[derive(Clone, Debug, Default)]
pub struct Fused {
    /// The fused ranking (each hit as retrieved for the request it ranked best in).
    pub all: Retrieval,
    /// The requests and their own retrievals, in the message's order (one when nothing split).
    pub requests: Vec<(String, Retrieval)>,
}

/// Reciprocal rank fusion constant: rank 1 scores 1/61, rank 2 1/62…
const RRF_K: f32 = 60.0;

#[derive(Clone, Copy)]
struct Fields {
    doc: Field,
    section: Field,
    title: Field,
    tags: Field,
    heading: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let num = NumericOptions::default().set_stored();
    let f = Fields {
        doc: b.add_u64_field("doc", num.clone()),
        section: b.add_u64_field("section", num),
        title: b.add_text_field("title", text.clone()),
        tags: b.add_text_field("tags", text.clone()),
        heading: b.add_text_field("heading", text.clone()),
        body: b.add_text_field("body", text),
    };
    (b.build(), f)
}

/// Splits a Markdown body into sections at `##`-or-deeper headings; the `# title` line is dropped.
pub fn sections(title: &str, body: &str) -> Vec<Section> {
    let mut out = vec![Section {
        heading: title.to_string(),
        text: String::new(),
    }];
    for line in body.lines() {
        let t = line.trim_start();
        if let Some(h) = t.strip_prefix("# ")
            && (h.trim() == title.trim() || out.len() == 1 && out[0].text.trim().is_empty())
        {
            continue;
        }
        if t.starts_with("##") {
            out.push(Section {
                heading: t.trim_start_matches('#').trim().to_string(),
                text: String::new(),
            });
            continue;
        }
        if let Some(last) = out.last_mut() {
            last.text.push_str(line);
            last.text.push('\n');
        }
    }
    out.retain(|s| !s.text.trim().is_empty());
    for s in &mut out {
        s.text = s.text.trim().to_string();
    }
    out
}

/// Optimal-string-alignment distance, stopping early past `max`.
fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let mut prev2: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

impl KbIndex {
    pub fn build(articles: &[Article]) -> anyhow::Result<Self> {
        let (schema, fields) = schema();
        let mut analyzer = analyzer::analyzer();
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut docs = Vec::with_capacity(articles.len());
        let index = Index::create_in_ram(schema);
        index.tokenizers().register(ANALYZER, analyzer::analyzer());
        let reader = if articles.is_empty() {
            None
        } else {
            let mut writer = index.writer_with_num_threads(1, 15_000_000)?;
            for (i, a) in articles.iter().enumerate() {
                let secs = sections(&a.title, &a.body);
                let tags = a.tags.join(" ");
                let mut words = HashSet::new();
                for text in [a.title.as_str(), tags.as_str(), a.body.as_str()] {
                    words.extend(analyzer::tokens(&mut analyzer, text));
                }
                for w in &words {
                    *vocab.entry(w.clone()).or_default() += 1;
                }
                for (j, s) in secs.iter().enumerate() {
                    let mut d = TantivyDocument::default();
                    d.add_u64(fields.doc, i as u64);
                    d.add_u64(fields.section, j as u64);
                    d.add_text(fields.title, &a.title);
                    d.add_text(fields.tags, &tags);
                    d.add_text(fields.heading, &s.heading);
                    d.add_text(fields.body, &s.text);
                    writer.add_document(d)?;
                }
                let mut d = TantivyDocument::default();
                d.add_u64(fields.doc, i as u64);
                d.add_u64(fields.section, WHOLE);
                d.add_text(fields.title, &a.title);
                d.add_text(fields.tags, &tags);
                d.add_text(fields.body, &a.body);
                writer.add_document(d)?;
                docs.push(KbDoc {
                    id: a.id,
                    slug: a.slug.clone(),
                    title: a.title.clone(),
                    url: a.url.clone(),
                    tags: a.tags.clone(),
                    sections: secs,
                    vocab: words,
                });
            }
            writer.commit()?;
            Some(index.reader()?)
        };
        let codes = vocab
            .keys()
            .filter(|w| requests::is_code(w))
            .cloned()
            .collect();
        Ok(Self {
            docs,
            reader,
            fields,
            vocab,
            codes,
            analyzer,
        })
    }

    pub fn docs(&self) -> &[KbDoc] {
        &self.docs
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The KB words closest to an unknown word (typo allowance grows with length).
    fn near(&self, word: &str) -> Vec<String> {
        let n = word.chars().count();
        if n < 4 || word.chars().any(|c| c.is_ascii_digit()) {
            return Vec::new();
        }
        let max = if n >= 8 { 2 } else { 1 };
        let mut best: Vec<(usize, &String)> = self
            .vocab
            .keys()
            .filter_map(|v| {
                let d = edit_distance(word, v, max);
                (d <= max).then_some((d, v))
            })
            .collect();
        best.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        let top = best.first().map(|b| b.0);
        best.into_iter()
            .take_while(|b| Some(b.0) == top)
            .take(3)
            .map(|b| b.1.clone())
            .collect()
    }

    /// The analyzed, expanded, stop-word-free words of a question.
    pub fn question_terms(&self, question: &str) -> Vec<String> {
        let expanded = lexicon::expand(&requests::normalise_codes(question, &self.codes));
        let kept: String = expanded
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '.'))
            .map(|w| w.trim_matches(|c| c == '.' || c == '-'))
            .filter(|w| !w.is_empty() && !lexicon::is_stop(&w.to_lowercase()))
            .collect::<Vec<_>>()
            .join(" ");
        let mut analyzer = self.analyzer.clone();
        let mut seen = HashSet::new();
        analyzer::tokens(&mut analyzer, &kept)
            .into_iter()
            .filter(|t| !lexicon::is_stop(t) && seen.insert(t.clone()))
            .collect()
    }

    pub fn retrieve(&self, question: &str, limit: usize) -> Retrieval {
        let Some(reader) = &self.reader else {
            return Retrieval::default();
        };
        let mut terms: Vec<(String, f32)> = Vec::new();
        let mut unknown = Vec::new();
        for t in self.question_terms(question) {
            if self.vocab.contains_key(&t) {
                terms.push((t, 1.0));
            } else {
                let near = self.near(&t);
                if near.is_empty() {
                    unknown.push(t);
                }
                for n in near {
                    if !terms.iter().any(|(x, _)| *x == n) {
                        terms.push((n, W_FUZZY));
                    }
                }
            }
        }
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (t, w) in &terms {
            for (field, fw) in [
                (f.title, W_TITLE),
                (f.tags, W_TAGS),
                (f.heading, W_HEADING),
                (f.body, W_BODY),
            ] {
                let q = TermQuery::new(
                    tantivy::Term::from_field_text(field, t),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(q), fw * w)),
                ));
            }
        }
        let mut out = Retrieval {
            hits: Vec::new(),
            terms: terms.iter().map(|(t, _)| t.clone()).collect(),
            unknown,
        };
        if clauses.is_empty() {
            return out;
        }
        let searcher = reader.searcher();
        let query = BooleanQuery::new(clauses);
        let Ok(top) = searcher.search(&query, &TopDocs::with_limit(200).order_by_score()) else {
            return out;
        };
        let mut by_doc: HashMap<usize, Vec<(usize, f32)>> = HashMap::new();
        let mut whole: HashMap<usize, f32> = HashMap::new();
        for (score, addr) in top {
            let Ok(d) = searcher.doc::<TantivyDocument>(addr) else {
                continue;
            };
            let doc = d.get_first(f.doc).and_then(|v| v.as_u64());
            let sec = d.get_first(f.section).and_then(|v| v.as_u64());
            if let (Some(doc), Some(WHOLE)) = (doc, sec) {
                whole.insert(doc as usize, score);
                by_doc.entry(doc as usize).or_default();
            } else if let (Some(doc), Some(sec)) = (doc, sec) {
                by_doc
                    .entry(doc as usize)
                    .or_default()
                    .push((sec as usize, score));
            }
        }
        let known: Vec<&String> = terms
            .iter()
            .filter(|(_, w)| *w >= 1.0)
            .map(|(t, _)| t)
            .collect();
        let mut hits: Vec<Hit> = by_doc
            .into_iter()
            .map(|(doc, mut secs)| {
                secs.sort_by(|a, b| b.1.total_cmp(&a.1));
                let best = secs.first().map_or(0.0, |s| s.1);
                let score = best
                    + secs.get(1).map_or(0.0, |s| s.1 * SECOND_SECTION)
                    + whole.get(&doc).copied().unwrap_or(0.0) * W_WHOLE;
                if secs.is_empty() {
                    secs.push((0, 0.0));
                }
                let vocab = &self.docs[doc].vocab;
                let covered = known.iter().filter(|t| vocab.contains(**t)).count();
                Hit {
                    doc,
                    score,
                    coverage: if known.is_empty() {
                        0.0
                    } else {
                        covered as f32 / known.len() as f32
                    },
                    sections: secs,
                }
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
        hits.truncate(limit);
        out.hits = hits;
        out
    }
}

impl KbIndex {
    /// Retrieves each request of `message` (see `requests::split`) and, when they lead to
    /// different articles (`distinct` says whether a request's retrieval is good enough to
    /// count), fuses the rankings: every such request's best article first, in the message's
    /// order, then reciprocal rank fusion of all of them and of the whole message. A message
    /// whose requests lead to one article is one topic: the whole message's retrieval.
    pub fn retrieve_requests(
        &self,
        message: &str,
        limit: usize,
        distinct: impl Fn(&str, &Retrieval) -> bool,
    ) -> Fused {
        let asked = requests::split(message);
        let whole = self.retrieve(message, limit);
        let single = |whole: Retrieval| Fused {
            requests: vec![(message.to_string(), whole.clone())],
            all: whole,
        };
        if asked.len() < 2 {
            return single(whole);
        }
        let requests: Vec<(String, Retrieval)> = asked
            .into_iter()
            .map(|q| {
                let r = self.retrieve(&q, limit);
                (q, r)
            })
            .filter(|(q, r)| distinct(q, r))
            .collect();
        let mut tops: Vec<usize> = requests
            .iter()
            .filter_map(|(_, r)| r.hits.first().map(|h| h.doc))
            .collect();
        tops.dedup();
        if tops.len() < 2 {
            return single(whole);
        }
        let mut fused: HashMap<usize, (f32, Hit, usize)> = HashMap::new();
        let lists = requests
            .iter()
            .map(|(_, r)| r)
            .chain(std::iter::once(&whole));
        for r in lists {
            for (rank, h) in r.hits.iter().enumerate() {
                let e = fused.entry(h.doc).or_insert((0.0, h.clone(), rank));
                e.0 += 1.0 / (RRF_K + rank as f32 + 1.0);
                if rank < e.2 {
                    (e.1, e.2) = (h.clone(), rank);
                }
            }
        }
        let mut order: Vec<usize> = Vec::new();
        for d in tops {
            if !order.contains(&d) {
                order.push(d);
            }
        }
        let mut rest: Vec<(&usize, &(f32, Hit, usize))> =
            fused.iter().filter(|(d, _)| !order.contains(d)).collect();
        rest.sort_by(|a, b| b.1.0.total_cmp(&a.1.0).then(a.0.cmp(b.0)));
        order.extend(rest.into_iter().map(|(d, _)| *d));
        let hits = order
            .into_iter()
            .filter_map(|d| fused.get(&d).map(|e| e.1.clone()))
            .take(limit)
            .collect();
        Fused {
            all: Retrieval {
                hits,
                terms: whole.terms,
                unknown: whole.unknown,
            },
            requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("pasword", "password", 2), 1);
        assert_eq!(edit_distance("ransomeware", "ransomware", 2), 1);
        assert_eq!(edit_distance("studnet", "student", 2), 1);
        assert!(edit_distance("refund", "invoice", 2) > 2);
    }

    #[test]
    fn sections_split_at_headings() {
        let s = sections("T", "# T\n\nIntro.\n\n## A\n\nAlpha.\n\n## B\n\nBeta.");
        let h: Vec<&str> = s.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(h, vec!["T", "A", "B"]);
        assert_eq!(s[1].text, "Alpha.");
    }
}
