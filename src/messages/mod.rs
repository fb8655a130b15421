//! Messages: the stored message and its wire shape (`model`), and the reads replay and paging
//! use (`repo`). They are written only by the group-commit writer (`crate::writer`), reached
//! through `crate::delivery::send`.
pub mod model;
pub mod repo;

pub use model::{Message, SendCommand, Sent};
