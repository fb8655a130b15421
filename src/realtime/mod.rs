//! Real-time delivery over WebSockets: the versioned frame protocol, the hub task that routes
//! events to connections, the per-connection session loop, and the cluster bus that links nodes.
pub mod bus;
pub mod cluster;
pub mod hub;
pub mod protocol;
pub mod session;
pub mod transport;

pub use hub::HubHandle;
