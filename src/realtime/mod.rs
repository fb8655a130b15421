//! Real-time delivery over WebSockets: the versioned frame protocol, the hub task that routes
//! events to connections, and the per-connection session loop.
pub mod hub;
pub mod protocol;
pub mod session;

pub use hub::HubHandle;
