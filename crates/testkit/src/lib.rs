//! What Switchboard's integration tests (`tests/it`) and the benchmarks (`switchboard-bench`)
//! share, in one copy: the protocol-v1 WebSocket client ([`ws`]), scratch PostgreSQL databases
//! ([`pg`]), account seeding ([`seed`]) and a fake OpenAI-compatible endpoint ([`fake_llm`]).
//! Dev only: the server never depends on it.
pub mod fake_llm;
pub mod pg;
pub mod seed;
pub mod ws;
