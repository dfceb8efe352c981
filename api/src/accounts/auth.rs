//! Credentials and who is acting: API tokens and session secrets are random and stored as
//! SHA-256; passwords as argon2id. The [`ApiTenant`] extractor (an API request's tenant and token
//! scopes), browser sign-in with its rate limits, and sessions.

use super::roles::Role;
use crate::rest::error::{ApiError, ApiResult};
use crate::AppState;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

/// Prefix that makes our tokens recognisable to secret scanners.
pub const TOKEN_PREFIX: &str = "sp_";

/// A new random secret (`sp_` + 32 random bytes, URL-safe base64).
pub fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The shortest password accepted anywhere (sign-up, members, status-page passwords).
pub const PASSWORD_MIN_LEN: usize = 10;

pub fn hash_password(password: &str) -> ApiResult<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("password hashing: {e}")))
}

pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Password hashes computed at once, process-wide: half the cores (at least one), so however
/// many password checks arrive (sign-in, sign-up, status-page passwords), the CPU left over
/// still serves every other request.
fn argon2_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new((cores / 2).max(1))
    })
}

/// How long a password check waits for a free slot before it is refused with a 429.
pub const ARGON2_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs argon2 work on the blocking pool, at most [`argon2_slots`] at a time, never on the async
/// workers. The slot moves into the blocking task, so a caller that gives up (a dropped
/// request) does not free it before the hash is done.
async fn bounded_argon2<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> ApiResult<T> {
    let permit = tokio::time::timeout(ARGON2_QUEUE_WAIT, argon2_slots().acquire())
        .await
        .map_err(|_| ApiError::TooManyRequests {
            detail: "too many password checks at once; try again in a few seconds".into(),
            retry_after_secs: 5,
        })?
        .map_err(|e| ApiError::Internal(format!("argon2 slots: {e}")))?;
    tokio::task::spawn_blocking(move || {
        let _slot = permit;
        work()
    })
    .await
    .map_err(|e| ApiError::Internal(format!("argon2 task: {e}")))
}

/// [`hash_password`] off the async workers, bounded in concurrency ([`bounded_argon2`]).
pub async fn hash_password_bounded(password: &str) -> ApiResult<String> {
    let password = password.to_owned();
    bounded_argon2(move || hash_password(&password)).await?
}

/// [`verify_password`] off the async workers, bounded in concurrency ([`bounded_argon2`]).
pub async fn verify_password_bounded(password: &str, stored: &str) -> ApiResult<bool> {
    let (password, stored) = (password.to_owned(), stored.to_owned());
    bounded_argon2(move || verify_password(&password, &stored)).await
}

/// Issues an API token with every scope (`read`, `write`, `admin`) for a tenant, as sign-up
/// does: its first token must be able to mint the narrower ones. Returns the plaintext, shown
/// once.
pub async fn issue_api_token(db: &PgPool, tenant_id: Uuid, name: &str) -> ApiResult<String> {
    let token = new_secret();
    sqlx::query("INSERT INTO api_tokens (id, tenant_id, name, prefix, token_hash, scopes) VALUES ($1, $2, $3, $4, $5, '{read,write,admin}')")
        .bind(Uuid::new_v4())
        .bind(tenant_id)
        .bind(name)
        .bind(&token[..TOKEN_PREFIX.len() + 6])
        .bind(secret_hash(&token))
        .execute(db)
        .await?;
    Ok(token)
}

/// The tenant an API request acts for, from `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Copy)]
pub struct ApiTenant {
    pub tenant_id: Uuid,
    pub token_id: Uuid,
    /// Whether the token has the `write` scope (a `read`-only token may only read).
    pub can_write: bool,
    /// Whether the token has the `admin` scope: API tokens, members, notification channels and
    /// secret values (monitor headers marked `secret`, channel configs). Implies `write`.
    pub can_admin: bool,
}

impl crate::rest::Actor for ApiTenant {
    fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    fn actor(&self) -> String {
        format!("api_token:{}", self.token_id)
    }
}

impl ApiTenant {
    /// Refuses what only an `admin` token may do: managing API tokens, members and
    /// notification channels. A leaked read or write token cannot mint itself a stronger one,
    /// let anyone in, or redirect where alerts go.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.can_admin {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this API token lacks the `admin` scope, which API tokens, members and notification channels need"
                    .into(),
            ))
        }
    }

    /// Whether secret values (monitor headers marked `secret`, channel configs) are shown in
    /// clear; without `admin` they read masked (`********`, as monitors and channels mask them).
    pub fn sees_secrets(&self) -> bool {
        self.can_admin
    }

    /// Refuses a write with a read-only token.
    pub fn require_write(&self) -> ApiResult<()> {
        if self.can_write {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this API token is read-only (scope `read`); writes need the `write` scope".into(),
            ))
        }
    }
}

impl FromRequestParts<AppState> for ApiTenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized(
                "missing Authorization: Bearer <api token>",
            ))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(ApiError::Unauthorized(
                "Authorization must use the Bearer scheme",
            ))?
            .trim();
        let row: Option<(Uuid, Uuid, bool, bool)> = sqlx::query_as(
            "UPDATE api_tokens SET last_used_at = now() \
             WHERE token_hash = $1 AND revoked_at IS NULL \
             RETURNING id, tenant_id, 'write' = ANY(scopes), 'admin' = ANY(scopes)",
        )
        .bind(secret_hash(token))
        .fetch_optional(&state.db)
        .await?;
        let (token_id, tenant_id, can_write, can_admin) =
            row.ok_or(ApiError::Unauthorized("invalid or revoked API token"))?;
        Ok(Self {
            tenant_id,
            token_id,
            can_write: can_write || can_admin,
            can_admin,
        })
    }
}

/// Session lifetime for browser sign-ins.
pub const SESSION_DAYS: i64 = 14;
pub const SESSION_COOKIE: &str = "sp_session";

/// Checks an email and password; returns a new session secret for the cookie and the tenant.
///
/// Rate-limited by email only (see [`login_limited`]); a refusal by the limit is
/// [`ApiError::Forbidden`] with the "too many failed sign-ins" message. Callers that know the
/// client's address should use [`login_limited`], which also limits per client and tells a
/// refusal apart.
pub async fn login(db: &PgPool, email: &str, password: &str) -> ApiResult<(String, Uuid)> {
    login_limited(db, email, password, None)
        .await
        .map_err(|e| match e {
            LoginError::Throttled { .. } => ApiError::Forbidden(e.to_string()),
            LoginError::Api(e) => e,
        })
}

/// Failed sign-ins are counted over this sliding window.
pub const LOGIN_WINDOW_MINUTES: i32 = 15;
/// Failed sign-ins allowed per email address (case-insensitive) within the window.
pub const LOGIN_MAX_FAILURES_PER_EMAIL: i64 = 5;
/// Failed sign-ins allowed per client address (IPv6: per /64) within the window.
pub const LOGIN_MAX_FAILURES_PER_CLIENT: i64 = 20;

/// Why a sign-in did not produce a session.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Too many recent failures for the email or the client: the password was not checked.
    #[error("too many failed sign-ins; try again in {retry_after_minutes} {}", if *.retry_after_minutes == 1 { "minute" } else { "minutes" })]
    Throttled { retry_after_minutes: i64 },
    /// Wrong credentials ([`ApiError::Unauthorized`]) or a database failure.
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<sqlx::Error> for LoginError {
    fn from(e: sqlx::Error) -> Self {
        Self::Api(e.into())
    }
}

/// The key failed sign-ins of one client are counted under: the IPv4 address (also when
/// IPv4-mapped in IPv6), or the IPv6 /64 network, since one IPv6 host usually holds a whole /64.
pub fn login_client_key(ip: std::net::IpAddr) -> String {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, 64)
                .map(|net| net.trunc().to_string())
                .unwrap_or_else(|_| v6.to_string()),
        },
    }
}

/// [`login`] with rate limiting per email and, when `client` is known, per client address:
/// at most [`LOGIN_MAX_FAILURES_PER_EMAIL`] failures per email and
/// [`LOGIN_MAX_FAILURES_PER_CLIENT`] per client within [`LOGIN_WINDOW_MINUTES`]; a further attempt
/// is refused with [`LoginError::Throttled`] without checking the password (so the right password
/// does not get in either). A successful sign-in clears the email's failures. Unknown emails are
/// limited exactly like known ones, so the limit reveals nothing about who has an account.
///
/// Attempts live in PostgreSQL (`login_attempts`), so the limit holds across restarts and app
/// servers. An attempt is counted and recorded *before* the password is checked, under a
/// transaction-scoped advisory lock per email and per client, so concurrent guesses (from any
/// number of app servers) are counted one after the other: at most the limit of them get to the
/// password check per window.
pub async fn login_limited(
    db: &PgPool,
    email: &str,
    password: &str,
    client: Option<std::net::IpAddr>,
) -> Result<(String, Uuid), LoginError> {
    // The email's key: SHA-256 of exactly what the account lookup compares (`lower()` of the
    // trimmed email, folded by PostgreSQL), so no spelling of an email escapes its count, and
    // the table never holds what people typed (sometimes a password, in the wrong field).
    let email_key: Vec<u8> = sqlx::query_scalar("SELECT sha256(convert_to(lower($1), 'UTF8'))")
        .bind(email.trim())
        .fetch_one(db)
        .await?;
    let client_key = client.map(login_client_key);
    // Rows older than the window never count again.
    sqlx::query("DELETE FROM login_attempts WHERE at < now() - make_interval(mins => $1)")
        .bind(LOGIN_WINDOW_MINUTES)
        .execute(db)
        .await?;
    // Count and record under a lock per email and per client, so concurrent attempts are
    // counted one after the other: exactly the allowance gets to the password check.
    let mut tx = db.begin().await?;
    let mut locks = vec![lock_key(&email_key)];
    locks.extend(client_key.as_deref().map(|c| lock_key(c.as_bytes())));
    locks.sort_unstable();
    locks.dedup();
    for key in locks {
        sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
            .bind(LOGIN_LOCK_CLASS)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    let (by_email, by_client): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE email_hash = $1), count(*) FILTER (WHERE client = $2) \
         FROM login_attempts \
         WHERE at > now() - make_interval(mins => $3) AND (email_hash = $1 OR client = $2)",
    )
    .bind(&email_key)
    .bind(&client_key)
    .bind(LOGIN_WINDOW_MINUTES)
    .fetch_one(&mut *tx)
    .await?;
    let email_over = by_email >= LOGIN_MAX_FAILURES_PER_EMAIL;
    let client_over = client_key.is_some() && by_client >= LOGIN_MAX_FAILURES_PER_CLIENT;
    if email_over || client_over {
        // A refused attempt is not a failure: it neither counts nor extends the wait.
        let minutes = retry_after_minutes(&mut tx, &email_key, client_key.as_deref()).await?;
        tx.rollback().await?;
        tracing::warn!(client = ?client_key, by_email, by_client, "sign-in refused: too many failures");
        return Err(LoginError::Throttled {
            retry_after_minutes: minutes,
        });
    }
    // Counted as a failure from now on, until the password proves right.
    let attempt: i64 = sqlx::query_scalar(
        "INSERT INTO login_attempts (email_hash, client) VALUES ($1, $2) RETURNING id",
    )
    .bind(&email_key)
    .bind(&client_key)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    match check_credentials(db, email, password).await {
        Ok(signed_in) => {
            sqlx::query("DELETE FROM login_attempts WHERE email_hash = $1")
                .bind(&email_key)
                .execute(db)
                .await?;
            Ok(signed_in)
        }
        // The recorded attempt stays: it was a failure.
        Err(e @ ApiError::Unauthorized(_)) => Err(e.into()),
        // Not a wrong guess: do not count it.
        Err(e) => {
            let _ = forget_attempt(db, attempt).await;
            Err(e.into())
        }
    }
}

/// First argument of the two-key advisory locks taken by [`login_limited`] (its own key space).
const LOGIN_LOCK_CLASS: i32 = 0x5350_4c47; // "SPLG"

/// Second argument: 32 bits of the SHA-256 of the key (a collision only serialises two attempts).
fn lock_key(key: &[u8]) -> i32 {
    let digest = Sha256::digest(key);
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

async fn forget_attempt(db: &PgPool, attempt: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_attempts WHERE id = $1")
        .bind(attempt)
        .execute(db)
        .await
        .map(|_| ())
}

/// Whole minutes (at least 1) until both the email and the client are under their limits again:
/// each is once its `limit`-th most recent failure leaves the window (none: it is not over).
async fn retry_after_minutes(
    db: &mut sqlx::PgConnection,
    email_key: &[u8],
    client_key: Option<&str>,
) -> Result<i64, sqlx::Error> {
    let minutes: Option<i64> = sqlx::query_scalar(
        "WITH window_start AS (SELECT now() - make_interval(mins => $3) AS at) \
         SELECT ceil(extract(epoch FROM greatest( \
             (SELECT a.at FROM login_attempts a, window_start w \
              WHERE a.email_hash = $1 AND a.at > w.at ORDER BY a.at DESC OFFSET $4 LIMIT 1), \
             (SELECT a.at FROM login_attempts a, window_start w \
              WHERE a.client = $2 AND a.at > w.at ORDER BY a.at DESC OFFSET $5 LIMIT 1) \
         ) + make_interval(mins => $3) - now()) / 60)::int8",
    )
    .bind(email_key)
    .bind(client_key)
    .bind(LOGIN_WINDOW_MINUTES)
    .bind(LOGIN_MAX_FAILURES_PER_EMAIL - 1)
    .bind(LOGIN_MAX_FAILURES_PER_CLIENT - 1)
    .fetch_one(&mut *db)
    .await?;
    Ok(minutes.unwrap_or(1).max(1))
}

/// The password check itself, with no rate limiting: a new session on success.
async fn check_credentials(db: &PgPool, email: &str, password: &str) -> ApiResult<(String, Uuid)> {
    let row: Option<(Uuid, Option<String>, Option<Uuid>)> = sqlx::query_as(
        "SELECT u.id, u.password_hash, \
                (SELECT m.tenant_id FROM memberships m WHERE m.user_id = u.id ORDER BY m.created_at LIMIT 1) \
         FROM users u WHERE lower(u.email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_optional(db)
    .await?;
    let denied = ApiError::Unauthorized("wrong email or password");
    let Some((user_id, Some(hash), Some(tenant_id))) = row else {
        // Same cost whether or not the user exists.
        static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
        let dummy = DUMMY
            .get_or_try_init(|| hash_password_bounded("no such user"))
            .await?;
        let _ = verify_password_bounded(password, dummy).await?;
        return Err(denied);
    };
    if !verify_password_bounded(password, &hash).await? {
        return Err(denied);
    }
    let mut conn = db.acquire().await?;
    let secret = start_session(&mut conn, user_id, tenant_id).await?;
    Ok((secret, tenant_id))
}

/// A new session of `user_id` in `tenant_id` (the caller has checked the membership); returns
/// the secret for the cookie, of which only the hash is stored.
pub async fn start_session(
    conn: &mut sqlx::PgConnection,
    user_id: Uuid,
    tenant_id: Uuid,
) -> ApiResult<String> {
    let secret = new_secret();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(days => $4))",
    )
    .bind(secret_hash(&secret))
    .bind(user_id)
    .bind(tenant_id)
    .bind(SESSION_DAYS as i32)
    .execute(&mut *conn)
    .await?;
    Ok(secret)
}

/// Whether the user's address is verified ([`crate::accounts::email`]); `false` for no such user.
pub async fn email_verified(db: &PgPool, user_id: Uuid) -> ApiResult<bool> {
    Ok(
        sqlx::query_scalar("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?
            .unwrap_or(false),
    )
}

/// Who a session cookie belongs to.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    /// The user's role in the session's tenant, as the membership says now.
    pub role: Role,
}

/// A signed-in person's changes are audited as `user:<id>`.
impl crate::rest::Actor for SessionUser {
    fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }
}

impl SessionUser {
    /// Whether the user may change things in the tenant (owner, admin, editor; not a viewer).
    pub fn can_edit(&self) -> bool {
        self.role.can_edit()
    }

    /// Whether the user may do what an `admin` token may (owner and admin roles): members,
    /// tokens, notification channels, secret values.
    pub fn can_admin(&self) -> bool {
        self.role.can_admin()
    }
}

/// The session's user and their current role in the session's tenant; `None` for an unknown or
/// expired session, and for one whose user is no longer a member of that tenant.
pub async fn session_user(db: &PgPool, secret: &str) -> ApiResult<Option<SessionUser>> {
    let row: Option<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "SELECT s.user_id, s.tenant_id, u.email, m.role FROM sessions s \
         JOIN users u ON u.id = s.user_id \
         JOIN memberships m ON m.tenant_id = s.tenant_id AND m.user_id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > now()",
    )
    .bind(secret_hash(secret))
    .fetch_optional(db)
    .await?;
    row.map(|(user_id, tenant_id, email, role)| {
        Ok(SessionUser {
            user_id,
            tenant_id,
            email,
            role: crate::rest::parse_stored("role", &role)?,
        })
    })
    .transpose()
}

pub async fn logout(db: &PgPool, secret: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(secret_hash(secret))
        .execute(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_reject_wrong_ones() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }

    #[test]
    fn secrets_are_unique_and_prefixed() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(secret_hash(&a).len(), 32);
    }
}
