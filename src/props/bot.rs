//! Properties of bot::safety (what the bot says to customers).
use proptest::prelude::*;

use crate::bot::safety;

use super::{url_judgement::URL_PIECES, *};

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
