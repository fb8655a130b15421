//! Conversations: the visitor's session, the agent's inbox listing, actions (assign, status,
//! snooze), read markers.
pub mod actions;
pub mod listing;
pub mod service;
pub mod state;
pub mod visitor;

pub use service::ConversationView;
