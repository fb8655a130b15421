//! Real-time plumbing under every transport: the versioned frame protocol, the hub task that
//! routes events to this node's connections, the WebSocket connection a session talks through,
//! and the cluster bus that links nodes. The per-socket session is in `web::ws::session`, the
//! bridge from the bus to the hub in `crate::cluster`.
pub mod bus;
pub mod hub;
pub mod protocol;
pub mod transport;

pub use hub::HubHandle;
