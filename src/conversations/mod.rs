//! Conversations: opening one for a website visitor, listing them for agents, read markers.
pub mod service;

pub use service::ConversationView;
