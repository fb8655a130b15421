//! Credentials: argon2 password hashes, random bearer tokens (stored only as SHA-256), and
//! HMAC-signed tokens for visitors and agent sockets. Comparisons are constant-time.
pub mod password;
pub mod tokens;

pub use tokens::{Signer, SocketClaims, VisitorClaims, VisitorIdentity};
