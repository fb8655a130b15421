//! The offline responder's answer: extractive. It picks the sentences (list items, table rows)
//! of the best-matching section that share the most words with the question, keeps them in
//! the article's order, strips Markdown, and cites the article. It adds the best sentences of a
//! second article when that one scores nearly as well and covers words the first does not
//! (questions that need two articles). Everything it says is copied from the KB.
use std::collections::HashSet;

use serde::Serialize;
use uuid::Uuid;

use crate::kb::{Fused, KbIndex, Retrieval, index::KbDoc};

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Citation {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub url: Option<String>,
}

impl Citation {
    pub fn of(d: &KbDoc) -> Self {
        Self {
            id: d.id,
            slug: d.slug.clone(),
            title: d.title.clone(),
            url: d.url.clone(),
        }
    }
}

/// Markdown → plain text: emphasis, code ticks, links (`[t](u)` → `t`), list markers.
pub fn plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        match (after.find("]("), after.find(')')) {
            (Some(close), Some(end)) if close < end => {
                out.push_str(&after[..close]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    let out = out.replace("**", "").replace("__", "").replace('`', "");
    let t = out.trim_start();
    let t = t
        .strip_prefix("- ")
        .or_else(|| t.strip_prefix("* "))
        .unwrap_or(t);
    let t = match t.split_once(". ") {
        Some((n, r)) if !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()) => r,
        _ => t,
    };
    t.trim().to_string()
}

/// A section's sentences: prose split at sentence ends, each list item and table row alone;
/// each marked true when it is a table row.
fn units_marked(text: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for line in text.lines() {
        let l = line.trim();
        if l.is_empty() {
            header = None;
            continue;
        }
        if l.starts_with('|') {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| plain(c.trim()))
                .collect();
            if cells
                .iter()
                .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
            {
                continue;
            }
            match &header {
                None => header = Some(cells),
                Some(h) => out.push((
                    h.iter()
                        .zip(&cells)
                        .map(|(k, v)| {
                            if k.is_empty() {
                                v.clone()
                            } else {
                                format!("{k}: {v}")
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                        + ".",
                    true,
                )),
            }
            continue;
        }
        let p = plain(l);
        let mut start = 0;
        let b = p.as_bytes();
        for i in 0..b.len() {
            let end_here = matches!(b[i], b'.' | b'!' | b'?')
                && (i + 1 == b.len() || b[i + 1] == b' ')
                && i + 2 < b.len()
                && b[i + 2].is_ascii_uppercase();
            if end_here {
                out.push((p[start..=i].trim().to_string(), false));
                start = i + 1;
            }
        }
        let last = p[start..].trim();
        if !last.is_empty() {
            out.push((last.to_string(), false));
        }
    }
    out
}

fn best_units(
    kb: &KbIndex,
    doc: &KbDoc,
    sections: &[(usize, f32)],
    terms: &HashSet<String>,
    n: usize,
) -> (Vec<String>, HashSet<String>) {
    let top = sections.first().map_or(0.0, |s| s.1);
    let mut cands: Vec<(usize, usize, String, HashSet<String>)> = Vec::new();
    let mut rows: HashSet<usize> = HashSet::new();
    for (rank, (sec, score)) in sections.iter().enumerate().take(2) {
        if rank > 0 && *score < top * 0.6 {
            break;
        }
        let Some(s) = doc.sections.get(*sec) else {
            continue;
        };
        for (i, (u, row)) in units_marked(&s.text).into_iter().enumerate() {
            let words: HashSet<String> = kb.question_terms(&u).into_iter().collect();
            let hit: HashSet<String> = words.intersection(terms).cloned().collect();
            if row {
                rows.insert(sec * 1000 + i);
            }
            cands.push((sec * 1000 + i, hit.len(), u, hit));
        }
    }
    // A word most units share (a table's column names, the article's topic) tells them apart
    // from nothing: count only the distinctive ones, so "Pro" picks the Pro row of a table
    // instead of its first three rows.
    let mut df: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for c in &cands {
        for w in &c.3 {
            *df.entry(w.clone()).or_default() += 1;
        }
    }
    let common = (cands.len() / 2).max(2);
    let distinctive = |hit: &HashSet<String>| {
        hit.iter()
            .filter(|w| df.get(w.as_str()).copied().unwrap_or(0) < common)
            .count()
    };
    if cands.iter().any(|c| distinctive(&c.3) > 0) {
        for c in &mut cands {
            c.1 += distinctive(&c.3) * 10;
        }
        // Table rows without a distinctive word are the rows the customer did not ask about.
        cands.retain(|c| c.1 >= 10 || !rows.contains(&c.0));
    }
    let mut ranked: Vec<&(usize, usize, String, HashSet<String>)> = cands.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut picked: Vec<&(usize, usize, String, HashSet<String>)> =
        ranked.into_iter().filter(|c| c.1 > 0).take(n).collect();
    if picked.is_empty() {
        picked = cands.iter().take(2).collect();
    }
    picked.sort_by_key(|c| c.0);
    let covered = picked.iter().flat_map(|c| c.3.iter().cloned()).collect();
    (picked.into_iter().map(|c| c.2.clone()).collect(), covered)
}

/// An answer built from the retrieved articles, and the articles it cites.
pub fn extract(kb: &KbIndex, question: &str, r: &Retrieval) -> (String, Vec<Citation>) {
    let terms: HashSet<String> = kb
        .question_terms(question)
        .into_iter()
        .chain(r.terms.iter().cloned())
        .collect();
    let Some(first) = r.hits.first() else {
        return (String::new(), Vec::new());
    };
    let docs = kb.docs();
    let Some(d1) = docs.get(first.doc) else {
        return (String::new(), Vec::new());
    };
    let (mut text, covered) = best_units(kb, d1, &first.sections, &terms, 3);
    let mut cites = vec![Citation::of(d1)];
    if let Some(second) = r.hits.get(1)
        && second.score >= first.score * 0.7
        && let Some(d2) = docs.get(second.doc)
    {
        let rest: HashSet<String> = terms.difference(&covered).cloned().collect();
        let (more, new) = best_units(kb, d2, &second.sections, &rest, 2);
        if !new.is_empty() {
            text.extend(more);
            cites.push(Citation::of(d2));
        }
    }
    (text.join(" "), cites)
}

/// The answer to a message with one or more requests: each request the KB answers gets its
/// own extract (in the message's order), the articles cited once each.
pub fn extract_requests(kb: &KbIndex, message: &str, fused: &Fused) -> (String, Vec<Citation>) {
    if fused.requests.len() < 2 {
        return extract(kb, message, &fused.all);
    }
    let mut texts: Vec<String> = Vec::new();
    let mut cites: Vec<Citation> = Vec::new();
    for (q, r) in &fused.requests {
        if super::decide::confident(kb, r, q).is_err() {
            continue;
        }
        let Some(top) = r.hits.first() else {
            continue;
        };
        let one = Retrieval {
            hits: vec![top.clone()],
            terms: r.terms.clone(),
            unknown: r.unknown.clone(),
        };
        let (text, c) = extract(kb, q, &one);
        if text.is_empty() || texts.contains(&text) {
            continue;
        }
        texts.push(text);
        for c in c {
            if !cites.contains(&c) {
                cites.push(c);
            }
        }
    }
    if texts.is_empty() {
        return extract(kb, message, &fused.all);
    }
    (texts.join("\n\n"), cites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markdown() {
        assert_eq!(
            plain("- **Monthly plans:** see [the page](https://x)"),
            "Monthly plans: see the page"
        );
        assert_eq!(plain("2. Click **Save**."), "Click Save.");
    }

    #[test]
    fn tables_become_sentences() {
        let u = units_marked("| Plan | Size |\n|---|---|\n| Free | 2 GB |\n| Pro | 250 GB |");
        assert_eq!(
            u,
            vec![
                ("Plan: Free, Size: 2 GB.".to_string(), true),
                ("Plan: Pro, Size: 250 GB.".to_string(), true)
            ]
        );
    }
}
