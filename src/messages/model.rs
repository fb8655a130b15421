//! Message value types and input validation.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{actor::SenderType, db::entities::message, error::AppError};

/// A stored message as every client sees it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub client_msg_id: String,
    pub sender_type: SenderType,
    pub sender_id: Uuid,
    pub private: bool,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<message::Model> for Message {
    fn from(m: message::Model) -> Self {
        Self {
            id: m.id,
            conversation_id: m.conversation_id,
            seq: m.seq,
            client_msg_id: m.client_msg_id,
            sender_type: SenderType::parse(&m.sender_type),
            sender_id: m.sender_id,
            private: m.private,
            body: m.body,
            created_at: m.created_at,
        }
    }
}

/// What a client asks to send.
#[derive(Clone, Debug, Deserialize)]
pub struct SendCommand {
    pub conversation_id: Uuid,
    pub client_msg_id: String,
    pub body: String,
    #[serde(default)]
    pub private: bool,
}

/// The result of a send: the stored message, and whether it had been stored before (a retry).
#[derive(Clone, Debug, Serialize)]
pub struct Sent {
    pub message: std::sync::Arc<Message>,
    pub duplicate: bool,
}

pub const MAX_CLIENT_MSG_ID: usize = 64;

impl SendCommand {
    /// Edge validation, shared by every transport.
    pub fn validate(&self, max_body_bytes: usize) -> Result<(), AppError> {
        let id = &self.client_msg_id;
        if id.is_empty() || id.len() > MAX_CLIENT_MSG_ID {
            return Err(AppError::Invalid(format!(
                "client_msg_id must be 1 to {MAX_CLIENT_MSG_ID} characters"
            )));
        }
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        {
            return Err(AppError::Invalid(
                "client_msg_id may only contain letters, digits and - _ . :".into(),
            ));
        }
        if self.body.trim().is_empty() {
            return Err(AppError::Invalid("body must not be empty".into()));
        }
        if self.body.len() > max_body_bytes {
            return Err(AppError::Invalid(format!(
                "body is longer than {max_body_bytes} bytes"
            )));
        }
        if self.body.contains('\0') {
            return Err(AppError::Invalid("body must not contain NUL".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(id: &str, body: &str) -> SendCommand {
        SendCommand {
            conversation_id: Uuid::nil(),
            client_msg_id: id.into(),
            body: body.into(),
            private: false,
        }
    }

    #[test]
    fn validation() {
        assert!(cmd("a-1", "hi").validate(10).is_ok());
        assert!(cmd("", "hi").validate(10).is_err());
        assert!(cmd("a b", "hi").validate(10).is_err());
        assert!(cmd(&"x".repeat(65), "hi").validate(10).is_err());
        assert!(cmd("a", "   ").validate(10).is_err());
        assert!(cmd("a", "12345678901").validate(10).is_err());
    }
}
