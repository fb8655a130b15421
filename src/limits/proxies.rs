//! Who the client is behind reverse proxies. Each proxy appends the address it received the
//! request from to `X-Forwarded-For`, so only entries added by proxies we trust are facts; the
//! rest, to the left, are whatever the client wrote. Reading from the right and skipping our own
//! proxies (RFC 7239 §7.4 practice) gives the first address no trusted proxy vouches past: the
//! client. The left-most entry — the one a client can forge — is never believed by default.
use std::net::IpAddr;

/// An address range: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let net: IpAddr = addr.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
            let keep = u32::from(prefix);
            if keep == 0 {
                0
            } else {
                bits >> (u32::from(width) - keep)
            }
        }
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                masked(u32::from(n).into(), 32, self.prefix)
                    == masked(u32::from(a).into(), 32, self.prefix)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                masked(u128::from(n), 128, self.prefix) == masked(u128::from(a), 128, self.prefix)
            }
            _ => false,
        }
    }
}

/// `::ffff:10.0.0.1` (a dual-stack socket's view of an IPv4 peer) is `10.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `trust_proxy_headers` and `trusted_proxies` settings, parsed once at start.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies {
    enabled: bool,
    /// Empty: the direct peer is the one proxy.
    ranges: Vec<Cidr>,
}

impl TrustedProxies {
    pub fn new(enabled: bool, ranges: &[String]) -> Result<Self, String> {
        let ranges = ranges
            .iter()
            .map(|r| {
                Cidr::parse(r).ok_or_else(|| {
                    format!("trusted_proxies: {r:?} is not an IP address or CIDR range")
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { enabled, ranges })
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    /// The client's address. `forwarded_for`: the `X-Forwarded-For` values in header order (or
    /// the `for=` values of `Forwarded`), each possibly a comma-separated list.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = canonical(peer);
        // Headers from a peer that is not our proxy are the client's own words.
        if !self.enabled || (!self.ranges.is_empty() && !self.trusted(peer)) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage (or `unknown`): nothing left of it can be believed.
                return client;
            };
            client = canonical(ip);
            // With no list, only the peer is trusted: the entry it appended is the client.
            if self.ranges.is_empty() || !self.trusted(client) {
                return client;
            }
        }
        client
    }
}

/// One hop: `203.0.113.7`, `203.0.113.7:4711`, `[2001:db8::1]:4711`, `"[2001:db8::1]"`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim_matches('"');
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse().ok()
}

/// The `for=` values of `Forwarded` headers (RFC 7239), in order.
pub fn forwarded_for_values(forwarded: &str) -> Vec<&str> {
    forwarded
        .split(',')
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn off_means_the_peer_whatever_the_headers_say() {
        let p = TrustedProxies::new(false, &[]).unwrap_or_default();
        assert_eq!(p.client(ip("10.0.0.2"), &["1.2.3.4"]), ip("10.0.0.2"));
    }

    #[test]
    fn one_proxy_believes_only_the_entry_it_appended() {
        // nginx with $proxy_add_x_forwarded_for: the client's forged entry comes first.
        let p = TrustedProxies::new(true, &[]).unwrap_or_default();
        let forged = ["6.6.6.6, 203.0.113.9"];
        assert_eq!(p.client(ip("127.0.0.1"), &forged), ip("203.0.113.9"));
        assert_eq!(
            p.client(ip("127.0.0.1"), &["6.6.6.6", "203.0.113.9"]),
            ip("203.0.113.9")
        );
        assert_eq!(p.client(ip("127.0.0.1"), &[]), ip("127.0.0.1"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped_from_the_right() {
        let p = TrustedProxies::new(true, &["10.0.0.0/8".into(), "fd00::/8".into()])
            .unwrap_or_default();
        let h = ["6.6.6.6, 198.51.100.4, 10.1.2.3"];
        assert_eq!(p.client(ip("10.0.0.1"), &h), ip("198.51.100.4"));
        assert_eq!(p.client(ip("::ffff:10.0.0.1"), &h), ip("198.51.100.4"));
        // A peer outside the list is the client, its headers are ignored.
        assert_eq!(p.client(ip("198.51.100.9"), &h), ip("198.51.100.9"));
        // Garbage stops the walk at the last address we could vouch for.
        assert_eq!(
            p.client(ip("10.0.0.1"), &["1.1.1.1, nonsense, 10.9.9.9"]),
            ip("10.9.9.9")
        );
        assert_eq!(
            p.client(ip("10.0.0.1"), &["[2001:db8::7]:443"]),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn forwarded_header_for_values() {
        let v = forwarded_for_values("for=6.6.6.6;proto=https, for=\"[2001:db8::1]:80\";by=x");
        assert_eq!(v, vec!["6.6.6.6", "\"[2001:db8::1]:80\""]);
    }

    #[test]
    fn bad_ranges_are_refused() {
        assert!(TrustedProxies::new(true, &["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::new(true, &["proxy.local".into()]).is_err());
    }
}
