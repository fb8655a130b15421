//! Who is acting: a customer (through a visitor token), an agent (through a login session or a
//! socket token) or the bot. Every domain service takes an `Actor` and authorizes inside.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::VisitorClaims;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderType {
    Customer,
    Agent,
    Bot,
    System,
}

impl SenderType {
    pub fn as_str(self) -> &'static str {
        match self {
            SenderType::Customer => "customer",
            SenderType::Agent => "agent",
            SenderType::Bot => "bot",
            SenderType::System => "system",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "customer" => SenderType::Customer,
            "agent" => SenderType::Agent,
            "bot" => SenderType::Bot,
            _ => SenderType::System,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentIdentity {
    pub agent_id: Uuid,
    pub account_id: Uuid,
    pub role: Role,
    /// The login session this identity came from (None for internal callers such as `demo`).
    pub session_id: Option<Uuid>,
    /// When that session ends; sockets opened from it close then.
    pub session_expires: Option<chrono::DateTime<chrono::Utc>>,
}

impl AgentIdentity {
    pub fn require_admin(&self) -> crate::error::AppResult<()> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(crate::error::AppError::Forbidden("admins only"))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    Customer(VisitorClaims),
    Agent(AgentIdentity),
    /// The first-line bot of an account; its sender id is the nil UUID.
    Bot {
        account_id: Uuid,
    },
}

impl Actor {
    pub fn account_id(&self) -> Uuid {
        match self {
            Actor::Customer(c) => c.account_id,
            Actor::Agent(a) => a.account_id,
            Actor::Bot { account_id } => *account_id,
        }
    }

    pub fn sender_type(&self) -> SenderType {
        match self {
            Actor::Customer(_) => SenderType::Customer,
            Actor::Agent(_) => SenderType::Agent,
            Actor::Bot { .. } => SenderType::Bot,
        }
    }

    pub fn sender_id(&self) -> Uuid {
        match self {
            Actor::Customer(c) => c.contact_id,
            Actor::Agent(a) => a.agent_id,
            Actor::Bot { .. } => Uuid::nil(),
        }
    }

    pub fn is_customer(&self) -> bool {
        matches!(self, Actor::Customer(_))
    }

    /// May this actor see conversation `conv` (of `account_id`, belonging to `contact_id`)?
    pub fn can_access(&self, account_id: Uuid, conversation_id: Uuid, contact_id: Uuid) -> bool {
        match self {
            Actor::Customer(c) => {
                c.account_id == account_id
                    && c.conversation_id == conversation_id
                    && c.contact_id == contact_id
            }
            Actor::Agent(a) => a.account_id == account_id,
            Actor::Bot { account_id: acc } => *acc == account_id,
        }
    }
}
