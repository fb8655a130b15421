//! What Switchboard's integration tests (`tests/it`) and the benchmarks (`switchboard-bench`)
//! share, in one copy: the protocol-v1 WebSocket client ([`ws`]), scratch PostgreSQL databases
//! ([`pg`]), account seeding ([`seed`]), a fake OpenAI-compatible endpoint ([`fake_llm`]) and
//! the raw HTTP/1.1 request reader of the fake endpoints ([`http1`]).
//! Dev only: the server never depends on it.
pub mod fake_llm;
pub mod http1;
pub mod pg;
pub mod seed;
pub mod ws;
