//! Who may read a tenant's status page: the one check every public route of a page calls (the
//! HTML page and its server functions, `/api/v1/public/status/{slug}`, `/incidents`,
//! `/maintenances`), so one credential opens all of them.
//!
//! A visitor of a password-protected page shows either the page-access cookie (set by the
//! page's password form) or the password itself in the `Status-Page-Password` header. Password
//! guesses are limited per page and per client before argon2 runs, and argon2 runs off the async
//! workers with bounded concurrency ([`crate::accounts::auth::verify_password_bounded`]). The cookie is
//! an HMAC under a key of its own (never `CHECKER_SECRET`, which every checker region holds),
//! bound to the tenant, the current password hash and an expiry.

use super::Visibility;
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::parse_stored;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Extensions, HeaderMap};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::Mac;
use sqlx::PgPool;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;
use uuid::Uuid;

/// Name of the cookie that lets a visitor who gave the password back in.
pub const ACCESS_COOKIE: &str = "sp_page_access";
/// The header API clients send the page's password in.
pub const PASSWORD_HEADER: &str = "status-page-password";
/// How long the access cookie is valid (also its `Max-Age`).
pub const COOKIE_DAYS: i64 = 30;

/// Password guesses per client address (IPv6: per /64): a burst of this many, then one more
/// every [`CLIENT_REFILL`].
pub const CLIENT_BURST: u32 = 10;
pub const CLIENT_REFILL: Duration = Duration::from_secs(60);
/// Password guesses per page from all clients together: a burst of this many, then one more
/// every [`PAGE_REFILL`]. Visitors holding the cookie are never counted, so a flood of guesses
/// only delays new visitors of that page.
pub const PAGE_BURST: u32 = 30;
pub const PAGE_REFILL: Duration = Duration::from_secs(6);

/// What a visitor brings: the access cookie, a password header, and where they come from.
#[derive(Debug, Clone, Default)]
pub struct Visitor {
    pub cookie: Option<String>,
    pub password: Option<String>,
    pub client: Option<IpAddr>,
}

impl Visitor {
    /// From a request's headers and extensions (see [`crate::rest::client::ClientAddr`]).
    pub fn from_parts(headers: &HeaderMap, extensions: &Extensions) -> Self {
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == ACCESS_COOKIE)
            .map(|(_, value)| value.to_owned());
        let password = headers
            .get(PASSWORD_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let client = crate::rest::client::client_addr(extensions);
        Self {
            cookie,
            password,
            client,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(&parts.headers, &parts.extensions))
    }
}

/// The key and the rate limits behind [`admit`] and [`unlock`], one per app server.
pub struct PageGate {
    key: Vec<u8>,
    per_page: DefaultKeyedRateLimiter<Uuid>,
    per_client: DefaultKeyedRateLimiter<String>,
    /// Passwords proven right recently (an HMAC of tenant, hash and password), so an API client
    /// sending the header on every request costs neither argon2 nor the allowance each time.
    proven: Mutex<std::collections::HashSet<Vec<u8>>>,
}

/// Entries kept in [`PageGate::proven`] before it starts over.
const PROVEN_MAX: usize = 4096;

fn quota(burst: u32, refill: Duration) -> Quota {
    Quota::with_period(refill)
        .expect("refill period is not zero")
        .allow_burst(NonZeroU32::new(burst).expect("burst is not zero"))
}

impl PageGate {
    /// With the cookie key; see [`load_cookie_secret`].
    pub fn new(key: &[u8]) -> Self {
        Self {
            key: key.to_vec(),
            per_page: RateLimiter::keyed(quota(PAGE_BURST, PAGE_REFILL)),
            per_client: RateLimiter::keyed(quota(CLIENT_BURST, CLIENT_REFILL)),
            proven: Mutex::default(),
        }
    }

    /// With a random key: cookies last as long as the process (tests, `AppState::new`).
    pub fn random() -> Self {
        use rand::RngCore;
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self::new(&key)
    }

    fn mac(&self, parts: &[&[u8]]) -> hmac::Hmac<sha2::Sha256> {
        keyed_mac(&self.key, parts)
    }

    /// The cookie value for a visitor who gave the right password: `<expiry>.<hex HMAC>`, with
    /// no password inside; bound to the hash, so a new password shuts out earlier visitors.
    pub fn access_cookie(&self, tenant_id: Uuid, password_hash: &str) -> String {
        let expires = chrono::Utc::now().timestamp() + COOKIE_DAYS * 86_400;
        access_cookie_with_key(&self.key, tenant_id, password_hash, expires)
    }

    /// Constant-time check of a cookie made by [`Self::access_cookie`], unexpired.
    pub fn cookie_valid(&self, tenant_id: Uuid, password_hash: &str, cookie: &str) -> bool {
        let Some((expires, mac)) = cookie.split_once('.') else {
            return false;
        };
        let Ok(expires_at) = expires.parse::<i64>() else {
            return false;
        };
        if expires_at <= chrono::Utc::now().timestamp() {
            return false;
        }
        hex::decode(mac).is_ok_and(|given| {
            cookie_mac(&self.key, tenant_id, password_hash, expires)
                .verify_slice(&given)
                .is_ok()
        })
    }

    fn proof(&self, tenant_id: Uuid, password_hash: &str, password: &str) -> Vec<u8> {
        self.mac(&[
            b"status-page-password",
            tenant_id.as_bytes(),
            password_hash.as_bytes(),
            password.as_bytes(),
        ])
        .finalize()
        .into_bytes()
        .to_vec()
    }

    /// Takes one guess from the page's and the client's allowance; `Err` (429) when either is
    /// used up, before any password is checked.
    fn take_guess(&self, tenant_id: Uuid, client: Option<IpAddr>) -> ApiResult<()> {
        let refused = |wait: Duration| ApiError::TooManyRequests {
            detail: "too many password attempts for this status page; try again later".into(),
            retry_after_secs: wait.as_secs().max(1),
        };
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock;
        if let Some(client) = client {
            let key = crate::accounts::auth::login_client_key(client);
            if let Err(not_until) = self.per_client.check_key(&key) {
                tracing::warn!(client = key, %tenant_id, "status-page password refused: client over its limit");
                return Err(refused(not_until.wait_time_from(clock.now())));
            }
        }
        if let Err(not_until) = self.per_page.check_key(&tenant_id) {
            tracing::warn!(%tenant_id, "status-page password refused: page over its limit");
            return Err(refused(not_until.wait_time_from(clock.now())));
        }
        // Forget keys whose allowance is full again, so spraying addresses cannot grow memory.
        if self.per_client.len() > 10_000 {
            self.per_client.retain_recent();
        }
        if self.per_page.len() > 10_000 {
            self.per_page.retain_recent();
        }
        Ok(())
    }
}

/// The cookie value for `key`, expiring at `expires` (Unix seconds). Public so tests can show
/// that a cookie made with another key (say `CHECKER_SECRET`) opens nothing.
pub fn access_cookie_with_key(
    key: &[u8],
    tenant_id: Uuid,
    password_hash: &str,
    expires: i64,
) -> String {
    let expires = expires.to_string();
    let mac = cookie_mac(key, tenant_id, password_hash, &expires)
        .finalize()
        .into_bytes();
    format!("{expires}.{}", hex::encode(mac))
}

/// The MAC a page-access cookie carries: what it binds (tenant, current password hash, expiry),
/// in one place for making and checking.
fn cookie_mac(
    key: &[u8],
    tenant_id: Uuid,
    password_hash: &str,
    expires: &str,
) -> hmac::Hmac<sha2::Sha256> {
    keyed_mac(
        key,
        &[
            b"status-page-access",
            tenant_id.as_bytes(),
            password_hash.as_bytes(),
            expires.as_bytes(),
        ],
    )
}

/// HMAC-SHA256 over length-prefixed parts (no two part lists give the same input).
fn keyed_mac(key: &[u8], parts: &[&[u8]]) -> hmac::Hmac<sha2::Sha256> {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// A page's visibility and password hash, as last read; checked by [`admit`].
pub type PageAccess = (Visibility, Option<String>);

pub async fn page_access(db: &PgPool, tenant_id: Uuid) -> ApiResult<PageAccess> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT visibility, password_hash FROM status_pages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(db)
            .await?;
    match row {
        None => Ok((Visibility::Public, None)),
        Some((visibility, hash)) => Ok((parse_stored("visibility", &visibility)?, hash)),
    }
}

/// Whether `visitor` may read the page of `tenant_id`: `Ok` to serve it. A private page looks
/// like no page (404); a password-protected one needs a valid cookie or the right password
/// (401 without, 429 when the guesses are used up). Every public route of a page calls this.
pub async fn admit(state: &AppState, tenant_id: Uuid, visitor: &Visitor) -> ApiResult<()> {
    let (visibility, hash) = state.page_access(tenant_id).await?;
    match visibility {
        Visibility::Public => Ok(()),
        Visibility::Private => Err(ApiError::NotFound("status page")),
        Visibility::Password => {
            let hash = hash.unwrap_or_default();
            let gate = &state.page_gate;
            if !hash.is_empty()
                && visitor
                    .cookie
                    .as_deref()
                    .is_some_and(|c| gate.cookie_valid(tenant_id, &hash, c))
            {
                return Ok(());
            }
            let refused = ApiError::Unauthorized(
                "this status page is password-protected: send the password in the Status-Page-Password header",
            );
            let Some(given) = &visitor.password else {
                return Err(refused);
            };
            if check_password(state, tenant_id, &hash, given, visitor.client).await? {
                Ok(())
            } else {
                Err(refused)
            }
        }
    }
}

/// The page's password form: `Ok(Some(cookie value))` when `password` is right, `Ok(None)`
/// when wrong or the page has no password; limited like [`admit`].
pub async fn unlock(
    state: &AppState,
    tenant_id: Uuid,
    password: &str,
    client: Option<IpAddr>,
) -> ApiResult<Option<String>> {
    let (visibility, hash) = state.page_access(tenant_id).await?;
    let Some(hash) = hash.filter(|_| visibility == Visibility::Password) else {
        return Ok(None);
    };
    Ok(check_password(state, tenant_id, &hash, password, client)
        .await?
        .then(|| state.page_gate.access_cookie(tenant_id, &hash)))
}

/// One password guess: recently proven passwords pass at once; others take a guess from the
/// allowance and go through bounded argon2.
async fn check_password(
    state: &AppState,
    tenant_id: Uuid,
    hash: &str,
    given: &str,
    client: Option<IpAddr>,
) -> ApiResult<bool> {
    if hash.is_empty() {
        return Ok(false);
    }
    let gate = &state.page_gate;
    let proof = gate.proof(tenant_id, hash, given);
    if gate.proven.lock().expect("proven lock").contains(&proof) {
        return Ok(true);
    }
    gate.take_guess(tenant_id, client)?;
    let right = crate::accounts::auth::verify_password_bounded(given, hash).await?;
    if right {
        let mut proven = gate.proven.lock().expect("proven lock");
        if proven.len() >= PROVEN_MAX {
            proven.clear();
        }
        proven.insert(proof);
    }
    Ok(right)
}

/// Name of the cookie key's row in `platform_secrets`.
const COOKIE_SECRET_NAME: &str = "page_access_cookie";

/// The key that signs page-access cookies: `configured` (`STATUSPAGE_COOKIE_SECRET`) when set,
/// else the one stored in PostgreSQL, generated by the first app server that starts, so every
/// app server agrees and cookies survive restarts.
pub async fn load_cookie_secret(db: &PgPool, configured: Option<&str>) -> ApiResult<Vec<u8>> {
    if let Some(secret) = configured.filter(|s| !s.is_empty()) {
        return Ok(secret.as_bytes().to_vec());
    }
    use rand::RngCore;
    let mut fresh = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut fresh);
    sqlx::query(
        "INSERT INTO platform_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(COOKIE_SECRET_NAME)
    .bind(&fresh[..])
    .execute(db)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT secret FROM platform_secrets WHERE name = $1")
            .bind(COOKIE_SECRET_NAME)
            .fetch_one(db)
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_bound_to_key_tenant_hash_and_expiry() {
        let gate = PageGate::new(b"one key of at least some length");
        let tenant = Uuid::new_v4();
        let cookie = gate.access_cookie(tenant, "$argon2id$hash");
        assert!(gate.cookie_valid(tenant, "$argon2id$hash", &cookie));
        assert!(!gate.cookie_valid(Uuid::new_v4(), "$argon2id$hash", &cookie));
        assert!(!gate.cookie_valid(tenant, "$argon2id$other", &cookie));
        assert!(!PageGate::random().cookie_valid(tenant, "$argon2id$hash", &cookie));
        // A later expiry written into the value breaks the MAC; a past one is refused.
        let (expires, mac) = cookie.split_once('.').unwrap();
        let later = format!("{}.{mac}", expires.parse::<i64>().unwrap() + 1);
        assert!(!gate.cookie_valid(tenant, "$argon2id$hash", &later));
        let past = access_cookie_with_key(
            b"one key of at least some length",
            tenant,
            "$argon2id$hash",
            1,
        );
        assert!(!gate.cookie_valid(tenant, "$argon2id$hash", &past));
        for junk in ["", ".", "00ff", "1.zz", "99999999999.00"] {
            assert!(!gate.cookie_valid(tenant, "$argon2id$hash", junk), "{junk}");
        }
    }

    #[test]
    fn guesses_are_limited_per_client_and_per_page() {
        let gate = PageGate::random();
        let (page, other_page) = (Uuid::new_v4(), Uuid::new_v4());
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        for _ in 0..CLIENT_BURST {
            gate.take_guess(page, Some(client)).unwrap();
        }
        let refused = gate.take_guess(other_page, Some(client)).unwrap_err();
        assert_eq!(refused.status(), 429, "the client's limit spans pages");
        // Other clients go on until the page's own allowance is used up.
        let mut n = CLIENT_BURST;
        for i in 0.. {
            let other: IpAddr = format!("198.51.100.{i}").parse().unwrap();
            if gate.take_guess(page, Some(other)).is_err() {
                break;
            }
            n += 1;
        }
        assert_eq!(n, PAGE_BURST);
        assert!(gate.take_guess(other_page, None).is_ok());
    }
}
