//! What a customer message asks, before retrieval: the separate requests of a multi-topic
//! message ("… and also …", two questions, two sentences), and codes typed the way people type
//! them (`nw 1004`, `NW1004`) spelled the way the knowledge base spells them (`NW-1004`).
use std::{collections::HashSet, sync::LazyLock};

use regex::Regex;

/// A request needs this many words to stand alone; shorter pieces stay with their neighbour.
const MIN_WORDS: usize = 3;
/// At most this many requests per message: beyond, the rest stays with the last one.
const MAX_REQUESTS: usize = 4;

/// Phrases that start a new request inside a sentence, in the languages the widget meets most.
static CONNECTORS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?i)(?:[,;]\s*|\s+)(?:",
        r"and also|also,?|and another thing,?|another thing,?|another question,?|one more thing,?|",
        r"one more question,?|oh and|plus,?|besides that,?|apart from that,?|on top of that,?|",
        r"and secondly,?|secondly,?|second(?:ly)? question,?|by the way,?|btw,?|",
        r"and what about|what about|and how about|how about|and can i|and do you|and how do i|and how can i|",
        r"außerdem|ausserdem|und noch|aussi|et aussi|de plus|también|además|y también|",
        r"inoltre|e anche|ook nog|daarnaast|também|além disso",
        r")\s+",
    ))
    .ok()
});

/// Code-like words (`nw 1004`, `nw1004`, `nw_1004`) that the KB spells with a hyphen.
static LOOSE_CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\b([a-z]{2,4})[\s_]?[-‐–]?\s?(\d{3,5})\b").ok());

/// The requests of a message, in order. One request when nothing splits it.
pub fn split(message: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    for sentence in sentences(message) {
        let mut rest = sentence.as_str();
        while let Some(m) = CONNECTORS.as_ref().and_then(|re| re.find(rest)) {
            let (head, tail) = (&rest[..m.start()], &rest[m.end()..]);
            if words(head) < MIN_WORDS || words(tail) < MIN_WORDS {
                break;
            }
            pieces.push(head.trim().to_string());
            rest = tail;
        }
        pieces.push(rest.trim().to_string());
    }
    // Pieces that ask nothing — context ("I'm on Plus."), greetings, thanks — go with the
    // request that follows them (or, at the end, the one before).
    let mut out: Vec<String> = Vec::new();
    let mut carry = String::new();
    for p in pieces.into_iter().filter(|p| !p.is_empty()) {
        if words(&p) < MIN_WORDS || !asks_something(&p) {
            carry = format!("{carry} {p}");
            continue;
        }
        let p = if carry.is_empty() {
            p
        } else {
            format!("{} {p}", std::mem::take(&mut carry).trim())
        };
        out.push(p);
    }
    if out.is_empty() {
        return vec![message.trim().to_string()];
    }
    if !carry.is_empty()
        && let Some(last) = out.last_mut()
    {
        last.push(' ');
        last.push_str(carry.trim());
    }
    while out.len() > MAX_REQUESTS {
        let last = out.pop().unwrap_or_default();
        if let Some(prev) = out.last_mut() {
            prev.push(' ');
            prev.push_str(&last);
        }
    }
    out
}

/// Sentences: split after `.`, `?`, `!` (and newlines) followed by a space or the end.
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        let ends = matches!(c, '?' | '!' | '\n' | '。' | '？' | '！')
            || c == '.' && chars.peek().is_none_or(|n| n.is_whitespace());
        if ends && chars.peek().is_none_or(|n| n.is_whitespace()) {
            // Keep "?!" and "..." together.
            while chars.peek().is_some_and(|n| matches!(n, '?' | '!' | '.')) {
                cur.extend(chars.next());
            }
            out.push(std::mem::take(&mut cur));
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn words(s: &str) -> usize {
    s.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// A piece that asks for something (a question, a request, a wish), not context or courtesy.
fn asks_something(piece: &str) -> bool {
    if piece.contains('?') {
        return true;
    }
    let lower = piece.to_lowercase();
    let first = lower
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .find(|w| !w.is_empty())
        .unwrap_or("");
    const OPENERS: &[&str] = &[
        "how", "what", "where", "when", "why", "which", "who", "can", "could", "would", "will",
        "do", "does", "did", "is", "are", "should", "may", "tell", "explain", "show", "please",
        "pls", "help", "need", "i'd", "wie", "was", "wo", "wann", "warum", "kann", "können",
        "gibt", "comment", "que", "quoi", "où", "quand", "pourquoi", "est-ce", "puis-je", "cómo",
        "como", "qué", "dónde", "cuándo", "por", "puedo", "hoe", "wat", "waar", "kan", "come",
        "cosa", "dove", "quando", "posso", "onde",
    ];
    const WISHES: &[&str] = &[
        "i want",
        "i need",
        "i would like",
        "i'd like",
        "i'm looking for",
        "i am looking for",
        "möchte ich",
        "würde ich gern",
        "gerne wissen",
        "aimerais savoir",
        "i wonder",
        "i was wondering",
        "let me know",
        "wondering",
        "ich möchte",
        "je voudrais",
        "quiero",
        "quisiera",
        "vorrei",
        "ik wil",
        "gostaria",
    ];
    OPENERS.contains(&first) || WISHES.iter().any(|w| lower.contains(w))
}

/// `text` with loose codes spelled as in `known` (lowercase, hyphenated: `nw-1004`).
pub fn normalise_codes(text: &str, known: &HashSet<String>) -> String {
    let Some(re) = LOOSE_CODE.as_ref().filter(|_| !known.is_empty()) else {
        return text.to_string();
    };
    re.replace_all(text, |c: &regex::Captures<'_>| {
        let code = format!("{}-{}", c[1].to_lowercase(), &c[2]);
        if known.contains(&code) {
            code.to_uppercase()
        } else {
            c[0].to_string()
        }
    })
    .into_owned()
}

/// Whether `word` (analyzed, lowercase) is a code like `nw-1004`.
pub fn is_code(word: &str) -> bool {
    let Some((a, b)) = word.split_once('-') else {
        return false;
    };
    (2..=4).contains(&a.len())
        && a.chars().all(|c| c.is_ascii_lowercase())
        && (3..=5).contains(&b.len())
        && b.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_question_stays_one() {
        assert_eq!(split("How do I reset my password?").len(), 1);
        assert_eq!(
            split("Hi! How do I reset my password? Thanks").len(),
            1,
            "greetings and thanks are not requests"
        );
    }

    #[test]
    fn two_questions_are_two_requests() {
        let r = split("How do I reset my password? And how much is the Pro plan?");
        assert_eq!(r.len(), 2, "{r:?}");
        let r =
            split("i need to share a folder with my team and also where can i see old invoices");
        assert_eq!(r.len(), 2, "{r:?}");
        assert!(r[1].starts_with("where can i"), "{r:?}");
        let r = split(
            "Wie lade ich die App herunter? Außerdem möchte ich wissen, was der Plan kostet.",
        );
        assert_eq!(r.len(), 2, "{r:?}");
    }

    #[test]
    fn a_connector_inside_a_short_phrase_does_not_split() {
        assert_eq!(split("also how do I log in?").len(), 1);
        assert_eq!(split("Can I sync and also share?").len(), 1);
    }

    #[test]
    fn codes_are_spelled_as_the_kb_does() {
        let known: HashSet<String> = ["nw-1004".to_string()].into();
        assert_eq!(
            normalise_codes("error nw 1004 again", &known),
            "error NW-1004 again"
        );
        assert_eq!(normalise_codes("NW1004", &known), "NW-1004");
        assert_eq!(normalise_codes("nw-1004", &known), "NW-1004");
        assert_eq!(
            normalise_codes("nw 9999", &known),
            "nw 9999",
            "unknown codes stay"
        );
        assert_eq!(normalise_codes("in 2024", &known), "in 2024");
        assert!(is_code("nw-1004") && !is_code("wi-fi") && !is_code("2-step"));
    }
}
