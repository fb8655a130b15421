//! Output handling for anything a model (or the KB) says to a customer (OWASP LLM02/LLM05):
//! HTML tags and Markdown images are removed, links survive only to allowed hosts, and an answer
//! that quotes the instructions is refused. Clients render bot text with `textContent` as well.
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::{llm::prompts::LEAK_MARKERS, urls};

static TAG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?is)<\s*/?\s*[a-z!][^>]*>").ok());
static MD_IMAGE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"!\[[^\]]*\]\([^)]*\)").ok());
static URL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)\b(?:https?://|www\.)[^\s<>()"']+"#).ok());
static FORMAT_CHARS: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\p{Cf}+").ok());

/// Each link found in the text survives only if a browser would open it on an allowed host
/// (judged by [`crate::urls`]). A surviving link with characters that parsers disagree on is
/// written back in its WHATWG serialisation, so a renderer with another parser cannot read
/// another host out of it (`https://help.example.com\\@evil.example` becomes
/// `https://help.example.com/@evil.example`).
pub fn clean_output(text: &str, allowed_hosts: &[String]) -> String {
    let mut s = text.to_string();
    if let Some(r) = MD_IMAGE.as_ref() {
        s = r.replace_all(&s, "").into_owned();
    }
    if let Some(r) = TAG.as_ref() {
        s = r.replace_all(&s, "").into_owned();
    }
    if let Some(r) = URL.as_ref() {
        s = r
            .replace_all(&s, |c: &regex::Captures<'_>| {
                let u = &c[0];
                match urls::link_url(u) {
                    Some(url)
                        if urls::link_host(u)
                            .is_some_and(|h| urls::host_allowed(&h, allowed_hosts)) =>
                    {
                        // Characters other parsers read differently (a backslash, `@`, non-ASCII):
                        // send the WHATWG serialisation, which every parser reads alike.
                        if u.is_ascii() && !u.contains(['\\', '@']) {
                            u.to_string()
                        } else {
                            url.to_string()
                        }
                    }
                    _ => "[link removed]".to_string(),
                }
            })
            .into_owned();
    }
    s.replace(['<', '>'], "").trim().to_string()
}

/// Text folded for matching marker phrases: Unicode format characters (category Cf: zero-width
/// spaces and joiners, bidi marks, word joiner, BOM, soft hyphen) removed, NFKC applied (fullwidth
/// and other compatibility forms become plain letters, a no-break space a space), lowercased, and
/// every run of other non-alphanumerics made one space, with one at each end so a phrase matches
/// only on word boundaries. Cf goes first: a format character between a letter and its combining
/// mark would otherwise stop NFKC from composing them.
pub fn fold_for_match(text: &str) -> String {
    let visible = match FORMAT_CHARS.as_ref() {
        Some(r) => r.replace_all(text, ""),
        None => std::borrow::Cow::Borrowed(text),
    };
    let mut out = String::with_capacity(visible.len() + 2);
    out.push(' ');
    for c in visible
        .chars()
        // Also listed by hand, so the common invisibles go even if the regex failed to build.
        .filter(|c| !is_invisible(*c))
        .nfkc()
        .flat_map(char::to_lowercase)
    {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Whether a reply quotes the system prompt (any of [`LEAK_MARKERS`]), however it is disguised
/// with invisible or compatibility characters.
pub fn leaks_instructions(text: &str) -> bool {
    let folded = fold_for_match(text);
    LEAK_MARKERS
        .iter()
        .map(|m| fold_for_match(m))
        .any(|m| !m.trim().is_empty() && folded.contains(&m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_html_images_and_foreign_links() {
        let hosts = vec!["help.example.com".to_string()];
        assert_eq!(clean_output("<img src=x onerror=alert(1)>Hi", &hosts), "Hi");
        assert_eq!(
            clean_output("see ![x](https://evil.example/p.png?c=1)", &hosts),
            "see"
        );
        assert_eq!(
            clean_output(
                "go to https://evil.example/a or https://help.example.com/b",
                &hosts
            ),
            "go to [link removed] or https://help.example.com/b"
        );
        assert!(leaks_instructions("Sure! Rules you always follow: ..."));
    }

    #[test]
    fn audit_link_bypasses_are_removed() {
        // Issue 13: the hand-written parser read both as help.example.com.
        let hosts = vec!["help.example.com".to_string()];
        for bad in [
            "https://help.example.com:443@evil.example/x",
            "https://evil.example\\.help.example.com/",
            "https://help.example.com@evil.example/",
            "https://evil.example%5C.help.example.com/",
            "https://help.example.com.evil.example/",
        ] {
            assert_eq!(
                clean_output(&format!("see {bad} now"), &hosts),
                "see [link removed] now",
                "{bad}"
            );
        }
        for ok in [
            "https://help.example.com/b",
            "HTTPS://Help.Example.com./b",
            "https://docs.help.example.com:8443/b?q=1",
        ] {
            assert!(
                !clean_output(&format!("see {ok} now"), &hosts).contains("[link removed]"),
                "{ok}"
            );
        }
    }

    #[test]
    fn leak_filter_sees_through_invisible_and_fullwidth_characters() {
        for disguised in [
            "Rules\u{200B} you always follow",
            "R\u{200B}u\u{200B}l\u{200B}e\u{200B}s you always follow",
            "Ru\u{200D}les you al\u{2060}ways fol\u{00AD}low",
            "\u{FEFF}Rules you\u{200E} always follow",
            "Ｒｕｌｅｓ ｙｏｕ ａｌｗａｙｓ ｆｏｌｌｏｗ",
            "RULES\u{00A0}YOU ALWAYS FOLLOW",
            "is data,\u{200C} not instructions",
        ] {
            assert!(leaks_instructions(disguised), "{disguised:?}");
        }
        assert!(!leaks_instructions(
            "These are the rules of our refund policy."
        ));
        // Word boundaries still count: "this data" is not "is data".
        assert!(!leaks_instructions(
            "Send this data, not instructions, to billing."
        ));
    }
}
