//! Properties of search::query::parse (the search box).
use proptest::prelude::*;

use crate::search::query::{self, Clause, Filter};

use super::*;

const QUERY_PIECES: &[&str] = &[
    " ",
    " ",
    "\"",
    "-",
    "OR",
    " OR ",
    "tag:",
    "customer:",
    "status:",
    "inbox:",
    "agent:",
    "before:",
    "after:",
    "2024-02-01",
    "2024-13-45",
    ":",
    "é",
    "\u{3000}",
    "\t",
    "*",
    "--",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn queries_parse_or_fail_and_stay_bounded(q in prop_oneof![any::<String>(), tokens_of(QUERY_PIECES)]) {
        let Ok(p) = query::parse(&q) else { return Ok(()) };
        prop_assert!(q.chars().count() <= query::MAX_QUERY_CHARS);
        let clauses: usize = p.groups.iter().map(|g| g.alternatives.len()).sum();
        prop_assert!(clauses <= query::MAX_CLAUSES);
        for g in &p.groups {
            prop_assert!(!g.alternatives.is_empty());
            prop_assert!(!(g.negated && g.alternatives.len() > 1));
            for c in &g.alternatives {
                if let Clause::Term { text, span } = c {
                    // Spans point at the word as typed ("did you mean" rewrites them in place).
                    prop_assert_eq!(q.get(span.clone()), Some(text.as_str()));
                    prop_assert!(!text.is_empty() && !text.contains(char::is_whitespace));
                    prop_assert!(!text.contains('"'));
                }
            }
        }
    }

    #[test]
    fn structured_queries_round_trip(
        parts in proptest::collection::vec((0..4u8, "[a-z][a-z0-9]{0,7}", any::<bool>()), 0..=32),
    ) {
        let mut q = String::new();
        let mut want = Vec::new();
        for (kind, word, negated) in &parts {
            let (text, clause) = match kind {
                0 => (word.clone(), None),
                1 => (format!("\"{word} {word}\""), Some(Clause::Phrase(format!("{word} {word}")))),
                2 => (format!("tag:{}", word.to_uppercase()), Some(Clause::Filter(Filter::Tag(word.clone())))),
                _ => (format!("inbox:\"{word} x\""), Some(Clause::Filter(Filter::Inbox(format!("{word} x"))))),
            };
            let start = q.len() + usize::from(*negated);
            q.push_str(if *negated { "-" } else { "" });
            q.push_str(&text);
            q.push(' ');
            let clause = clause.unwrap_or(Clause::Term { text: word.clone(), span: start..start + word.len() });
            want.push((*negated, clause));
        }
        let p = query::parse(&q).map_err(TestCaseError::fail)?;
        let got: Vec<_> = p.groups.into_iter().map(|mut g| (g.negated, g.alternatives.remove(0))).collect();
        prop_assert_eq!(got, want);
    }
}
