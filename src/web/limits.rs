//! The client's address for rate limits: the TCP peer, or behind trusted reverse proxies the
//! address they vouch for (see `limits::TrustedProxies`).
use std::net::IpAddr;

use actix_web::{HttpRequest, http::header};

use crate::limits::{TrustedProxies, forwarded_for_values};

pub fn client_ip(req: &HttpRequest, proxies: &TrustedProxies) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    let headers = req.headers();
    let values = |name: &str| -> Vec<&str> {
        headers
            .get_all(name)
            .filter_map(|v| v.to_str().ok())
            .collect()
    };
    let mut hops = values("x-forwarded-for");
    if hops.is_empty() {
        hops = values(header::FORWARDED.as_str())
            .into_iter()
            .flat_map(forwarded_for_values)
            .collect();
    }
    proxies.client(peer, &hops)
}
