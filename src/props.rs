//! Property tests (proptest) for every parser of outside input: WebSocket frames, the search
//! language, signed tokens, KB front matter, business hours, URL judgement and the bot's output
//! filters. Each property holds for *all* inputs: no panic, round trips where a format has two
//! directions, and the invariants the rest of the server relies on.
//!
//! CI runs 256 cases per property (a few seconds in all); a release runs many more with
//! `PROPTEST_CASES=100000 cargo test --lib props` (see docs/deployment.md, "Property tests").
//! A failure prints the smallest input found; `PROPTEST_RNG_SEED` replays a run.
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use uuid::Uuid;

use crate::{
    auth::tokens::{Signer, SocketClaims, VisitorClaims},
    bot::safety,
    inboxes::hours::{BusinessHours, DAYS},
    kb::frontmatter,
    realtime::protocol::{ClientFrame, DecodeError, decode},
    search::query::{self, Clause, Filter},
    urls,
};

/// 256 cases unless `PROPTEST_CASES` asks for more. No regression files are written into the
/// source tree: a case that once failed becomes a named unit test next to its fix instead.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    c.failure_persistence = None;
    c
}

/// Strings built from the pieces a parser cares about, glued with arbitrary text: random
/// `String`s alone rarely reach the interesting branches.
fn tokens_of(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(pieces).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-z0-9]{1,6}",
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes)
}

fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
    let (lo, hi) = (
        DateTime::<Utc>::MIN_UTC.timestamp(),
        DateTime::<Utc>::MAX_UTC.timestamp(),
    );
    prop_oneof![
        (lo..=hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default()),
        // Near the ends of chrono's range, where date arithmetic overflows.
        (0..20 * 86_400i64)
            .prop_map(move |d| DateTime::from_timestamp(hi - d, 0).unwrap_or_default()),
        (0..20 * 86_400i64)
            .prop_map(move |d| DateTime::from_timestamp(lo + d, 0).unwrap_or_default()),
    ]
}

// ---- realtime::protocol::decode (every WebSocket text frame) ----

const FRAME_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\"type\"",
    "\"send\"",
    "\"subscribe\"",
    "\"read\"",
    "\"typing\"",
    "\"presence\"",
    "\"ping\"",
    "\"client_msg_id\"",
    "\"body\"",
    "\"seq\"",
    "\"conversation_id\"",
    "\"private\"",
    "true",
    "null",
    "-1",
    "1e999",
    "\\u0000",
    "\\ud800",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frames_decode_or_fail_with_a_code(text in prop_oneof![any::<String>(), tokens_of(FRAME_PIECES)]) {
        match decode(&text) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(["bad_json", "unknown_type", "invalid_frame"].contains(&e.code()));
                // What is echoed back to the client stays bounded.
                prop_assert!(e.reference().is_none_or(|r| r.len() <= crate::messages::model::MAX_CLIENT_MSG_ID));
                if let DecodeError::UnknownType(t) = &e {
                    prop_assert!(t.chars().count() <= 40);
                }
            }
        }
    }

    #[test]
    fn send_frames_round_trip(
        conv in proptest::option::of(uuid()),
        id in "\\PC{1,64}",
        body in any::<String>(),
        private in any::<bool>(),
    ) {
        let json = serde_json::json!({
            "type": "send", "conversation_id": conv, "client_msg_id": id, "body": body,
            "private": private,
        });
        match decode(&json.to_string()) {
            Ok(ClientFrame::Send { conversation_id, client_msg_id, body: b, private: p }) => {
                prop_assert_eq!(conversation_id, conv);
                prop_assert_eq!(client_msg_id, id);
                prop_assert_eq!(b, body);
                prop_assert_eq!(p, private);
            }
            other => prop_assert!(false, "decoded as {:?}", other),
        }
    }

    #[test]
    fn read_and_subscribe_frames_round_trip(conv in proptest::option::of(uuid()), seq in any::<i64>()) {
        let read = serde_json::json!({"type": "read", "conversation_id": conv, "seq": seq});
        let ok = matches!(
            decode(&read.to_string()),
            Ok(ClientFrame::Read { conversation_id, seq: s }) if conversation_id == conv && s == seq
        );
        prop_assert!(ok, "read frame {}", read);
        let sub = serde_json::json!({"type": "subscribe", "conversation_id": conv, "after_seq": seq});
        let ok = matches!(
            decode(&sub.to_string()),
            Ok(ClientFrame::Subscribe { conversation_id, after_seq }) if conversation_id == conv && after_seq == seq
        );
        prop_assert!(ok, "subscribe frame {}", sub);
    }

    #[test]
    fn unknown_fields_are_refused_with_the_reference(id in "[a-z0-9]{1,64}", field in "[a-z]{1,10}") {
        prop_assume!(!["type", "conversation_id", "client_msg_id", "body", "private"].contains(&field.as_str()));
        let mut v = serde_json::json!({"type": "send", "client_msg_id": id, "body": "hi"});
        v[field.as_str()] = serde_json::json!(1);
        let e = decode(&v.to_string()).err();
        prop_assert_eq!(e.as_ref().map(DecodeError::code), Some("invalid_frame"));
        prop_assert_eq!(e.as_ref().and_then(DecodeError::reference), Some(id.as_str()));
    }
}

// ---- search::query::parse (the search box) ----

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

// ---- auth::tokens (visitor and socket tokens: bearer credentials from anywhere) ----

fn visitor_claims() -> impl Strategy<Value = VisitorClaims> {
    (uuid(), uuid(), uuid(), uuid()).prop_map(|(a, i, c, v)| VisitorClaims {
        account_id: a,
        inbox_id: i,
        contact_id: c,
        conversation_id: v,
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn opening_any_string_never_panics(t in prop_oneof![any::<String>(), tokens_of(&["vt.", "st.", ".", "0", "f", "+", "-"])], now in any::<i64>()) {
        let s = Signer::new(b"key");
        let _ = s.open_visitor(&t, now);
        let _ = s.open_socket(&t, now);
        let _ = s.csrf_ok(Uuid::nil(), &t);
        let _ = crate::auth::tokens::user_hash_ok("secret", "user", &t);
    }

    #[test]
    fn visitor_tokens_round_trip_until_they_expire(c in visitor_claims(), expires in any::<i64>(), now in any::<i64>()) {
        let s = Signer::new(b"key");
        let t = s.visitor_token(&c, expires);
        prop_assert_eq!(s.open_visitor(&t, now), (now <= expires).then_some(c));
        prop_assert_eq!(s.open_socket(&t, now), None, "a visitor token never opens a socket");
    }

    #[test]
    fn socket_tokens_round_trip(a in uuid(), acc in uuid(), sess in uuid(), expires in any::<i64>()) {
        let s = Signer::new(b"key");
        let c = SocketClaims { agent_id: a, account_id: acc, session_id: sess };
        let t = s.socket_token(&c, expires);
        prop_assert_eq!(s.open_socket(&t, expires), Some(c));
        prop_assert_eq!(s.open_visitor(&t, expires), None);
    }

    /// Any single byte changed (to another ASCII byte, so the token is still text) is refused:
    /// one set of claims has exactly one valid spelling. Each case flips a few positions with
    /// one mask; 0x20 (the ASCII case bit) is drawn more often, a classic way to respell hex.
    #[test]
    fn a_token_with_any_byte_flipped_is_refused(
        c in visitor_claims(),
        at in proptest::collection::vec(any::<proptest::sample::Index>(), 1..8),
        mask in prop_oneof![1 => Just(0x20u8), 4 => 1u8..0x80],
    ) {
        let s = Signer::new(b"key");
        let t = s.visitor_token(&c, i64::MAX);
        for i in at.iter().map(|a| a.index(t.len())) {
            let mut bytes = t.clone().into_bytes();
            bytes[i] ^= mask;
            let tampered = String::from_utf8(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(s.open_visitor(&tampered, 0), None, "{}", tampered);
        }
    }

    #[test]
    fn truncated_or_extended_tokens_are_refused(c in visitor_claims(), cut in any::<proptest::sample::Index>(), tail in "[0-9a-f.]{1,8}") {
        let s = Signer::new(b"key");
        let t = s.visitor_token(&c, i64::MAX);
        let n = cut.index(t.len());
        prop_assert_eq!(s.open_visitor(&t[..n], 0), None);
        prop_assert_eq!(s.open_visitor(&format!("{t}{tail}"), 0), None);
    }
}

/// Found by `a_token_with_any_byte_flipped_is_refused`: the signature's hex was read
/// case-insensitively and with `from_str_radix`, which takes a leading `+`, so a token had
/// several valid spellings.
#[test]
fn respelled_signatures_are_refused() {
    let s = Signer::new(b"key");
    let c = VisitorClaims {
        account_id: Uuid::nil(),
        inbox_id: Uuid::nil(),
        contact_id: Uuid::nil(),
        conversation_id: Uuid::nil(),
    };
    let t = s.visitor_token(&c, i64::MAX);
    assert_eq!(s.open_visitor(&t, 0), Some(c));
    let (payload, sig) = t.rsplit_once('.').unwrap_or_default();
    assert_eq!(
        s.open_visitor(&format!("{payload}.{}", sig.to_uppercase()), 0),
        None
    );
    // Every byte pair starting with `0` respelled with `+`.
    for i in (0..sig.len())
        .step_by(2)
        .filter(|&i| sig.as_bytes()[i] == b'0')
    {
        let mut b = sig.as_bytes().to_vec();
        b[i] = b'+';
        let respelled = String::from_utf8(b).unwrap_or_default();
        assert_eq!(s.open_visitor(&format!("{payload}.{respelled}"), 0), None);
    }
    // The same for identity-verification hashes (uppercase stays accepted there: customers'
    // backends compute them, and some print hex in capitals).
    let (user, hash) = (0..100)
        .map(|i| {
            let u = format!("user{i}");
            let h = crate::auth::tokens::user_hash("k", &u);
            (u, h)
        })
        .find(|(_, h)| h.as_bytes().iter().step_by(2).any(|&b| b == b'0'))
        .unwrap_or_default();
    let at = hash
        .as_bytes()
        .iter()
        .step_by(2)
        .position(|&b| b == b'0')
        .unwrap_or_default()
        * 2;
    let mut respelled = hash.clone().into_bytes();
    respelled[at] = b'+';
    let respelled = String::from_utf8(respelled).unwrap_or_default();
    assert!(crate::auth::tokens::user_hash_ok("k", &user, &hash));
    assert!(crate::auth::tokens::user_hash_ok(
        "k",
        &user,
        &hash.to_uppercase()
    ));
    assert!(!crate::auth::tokens::user_hash_ok("k", &user, &respelled));
}

// ---- kb::frontmatter (imported Markdown files) ----

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

// ---- inboxes::hours (schedules saved by admins, evaluated on every widget load) ----

fn hhmm() -> impl Strategy<Value = String> {
    prop_oneof![
        (0..24u32, 0..60u32).prop_map(|(h, m)| format!("{h:02}:{m:02}")),
        Just("24:00".to_string()),
        "[0-9:]{0,6}",
        any::<String>(),
    ]
}

fn any_hours() -> impl Strategy<Value = BusinessHours> {
    let day = prop_oneof![
        proptest::sample::select(DAYS.to_vec()).prop_map(str::to_string),
        any::<String>()
    ];
    (
        prop_oneof![any::<i32>(), -900..900i32],
        proptest::collection::btree_map(day, (hhmm(), hhmm()).prop_map(|(o, c)| [o, c]), 0..8),
    )
        .prop_map(|(utc_offset_minutes, days)| BusinessHours {
            utc_offset_minutes,
            days,
        })
}

fn valid_hours() -> impl Strategy<Value = BusinessHours> {
    let window = (0..24 * 60u32, 1..24 * 60u32).prop_map(|(a, len)| {
        let close = (a + len).min(24 * 60);
        let t = |m: u32| {
            if m == 24 * 60 {
                "24:00".to_string()
            } else {
                format!("{:02}:{:02}", m / 60, m % 60)
            }
        };
        [t(a.min(close - 1)), t(close)]
    });
    (
        -840..=840i32,
        proptest::collection::btree_map(
            proptest::sample::select(DAYS.to_vec()).prop_map(str::to_string),
            window,
            1..8,
        ),
    )
        .prop_map(|(utc_offset_minutes, days)| BusinessHours {
            utc_offset_minutes,
            days,
        })
}

proptest! {
    #![proptest_config(config())]

    /// Rows are validated when saved, but an old or hand-edited row is evaluated all the same.
    #[test]
    fn any_schedule_at_any_time_never_panics(h in any_hours(), t in any_time()) {
        let _ = h.validate();
        let _ = h.open_at(t);
        let _ = h.next_open(t);
    }

    #[test]
    fn next_open_is_an_open_moment_within_a_week(h in valid_hours(), t in any_time()) {
        prop_assert!(h.validate().is_ok(), "{:?}", h);
        // Away from the ends of time there is always a next opening (at the ends the local
        // wall-clock time, or the next week, may not exist in chrono's calendar).
        let edge = chrono::Duration::days(9);
        let inside = t > DateTime::<Utc>::MIN_UTC + edge && t < DateTime::<Utc>::MAX_UTC - edge;
        match h.next_open(t) {
            Some(at) => {
                prop_assert!(at > t);
                prop_assert!(at - t <= chrono::Duration::days(8));
                prop_assert!(h.open_at(at), "{:?} closed at its own opening {}", h, at);
            }
            None => prop_assert!(!inside, "no opening after {}", t),
        }
    }
}

// ---- urls (every URL the server judges) ----

const URL_PIECES: &[&str] = &[
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

// ---- bot::safety (what the bot says to customers) ----

const INVISIBLES: [char; 10] = [
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{200E}',
    '\u{200F}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{202E}',
    '\u{E0041}',
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn clean_output_never_panics_and_leaves_no_angle_brackets(text in prop_oneof![any::<String>(), tokens_of(URL_PIECES)]) {
        let out = safety::clean_output(&text, &["help.example.com".to_string()]);
        prop_assert!(!out.contains(['<', '>']));
        let _ = safety::leaks_instructions(&text);
    }

    /// Zero-width and other format characters anywhere inside a marker phrase do not hide it,
    /// nor do fullwidth letters or a different case.
    #[test]
    fn disguised_markers_are_caught(
        which in any::<proptest::sample::Index>(),
        inserts in proptest::collection::vec((any::<proptest::sample::Index>(), proptest::sample::select(INVISIBLES.to_vec())), 0..12),
        fullwidth in any::<bool>(),
        upper in any::<bool>(),
        before in "[a-z ]{0,20}",
    ) {
        let marker = crate::llm::prompts::LEAK_MARKERS[which.index(crate::llm::prompts::LEAK_MARKERS.len())];
        let mut chars: Vec<char> = marker
            .chars()
            .map(|c| if upper { c.to_ascii_uppercase() } else { c })
            .map(|c| match c {
                '!'..='~' if fullwidth => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect();
        for (at, z) in &inserts {
            chars.insert(at.index(chars.len() + 1), *z);
        }
        let text = format!("{before} {}", chars.into_iter().collect::<String>());
        prop_assert!(safety::leaks_instructions(&text), "{:?}", text);
    }
}
