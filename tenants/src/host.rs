//! Which site a request's `Host` header names, compared in one canonical form.

use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::domain::to_ascii_hostname;

/// What a request's `Host` header addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Site {
    /// The platform itself: landing page, sign-in, admin.
    Platform,
    /// `<slug>.<base-domain>`: a tenant's status page (the slug may not exist).
    Tenant(String),
    /// A host that is neither, in [`normalize_host`] form so it can be looked up as a
    /// custom domain; empty when the header is not a valid host (it then matches nothing).
    Other(String),
}

impl Site {
    /// The host to look up in the custom-domain table, if any: saves callers from
    /// querying with the empty string an invalid `Host` yields.
    pub fn custom_domain(&self) -> Option<&str> {
        match self {
            Site::Other(host) if !host.is_empty() => Some(host),
            _ => None,
        }
    }
}

/// Normalizes a `Host` header (or bare domain) to the one form we store and compare:
/// punycode, lowercase, no port, no trailing dot; IPs in canonical text (IPv6 without
/// brackets). `None` when it is not a valid host, so no raw header text reaches a lookup.
pub fn normalize_host(host: &str) -> Option<String> {
    match parse_host(host)? {
        Host::Ip(ip) => Some(ip.to_string()),
        Host::Name(name) => Some(name),
    }
}

/// Resolves a `Host` header against the base domain: Unicode compared as punycode, port
/// ignored, case-insensitive, a trailing dot tolerated. `www.<base>` is the platform too.
pub fn resolve_host(host: &str, base_domain: &str) -> Site {
    if host.trim().is_empty() {
        return Site::Platform;
    }
    let host = match parse_host(host) {
        // Bare IP addresses reach the platform (health checks, direct access).
        Some(Host::Ip(_)) => return Site::Platform,
        Some(Host::Name(name)) => name,
        None => return Site::Other(String::new()),
    };
    let base = normalize_base(base_domain);
    if host == base || host == format!("www.{base}") {
        return Site::Platform;
    }
    if let Some(label) = host.strip_suffix(&format!(".{base}")) {
        if !label.contains('.') {
            return Site::Tenant(label.to_owned());
        }
    }
    Site::Other(host)
}

/// The configured base domain in [`normalize_host`] form; falls back to plain lowercase
/// so a misconfigured base still compares predictably instead of panicking.
pub(crate) fn normalize_base(base_domain: &str) -> String {
    normalize_host(base_domain).unwrap_or_else(|| {
        base_domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase()
    })
}

pub(crate) enum Host {
    Ip(IpAddr),
    Name(String),
}

/// Splits off the port (also after a bracketed IPv6 literal) and classifies the rest.
pub(crate) fn parse_host(host: &str) -> Option<Host> {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !is_port_suffix(after) {
            return None;
        }
        return inside
            .parse::<Ipv6Addr>()
            .ok()
            .map(|ip| Host::Ip(ip.into()));
    }
    // Unbracketed IPv6 is not valid in `Host`, but tolerating it costs nothing.
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    let name = match host.split_once(':') {
        Some((name, port)) if is_port_suffix(&format!(":{port}")) => name,
        Some(_) => return None,
        None => host,
    };
    if name.is_empty() {
        return None;
    }
    let ascii = to_ascii_hostname(name).ok()?;
    // After mapping (e.g. full-width digits, a trailing dot) it may turn out to be an IP.
    Some(match ascii.parse::<IpAddr>() {
        Ok(ip) => Host::Ip(ip),
        Err(_) => Host::Name(ascii),
    })
}

/// Empty, or `:` followed by digits (RFC 3986 allows an empty port).
fn is_port_suffix(s: &str) -> bool {
    s.is_empty()
        || s.strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_hosts() {
        let base = "localhost";
        assert_eq!(
            resolve_host("demo.localhost:3000", base),
            Site::Tenant("demo".into())
        );
        assert_eq!(
            resolve_host("DEMO.LocalHost", base),
            Site::Tenant("demo".into())
        );
        assert_eq!(
            resolve_host("demo.localhost.", base),
            Site::Tenant("demo".into())
        );
        assert_eq!(
            resolve_host("demo.localhost.:3000", base),
            Site::Tenant("demo".into())
        );
        assert_eq!(resolve_host("localhost:3000", base), Site::Platform);
        assert_eq!(resolve_host("localhost.", base), Site::Platform);
        assert_eq!(resolve_host("www.localhost", base), Site::Platform);
        assert_eq!(resolve_host("", base), Site::Platform);
        assert_eq!(
            resolve_host("a.b.localhost", base),
            Site::Other("a.b.localhost".into())
        );
        assert_eq!(
            resolve_host("status.acme.com", base),
            Site::Other("status.acme.com".into())
        );
        assert_eq!(
            resolve_host("acme.status.example.com", "status.example.com"),
            Site::Tenant("acme".into())
        );
        assert_eq!(
            resolve_host("acme.status.example.com", "Status.Example.COM."),
            Site::Tenant("acme".into())
        );
    }

    #[test]
    fn ip_hosts_reach_the_platform() {
        let base = "localhost";
        assert_eq!(resolve_host("127.0.0.1", base), Site::Platform);
        assert_eq!(resolve_host("127.0.0.1:3000", base), Site::Platform);
        assert_eq!(resolve_host("127.0.0.1.", base), Site::Platform);
        assert_eq!(resolve_host("[::1]:3000", base), Site::Platform);
        assert_eq!(resolve_host("[::1]", base), Site::Platform);
        assert_eq!(resolve_host("::1", base), Site::Platform);
        assert_eq!(resolve_host("[2001:DB8::1]:8080", base), Site::Platform);
    }

    #[test]
    fn unicode_hosts_compare_as_punycode() {
        // Unicode base, ASCII host and vice versa: both sides meet in punycode.
        assert_eq!(
            resolve_host("demo.xn--bcher-kva.example", "bücher.example"),
            Site::Tenant("demo".into())
        );
        assert_eq!(
            resolve_host("demo.BÜCHER.example:443", "xn--bcher-kva.example"),
            Site::Tenant("demo".into())
        );
        assert_eq!(
            resolve_host("www.bücher.example", "bücher.example"),
            Site::Platform
        );
        assert_eq!(
            resolve_host("Status.Bücher.de.", "localhost"),
            Site::Other("status.xn--bcher-kva.de".into())
        );
        // A Unicode "tenant" label comes back as punycode, which no slug can be.
        assert_eq!(
            resolve_host("dëmo.localhost", "localhost"),
            Site::Tenant("xn--dmo-jma".into())
        );
    }

    #[test]
    fn invalid_hosts_match_nothing() {
        for host in [
            "exa mple.com",
            "foo_bar.com",
            "a..b.com",
            "acme.com:http",
            "[::1]x",
            "[::1",
            "[not-ip]:80",
            "user@acme.com",
            "acme.com/path",
            "-acme.com",
            ":3000",
            "xn--a.com",
        ] {
            assert_eq!(
                resolve_host(host, "localhost"),
                Site::Other(String::new()),
                "{host}"
            );
            assert_eq!(normalize_host(host), None, "{host}");
        }
        assert_eq!(Site::Other(String::new()).custom_domain(), None);
        assert_eq!(
            Site::Other("status.acme.com".into()).custom_domain(),
            Some("status.acme.com")
        );
        assert_eq!(Site::Tenant("acme".into()).custom_domain(), None);
        assert_eq!(Site::Platform.custom_domain(), None);
    }

    #[test]
    fn normalizes_hosts() {
        assert_eq!(
            normalize_host(" Status.ACME.com.:8443 ").as_deref(),
            Some("status.acme.com")
        );
        assert_eq!(
            normalize_host("münchen.de").as_deref(),
            Some("xn--mnchen-3ya.de")
        );
        // Full-width characters and the ideographic full stop map to ASCII.
        assert_eq!(
            normalize_host("ｓｔａｔｕｓ。acme.com").as_deref(),
            Some("status.acme.com")
        );
        assert_eq!(normalize_host("[::1]:3000").as_deref(), Some("::1"));
        assert_eq!(normalize_host("10.0.0.1:80").as_deref(), Some("10.0.0.1"));
        assert_eq!(normalize_host("localhost").as_deref(), Some("localhost"));
        assert_eq!(normalize_host(""), None);
        assert_eq!(normalize_host("."), None);
        let long = format!("{}.com", vec!["a".repeat(63); 4].join("."));
        assert_eq!(normalize_host(&long), None);
        assert_eq!(normalize_host(&format!("{}.com", "a".repeat(64))), None);
    }
}
