//! Output handling for anything a model (or the KB) says to a customer (OWASP LLM02/LLM05):
//! HTML tags and Markdown images are removed, links survive only to allowed hosts, and an answer
//! that quotes the instructions is refused. Clients render bot text with `textContent` as well.
use std::sync::LazyLock;

use regex::Regex;

use crate::llm::prompts::LEAK_MARKERS;

static TAG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?is)<\s*/?\s*[a-z!][^>]*>").ok());
static MD_IMAGE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"!\[[^\]]*\]\([^)]*\)").ok());
static URL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)\b(?:https?://|www\.)[^\s<>()"']+"#).ok());

/// `https://help.example.com/x` → `help.example.com`.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("www.").map(|_| url))?;
    let host = rest
        .split(['/', '?', '#', ':'])
        .next()?
        .to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

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
                let ok = host_of(u).is_some_and(|h| {
                    allowed_hosts
                        .iter()
                        .any(|a| h == *a || h.ends_with(&format!(".{a}")))
                });
                if ok {
                    u.to_string()
                } else {
                    "[link removed]".to_string()
                }
            })
            .into_owned();
    }
    s.replace(['<', '>'], "").trim().to_string()
}

pub fn leaks_instructions(text: &str) -> bool {
    let lower = text.to_lowercase();
    LEAK_MARKERS
        .iter()
        .any(|m| lower.contains(&m.to_lowercase()))
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
}
