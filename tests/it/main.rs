//! The one integration-test binary: every test starts the real server in-process on port 0 with
//! a fresh SQLite file (or a fresh PostgreSQL database when `TEST_DATABASE_URL` is set) and talks
//! to it over real HTTP and WebSockets, like a widget or the dashboard would.
mod api_helpers;
use testkit::fake_llm;
mod helpers;

mod ai;
mod auth;
mod browser;
mod cluster;
mod crash;
mod dashboard_api;
mod delivery;
mod flood;
mod hardening;
mod limits;
mod llm;
mod outage;
mod real_llm;
mod resume;
mod search;
mod shadow;
mod widget_api;
