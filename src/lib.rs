//! Switchboard: a self-hosted, AI-assisted customer support chat. This crate is the server; the
//! binary in `main.rs` is a thin CLI over it, and the integration tests start it in-process.
pub mod accounts;
pub mod actor;
pub mod auth;
pub mod bot;
pub mod canned;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod context;
pub mod conversations;
pub mod db;
pub mod delivery;
pub mod demo;
pub mod embed;
pub mod error;
pub mod events;
pub mod import;
pub mod inboxes;
pub mod kb;
pub mod limits;
pub mod llm;
pub mod messages;
pub mod passes;
pub mod presence;
pub mod privacy;
#[cfg(test)]
mod props;
pub mod realtime;
pub mod routing;
pub mod search;
pub mod startup;
pub mod tags;
pub mod telemetry;
pub mod urls;
pub mod visitors;
pub mod web;
pub mod writer;

/// Installs the one TLS crypto provider (ring) before anything opens a TLS connection.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
