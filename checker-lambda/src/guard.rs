//! SSRF guard: probes must not reach our own network, the cloud metadata service, or addresses
//! that are not routable on the public internet, unless the deployment explicitly allows them.
//!
//! The guard judges the IP address that will actually be connected to (after DNS), so a host name
//! that resolves to a private address is refused just like the literal. IPv6 forms that embed an
//! IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`,
//! NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::/48`) are judged by the IPv4 address inside.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Refuses non-public addresses unless they are in the allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SsrfGuard {
    allow: Vec<IpNet>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// The address itself is in a refused range.
    #[error("refused to connect to {ip}: {reason} address ({range}), not allowed for checks")]
    Refused {
        ip: IpAddr,
        reason: &'static str,
        range: IpNet,
    },
    /// The address is an IPv6 form of a refused IPv4 address.
    #[error(
        "refused to connect to {ip}: {form} form of {embedded}, a {reason} address ({range}), not allowed for checks"
    )]
    RefusedEmbedded {
        ip: IpAddr,
        form: &'static str,
        embedded: Ipv4Addr,
        reason: &'static str,
        range: IpNet,
    },
}

impl GuardError {
    /// The address that was refused.
    pub fn ip(&self) -> IpAddr {
        match self {
            GuardError::Refused { ip, .. } | GuardError::RefusedEmbedded { ip, .. } => *ip,
        }
    }

    /// Why, without the address: "private (RFC 1918) (10.0.0.0/8)". For addresses that came
    /// from DNS, so a check cannot be used to learn where an internal name points.
    pub fn category(&self) -> String {
        match self {
            GuardError::Refused { reason, range, .. }
            | GuardError::RefusedEmbedded { reason, range, .. } => format!("{reason} ({range})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allowlist entry {entry:?}: expected an address or CIDR such as 127.0.0.0/8 or ::1/128 ({message})")]
pub struct AllowlistError {
    pub entry: String,
    pub message: String,
}

const V4_DENY: &[(&str, &str)] = &[
    ("0.0.0.0/8", "\"this network\""),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local / cloud metadata"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "reserved IETF protocol assignment"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
];

const V6_DENY: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215)"),
    ("100::/64", "discard-only"),
    ("2001::/32", "Teredo tunnel"),
    ("2001:db8::/32", "documentation"),
    ("fc00::/7", "unique local (ULA)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

fn v4_deny() -> impl Iterator<Item = (Ipv4Net, &'static str)> {
    V4_DENY
        .iter()
        .map(|(net, reason)| (net.parse().expect("valid built-in range"), *reason))
}

fn v6_deny() -> impl Iterator<Item = (Ipv6Net, &'static str)> {
    V6_DENY
        .iter()
        .map(|(net, reason)| (net.parse().expect("valid built-in range"), *reason))
}

/// The IPv4 address inside an IPv6 address, and the name of the form, if it is one of the forms
/// that reach (or translate to) that IPv4 address.
pub fn embedded_ipv4(ip: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    let s = ip.segments();
    let o = ip.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some((low, "IPv4-mapped"));
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return Some((low, "IPv4-compatible"));
    }
    if s[..4] == [0, 0, 0, 0] && s[4] == 0xffff && s[5] == 0 {
        return Some((low, "IPv4-translated (SIIT)"));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some((low, "NAT64"));
    }
    if s[0] == 0x2002 {
        return Some((Ipv4Addr::new(o[2], o[3], o[4], o[5]), "6to4"));
    }
    None
}

impl SsrfGuard {
    /// A guard that refuses every non-public address except those in `allow`.
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// Refuses every non-public address (empty allowlist): the production default.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Same as the free function [`parse_allowlist`].
    pub fn parse_allowlist(s: &str) -> Result<Vec<IpNet>, AllowlistError> {
        parse_allowlist(s)
    }

    pub fn allowlist(&self) -> &[IpNet] {
        &self.allow
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|net| net.contains(&ip))
    }

    /// Ok if a check may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), GuardError> {
        if self.allowed(ip) {
            return Ok(());
        }
        match ip {
            IpAddr::V4(v4) => match deny_reason_v4(v4) {
                Some((range, reason)) => Err(GuardError::Refused {
                    ip,
                    reason,
                    range: IpNet::V4(range),
                }),
                None => Ok(()),
            },
            IpAddr::V6(v6) => {
                if let Some((range, reason)) = v6_deny().find(|(net, _)| net.contains(&v6)) {
                    return Err(GuardError::Refused {
                        ip,
                        reason,
                        range: IpNet::V6(range),
                    });
                }
                if let Some((embedded, form)) = embedded_ipv4(v6) {
                    if self.allowed(IpAddr::V4(embedded)) {
                        return Ok(());
                    }
                    if let Some((range, reason)) = deny_reason_v4(embedded) {
                        return Err(GuardError::RefusedEmbedded {
                            ip,
                            form,
                            embedded,
                            reason,
                            range: IpNet::V4(range),
                        });
                    }
                }
                Ok(())
            }
        }
    }
}

fn deny_reason_v4(ip: Ipv4Addr) -> Option<(Ipv4Net, &'static str)> {
    v4_deny().find(|(net, _)| net.contains(&ip))
}

/// Parses a comma-separated allowlist such as `127.0.0.0/8, ::1/128`. A bare address means just
/// that address (`/32` or `/128`). Empty entries are ignored, so `""` is an empty list.
pub fn parse_allowlist(s: &str) -> Result<Vec<IpNet>, AllowlistError> {
    s.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            if entry.contains('/') {
                entry
                    .parse::<IpNet>()
                    .map(|net| net.trunc())
                    .map_err(|e| AllowlistError {
                        entry: entry.to_owned(),
                        message: e.to_string(),
                    })
            } else {
                entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|e| AllowlistError {
                        entry: entry.to_owned(),
                        message: e.to_string(),
                    })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn strict_guard_refuses_non_public_addresses() {
        let guard = SsrfGuard::strict();
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.170",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "fec0::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::ffff:0:10.1.2.3",
            "64:ff9b::10.0.0.1",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::1",
            "2002:a00:1::1",
            "2002:7f00:1::",
        ] {
            assert!(guard.check(ip(refused)).is_err(), "{refused} was allowed");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let guard = SsrfGuard::strict();
        for allowed in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "198.17.255.255",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:1.1.1.1",
            "64:ff9b::1.1.1.1",
            "2002:808:808::1",
        ] {
            assert_eq!(guard.check(ip(allowed)), Ok(()), "{allowed}");
        }
    }

    #[test]
    fn errors_name_the_address_and_the_reason() {
        let guard = SsrfGuard::strict();
        assert_eq!(
            guard.check(ip("169.254.169.254")).unwrap_err().to_string(),
            "refused to connect to 169.254.169.254: link-local / cloud metadata address (169.254.0.0/16), not allowed for checks"
        );
        assert_eq!(
            guard.check(ip("10.1.2.3")).unwrap_err().to_string(),
            "refused to connect to 10.1.2.3: private (RFC 1918) address (10.0.0.0/8), not allowed for checks"
        );
        assert_eq!(
            guard.check(ip("::1")).unwrap_err().to_string(),
            "refused to connect to ::1: loopback address (::1/128), not allowed for checks"
        );
        let err = guard.check(ip("::ffff:127.0.0.1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "refused to connect to ::ffff:127.0.0.1: IPv4-mapped form of 127.0.0.1, a loopback address (127.0.0.0/8), not allowed for checks"
        );
        assert_eq!(err.ip(), ip("::ffff:127.0.0.1"));
        assert_eq!(
            guard.check(ip("255.255.255.255")).unwrap_err().to_string(),
            "refused to connect to 255.255.255.255: broadcast address (255.255.255.255/32), not allowed for checks"
        );
    }

    #[test]
    fn allowlist_opens_exactly_its_ranges() {
        let guard = SsrfGuard::new(SsrfGuard::parse_allowlist("127.0.0.0/8").unwrap());
        assert_eq!(guard.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(guard.check(ip("127.9.9.9")), Ok(()));
        // The embedded IPv4 address is checked against the allowlist too.
        assert_eq!(guard.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert!(guard.check(ip("::1")).is_err());
        assert!(guard.check(ip("10.0.0.1")).is_err());
        assert!(guard.check(ip("169.254.169.254")).is_err());
        assert!(guard.check(ip("::ffff:10.0.0.1")).is_err());

        let guard = SsrfGuard::new(parse_allowlist("::1, 10.1.0.0/16").unwrap());
        assert_eq!(guard.check(ip("::1")), Ok(()));
        assert_eq!(guard.check(ip("10.1.200.3")), Ok(()));
        assert!(guard.check(ip("10.2.0.1")).is_err());
        assert!(guard.check(ip("127.0.0.1")).is_err());
    }

    #[test]
    fn allowlist_parsing() {
        assert_eq!(parse_allowlist("").unwrap(), vec![]);
        assert_eq!(parse_allowlist(" , ").unwrap(), vec![]);
        assert_eq!(
            parse_allowlist("127.0.0.0/8,::1/128, 10.0.0.5 ,fd00::/8").unwrap(),
            vec![
                "127.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap(),
                "10.0.0.5/32".parse().unwrap(),
                "fd00::/8".parse().unwrap(),
            ]
        );
        // Host bits are dropped: 10.1.2.3/8 means 10.0.0.0/8.
        assert_eq!(
            parse_allowlist("10.1.2.3/8").unwrap(),
            vec!["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        let err = parse_allowlist("127.0.0.0/8,localhost").unwrap_err();
        assert_eq!(err.entry, "localhost");
        assert!(
            err.to_string()
                .starts_with("invalid allowlist entry \"localhost\""),
            "{err}"
        );
        assert!(parse_allowlist("10.0.0.0/33").is_err());
    }
}
