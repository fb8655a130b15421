//! Rate limits and budgets (GCRA, `governor`), per node. Exceeding one is
//! `AppError::RateLimited(seconds)`: a 429 with `Retry-After` on HTTP, an `error` frame with
//! `code: "rate_limited"` and `retry_after` on a socket (the socket stays open).
//!
//! - Login: per client address, per (email, address), and a slower per-email budget that a
//!   browser which signed in to that account before (a signed device cookie) does not spend, so a
//!   stranger guessing passwords cannot lock the owner out.
//! - Widget endpoints: per client address.
//! - Customer messages, on every transport (they all pass `delivery::send::submit`): a rate
//!   per visitor and per conversation, and a storage budget in bytes per day per visitor and per
//!   inbox.
//! - Typing: repeats of one state are dropped, changes are rate limited (a `false` that ends a
//!   relayed `true` always passes, so no "is typing…" is left behind).
use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    num::NonZeroU32,
    sync::Mutex,
    time::{Duration, Instant},
};

use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};
use uuid::Uuid;

use crate::{auth::VisitorClaims, config::Settings, error::AppError};

mod proxies;
pub use proxies::{TrustedProxies, forwarded_for_values};

const DAY: Duration = Duration::from_secs(24 * 3600);
/// The same typing state is relayed again at most this often (a keep-alive for the indicator).
pub const TYPING_REPEAT: Duration = Duration::from_secs(3);

/// `burst` at once, then one more every `per`.
fn quota(burst: u32, per: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(per)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

/// `per_minute` events a minute, up to `burst` at once.
fn per_minute(per_minute: u32, burst: u32) -> Quota {
    quota(burst, Duration::from_secs(60) / per_minute.max(1))
}

/// A budget of `bytes` a day, all of which may be spent at once.
fn bytes_per_day(bytes: u64) -> Quota {
    let cells = u32::try_from(bytes.max(1)).unwrap_or(u32::MAX);
    quota(cells, DAY / cells)
}

/// Seconds to wait, rounded up, at least 1.
fn seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn check<K: Hash + Eq + Clone>(l: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), AppError> {
    l.check_key(key).map_err(|not_until| {
        AppError::RateLimited(seconds(
            not_until.wait_time_from(DefaultClock::default().now()),
        ))
    })
}

/// Spends `n` cells; a cost larger than the whole budget can never pass: retry tomorrow.
fn spend<K: Hash + Eq + Clone>(
    l: &DefaultKeyedRateLimiter<K>,
    key: &K,
    n: usize,
) -> Result<(), AppError> {
    let n = NonZeroU32::new(u32::try_from(n.max(1)).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
    match l.check_key_n(key, n) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(AppError::RateLimited(seconds(
            not_until.wait_time_from(DefaultClock::default().now()),
        ))),
        Err(_) => Err(AppError::RateLimited(DAY.as_secs())),
    }
}

pub struct Limits {
    enabled: bool,
    /// Which reverse proxies' `X-Forwarded-For` entries are believed.
    pub proxies: TrustedProxies,
    login_ip: DefaultKeyedRateLimiter<IpAddr>,
    login_email_ip: DefaultKeyedRateLimiter<(String, IpAddr)>,
    login_email: DefaultKeyedRateLimiter<String>,
    widget_ip: DefaultKeyedRateLimiter<IpAddr>,
    widget_session_ip: DefaultKeyedRateLimiter<IpAddr>,
    visitor_messages: DefaultKeyedRateLimiter<Uuid>,
    conversation_messages: DefaultKeyedRateLimiter<Uuid>,
    visitor_bytes: DefaultKeyedRateLimiter<Uuid>,
    inbox_bytes: DefaultKeyedRateLimiter<Uuid>,
    typing_changes: DefaultKeyedRateLimiter<(Uuid, Uuid)>,
    /// Last typing state relayed per (who, conversation), and when.
    typing_relayed: Mutex<HashMap<(Uuid, Uuid), (bool, Instant)>>,
}

impl Limits {
    /// With `rate_limits: false` everything passes (load tests from one address), except that a
    /// repeated typing state is still not relayed twice in a row.
    /// Fails on a malformed `trusted_proxies` entry.
    pub fn new(s: &Settings) -> Result<Self, String> {
        Ok(Self {
            enabled: s.rate_limits,
            proxies: TrustedProxies::new(s.trust_proxy_headers, &s.trusted_proxies)?,
            // 10 quick tries, then one every 6 s per address; 5, then one every 30 s per
            // (account, address); and 20, then one a minute per account from browsers that
            // never signed in to it (a distributed guesser).
            login_ip: RateLimiter::keyed(quota(10, Duration::from_secs(6))),
            login_email_ip: RateLimiter::keyed(quota(5, Duration::from_secs(30))),
            login_email: RateLimiter::keyed(quota(20, Duration::from_secs(60))),
            // Widgets: generous — many visitors can share one address (office NAT) and a page
            // view costs ~3 requests — while still bounding a flood.
            widget_ip: RateLimiter::keyed(quota(600, Duration::from_millis(20))),
            widget_session_ip: RateLimiter::keyed(quota(60, Duration::from_secs(1))),
            visitor_messages: RateLimiter::keyed(per_minute(
                s.visitor_messages_per_minute,
                s.visitor_message_burst,
            )),
            conversation_messages: RateLimiter::keyed(per_minute(
                s.conversation_messages_per_minute,
                s.conversation_message_burst,
            )),
            visitor_bytes: RateLimiter::keyed(bytes_per_day(s.visitor_bytes_per_day)),
            inbox_bytes: RateLimiter::keyed(bytes_per_day(s.inbox_bytes_per_day)),
            // A person toggles typing a few times a sentence: 6 changes, then one a second.
            typing_changes: RateLimiter::keyed(quota(6, Duration::from_secs(1))),
            typing_relayed: Mutex::new(HashMap::new()),
        })
    }

    /// Before the password is checked. `known_device`: the browser carries a valid device cookie
    /// for this email, so the per-email budget (which a stranger can spend) does not apply.
    pub fn login(&self, ip: IpAddr, email: &str, known_device: bool) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        let email = email.trim().to_lowercase();
        check(&self.login_ip, &ip)?;
        check(&self.login_email_ip, &(email.clone(), ip))?;
        if known_device {
            return Ok(());
        }
        check(&self.login_email, &email)
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

    /// A customer's message of `bytes` (body): rate per visitor and per conversation, then the
    /// day's storage budget per visitor and per inbox. Keyed by the token's own conversation, so
    /// naming someone else's conversation cannot spend its budget.
    pub fn customer_message(&self, visitor: &VisitorClaims, bytes: usize) -> Result<(), AppError> {
        if !self.enabled {
            return Ok(());
        }
        check(&self.visitor_messages, &visitor.contact_id)?;
        check(&self.conversation_messages, &visitor.conversation_id)?;
        spend(&self.visitor_bytes, &visitor.contact_id, bytes)?;
        spend(&self.inbox_bytes, &visitor.inbox_id, bytes)
    }

    /// Whether a typing frame from `who` (a contact or an agent) in `conversation_id` is relayed.
    pub fn typing(&self, who: Uuid, conversation_id: Uuid, typing: bool) -> bool {
        let key = (who, conversation_id);
        let now = Instant::now();
        let Ok(mut relayed) = self.typing_relayed.lock() else {
            return false;
        };
        let last = relayed.get(&key).copied();
        let pass = match last {
            Some((was, at)) if was == typing => {
                now.duration_since(at) >= TYPING_REPEAT && self.typing_change_allowed(&key)
            }
            // Ending an indicator the agents see is always relayed.
            Some((true, _)) => true,
            _ => self.typing_change_allowed(&key),
        };
        if pass {
            if relayed.len() >= 100_000 {
                relayed.retain(|_, (_, at)| now.duration_since(*at) < TYPING_REPEAT);
            }
            relayed.insert(key, (typing, now));
        }
        pass
    }

    fn typing_change_allowed(&self, key: &(Uuid, Uuid)) -> bool {
        !self.enabled || self.typing_changes.check_key(key).is_ok()
    }

    /// Forgets idle keys (called periodically) so memory stays bounded.
    pub fn prune(&self) {
        self.login_ip.retain_recent();
        self.login_email_ip.retain_recent();
        self.login_email.retain_recent();
        self.widget_ip.retain_recent();
        self.widget_session_ip.retain_recent();
        self.visitor_messages.retain_recent();
        self.conversation_messages.retain_recent();
        self.visitor_bytes.retain_recent();
        self.inbox_bytes.retain_recent();
        self.typing_changes.retain_recent();
        if let Ok(mut relayed) = self.typing_relayed.lock() {
            let now = Instant::now();
            relayed.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(s: &Settings) -> Limits {
        Limits::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    fn visitor() -> VisitorClaims {
        VisitorClaims {
            account_id: Uuid::new_v4(),
            inbox_id: Uuid::new_v4(),
            contact_id: Uuid::new_v4(),
            conversation_id: Uuid::new_v4(),
            identity: crate::auth::VisitorIdentity::Anonymous,
        }
    }

    #[test]
    fn a_visitor_gets_the_burst_then_rate_limited_with_a_retry_time() {
        let s = Settings {
            visitor_message_burst: 3,
            visitor_messages_per_minute: 6,
            ..Settings::default()
        };
        let l = limits(&s);
        let v = visitor();
        for _ in 0..3 {
            assert!(l.customer_message(&v, 10).is_ok());
        }
        match l.customer_message(&v, 10) {
            Err(AppError::RateLimited(secs)) => assert!((1..=10).contains(&secs), "{secs}"),
            other => panic!("expected rate_limited, got {other:?}"),
        }
        // Another visitor is not affected.
        let w = visitor();
        assert!(l.customer_message(&w, 10).is_ok());
    }

    #[test]
    fn the_daily_storage_budget_counts_bytes_per_visitor_and_per_inbox() {
        let s = Settings {
            visitor_bytes_per_day: 100,
            inbox_bytes_per_day: 150,
            ..Settings::default()
        };
        let l = limits(&s);
        let v = visitor();
        assert!(l.customer_message(&v, 60).is_ok());
        assert!(matches!(
            l.customer_message(&v, 60),
            Err(AppError::RateLimited(_))
        ));
        // A second visitor of the same inbox has its own budget, but the inbox's is shared.
        let w = VisitorClaims {
            contact_id: Uuid::new_v4(),
            ..v
        };
        assert!(l.customer_message(&w, 60).is_ok());
        assert!(matches!(
            l.customer_message(&w, 35),
            Err(AppError::RateLimited(_))
        ));
    }

    #[test]
    fn alternating_typing_is_throttled_but_the_last_true_is_always_ended() {
        let l = limits(&Settings::default());
        let (who, conv) = (Uuid::new_v4(), Uuid::new_v4());
        let relayed: Vec<bool> = (0..400)
            .map(|i| i % 2 == 0)
            .filter(|&t| l.typing(who, conv, t))
            .collect();
        assert!(relayed.len() <= 14, "{} of 400 relayed", relayed.len());
        assert_eq!(relayed.last(), Some(&false), "the indicator ends");
    }

    #[test]
    fn a_repeated_typing_state_is_relayed_once() {
        let l = limits(&Settings::default());
        let (who, conv) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(l.typing(who, conv, true));
        assert!(!l.typing(who, conv, true));
        assert!(l.typing(who, conv, false));
        assert!(!l.typing(who, conv, false));
    }

    #[test]
    fn a_known_device_skips_only_the_per_email_budget() {
        let l = limits(&Settings::default());
        let email = "owner@acme.example";
        // A distributed guesser: one try from each of 30 addresses.
        for i in 0..30u8 {
            let _ = l.login(IpAddr::from([10, 0, 1, i]), email, false);
        }
        let owner = IpAddr::from([192, 0, 2, 7]);
        assert!(matches!(
            l.login(owner, email, false),
            Err(AppError::RateLimited(_))
        ));
        assert!(l.login(owner, email, true).is_ok());
    }
}
