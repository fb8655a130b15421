//! Accounts (tenants) and their agents: creation, login sessions, socket tokens, and the admin's
//! management of agents (invite, role, capacity, deactivation).
pub mod admin;
pub mod service;
