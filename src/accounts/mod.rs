//! Accounts (tenants) and their agents: creation, login sessions, socket tokens.
pub mod service;
