//! Credentials: API tokens and session secrets are random and stored as SHA-256; passwords as argon2id.

use crate::error::{ApiError, ApiResult};
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

/// Issues an API token for a tenant; returns the plaintext, shown once.
pub async fn issue_api_token(db: &PgPool, tenant_id: Uuid, name: &str) -> ApiResult<String> {
    let token = new_secret();
    sqlx::query("INSERT INTO api_tokens (id, tenant_id, name, prefix, token_hash) VALUES ($1, $2, $3, $4, $5)")
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
}

impl ApiTenant {
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
        let row: Option<(Uuid, Uuid, bool)> = sqlx::query_as(
            "UPDATE api_tokens SET last_used_at = now() \
             WHERE token_hash = $1 AND revoked_at IS NULL RETURNING id, tenant_id, 'write' = ANY(scopes)",
        )
        .bind(secret_hash(token))
        .fetch_optional(&state.db)
        .await?;
        let (token_id, tenant_id, can_write) =
            row.ok_or(ApiError::Unauthorized("invalid or revoked API token"))?;
        Ok(Self {
            tenant_id,
            token_id,
            can_write,
        })
    }
}

/// Session lifetime for browser sign-ins.
pub const SESSION_DAYS: i64 = 14;
pub const SESSION_COOKIE: &str = "sp_session";

/// Checks an email and password; returns a new session secret for the cookie and the tenant.
pub async fn login(db: &PgPool, email: &str, password: &str) -> ApiResult<(String, Uuid)> {
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
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash_password("no such user").unwrap_or_default());
        let _ = verify_password(password, dummy);
        return Err(denied);
    };
    if !verify_password(password, &hash) {
        return Err(denied);
    }
    let secret = new_secret();
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, tenant_id, expires_at) \
         VALUES ($1, $2, $3, now() + make_interval(days => $4))",
    )
    .bind(secret_hash(&secret))
    .bind(user_id)
    .bind(tenant_id)
    .bind(SESSION_DAYS as i32)
    .execute(db)
    .await?;
    Ok((secret, tenant_id))
}

/// Who a session cookie belongs to.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
}

pub async fn session_user(db: &PgPool, secret: &str) -> ApiResult<Option<SessionUser>> {
    let row: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT s.user_id, s.tenant_id, u.email FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.id_hash = $1 AND s.expires_at > now()",
    )
    .bind(secret_hash(secret))
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(user_id, tenant_id, email)| SessionUser {
        user_id,
        tenant_id,
        email,
    }))
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
