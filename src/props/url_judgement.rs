//! Properties of urls (every URL the server judges).
use proptest::prelude::*;

use crate::{bot::safety, urls};

use super::*;

pub(super) const URL_PIECES: &[&str] = &[
    "https://",
    "http://",
    "www.",
    "help.example.com",
    "evil.example",
    "@",
    ":",
    ":443",
    "/",
    "\\",
    "%2e",
    "%40",
    "%5c",
    ".",
    "?",
    "#",
    "[",
    "]",
    "::1",
    "xn--",
    "ｈｅｌｐ",
    "е",
    "\u{200b}",
    "\t",
    "0x7f",
    "HTTPS://",
    "javascript:",
    "//",
];

fn label() -> impl Strategy<Value = String> {
    // `xx--` starts an A-label (`xn--…`), which IDNA checks as punycode: not a plain name.
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?".prop_filter("not an A-label", |l| l.get(2..4) != Some("--"))
}

fn domain() -> impl Strategy<Value = String> {
    proptest::collection::vec(label(), 1..4).prop_map(|l| format!("{}.example", l.join(".")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn url_judgement_never_panics_and_hosts_are_canonical(s in prop_oneof![any::<String>(), tokens_of(URL_PIECES)]) {
        if let Some(h) = urls::link_host(&s) {
            prop_assert!(h.is_ascii() && !h.is_empty());
            prop_assert_eq!(h.to_ascii_lowercase(), h.clone());
            prop_assert!(!h.ends_with('.'));
            prop_assert!(urls::host_allowed(&h, std::slice::from_ref(&h)), "{} not allowed by itself", h);
        }
        if let Ok(o) = urls::normalize_origin(&s) {
            prop_assert_eq!(urls::normalize_origin(&o), Ok(o.clone()), "normalising is idempotent");
            prop_assert!(urls::origin_in(&o, [&s]));
        }
        if let Some(p) = urls::local_path(&s) {
            prop_assert!(p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'));
        }
        let _ = urls::is_https(&s);
    }

    /// Whatever is put before an `@`, the host is what follows it, and userinfo is refused.
    #[test]
    fn userinfo_never_borrows_an_allowed_host(allowed in domain(), evil in domain(), junk in r#"[^@/?#\\\s<>()"']{0,20}"#) {
        let list = vec![allowed.clone()];
        for link in [
            format!("https://{allowed}@{evil}/x"),
            format!("https://{allowed}:443@{evil}/x"),
            format!("https://{junk}{allowed}{junk}@{evil}/"),
        ] {
            prop_assert!(urls::link_host(&link).is_none(), "{}", link);
            prop_assert!(!safety::clean_output(&link, &list).contains(&evil), "{}", link);
        }
    }

    /// An allowed name after a path, query, fragment or backslash is not the host.
    #[test]
    fn only_the_real_host_counts(allowed in domain(), evil in domain(), sep in proptest::sample::select(vec!["/", "?", "#", "\\", "\\.", "/.", "%2F"])) {
        prop_assume!(evil != allowed && !evil.ends_with(&format!(".{allowed}")));
        let link = format!("https://{evil}{sep}{allowed}/");
        let list = vec![allowed];
        prop_assert!(!urls::link_host(&link).is_some_and(|h| urls::host_allowed(&h, &list)), "{}", link);
    }

    #[test]
    fn allowed_hosts_and_their_subdomains_pass(allowed in domain(), sub in proptest::option::of(label()), upper in any::<bool>(), dot in any::<bool>(), path in "[a-z0-9/]{0,10}") {
        let host = match sub { Some(s) => format!("{s}.{allowed}"), None => allowed.clone() };
        let host = if upper { host.to_uppercase() } else { host };
        let link = format!("https://{host}{}/{path}", if dot { "." } else { "" });
        let list = vec![allowed];
        prop_assert!(urls::link_host(&link).is_some_and(|h| urls::host_allowed(&h, &list)), "{}", link);
        prop_assert!(!safety::clean_output(&link, &list).contains("[link removed]"));
    }
}
