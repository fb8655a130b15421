//! The device cookie: a browser that signed in to an account once carries a signed, HttpOnly
//! proof of it, so the per-email login budget — which anyone can spend by guessing that account's
//! password from many addresses — does not lock the owner out (OWASP's "device cookies").
use actix_web::{HttpRequest, cookie::Cookie};
use chrono::Utc;

use crate::context::AppContext;

pub const DEVICE_COOKIE: &str = "sb_device";
/// How long a browser stays known after its last successful sign-in.
const DEVICE_TTL_SECS: i64 = 180 * 24 * 3600;

/// Whether this browser signed in to `email` before.
pub fn known(ctx: &AppContext, req: &HttpRequest, email: &str) -> bool {
    req.cookie(DEVICE_COOKIE).is_some_and(|c| {
        ctx.signer
            .device_ok(c.value(), email, Utc::now().timestamp())
    })
}

/// The cookie to set after a successful sign-in to `email`.
pub fn cookie(ctx: &AppContext, req: &HttpRequest, email: &str) -> Cookie<'static> {
    let token = ctx
        .signer
        .device_token(email, Utc::now().timestamp() + DEVICE_TTL_SECS);
    super::pages::cookie(ctx, req, DEVICE_COOKIE, token, DEVICE_TTL_SECS)
}
