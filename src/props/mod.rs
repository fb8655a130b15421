//! Property tests (proptest) for every parser of outside input: WebSocket frames, the search
//! language, signed tokens, KB front matter, business hours, URL judgement and the bot's output
//! filters. Each property holds for *all* inputs: no panic, round trips where a format has two
//! directions, and the invariants the rest of the server relies on.
//!
//! CI runs 256 cases per property (a few seconds in all); a release runs many more with
//! `PROPTEST_CASES=100000 cargo test --lib props` (see docs/deployment.md, "Property tests").
//! A failure prints the smallest input found; `PROPTEST_RNG_SEED` replays a run.
mod bot;
mod frames;
mod front_matter;
mod hours;
mod queries;
mod tokens;
mod url_judgement;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use uuid::Uuid;

/// 256 cases unless `PROPTEST_CASES` asks for more. No regression files are written into the
/// source tree: a case that once failed becomes a named unit test next to its fix instead.
pub(super) fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    c.failure_persistence = None;
    c
}

/// Strings built from the pieces a parser cares about, glued with arbitrary text: random
/// `String`s alone rarely reach the interesting branches.
pub(super) fn tokens_of(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(pieces).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-z0-9]{1,6}",
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

pub(super) fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes)
}

pub(super) fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
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
