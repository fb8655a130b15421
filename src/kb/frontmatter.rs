//! Markdown files with YAML front matter, as exported by most help-centre tools:
//! `---` / `id: kb-07` / `title: "Refund policy"` / `tags: [billing, refund]` / `url: …` / `---`.
//! Only this flat subset of YAML is read (strings, quoted strings, inline or block lists); other
//! keys are ignored. A file without front matter is still an article (title from `# heading`).

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub slug: Option<String>,
    pub title: Option<String>,
    pub tags: Vec<String>,
    pub url: Option<String>,
    pub body: String,
}

/// A scalar as YAML reads it: `"…"` with `\\` and `\"` escapes, `'…'` with `''` for a quote,
/// or plain. (Replacing `\"` and `''` in both kinds, as before, misread `"a\\"` and `"It''s"`.)
fn unquote(v: &str) -> String {
    let v = v.trim();
    if let Some(inner) = v
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .filter(|_| v.len() >= 2)
    {
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            // Only `\\` and `\"`: other escapes (`\n`, `\t`) would put control characters into a
            // title, so they stay as written.
            match chars.next() {
                Some(e @ ('\\' | '"')) => out.push(e),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    } else if let Some(inner) = v
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .filter(|_| v.len() >= 2)
    {
        inner.replace("''", "'")
    } else {
        v.to_string()
    }
}

fn inline_list(v: &str) -> Option<Vec<String>> {
    let inner = v.trim().strip_prefix('[')?.strip_suffix(']')?;
    Some(
        inner
            .split(',')
            .map(unquote)
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

pub fn parse(text: &str) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Parsed::default();
    let normalized = text.replace("\r\n", "\n");
    let body = match normalized.strip_prefix("---\n") {
        Some(rest) => match rest.find("\n---") {
            Some(end) => {
                read_header(&rest[..end], &mut out);
                let after = &rest[end + 4..];
                after.split_once('\n').map_or("", |(_, b)| b).to_string()
            }
            None => normalized.clone(),
        },
        None => normalized.clone(),
    };
    out.body = body.trim().to_string();
    if out.title.is_none() {
        out.title = out
            .body
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .map(|t| t.trim().to_string());
    }
    out
}

fn read_header(header: &str, out: &mut Parsed) {
    let mut list_key: Option<String> = None;
    for line in header.lines() {
        if let Some(item) = line.trim_start().strip_prefix("- ") {
            if list_key.as_deref() == Some("tags") {
                let t = unquote(item);
                if !t.is_empty() {
                    out.tags.push(t);
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        list_key = value.is_empty().then(|| key.clone());
        match key.as_str() {
            "id" | "slug" if !value.is_empty() => out.slug = Some(unquote(value)),
            "title" if !value.is_empty() => out.title = Some(unquote(value)),
            "url" if !value.is_empty() => out.url = Some(unquote(value)),
            "tags" if !value.is_empty() => {
                out.tags = inline_list(value).unwrap_or_else(|| {
                    value
                        .split(',')
                        .map(unquote)
                        .filter(|s| !s.is_empty())
                        .collect()
                });
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_front_matter() {
        let p = parse(
            "---\nid: kb-07\ntitle: \"Refund policy\"\ntags: [billing, refund]\n---\n\n# Refund policy\n\nBody.",
        );
        assert_eq!(p.slug.as_deref(), Some("kb-07"));
        assert_eq!(p.title.as_deref(), Some("Refund policy"));
        assert_eq!(p.tags, vec!["billing", "refund"]);
        assert_eq!(p.body, "# Refund policy\n\nBody.");
    }

    #[test]
    fn block_lists_and_no_front_matter() {
        let p = parse(
            "---\ntitle: 'It''s here'\ntags:\n  - a\n  - \"b\"\nurl: https://x.example/a\n---\ntext",
        );
        assert_eq!(p.title.as_deref(), Some("It's here"));
        assert_eq!(p.tags, vec!["a", "b"]);
        assert_eq!(p.url.as_deref(), Some("https://x.example/a"));
        let p = parse("# Just a heading\n\nbody");
        assert_eq!(p.title.as_deref(), Some("Just a heading"));
        assert_eq!(p.slug, None);
    }

    /// Found by the property tests (src/props.rs): escapes were read the same in both quote kinds.
    #[test]
    fn quoted_scalars_follow_yaml() {
        let p = parse(
            "---\ntitle: \"C:\\\\temp \\\"x\\\" It''s \\n\"\ntags: ['a''b', \"c\"]\n---\nbody",
        );
        assert_eq!(p.title.as_deref(), Some("C:\\temp \"x\" It''s \\n"));
        assert_eq!(p.tags, vec!["a'b", "c"]);
    }
}
