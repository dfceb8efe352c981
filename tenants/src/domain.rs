//! Custom domains a tenant may point at its status page, and proving they own them.

use crate::host::{normalize_base, parse_host, Host};

/// Why a custom domain cannot be used. Messages complete the sentence
/// "custom_domain …" because the API shows them as field errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("must not be empty")]
    Empty,
    #[error(
        "must be just the domain name, such as status.example.com, without scheme, port or path"
    )]
    NotBareDomain,
    #[error("must be a valid domain name")]
    Invalid,
    #[error("must be at most 253 characters long (in its ASCII form), got {0}")]
    TooLong(usize),
    #[error("each dot-separated part must be 1 to 63 characters long")]
    LabelLength,
    #[error("may contain only letters, digits, hyphens and dots, found {0:?}")]
    Character(char),
    #[error("no dot-separated part may start or end with a hyphen")]
    EdgeHyphen,
    #[error("must be a domain name, not an IP address")]
    IpAddress,
    #[error("must have at least two dot-separated parts, such as status.example.com")]
    SingleLabel,
    #[error("must end in a top-level domain, which is never all digits")]
    NumericTld,
    #[error("must be a public domain: .{0} is a reserved top-level domain")]
    ReservedTld(String),
    #[error("must not be {0:?} or one of its subdomains, which belong to this platform")]
    PlatformDomain(String),
}

/// Top-level names that never resolve publicly (RFC 6761, RFC 6762, ICANN `.internal`):
/// no tenant could prove ownership of, or send visitors to, a domain under them.
pub const RESERVED_TLDS: &[&str] = &[
    "localhost",
    "local",
    "internal",
    "test",
    "invalid",
    "example",
];

/// Checks a tenant's custom domain and returns the form to store and verify: punycode,
/// lowercase, no trailing dot, the same form [`crate::resolve_host`] reports in `Site::Other`.
pub fn validate_custom_domain(domain: &str, base_domain: &str) -> Result<String, DomainError> {
    let domain = domain.trim();
    if domain.is_empty() {
        return Err(DomainError::Empty);
    }
    if let Some(Host::Ip(_)) = parse_host(domain) {
        return Err(DomainError::IpAddress);
    }
    // Pasted URLs are the common mistake; say so rather than "invalid character".
    if domain.contains(['/', ':', '@', '?', '#', '[', ']']) {
        return Err(DomainError::NotBareDomain);
    }
    let ascii = to_ascii_hostname(domain)?;
    if ascii.parse::<std::net::IpAddr>().is_ok() {
        return Err(DomainError::IpAddress);
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    let tld = labels[labels.len() - 1];
    if RESERVED_TLDS.contains(&tld) {
        return Err(DomainError::ReservedTld(tld.to_owned()));
    }
    if labels.len() < 2 {
        return Err(DomainError::SingleLabel);
    }
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DomainError::NumericTld);
    }
    let base = normalize_base(base_domain);
    if ascii == base || ascii.ends_with(&format!(".{base}")) {
        return Err(DomainError::PlatformDomain(base));
    }
    Ok(ascii)
}

/// Maps a (possibly Unicode) name to lowercase punycode without a trailing dot and checks
/// it is a DNS hostname: letters, digits, hyphens; labels 1..=63; total ≤ 253.
pub(crate) fn to_ascii_hostname(name: &str) -> Result<String, DomainError> {
    let ascii = idna::domain_to_ascii(name).map_err(|_| DomainError::Invalid)?;
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    if ascii.is_empty() {
        return Err(DomainError::Empty);
    }
    if ascii.len() > 253 {
        return Err(DomainError::TooLong(ascii.len()));
    }
    for label in ascii.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DomainError::LabelLength);
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(DomainError::Character(c));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError::EdgeHyphen);
        }
    }
    Ok(ascii.to_owned())
}

/// The label under which a tenant publishes its TXT proof: a dedicated name, so the
/// proof never collides with the domain's own TXT records (SPF and the like).
pub const VERIFICATION_LABEL: &str = "_statuspage-verify";

const VERIFICATION_PREFIX: &str = "statuspage-verification=";

/// Where the verification TXT record lives: `_statuspage-verify.<domain>`.
/// Pass the normalized domain from [`validate_custom_domain`].
pub fn verification_record_name(domain: &str) -> String {
    format!("{VERIFICATION_LABEL}.{}", domain.trim_end_matches('.'))
}

/// The TXT value the tenant must publish: `statuspage-verification=<token>`.
pub fn verification_record_value(token: &str) -> String {
    format!("{VERIFICATION_PREFIX}{token}")
}

/// Whether any TXT string proves ownership. Tolerates the whitespace and surrounding
/// quotes DNS tools and control panels add, nothing else. An empty token never verifies,
/// so a bug upstream cannot make a bare `statuspage-verification=` record count.
pub fn txt_records_verify(records: &[String], token: &str) -> bool {
    if token.trim().is_empty() {
        return false;
    }
    let expected = verification_record_value(token);
    records.iter().any(|record| {
        let record = record.trim();
        let record = record
            .strip_prefix('"')
            .and_then(|r| r.strip_suffix('"'))
            .unwrap_or(record);
        record == expected
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "status.example.com";

    #[test]
    fn accepts_and_normalizes_custom_domains() {
        for (input, want) in [
            ("status.acme.com", "status.acme.com"),
            ("  Status.ACME.com. ", "status.acme.com"),
            ("acme.io", "acme.io"),
            ("status.bücher.de", "status.xn--bcher-kva.de"),
            ("status.xn--bcher-kva.de", "status.xn--bcher-kva.de"),
            ("a-b.c-d.co.uk", "a-b.c-d.co.uk"),
            ("123.acme.com", "123.acme.com"),
            // Parent and look-alikes of the base are someone else's, and DNS-verified.
            ("example.com", "example.com"),
            ("mystatus.example.com", "mystatus.example.com"),
            ("status.example.com.evil.io", "status.example.com.evil.io"),
        ] {
            assert_eq!(
                validate_custom_domain(input, BASE).as_deref(),
                Ok(want),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_malformed_domains() {
        use DomainError::*;
        let cases: &[(&str, DomainError)] = &[
            ("", Empty),
            ("   ", Empty),
            (".", Empty),
            ("https://status.acme.com/", NotBareDomain),
            ("status.acme.com:443", NotBareDomain),
            ("status.acme.com/path", NotBareDomain),
            ("user@acme.com", NotBareDomain),
            ("status_page.acme.com", Character('_')),
            ("*.acme.com", Character('*')),
            ("status acme.com", Character(' ')),
            ("-status.acme.com", EdgeHyphen),
            ("status-.acme.com", EdgeHyphen),
            ("a..acme.com", LabelLength),
            (".acme.com", LabelLength),
            ("acme.com..", LabelLength),
            ("xn--a.com", Invalid),
            ("acme", SingleLabel),
            ("com", SingleLabel),
            ("acme.123", NumericTld),
            ("1.2.3", NumericTld),
        ];
        for (input, want) in cases {
            assert_eq!(
                validate_custom_domain(input, BASE).as_ref(),
                Err(want),
                "{input:?}"
            );
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert_eq!(validate_custom_domain(&long_label, BASE), Err(LabelLength));
        assert_eq!(
            validate_custom_domain(&format!("{}.com", "a".repeat(63)), BASE).map(|d| d.len()),
            Ok(67)
        );
        let too_long = format!("{}.com", vec!["a".repeat(62); 4].join("."));
        assert_eq!(too_long.len(), 255);
        assert_eq!(validate_custom_domain(&too_long, BASE), Err(TooLong(255)));
        let just_fits = format!("{}.com", vec!["a".repeat(62); 4].join("."))[2..].to_owned();
        assert_eq!(
            validate_custom_domain(&just_fits, BASE).map(|d| d.len()),
            Ok(253)
        );
    }

    #[test]
    fn rejects_ip_addresses() {
        for ip in [
            "192.0.2.1",
            "192.0.2.1:80",
            "192.0.2.1.",
            "::1",
            "[::1]",
            "[2001:db8::1]:443",
            "１９２.０.２.１",
        ] {
            assert_eq!(
                validate_custom_domain(ip, BASE),
                Err(DomainError::IpAddress),
                "{ip}"
            );
        }
    }

    #[test]
    fn rejects_reserved_tlds() {
        for (input, tld) in [
            ("localhost", "localhost"),
            ("LOCALHOST.", "localhost"),
            ("app.localhost", "localhost"),
            ("printer.local", "local"),
            ("db.corp.internal", "internal"),
            ("acme.test", "test"),
            ("acme.invalid", "invalid"),
            ("www.acme.example", "example"),
        ] {
            assert_eq!(
                validate_custom_domain(input, BASE),
                Err(DomainError::ReservedTld(tld.into())),
                "{input}"
            );
        }
        // Only the top-level label counts: these are ordinary public names.
        for input in ["local.acme.com", "test.acme.io", "localhost.acme.dev"] {
            assert!(validate_custom_domain(input, BASE).is_ok(), "{input}");
        }
    }

    #[test]
    fn rejects_the_platform_domain() {
        let platform = || Err(DomainError::PlatformDomain(BASE.into()));
        assert_eq!(
            validate_custom_domain("status.example.com", BASE),
            platform()
        );
        assert_eq!(
            validate_custom_domain("Status.Example.COM.", BASE),
            platform()
        );
        assert_eq!(
            validate_custom_domain("acme.status.example.com", BASE),
            platform()
        );
        assert_eq!(
            validate_custom_domain("a.b.status.example.com", BASE),
            platform()
        );
        // A Unicode base is compared in punycode both ways.
        assert_eq!(
            validate_custom_domain("acme.xn--bcher-kva.io", "bücher.io"),
            Err(DomainError::PlatformDomain("xn--bcher-kva.io".into()))
        );
        assert_eq!(
            validate_custom_domain("acme.BÜCHER.io", "xn--bcher-kva.io"),
            Err(DomainError::PlatformDomain("xn--bcher-kva.io".into()))
        );
    }

    #[test]
    fn error_messages_read_as_field_errors() {
        assert_eq!(
            DomainError::ReservedTld("local".into()).to_string(),
            "must be a public domain: .local is a reserved top-level domain"
        );
        assert_eq!(
            DomainError::PlatformDomain(BASE.into()).to_string(),
            "must not be \"status.example.com\" or one of its subdomains, which belong to this platform"
        );
    }

    #[test]
    fn builds_verification_record() {
        assert_eq!(VERIFICATION_LABEL, "_statuspage-verify");
        assert_eq!(
            verification_record_name("status.acme.com"),
            "_statuspage-verify.status.acme.com"
        );
        assert_eq!(
            verification_record_name("status.acme.com."),
            "_statuspage-verify.status.acme.com"
        );
        assert_eq!(
            verification_record_value("abc123"),
            "statuspage-verification=abc123"
        );
    }

    #[test]
    fn verifies_txt_records() {
        let token = "Zx9-tok3n";
        let txt = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(txt_records_verify(
            &txt(&["statuspage-verification=Zx9-tok3n"]),
            token
        ));
        assert!(txt_records_verify(
            &txt(&["v=spf1 -all", "  \"statuspage-verification=Zx9-tok3n\"  "]),
            token
        ));
        for wrong in [
            "statuspage-verification=zx9-tok3n",  // tokens are case-sensitive
            "statuspage-verification=Zx9-tok3n2", // no prefix matching
            "statuspage-verification=Zx9",
            "xstatuspage-verification=Zx9-tok3n",
            "Zx9-tok3n",
            "\"statuspage-verification=Zx9-tok3n", // unbalanced quote
            "statuspage-verification= Zx9-tok3n",
            "",
        ] {
            assert!(!txt_records_verify(&txt(&[wrong]), token), "{wrong:?}");
        }
        assert!(!txt_records_verify(&[], token));
        // An empty token must not be satisfied by a bare prefix record.
        assert!(!txt_records_verify(&txt(&["statuspage-verification="]), ""));
        assert!(!txt_records_verify(
            &txt(&["statuspage-verification=  "]),
            "  "
        ));
    }
}
