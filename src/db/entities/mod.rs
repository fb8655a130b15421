//! sea-orm entities, one per table created by the `migration` crate. Plain data; the domain
//! modules own the rules about them.
pub mod account;
pub mod agent;
pub mod agent_session;
pub mod bot_draft;
pub mod canned_response;
pub mod contact;
pub mod conversation;
pub mod inbox;
pub mod kb_article;
pub mod llm_usage;
pub mod message;
pub mod read_marker;
