//! Signed acknowledge links. Every alert about an open problem carries a link
//! `{base}/api/v1/public/alerts/ack?token=<problem>.<expiry>.<HMAC>`; whoever holds it may
//! acknowledge that one problem until the link expires, which stops its repeats and escalation.
//!
//! The key is the platform's own (`platform_secrets` row `alert_acknowledge`), generated on first
//! use and shared by every app server: [`super::raise`] signs inside the caller's transaction
//! with nothing but a database connection, so the key has to be reachable from there. It is
//! deliberately neither `CHECKER_SECRET` (every checker region holds that) nor the page-access
//! cookie key (a leaked acknowledge key must not open password-protected pages). Deleting the
//! row rotates it: links sent before stop working.
//!
//! The MAC binds the tenant, the problem and the expiry, so a token cannot be stretched in time
//! nor pointed at another problem (of this tenant or another).

use chrono::{DateTime, Utc};
use hmac::Mac;
use sqlx::PgConnection;
use std::sync::OnceLock;
use uuid::Uuid;

/// Where the acknowledge page lives: `GET` shows a confirm button, `POST` acknowledges.
pub const ACK_PATH: &str = "/api/v1/public/alerts/ack";
/// How long an acknowledge link works. Repeats and escalations carry fresh links.
pub const TOKEN_TTL_SECS: i64 = 7 * 86_400;
const KEY_NAME: &str = "alert_acknowledge";

static LINK_BASE: OnceLock<String> = OnceLock::new();

/// Sets the origin acknowledge links start with, e.g. `https://status.example.com` (the app
/// server calls it once at start; later calls are ignored). Unset, links are paths only.
pub fn set_link_base(base: &str) {
    let _ = LINK_BASE.set(base.trim_end_matches('/').to_owned());
}

/// The acknowledge link carrying `token`.
pub fn link(token: &str) -> String {
    format!(
        "{}{ACK_PATH}?token={token}",
        LINK_BASE.get().map(String::as_str).unwrap_or_default()
    )
}

/// The platform's acknowledge key. Migration 0014 makes it; should the row be deleted (to
/// rotate it), whoever needs it next makes a new one ([`super::run_sweeper`] does at start,
/// outside any alert transaction).
pub async fn key(conn: &mut PgConnection) -> Result<Vec<u8>, sqlx::Error> {
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT secret FROM platform_secrets WHERE name = $1")
            .bind(KEY_NAME)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some(key) = stored {
        return Ok(key);
    }
    let fresh: [u8; 32] = rand::random();
    sqlx::query(
        "INSERT INTO platform_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(KEY_NAME)
    .bind(&fresh[..])
    .execute(&mut *conn)
    .await?;
    sqlx::query_scalar("SELECT secret FROM platform_secrets WHERE name = $1")
        .bind(KEY_NAME)
        .fetch_one(&mut *conn)
        .await
}

fn mac(key: &[u8], tenant_id: Uuid, problem_id: Uuid, expires: i64) -> hmac::Hmac<sha2::Sha256> {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    let expires = expires.to_be_bytes();
    for part in [
        &b"alert-acknowledge"[..],
        tenant_id.as_bytes(),
        problem_id.as_bytes(),
        &expires[..],
    ] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac
}

/// A token acknowledging `problem_id` of `tenant_id` until `expires` (Unix seconds).
pub fn token_with_key(key: &[u8], tenant_id: Uuid, problem_id: Uuid, expires: i64) -> String {
    let tag = mac(key, tenant_id, problem_id, expires)
        .finalize()
        .into_bytes();
    format!("{}.{expires}.{}", problem_id.simple(), hex::encode(tag))
}

/// A fresh token for the problem, valid for [`TOKEN_TTL_SECS`] from `now`.
pub async fn token(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    problem_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, sqlx::Error> {
    let key = key(conn).await?;
    Ok(token_with_key(
        &key,
        tenant_id,
        problem_id,
        now.timestamp() + TOKEN_TTL_SECS,
    ))
}

/// The problem a token names, when it is well formed and unexpired; its MAC is checked by
/// [`verify`] once the problem's tenant is known.
fn parse(token: &str) -> Option<(Uuid, i64, Vec<u8>)> {
    if token.len() > 200 {
        return None;
    }
    let mut parts = token.trim().split('.');
    let problem = Uuid::try_parse(parts.next()?).ok()?;
    let expires = parts.next()?.parse::<i64>().ok()?;
    let tag = hex::decode(parts.next()?).ok()?;
    parts.next().is_none().then_some((problem, expires, tag))
}

/// `(tenant, problem)` when `token` is one this platform signed for a problem that exists and
/// it has not expired at `now`; `None` for anything else (forged, altered, expired, unknown).
pub async fn verify(
    conn: &mut PgConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    let Some((problem_id, expires, tag)) = parse(token) else {
        return Ok(None);
    };
    if expires <= now.timestamp() {
        return Ok(None);
    }
    let tenant: Option<Uuid> =
        sqlx::query_scalar("SELECT tenant_id FROM alert_problems WHERE id = $1")
            .bind(problem_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(tenant_id) = tenant else {
        return Ok(None);
    };
    let key = key(conn).await?;
    // Constant-time comparison.
    let valid = mac(&key, tenant_id, problem_id, expires)
        .verify_slice(&tag)
        .is_ok();
    Ok(valid.then_some((tenant_id, problem_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_bind_their_parts() {
        let (tenant, problem) = (Uuid::new_v4(), Uuid::new_v4());
        let token = token_with_key(b"key", tenant, problem, 2_000_000_000);
        let (p, e, tag) = parse(&token).unwrap();
        assert_eq!((p, e), (problem, 2_000_000_000));
        assert!(mac(b"key", tenant, problem, e).verify_slice(&tag).is_ok());
        assert!(mac(b"key", Uuid::new_v4(), problem, e)
            .verify_slice(&tag)
            .is_err());
        assert!(mac(b"key", tenant, problem, e + 1)
            .verify_slice(&tag)
            .is_err());
        assert!(mac(b"other", tenant, problem, e)
            .verify_slice(&tag)
            .is_err());
        for junk in ["", "x.y.z", "1.2", &format!("{token}.extra")] {
            assert!(parse(junk).is_none(), "{junk}");
        }
    }
}
