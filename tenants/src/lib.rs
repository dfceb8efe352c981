//! Tenant identity: which slugs a tenant may claim, and which tenant a request's `Host` names.
//!
//! Pure functions with no I/O so every part (API, web, checker) agrees on the rules.

mod domain;
mod host;

pub use domain::{
    txt_records_verify, validate_custom_domain, verification_record_name,
    verification_record_value, DomainError, RESERVED_TLDS, VERIFICATION_LABEL,
};
pub use host::{normalize_host, resolve_host, Site};

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
    #[error("looks too much like the reserved name {0:?}")]
    ConfusableWith(String),
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
    let skeleton = slug_skeleton(slug);
    if let Some(reserved) = RESERVED_SLUGS
        .iter()
        .find(|reserved| slug_skeleton(reserved) == skeleton)
    {
        return Err(SlugError::ConfusableWith((*reserved).to_owned()));
    }
    Ok(())
}

/// What a slug looks like at a glance: look-alike characters folded together and hyphens
/// dropped, so `adm1n`, `supp0rt` or `a-p-i` cannot pose as ours. Two slugs with equal
/// skeletons are confusable with each other.
pub fn slug_skeleton(slug: &str) -> String {
    let folded: String = slug
        .chars()
        .filter(|c| *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            '0' => 'o',
            '1' | 'i' => 'l',
            '3' => 'e',
            '5' => 's',
            c => c,
        })
        .collect();
    folded.replace("rn", "m").replace("vv", "w")
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
    fn skeleton_folds_look_alikes() {
        assert_eq!(slug_skeleton("adm1n"), "admln");
        assert_eq!(slug_skeleton("admin"), "admln");
        assert_eq!(slug_skeleton("supp0rt"), "support");
        assert_eq!(slug_skeleton("a-p-i"), "apl");
        assert_eq!(slug_skeleton("3a5y"), "easy");
        assert_eq!(slug_skeleton("rnail"), "mall");
        assert_eq!(slug_skeleton("vvww"), "www");
        assert_eq!(slug_skeleton("r-n"), "m");
        assert_eq!(slug_skeleton("st4tus"), "st4tus");
        assert_eq!(slug_skeleton("ACME"), slug_skeleton("acme"));
        // Tenants confusable with each other share a skeleton.
        assert_eq!(slug_skeleton("acme-corp"), slug_skeleton("acrne-c0rp"));
        assert_ne!(slug_skeleton("acme"), slug_skeleton("acne"));
    }

    #[test]
    fn rejects_slugs_confusable_with_reserved_names() {
        let confusable = |name: &str| Err(SlugError::ConfusableWith(name.into()));
        assert_eq!(validate_slug("adm1n"), confusable("admin"));
        assert_eq!(validate_slug("supp0rt"), confusable("support"));
        assert_eq!(validate_slug("a-p-i"), confusable("api"));
        assert_eq!(validate_slug("vvww"), confusable("www"));
        assert_eq!(validate_slug("vvvvvv"), confusable("www"));
        assert_eq!(validate_slug("5tatu5"), confusable("status"));
        assert_eq!(validate_slug("ad-min"), confusable("admin"));
        assert_eq!(validate_slug("rnail"), confusable("mail"));
        assert_eq!(validate_slug("l0gin"), confusable("login"));
        assert_eq!(validate_slug("1oca1host"), confusable("localhost"));
        assert_eq!(validate_slug("t3st"), confusable("test"));
        assert_eq!(validate_slug("nsi"), confusable("ns1"));
        assert_eq!(validate_slug("ns-2"), confusable("ns2"));
        // Only the listed look-alikes count: 4 is not folded, and real words stay free.
        assert_eq!(validate_slug("st4tus"), Ok(()));
        assert_eq!(validate_slug("statuses"), Ok(()));
        assert_eq!(validate_slug("mailer"), Ok(()));
        assert_eq!(validate_slug("acme-api"), Ok(()));
        // Length limits still apply to the slug itself, not its skeleton.
        assert_eq!(validate_slug("a-p"), Ok(()));
        assert_eq!(validate_slug("vv"), Err(SlugError::Length(2)));
    }

    #[test]
    fn slug_error_messages() {
        assert_eq!(
            SlugError::ConfusableWith("admin".into()).to_string(),
            "looks too much like the reserved name \"admin\""
        );
    }
}
