//! The one place where Switchboard *judges* a URL: which host a link in a bot answer points to,
//! whether a browser's `Origin` is one an inbox allows, whether a `next=` redirect stays on this
//! server. Every judgement parses with the WHATWG URL Standard (the `url` crate), the parser
//! browsers use, so what we approve is what the browser will open: hand-written `split('/')`
//! parsers were fooled by `https://help.example.com:443@evil.example/` (userinfo) and
//! `https://evil.example\.help.example.com/` (a backslash is a path separator to a browser).
//!
//! Building URLs for display (install snippets, log redaction) stays with plain strings: nothing
//! is decided from those.
use url::{Host, Origin, Url};

/// Why a string was not accepted as the kind of URL asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not a valid URL")]
    Malformed,
    #[error("only http:// and https:// addresses are accepted")]
    NotHttp,
    #[error("a user name or password in the address is not accepted")]
    Credentials,
    #[error("an origin is scheme://host[:port] with no path, query or fragment")]
    NotAnOrigin,
}

/// An absolute `http(s)` URL with a host and without credentials. Userinfo is refused outright:
/// no link we show or origin we compare has a legitimate use for it, and it is the classic way
/// to make a URL read as one host and go to another.
pub fn parse_web(s: &str) -> Result<Url, UrlError> {
    let u = Url::parse(s.trim()).map_err(|_| UrlError::Malformed)?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(UrlError::NotHttp);
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(UrlError::Credentials);
    }
    if u.host().is_none() {
        return Err(UrlError::Malformed);
    }
    Ok(u)
}

/// A host as compared: lowercase ASCII (IDN as punycode), one trailing dot dropped (DNS treats
/// `example.com.` and `example.com` as the same name), IPv6 in brackets. None for a name with an
/// empty label, which DNS cannot resolve but WHATWG parses (`https://%2e%2e/` has host `..`).
fn host_key<S: AsRef<str>>(h: &Host<S>) -> Option<String> {
    match h {
        Host::Domain(d) => {
            let d = d.as_ref();
            let d = d.strip_suffix('.').unwrap_or(d);
            (!d.split('.').any(str::is_empty)).then(|| d.to_string())
        }
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(format!("[{ip}]")),
    }
}

/// The host a link points to, as a browser would resolve it. Accepts what the bot's link finder
/// matches: `http(s)://…` and bare `www.…` (which a linkifier opens as `https://`).
pub fn link_host(link: &str) -> Option<String> {
    link_url(link).and_then(|u| u.host().and_then(|h| host_key(&h)))
}

/// [`link_host`]'s parse: the URL a link opens.
pub fn link_url(link: &str) -> Option<Url> {
    let link = link.trim();
    let is_www = link
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("www."));
    if is_www {
        parse_web(&format!("https://{link}")).ok()
    } else {
        parse_web(link).ok()
    }
}

/// Whether `host` (from [`link_host`]) is one of `allowed` or a subdomain of one. Entries are
/// normalised the same way, so `Help.Example.COM.` in a list still matches. IP addresses match
/// only exactly: `1.2.3.4` has no "subdomains".
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let Some(h) = parse_host(host) else {
        return false;
    };
    let Some(h_key) = host_key(&h) else {
        return false;
    };
    allowed.iter().filter_map(|a| parse_host(a)).any(|a| {
        let Some(a_key) = host_key(&a) else {
            return false;
        };
        h_key == a_key
            || (matches!((&h, &a), (Host::Domain(_), Host::Domain(_)))
                && h_key
                    .strip_suffix(a_key.as_str())
                    .is_some_and(|pre| pre.ends_with('.')))
    })
}

/// A bare host through the WHATWG host parser (IDNA, percent-decoding, IPv4 forms like `0x7f.1`).
fn parse_host(s: &str) -> Option<Host<String>> {
    let s = s.trim();
    // Opaque-host parsing would accept anything; a special-scheme host parse is what browsers do.
    let u = Url::parse(&format!("https://{s}/")).ok()?;
    // `s` must be only a host: `evil.example/@help.example.com` is not one.
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() || u.port().is_some() {
        return None;
    }
    if !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    u.host().map(|h| h.to_owned())
}

/// The origin of an `http(s)` URL that may carry a path, e.g. a configured `public_url`.
pub fn origin_of(s: &str) -> Option<Origin> {
    parse_web(s).ok().map(|u| u.origin())
}

/// A value that must be exactly an origin (an `Origin` header, an inbox's allowed origin):
/// `scheme://host[:port]`, optionally with a trailing `/`.
pub fn parse_origin(s: &str) -> Result<Origin, UrlError> {
    let u = parse_web(s)?;
    if u.path() != "/" || u.query().is_some() || u.fragment().is_some() {
        return Err(UrlError::NotAnOrigin);
    }
    Ok(u.origin())
}

/// The canonical text of an origin, as browsers send it: lowercase, punycode, default port
/// dropped (`https://Shop.Example:443/` → `https://shop.example`).
pub fn normalize_origin(s: &str) -> Result<String, UrlError> {
    parse_origin(s).map(|o| o.ascii_serialization())
}

/// Whether the `Origin` header value `origin` is the same origin as one of `candidates`
/// (each an origin, or a URL whose origin counts, like a `public_url` with a path). `null` and
/// anything unparsable never match.
pub fn origin_in<I, S>(origin: &str, candidates: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let Ok(o) = parse_origin(origin) else {
        return false;
    };
    candidates
        .into_iter()
        .filter_map(|c| origin_of(c.as_ref()))
        .any(|c| c.is_tuple() && c == o)
}

/// Whether a configured URL is served over HTTPS (cookies then get `Secure`).
pub fn is_https(s: &str) -> bool {
    parse_web(s).is_ok_and(|u| u.scheme() == "https")
}

/// `next` if it is a path on this server, for redirects after login. Besides the WHATWG check
/// (the path must resolve to the same origin), anything a browser would silently rewrite
/// (backslashes, tabs, newlines) or that cannot go in a header is refused, so the string we send
/// is the one that was judged.
pub fn local_path(next: &str) -> Option<&str> {
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    if !plain {
        return None;
    }
    let base = Url::parse("https://switchboard.invalid/").ok()?;
    let joined = base.join(next).ok()?;
    (joined.origin() == base.origin()
        && joined.username().is_empty()
        && joined.password().is_none())
    .then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(link: &str) -> bool {
        let list = vec!["help.example.com".to_string()];
        link_host(link).is_some_and(|h| host_allowed(&h, &list))
    }

    #[test]
    fn audit_bypasses_are_refused() {
        // Issue 13: both passed the hand-written parser as help.example.com.
        assert_eq!(
            link_host("https://help.example.com:443@evil.example/x"),
            None,
            "userinfo is refused"
        );
        assert!(!allowed("https://help.example.com:443@evil.example/x"));
        assert_eq!(
            link_host("https://evil.example\\.help.example.com/").as_deref(),
            Some("evil.example")
        );
        assert!(!allowed("https://evil.example\\.help.example.com/"));
    }

    #[test]
    fn hosts_are_what_a_browser_sees() {
        for ok in [
            "https://help.example.com/x",
            "http://help.example.com",
            "HTTPS://HELP.EXAMPLE.COM/A",
            "https://help.example.com./x",
            "https://help.example.com:8443/x",
            "https://docs.help.example.com/x",
            "www.help.example.com/x",
            "https://help%2Eexample.com/",
            "https://ｈｅｌｐ.example.com/",
            "https://help.example.com\\@evil.example",
        ] {
            assert!(allowed(ok), "{ok} should be allowed");
        }
        for bad in [
            "https://user@help.example.com/",
            "https://help.example.com@evil.example/",
            "https://help.example.com%40evil.example/",
            "https://evil.example/help.example.com",
            "https://evil.example?help.example.com",
            "https://evil.example#help.example.com",
            "https://help.example.com.evil.example/",
            "https://nothelp.example.com/",
            "https://hеlp.example.com/", // Cyrillic е: a different (punycode) host
            "https://evil.example%5C.help.example.com/",
            "javascript://help.example.com/%0aalert(1)",
            "ftp://help.example.com/",
            "//help.example.com/",
            "help.example.com",
            "https://",
            "",
        ] {
            assert!(!allowed(bad), "{bad} should be refused");
        }
        assert_eq!(
            link_host("https://hеlp.example.com/").as_deref(),
            Some("xn--hlp-rdd.example.com")
        );
        assert_eq!(
            link_host("http://0x7f.1/").as_deref(),
            Some("127.0.0.1"),
            "IPv4 shorthand is normalised"
        );
    }

    #[test]
    fn allow_list_entries_are_normalised_and_ips_match_exactly() {
        let list = vec!["Help.Example.COM.".to_string(), "10.0.0.1".to_string()];
        assert!(host_allowed("help.example.com", &list));
        assert!(host_allowed("a.help.example.com", &list));
        assert!(host_allowed("10.0.0.1", &list));
        assert!(!host_allowed("1.10.0.0.1", &list));
        assert!(!host_allowed(
            "evil.example",
            &["".to_string(), "/".to_string()]
        ));
        assert!(!host_allowed(
            "help.example.com",
            &["evil.example/@help.example.com".to_string()]
        ));
    }

    #[test]
    fn origins_compare_as_tuples() {
        let list = ["https://shop.example", "http://localhost:3000/"];
        assert!(origin_in("https://shop.example", list));
        assert!(origin_in("https://SHOP.example:443", list));
        assert!(origin_in("http://localhost:3000", list));
        for bad in [
            "http://shop.example",
            "https://shop.example:8443",
            "https://shop.example.evil.example",
            "https://shop.example@evil.example",
            "https://evil.example\\.shop.example",
            "https://shop.example/path",
            "null",
            "",
        ] {
            assert!(!origin_in(bad, list), "{bad} should not match");
        }
        // A public_url with a path still names its origin.
        assert!(origin_in(
            "https://support.example",
            ["https://support.example/app/"]
        ));
        assert_eq!(
            normalize_origin("https://Shop.Example:443/").as_deref(),
            Ok("https://shop.example")
        );
        assert_eq!(
            normalize_origin("https://shop.example/x"),
            Err(UrlError::NotAnOrigin)
        );
        assert_eq!(
            normalize_origin("https://u:p@shop.example"),
            Err(UrlError::Credentials)
        );
        assert_eq!(
            normalize_origin("file:///etc/passwd"),
            Err(UrlError::NotHttp)
        );
        assert!(is_https("HTTPS://x.example/"));
        assert!(!is_https("http://x.example/"));
    }

    #[test]
    fn local_paths_only() {
        assert_eq!(local_path("/app/c/1?x=1#m"), Some("/app/c/1?x=1#m"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "https://evil.example",
            "app",
            "/a\r\nSet-Cookie: x=1",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }
}
