//! Rate limits (GCRA, `governor`), per node: login attempts per client IP and per email
//! (brute force), and the public widget endpoints per client IP. Exceeding one is a 429 with
//! `Retry-After`.
use std::{hash::Hash, net::IpAddr, num::NonZeroU32, time::Duration};

use actix_web::HttpRequest;
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::error::AppError;

pub struct Limits {
    enabled: bool,
    login_ip: DefaultKeyedRateLimiter<IpAddr>,
    login_email: DefaultKeyedRateLimiter<String>,
    widget_ip: DefaultKeyedRateLimiter<IpAddr>,
    widget_session_ip: DefaultKeyedRateLimiter<IpAddr>,
}

fn quota(burst: u32, per: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(per)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

fn check<K: Hash + Eq + Clone>(l: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), AppError> {
    l.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        AppError::RateLimited(wait.as_secs() + 1)
    })
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(true)
    }
}

impl Limits {
    /// `enabled: false` lets everything through (the `rate_limits` setting, for load tests).
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            // 10 quick tries, then one every 6 s per address; one every 60 s per account.
            login_ip: RateLimiter::keyed(quota(10, Duration::from_secs(6))),
            login_email: RateLimiter::keyed(quota(10, Duration::from_secs(60))),
            // Widgets: generous — many visitors can share one address (office NAT) and a page
            // view costs ~3 requests — while still bounding a flood.
            widget_ip: RateLimiter::keyed(quota(600, Duration::from_millis(20))),
            widget_session_ip: RateLimiter::keyed(quota(60, Duration::from_secs(1))),
        }
    }

    pub fn login(&self, ip: IpAddr, email: &str) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        check(&self.login_ip, &ip)?;
        check(&self.login_email, &email.trim().to_lowercase())
    }

    pub fn widget(&self, ip: IpAddr) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        check(&self.widget_ip, &ip)
    }

    pub fn widget_session(&self, ip: IpAddr) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        check(&self.widget_ip, &ip)?;
        check(&self.widget_session_ip, &ip)
    }

    /// Forgets idle keys (called periodically) so memory stays bounded.
    pub fn prune(&self) {
        self.login_ip.retain_recent();
        self.login_email.retain_recent();
        self.widget_ip.retain_recent();
        self.widget_session_ip.retain_recent();
    }
}

/// The client's address: the TCP peer, or with `trust_proxy_headers` the first
/// `X-Forwarded-For` / `Forwarded` entry set by the reverse proxy.
pub fn client_ip(req: &HttpRequest, trust_proxy: bool) -> IpAddr {
    if trust_proxy
        && let Some(ip) = req.connection_info().realip_remote_addr().and_then(|a| {
            a.parse::<IpAddr>()
                .ok()
                .or_else(|| a.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        })
    {
        return ip;
    }
    req.peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip())
}
