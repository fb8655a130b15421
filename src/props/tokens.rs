//! Properties of auth::tokens (visitor and socket tokens: bearer credentials from anywhere).
use proptest::prelude::*;
use uuid::Uuid;

use crate::auth::tokens::{Signer, SocketClaims, VisitorClaims, VisitorIdentity};

use super::*;

fn identity() -> impl Strategy<Value = VisitorIdentity> {
    prop_oneof![
        Just(VisitorIdentity::Anonymous),
        Just(VisitorIdentity::Legacy),
        any::<i32>().prop_map(|epoch| VisitorIdentity::Verified { epoch }),
    ]
}

fn visitor_claims() -> impl Strategy<Value = VisitorClaims> {
    (uuid(), uuid(), uuid(), uuid(), identity()).prop_map(|(a, i, c, v, identity)| VisitorClaims {
        account_id: a,
        inbox_id: i,
        contact_id: c,
        conversation_id: v,
        identity,
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
        identity: VisitorIdentity::Anonymous,
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
