//! The delivery contract of `docs/protocol.md`, implemented once for every transport (the
//! WebSocket session, the widget's SSE stream and HTTP): `send` is the one write path, `history`
//! the reads, and `cursor` the per-conversation replay state both streaming transports keep.
pub mod cursor;
pub mod history;
pub mod send;
