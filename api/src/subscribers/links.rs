//! The links a subscriber receives: the status page, the confirmation of an email subscription,
//! the preferences page and the one-click unsubscribe (RFC 8058). Links go to the tenant's page
//! host (`<slug>.<base domain>`), whose scheme and port the app server sets once at start
//! ([`configure`]): the notification hooks run inside other modules' transactions and have no
//! `AppState` to ask.
//!
//! The preferences and unsubscribe links carry the subscriber's id and an HMAC of it under a key
//! kept in `platform_secrets` (so every app server agrees), not a stored token: every message can
//! carry its subscriber's link without keeping a secret in plain text, and deleting the
//! subscriber (unsubscribing) makes its links worthless.

use hmac::Mac;
use sqlx::PgConnection;
use std::sync::OnceLock;
use uuid::Uuid;

/// The public confirmation: `GET` shows a button, `POST` confirms (link scanners confirm nothing).
pub const CONFIRM_PATH: &str = "/api/v1/public/subscriptions/confirm";
/// RFC 8058 one-click unsubscribe (`POST` with `List-Unsubscribe=One-Click`); `GET` shows a button.
pub const UNSUBSCRIBE_PATH: &str = "/api/v1/public/subscriptions/unsubscribe";
/// The preferences page (components, unsubscribe), served by the web crate.
pub const MANAGE_PATH: &str = "/_status-page/subscription";
/// The public page's subscribe form, served by the web crate behind the page's access gate.
pub const SUBSCRIBE_PATH: &str = "/_status-page/subscribe";

/// How links to tenants' pages are written.
#[derive(Debug, Clone)]
pub struct PageLinks {
    pub https: bool,
    pub base_domain: String,
    /// Left out of links when `None` (or the scheme's default).
    pub port: Option<u16>,
}

static LINKS: OnceLock<PageLinks> = OnceLock::new();

/// Sets how links are written; the first call wins (the app server calls it once at start).
/// Unset: `http://<slug>.localhost`.
pub fn configure(links: PageLinks) {
    let _ = LINKS.set(links);
}

/// Links take the scheme and port of the platform's public URL (`STATUSPAGE_PUBLIC_URL`, e.g.
/// `https://status.example.com`) and go to `<slug>.<base domain>` on it.
pub fn configure_from_platform_url(platform_url: &str, base_domain: &str) {
    configure(PageLinks::from_platform_url(platform_url, base_domain));
}

impl PageLinks {
    /// The scheme and port of `platform_url` (`https://status.example.com`), pages on
    /// `<slug>.<base domain>`.
    pub fn from_platform_url(platform_url: &str, base_domain: &str) -> Self {
        let parsed = url::Url::parse(platform_url).ok();
        Self {
            https: parsed.as_ref().is_none_or(|u| u.scheme() == "https"),
            base_domain: base_domain.trim().to_ascii_lowercase(),
            port: parsed.and_then(|u| u.port()),
        }
    }

    /// `scheme://<slug>.<base domain>[:port]`, the tenant's page.
    pub fn page_base(&self, slug: &str) -> String {
        let (scheme, default_port) = if self.https {
            ("https", 443)
        } else {
            ("http", 80)
        };
        let port = self
            .port
            .filter(|p| *p != default_port)
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        format!("{scheme}://{slug}.{}{port}", self.base_domain)
    }
}

/// `scheme://<slug>.<base domain>[:port]`, the tenant's page.
pub fn page_base(slug: &str) -> String {
    let links = LINKS.get().cloned().unwrap_or(PageLinks {
        https: false,
        base_domain: "localhost".into(),
        port: None,
    });
    links.page_base(slug)
}

/// Name of the link key's row in `platform_secrets`.
const LINK_KEY_NAME: &str = "subscriber_links";

/// The key subscriber links are signed with, made by the first caller.
pub async fn link_key(conn: &mut PgConnection) -> Result<Vec<u8>, sqlx::Error> {
    use rand::RngCore;
    let mut fresh = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut fresh);
    sqlx::query(
        "INSERT INTO platform_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(LINK_KEY_NAME)
    .bind(&fresh[..])
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("SELECT secret FROM platform_secrets WHERE name = $1")
        .bind(LINK_KEY_NAME)
        .fetch_one(&mut *conn)
        .await
}

fn mac(key: &[u8], subscriber_id: Uuid) -> hmac::Hmac<sha2::Sha256> {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(b"subscriber-manage");
    mac.update(subscriber_id.as_bytes());
    mac
}

/// The token of a subscriber's preferences and unsubscribe links.
pub fn manage_token(key: &[u8], subscriber_id: Uuid) -> String {
    hex::encode(mac(key, subscriber_id).finalize().into_bytes())
}

/// Constant-time check of a token made by [`manage_token`].
pub fn token_valid(key: &[u8], subscriber_id: Uuid, token: &str) -> bool {
    hex::decode(token.trim())
        .is_ok_and(|given| mac(key, subscriber_id).verify_slice(&given).is_ok())
}

/// `?id=<subscriber>&token=<token>`.
pub fn manage_query(key: &[u8], subscriber_id: Uuid) -> String {
    format!(
        "id={subscriber_id}&token={}",
        manage_token(key, subscriber_id)
    )
}

pub fn manage_url(slug: &str, key: &[u8], subscriber_id: Uuid) -> String {
    format!(
        "{}{MANAGE_PATH}?{}",
        page_base(slug),
        manage_query(key, subscriber_id)
    )
}

pub fn unsubscribe_url(slug: &str, key: &[u8], subscriber_id: Uuid) -> String {
    format!(
        "{}{UNSUBSCRIBE_PATH}?{}",
        page_base(slug),
        manage_query(key, subscriber_id)
    )
}

pub fn confirm_url(slug: &str, token: &str) -> String {
    format!("{}{CONFIRM_PATH}?token={token}", page_base(slug))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manage_tokens_are_bound_to_key_and_subscriber() {
        let id = Uuid::new_v4();
        let token = manage_token(b"key one", id);
        assert!(token_valid(b"key one", id, &token));
        assert!(!token_valid(b"key two", id, &token));
        assert!(!token_valid(b"key one", Uuid::new_v4(), &token));
        for junk in ["", "zz", "00"] {
            assert!(!token_valid(b"key one", id, junk));
        }
    }
}
