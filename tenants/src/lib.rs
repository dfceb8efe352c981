//! Tenant identity: which slugs a tenant may claim, and which tenant a request's `Host` names.
//!
//! Pure functions with no I/O so every part (API, web, checker) agrees on the rules.

use serde::{Deserialize, Serialize};

/// Names no tenant may claim: they are ours, or confusingly close to ours.
pub const RESERVED_SLUGS: &[&str] = &[
    "www",
    "api",
    "app",
    "admin",
    "status",
    "mail",
    "smtp",
    "imap",
    "pop",
    "ftp",
    "ns1",
    "ns2",
    "dns",
    "static",
    "assets",
    "cdn",
    "docs",
    "help",
    "support",
    "blog",
    "login",
    "signin",
    "signup",
    "auth",
    "account",
    "accounts",
    "billing",
    "dashboard",
    "internal",
    "root",
    "system",
    "localhost",
    "test",
];

pub const SLUG_MIN_LEN: usize = 3;
pub const SLUG_MAX_LEN: usize = 40;

/// Why a slug cannot be claimed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    #[error("must be {SLUG_MIN_LEN} to {SLUG_MAX_LEN} characters, got {0}")]
    Length(usize),
    #[error("may contain only lowercase letters a-z, digits and hyphens, found {0:?}")]
    Character(char),
    #[error("may not start or end with a hyphen")]
    EdgeHyphen,
    #[error("may not contain two hyphens in a row")]
    DoubleHyphen,
    #[error("{0:?} is reserved")]
    Reserved(String),
}

/// Checks that `slug` is a DNS label a tenant may claim as `<slug>.<base-domain>`.
pub fn validate_slug(slug: &str) -> Result<(), SlugError> {
    let len = slug.chars().count();
    if !(SLUG_MIN_LEN..=SLUG_MAX_LEN).contains(&len) {
        return Err(SlugError::Length(len));
    }
    if let Some(c) = slug
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(SlugError::Character(c));
    }
    if slug.starts_with('-') || slug.ends_with('-') {
        return Err(SlugError::EdgeHyphen);
    }
    // Also rules out punycode (`xn--`), whose look-alikes would confuse visitors.
    if slug.contains("--") {
        return Err(SlugError::DoubleHyphen);
    }
    if RESERVED_SLUGS.contains(&slug) {
        return Err(SlugError::Reserved(slug.to_owned()));
    }
    Ok(())
}

/// What a request's `Host` header addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Site {
    /// The platform itself: landing page, sign-in, admin.
    Platform,
    /// `<slug>.<base-domain>`: a tenant's status page (the slug may not exist).
    Tenant(String),
    /// A host that is neither (a custom domain, resolved by the caller).
    Other(String),
}

/// Resolves a `Host` header against the base domain: port ignored, case-insensitive,
/// a trailing dot tolerated. `www.<base>` is the platform too.
pub fn resolve_host(host: &str, base_domain: &str) -> Site {
    let host = strip_port(host.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let base = base_domain
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host == base || host == format!("www.{base}") || host.is_empty() {
        return Site::Platform;
    }
    if let Some(label) = host.strip_suffix(&format!(".{base}")) {
        if !label.contains('.') {
            return Site::Tenant(label.to_owned());
        }
    }
    // Bare IP addresses reach the platform (health checks, direct access).
    if host.parse::<std::net::IpAddr>().is_ok()
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return Site::Platform;
    }
    Site::Other(host)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_slugs() {
        for slug in ["demo", "acme-corp", "a1b", "x".repeat(40).as_str()] {
            assert_eq!(validate_slug(slug), Ok(()), "{slug}");
        }
    }

    #[test]
    fn rejects_bad_slugs_with_reasons() {
        assert_eq!(validate_slug("ab"), Err(SlugError::Length(2)));
        assert_eq!(validate_slug(&"x".repeat(41)), Err(SlugError::Length(41)));
        assert_eq!(validate_slug("Acme"), Err(SlugError::Character('A')));
        assert_eq!(validate_slug("ac_me"), Err(SlugError::Character('_')));
        assert_eq!(validate_slug("acmé"), Err(SlugError::Character('é')));
        assert_eq!(validate_slug("-acme"), Err(SlugError::EdgeHyphen));
        assert_eq!(validate_slug("acme-"), Err(SlugError::EdgeHyphen));
        assert_eq!(
            validate_slug("xn--80ak6aa92e"),
            Err(SlugError::DoubleHyphen)
        );
        assert_eq!(
            validate_slug("admin"),
            Err(SlugError::Reserved("admin".into()))
        );
        assert_eq!(validate_slug("www"), Err(SlugError::Reserved("www".into())));
    }

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
        assert_eq!(resolve_host("localhost:3000", base), Site::Platform);
        assert_eq!(resolve_host("www.localhost", base), Site::Platform);
        assert_eq!(resolve_host("127.0.0.1:3000", base), Site::Platform);
        assert_eq!(resolve_host("[::1]:3000", base), Site::Platform);
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
    }
}
