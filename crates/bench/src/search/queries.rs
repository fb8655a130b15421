//! The fixed query mix of `bench search`, and its translation for each engine: the search
//! query language (tantivy), FTS5 `MATCH` syntax, PostgreSQL `tsquery` and `ILIKE` patterns.
//! Filters become a join on the conversations table in SQL.
use serde::Serialize;
use switchboard::conversations::state::Status;

use super::corpus::Corpus;

#[derive(Clone, Debug)]
pub enum Part {
    Term(String),
    Phrase(String),
}

#[derive(Clone, Debug)]
pub enum Filter {
    Status(String),
    Tag(String),
    Customer(String),
}

/// One logical query: text parts (all must match one message in SQL; anywhere in the
/// conversation for tantivy, which indexes one document per conversation) and an optional filter.
#[derive(Clone, Debug, Serialize)]
pub struct BenchQuery {
    /// What it exercises: `term`, `and`, `phrase`, `filter`, `code`, `fuzzy`, `diacritic`.
    pub kind: &'static str,
    /// The query as typed into the search box (the search query language).
    pub text: String,
    #[serde(skip)]
    pub parts: Vec<Part>,
    #[serde(skip)]
    pub filter: Option<Filter>,
}

fn q(kind: &'static str, parts: Vec<Part>, filter: Option<Filter>) -> BenchQuery {
    let mut text: Vec<String> = Vec::new();
    match &filter {
        Some(Filter::Status(s)) => text.push(format!("status:{s}")),
        Some(Filter::Tag(s)) => text.push(format!("tag:{s}")),
        Some(Filter::Customer(s)) => text.push(format!("customer:{s}")),
        None => {}
    }
    for p in &parts {
        match p {
            Part::Term(t) => text.push(t.clone()),
            Part::Phrase(p) => text.push(format!("\"{p}\"")),
        }
    }
    BenchQuery {
        kind,
        text: text.join(" "),
        parts,
        filter,
    }
}

fn t(s: &str) -> Part {
    Part::Term(s.to_string())
}

fn ph(s: &str) -> Part {
    Part::Phrase(s.to_string())
}

/// The mix: 15 queries. The customer filter uses the contact of conversation 42 and the
/// longest word of that conversation's first message, so it always has a hit.
pub fn mix(corpus: &Corpus) -> Vec<BenchQuery> {
    let probe = corpus.conversation(42 % corpus.len());
    let word = probe
        .messages
        .first()
        .and_then(|m| {
            m.body
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
                .max_by_key(|w| w.len())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "help".into());
    vec![
        q("term", vec![t("refund")], None),
        q("term", vec![t("invoice")], None),
        q("term", vec![t("chargeback")], None),
        q("term", vec![t("account")], None),
        q("and", vec![t("sync"), t("error")], None),
        q("and", vec![t("password"), t("reset"), t("email")], None),
        q("phrase", vec![ph("sharing link")], None),
        q("phrase", vec![ph("version history")], None),
        q(
            "filter",
            vec![t("refund")],
            Some(Filter::Status(Status::Resolved.as_str().into())),
        ),
        q(
            "filter",
            vec![t("invoice")],
            Some(Filter::Tag("billing".into())),
        ),
        q(
            "filter",
            vec![Part::Term(word)],
            Some(Filter::Customer(probe.contact_email.clone())),
        ),
        q("code", vec![t("NW-1004")], None),
        q("code", vec![t("INV-2024-0042")], None),
        q("fuzzy", vec![t("pasword")], None),
        q("diacritic", vec![t("muller")], None),
    ]
}

impl BenchQuery {
    /// FTS5 `MATCH` expression: every part as a quoted string (a code such as `NW-1004` is then
    /// the phrase `nw 1004`), AND-ed.
    pub fn fts5_match(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Term(s) | Part::Phrase(s) => format!("\"{}\"", s.replace('"', "\"\"")),
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// `ILIKE` patterns, one per part (`%part%`), with `%`, `_` and `\` escaped.
    pub fn ilike_patterns(&self) -> Vec<String> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Term(s) | Part::Phrase(s) => {
                    let esc = s
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    format!("%{esc}%")
                }
            })
            .collect()
    }

    /// (function, argument) pairs whose `tsquery`s are AND-ed (`&&`): the bare terms together
    /// in one `plainto_tsquery`, each phrase in a `phraseto_tsquery`.
    pub fn tsquery_parts(&self) -> Vec<(&'static str, String)> {
        let terms: Vec<&str> = self
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Term(s) => Some(s.as_str()),
                Part::Phrase(_) => None,
            })
            .collect();
        let mut out = Vec::new();
        if !terms.is_empty() {
            out.push(("plainto_tsquery", terms.join(" ")));
        }
        for p in &self.parts {
            if let Part::Phrase(s) = p {
                out.push(("phraseto_tsquery", s.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::corpus::Spec;

    #[test]
    fn translations() {
        let c = Corpus::new(Spec {
            messages: 1000,
            conversations: 100,
            seed: 1,
        })
        .unwrap();
        let m = mix(&c);
        assert_eq!(m.len(), 15);
        let and = &m[5];
        assert_eq!(and.text, "password reset email");
        assert_eq!(and.fts5_match(), "\"password\" AND \"reset\" AND \"email\"");
        assert_eq!(
            and.tsquery_parts(),
            vec![("plainto_tsquery", "password reset email".to_string())]
        );
        let phrase = &m[6];
        assert_eq!(phrase.text, "\"sharing link\"");
        assert_eq!(phrase.ilike_patterns(), vec!["%sharing link%".to_string()]);
        assert_eq!(m[8].text, "status:resolved refund");
        assert!(m[10].text.starts_with("customer:"));
    }
}
