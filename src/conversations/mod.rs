//! Conversations: the state machine and its transitions (`state`, the only writer of the
//! conversation table), the agent's inbox listing, actions (assign, status, snooze, tags) and
//! read markers. Services take the database and the event publisher, not the whole context.
pub mod actions;
pub mod listing;
pub mod service;
pub mod state;

pub use service::ConversationView;
