//! Protocol v1: JSON text frames, tagged by `"type"`. `docs/protocol.md` documents every frame,
//! field, error code and close code; change both together.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{actor::SenderType, messages::Message};

pub const PROTOCOL_VERSION: u32 = 1;

/// Close codes (RFC 6455 range and our 4000–4999 application range).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const UNSUPPORTED_DATA: u16 = 1003;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    /// The node is draining (rolling restart): reconnect, to another node, and resume.
    pub const SERVICE_RESTART: u16 = 1012;
    pub const IDLE_TIMEOUT: u16 = 4000;
    pub const REVOKED: u16 = 4003;
    pub const SLOW_CONSUMER: u16 = 4008;
}

pub use crate::presence::PresenceStatus;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    Subscribe {
        conversation_id: Option<Uuid>,
        #[serde(default)]
        after_seq: i64,
    },
    Unsubscribe {
        conversation_id: Uuid,
    },
    Send {
        conversation_id: Option<Uuid>,
        client_msg_id: String,
        body: String,
        #[serde(default)]
        private: bool,
    },
    Typing {
        conversation_id: Option<Uuid>,
        typing: bool,
        /// An agent typing a private note: only other agents see it.
        #[serde(default)]
        private: bool,
    },
    Read {
        conversation_id: Option<Uuid>,
        seq: i64,
    },
    Presence {
        status: PresenceStatus,
    },
    Ping {
        #[serde(default)]
        nonce: Option<u64>,
    },
}

pub const CLIENT_TYPES: [&str; 7] = [
    "subscribe",
    "unsubscribe",
    "send",
    "typing",
    "read",
    "presence",
    "ping",
];

/// Why a text frame could not be decoded, with the stable error code to report.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON, or not an object with a string `type`.
    BadJson(String),
    UnknownType(String),
    /// A known type with missing, extra or mistyped fields; carries the frame's `client_msg_id`
    /// when it had a readable one, so the client knows which send failed.
    InvalidFrame(String, Option<String>),
}

impl DecodeError {
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::BadJson(_) => "bad_json",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::InvalidFrame(..) => "invalid_frame",
        }
    }

    pub fn reference(&self) -> Option<&str> {
        match self {
            DecodeError::InvalidFrame(_, r) => r.as_deref(),
            _ => None,
        }
    }

    pub fn message(&self) -> String {
        match self {
            DecodeError::BadJson(m) | DecodeError::InvalidFrame(m, _) => m.clone(),
            DecodeError::UnknownType(t) => format!("unknown frame type {t:?}"),
        }
    }
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: String,
}

pub fn decode(text: &str) -> Result<ClientFrame, DecodeError> {
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(f) => Ok(f),
        Err(e) => match serde_json::from_str::<serde_json::Value>(text) {
            Err(_) => Err(DecodeError::BadJson(format!(
                "frame is not valid JSON: {e}"
            ))),
            Ok(v) => {
                let reference = v
                    .get("client_msg_id")
                    .and_then(|r| r.as_str())
                    .filter(|r| r.len() <= crate::messages::model::MAX_CLIENT_MSG_ID)
                    .map(str::to_string);
                match serde_json::from_value::<TypeOnly>(v) {
                    Err(_) => Err(DecodeError::BadJson(
                        "frame must be an object with a string \"type\"".into(),
                    )),
                    Ok(t) if !CLIENT_TYPES.contains(&t.kind.as_str()) => {
                        Err(DecodeError::UnknownType(t.kind.chars().take(40).collect()))
                    }
                    Ok(_) => Err(DecodeError::InvalidFrame(e.to_string(), reference)),
                }
            }
        },
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PresenceEntry {
    pub agent_id: Uuid,
    pub status: PresenceStatus,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Hello {
        protocol: u32,
        role: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        conversation_id: Option<Uuid>,
        heartbeat_ms: u64,
        max_frame_bytes: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        presence: Option<&'a [PresenceEntry]>,
    },
    Message(&'a Message),
    Ack {
        client_msg_id: &'a str,
        conversation_id: Uuid,
        id: Uuid,
        seq: i64,
        duplicate: bool,
    },
    ReplayDone {
        conversation_id: Uuid,
        last_seq: i64,
    },
    Resync {
        conversation_id: Uuid,
        last_seq: i64,
        reason: &'a str,
    },
    Typing {
        conversation_id: Uuid,
        sender_type: SenderType,
        sender_id: Uuid,
        typing: bool,
    },
    Read {
        conversation_id: Uuid,
        reader_type: SenderType,
        reader_id: Uuid,
        seq: i64,
    },
    Presence {
        agent_id: Uuid,
        status: PresenceStatus,
    },
    ConversationCreated {
        conversation_id: Uuid,
    },
    ConversationUpdated {
        conversation_id: Uuid,
        status: &'a str,
        assignee_id: Option<Uuid>,
        snoozed_until: Option<chrono::DateTime<chrono::Utc>>,
        /// Present when the first-line bot holds or held the conversation.
        #[serde(skip_serializing_if = "Option::is_none")]
        bot_state: Option<&'a str>,
    },
    /// A shadow-mode draft of the first-line bot, new or rated (agents only).
    BotDraft {
        draft: &'a crate::db::entities::bot_draft::View,
    },
    Error {
        code: &'a str,
        message: &'a str,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
        reference: Option<&'a str>,
        retryable: bool,
        /// Seconds to wait before retrying (`rate_limited`).
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}

impl ServerFrame<'_> {
    pub fn to_text(&self) -> String {
        // Serializing these plain structs cannot fail; fall back to a generic error frame anyway.
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"encoding failed","retryable":false}"#.into()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_classifies() {
        assert!(matches!(
            decode(r#"{"type":"ping"}"#),
            Ok(ClientFrame::Ping { nonce: None })
        ));
        assert_eq!(decode("nope").unwrap_err().code(), "bad_json");
        assert_eq!(decode("[1]").unwrap_err().code(), "bad_json");
        assert_eq!(
            decode(r#"{"type":"fly"}"#).unwrap_err().code(),
            "unknown_type"
        );
        assert_eq!(
            decode(r#"{"type":"send","body":1}"#).unwrap_err().code(),
            "invalid_frame"
        );
        let deep = "[".repeat(100_000);
        assert_eq!(decode(&deep).unwrap_err().code(), "bad_json");
    }
}

#[cfg(test)]
mod fuzz {
    //! A cheap deterministic fuzz pass over the decoder: random bytes and mutated valid frames
    //! must decode or fail with a code, never panic.
    use super::*;

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn decoder_never_panics() {
        let seeds = [
            r#"{"type":"send","client_msg_id":"a1","body":"hi","private":false}"#,
            r#"{"type":"subscribe","conversation_id":"0193a1c2-5d7e-7c41-9f2a-4b8e2d1f0c11","after_seq":3}"#,
            r#"{"type":"typing","typing":true}"#,
            r#"{"type":"read","seq":4}"#,
            r#"{"type":"presence","status":"away"}"#,
        ];
        let alphabet = br#"{}[]":,0123456789-.eE truefalsnul\u"abcxyz"#;
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut decoded = 0;
        for i in 0..50_000 {
            let mut bytes = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..(rng.next() % 6) {
                let pos = (rng.next() as usize) % (bytes.len() + 1);
                match rng.next() % 3 {
                    0 if pos < bytes.len() => {
                        bytes.remove(pos);
                    }
                    1 => bytes.insert(pos, alphabet[(rng.next() as usize) % alphabet.len()]),
                    _ if pos < bytes.len() => bytes[pos] = (rng.next() & 0xff) as u8,
                    _ => {}
                }
            }
            // The socket only hands valid UTF-8 text to the decoder.
            let text = String::from_utf8_lossy(&bytes);
            match decode(&text) {
                Ok(_) => decoded += 1,
                Err(e) => assert!(!e.code().is_empty()),
            }
        }
        assert!(decoded > 0, "some mutations stay valid");
    }
}
