//! Real-browser stories: headless Chromium driven over WebDriver (chromedriver + fantoccini)
//! against the real server. A customer browser loads a third-party host page (another origin,
//! hostile CSS) that embeds the widget; an agent browser uses the dashboard. A TCP proxy between
//! the customer and the server can cut the connection or refuse WebSocket upgrades.
//!
//! Needs `chromedriver` and `chromium` on PATH (Debian: `apt-get install chromium
//! chromium-driver`); the suite panics when they are missing instead of skipping. Set
//! `CHROMEDRIVER=/path/to/chromedriver` or `CHROME_BIN=/path/to/chromium` to override.
//! The selectors used are the test hooks of `docs/ui-contract.md`.
//!
//! `cargo test --test it browser -- --nocapture` runs the stories;
//! `cargo test --test it browser::screenshots -- --ignored` refreshes `docs/img/*.png`.
mod ai;
mod harness;
mod host;
mod offline;
pub(crate) mod proxy;
mod screenshots;
mod shadow;
mod stories;
