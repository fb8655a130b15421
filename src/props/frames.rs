//! Properties of realtime::protocol::decode (every WebSocket text frame).
use proptest::prelude::*;

use crate::realtime::protocol::{ClientFrame, DecodeError, decode};

use super::*;

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
