//! The search box language (see `docs/search.md`): a small hand-written parser that never panics.
//!
//! ```text
//! refund double charge            all words (AND), stemmed, case- and accent-insensitive
//! "conflicted copy"               exact phrase
//! refund OR chargeback            either (OR binds two neighbours; chains: a OR b OR c)
//! -spam  -"out of office"         exclude
//! customer:anna@example.com  tag:billing  status:open  inbox:website  agent:marta
//! after:2024-02-01  before:2024-03-01   (creation date, UTC; after is inclusive, before exclusive)
//! ```
//! Filter values may be quoted (`inbox:"EU support"`) and negated (`-tag:spam`). No wildcards, no
//! parentheses. Bounded: at most [`MAX_QUERY_CHARS`] characters and [`MAX_CLAUSES`] clauses.
use std::ops::Range;

use chrono::NaiveDate;

pub const MAX_QUERY_CHARS: usize = 1_000;
pub const MAX_CLAUSES: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    Customer(String),
    Tag(String),
    Status(String),
    Inbox(String),
    Agent(String),
    Before(NaiveDate),
    After(NaiveDate),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Clause {
    /// A bare word as typed; `span` is its byte range in the query (for "did you mean").
    Term {
        text: String,
        span: Range<usize>,
    },
    /// The text between double quotes.
    Phrase(String),
    Filter(Filter),
}

/// One required (or, when negated, excluded) part of the query: one clause, or several joined
/// by `OR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub negated: bool,
    pub alternatives: Vec<Clause>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub groups: Vec<Group>,
}

enum Item {
    Or,
    Clause { negated: bool, clause: Clause },
}

const FILTERS: [&str; 7] = [
    "customer", "tag", "status", "inbox", "agent", "before", "after",
];

/// Parses a query; the error is a message for the person who typed it.
pub fn parse(q: &str) -> Result<Parsed, String> {
    let n_chars = q.chars().count();
    if n_chars > MAX_QUERY_CHARS {
        return Err(format!(
            "query too long ({n_chars} characters): at most {MAX_QUERY_CHARS}"
        ));
    }
    if q.contains('*') {
        return Err(
            "wildcards (*) are not supported: search for whole words (they are stemmed, and typos are corrected)"
                .into(),
        );
    }
    let items = lex(q)?;
    let groups = group(items)?;
    let n: usize = groups.iter().map(|g| g.alternatives.len()).sum();
    if n > MAX_CLAUSES {
        return Err(format!(
            "too many terms and filters ({n}): at most {MAX_CLAUSES}"
        ));
    }
    Ok(Parsed { groups })
}

fn lex(q: &str) -> Result<Vec<Item>, String> {
    let chars: Vec<(usize, char)> = q.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map_or(q.len(), |&(o, _)| o);
    let mut items = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // Bound the work whatever the input: the clause limit is checked again after grouping.
        if items.len() > MAX_CLAUSES * 2 + 1 {
            return Err(format!("too many terms and filters: at most {MAX_CLAUSES}"));
        }
        let c = chars[i].1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let mut negated = false;
        if c == '-' {
            match at(i + 1) {
                Some(n) if !n.is_whitespace() && n != '-' => {
                    negated = true;
                    i += 1;
                }
                _ => {
                    i += 1;
                    continue;
                }
            }
        }
        if at(i) == Some('"') {
            let (text, next) = quoted(q, &chars, i)?;
            items.push(Item::Clause {
                negated,
                clause: Clause::Phrase(text),
            });
            i = next;
            continue;
        }
        // A word: up to whitespace or a quote.
        let start = i;
        while let Some(c) = at(i) {
            if c.is_whitespace() || c == '"' {
                break;
            }
            i += 1;
        }
        let word = &q[offset(start)..offset(i)];
        if word == "OR" && !negated {
            items.push(Item::Or);
            continue;
        }
        if let Some((name, value)) = word.split_once(':') {
            let lname = name.to_lowercase();
            if FILTERS.contains(&lname.as_str()) {
                let value = if value.is_empty() && at(i) == Some('"') {
                    let (v, next) = quoted(q, &chars, i)?;
                    i = next;
                    v
                } else {
                    value.to_string()
                };
                let filter = filter(&lname, value.trim())?;
                items.push(Item::Clause {
                    negated,
                    clause: Clause::Filter(filter),
                });
                continue;
            }
        }
        items.push(Item::Clause {
            negated,
            clause: Clause::Term {
                text: word.to_string(),
                span: offset(start)..offset(i),
            },
        });
    }
    Ok(items)
}

/// The text of the quoted string opening at `chars[i]`, and the index after its closing quote.
fn quoted(q: &str, chars: &[(usize, char)], i: usize) -> Result<(String, usize), String> {
    let open = chars.get(i).map_or(q.len(), |&(o, _)| o);
    let close = chars
        .iter()
        .enumerate()
        .skip(i + 1)
        .find(|(_, (_, c))| *c == '"')
        .map(|(j, _)| j)
        .ok_or_else(|| {
            "unbalanced quote: close the phrase with a second \" (or remove the quote)".to_string()
        })?;
    let text = &q[open + 1..chars[close].0];
    Ok((text.to_string(), close + 1))
}

fn filter(name: &str, value: &str) -> Result<Filter, String> {
    if value.is_empty() {
        return Err(format!("{name}: needs a value, e.g. {}", example(name)));
    }
    let v = value.to_lowercase();
    Ok(match name {
        "customer" => Filter::Customer(v),
        "tag" => Filter::Tag(v),
        "status" => Filter::Status(v),
        "inbox" => Filter::Inbox(v),
        "agent" => Filter::Agent(v),
        "before" | "after" => {
            let d = NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| {
                format!("{name}: expects a date YYYY-MM-DD, e.g. {}", example(name))
            })?;
            if name == "before" {
                Filter::Before(d)
            } else {
                Filter::After(d)
            }
        }
        _ => return Err(format!("unknown filter {name}:")),
    })
}

fn example(name: &str) -> &'static str {
    match name {
        "customer" => "customer:anna@example.com",
        "tag" => "tag:billing",
        "status" => "status:open",
        "inbox" => "inbox:website",
        "agent" => "agent:marta@example.com",
        "before" => "before:2024-03-01",
        _ => "after:2024-02-01",
    }
}

fn group(items: Vec<Item>) -> Result<Vec<Group>, String> {
    const MISPLACED_OR: &str =
        "OR must stand between two words, phrases or filters, e.g. refund OR chargeback";
    let mut groups: Vec<Group> = Vec::new();
    let mut pending_or = false;
    for item in items {
        match item {
            Item::Or => {
                let prev_ok = groups.last().is_some_and(|g| !g.negated);
                if pending_or || !prev_ok {
                    return Err(MISPLACED_OR.into());
                }
                pending_or = true;
            }
            Item::Clause { negated, clause } => {
                if pending_or {
                    if negated {
                        return Err("a negated term cannot be part of OR".into());
                    }
                    if let Some(g) = groups.last_mut() {
                        g.alternatives.push(clause);
                    }
                    pending_or = false;
                } else {
                    groups.push(Group {
                        negated,
                        alternatives: vec![clause],
                    });
                }
            }
        }
    }
    if pending_or {
        return Err(MISPLACED_OR.into());
    }
    if groups.iter().any(|g| g.negated && g.alternatives.len() > 1) {
        return Err("a negated term cannot be part of OR".into());
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(t: &str, q: &str) -> Clause {
        let start = q.find(t).unwrap();
        Clause::Term {
            text: t.into(),
            span: start..start + t.len(),
        }
    }

    #[test]
    fn terms_phrases_or_not_filters() {
        let q = r#"refund "double charge" a OR b -spam -"out of office" tag:Billing status:open"#;
        let p = parse(q).unwrap();
        assert_eq!(p.groups.len(), 7);
        assert_eq!(p.groups[0].alternatives, vec![term("refund", q)]);
        assert_eq!(
            p.groups[1].alternatives,
            vec![Clause::Phrase("double charge".into())]
        );
        assert_eq!(p.groups[2].alternatives.len(), 2);
        assert!(p.groups[3].negated);
        assert!(p.groups[4].negated);
        assert_eq!(
            p.groups[5].alternatives,
            vec![Clause::Filter(Filter::Tag("billing".into()))]
        );
    }

    #[test]
    fn quoted_filter_values_and_dates() {
        let p = parse(r#"inbox:"EU Support" after:2024-02-01 -tag:spam"#).unwrap();
        assert_eq!(
            p.groups[0].alternatives,
            vec![Clause::Filter(Filter::Inbox("eu support".into()))]
        );
        assert!(matches!(
            p.groups[1].alternatives[0],
            Clause::Filter(Filter::After(_))
        ));
        assert!(p.groups[2].negated);
        assert!(parse("before:yesterday").is_err());
        assert!(parse("tag:").is_err());
    }

    #[test]
    fn unknown_prefix_is_a_word() {
        let q = "re:refund";
        let p = parse(q).unwrap();
        assert_eq!(p.groups[0].alternatives, vec![term("re:refund", q)]);
    }

    #[test]
    fn hostile_input_is_refused_not_panicked_on() {
        assert!(parse(&"a".repeat(1001)).is_err());
        assert!(parse("*foo").is_err());
        assert!(parse("foo*").is_err());
        assert!(parse("\"unbalanced").is_err());
        assert!(parse("tag:\"unbalanced").is_err());
        assert!(parse("OR").is_err());
        assert!(parse("a OR").is_err());
        assert!(parse("a OR OR b").is_err());
        assert!(parse("a OR -b").is_err());
        let many = vec!["x"; 501].join(" OR ");
        assert!(parse(&many[..many.len().min(999)]).is_err());
        let words = vec!["w"; 40].join(" ");
        assert!(parse(&words).is_err());
        for q in [
            "-", "--", "- -", "\"\"", "-\"\"", "é:\"x\"", "((a))", "\u{0}", "ü-", "a\"b\"c",
        ] {
            let _ = parse(q);
        }
        assert_eq!(parse("").unwrap(), Parsed::default());
        assert_eq!(parse("   ").unwrap(), Parsed::default());
    }
}
