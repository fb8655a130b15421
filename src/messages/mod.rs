//! Messages: the one write path (`service::send`), the group-commit writer behind it, and history
//! reads for replay and paging.
pub(crate) mod batch_sql;
pub mod model;
pub mod repo;
pub mod service;
pub mod writer;

pub use model::{Message, SendCommand, Sent};
