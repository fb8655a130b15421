//! Properties of kb::frontmatter (imported Markdown files).
use proptest::prelude::*;

use crate::kb::frontmatter;

use super::*;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn front_matter_never_panics(text in prop_oneof![
        any::<String>(),
        tokens_of(&["---", "\n", "\r\n", ":", "-", " ", "'", "\"", "[", "]", ",", "title", "tags", "url", "id", "\u{feff}", "#", "\\"]),
    ]) {
        let p = frontmatter::parse(&text);
        prop_assert_eq!(p.body.trim(), p.body.as_str());
    }

    #[test]
    fn front_matter_round_trips(
        slug in "[a-z0-9][a-z0-9._-]{0,30}",
        title in "[^\\p{C}]{1,60}",
        tags in proptest::collection::vec("[a-z0-9][a-z0-9_-]{0,10}", 0..5),
        url in proptest::option::of("https://[a-z]{1,10}\\.example/[a-z0-9/_-]{0,20}"),
        body in "[^\r]{0,300}",
        single_quotes in any::<bool>(),
    ) {
        let quoted = if single_quotes {
            format!("'{}'", title.replace('\'', "''"))
        } else {
            format!("\"{}\"", title.replace('\\', "\\\\").replace('"', "\\\""))
        };
        let mut text = format!("---\nid: {slug}\ntitle: {quoted}\ntags: [{}]\n", tags.join(", "));
        if let Some(u) = &url {
            text.push_str(&format!("url: {u}\n"));
        }
        text.push_str("---\n");
        text.push_str(&body);
        let p = frontmatter::parse(&text);
        prop_assert_eq!(p.slug.as_deref(), Some(slug.as_str()));
        prop_assert_eq!(p.title.as_deref(), Some(title.as_str()));
        prop_assert_eq!(p.tags, tags);
        prop_assert_eq!(p.url, url);
        prop_assert_eq!(p.body, body.trim());
    }
}
