//! Accounts by email: verifying an address, resetting a password, and the single-use mailed
//! tokens and request limits both rest on.
//!
//! Every mail goes through the outbox ([`crate::outbox::enqueue`], `Recipient::Address`,
//! `EventKind::Account`) in the transaction that makes its token, so a token exists exactly when
//! its mail will be sent. A token is `sp_` + 32 random bytes; only its SHA-256 is stored
//! (`account_tokens`), it is used at most once, and it proves control of the address it was
//! mailed to, nothing more.
//!
//! What an unverified account may do: sign in and run its tenant like any other, with a banner
//! in the console asking to verify. What it may not: make the tenant send invitations (a tenant
//! none of whose owners and admins has a verified address cannot invite anyone, so sign-up is no
//! relay for mail to strangers), and hold on to an invitation or its address against the
//! address's owner: whoever proves the address (a verification, reset or invitation link) sets
//! the password and ends every session of the account.
//!
//! Requests that make us send mail to an address someone types (verification resends, password
//! resets) answer the same `202` whether or not the address has an account, and are limited per
//! address and per client; the limit counts unknown addresses exactly like known ones, so its
//! `429` reveals nothing either.

use super::auth::{hash_password_bounded, login_client_key, PASSWORD_MIN_LEN};
use super::tenancy::SignupClient;
use crate::notify::{EventKind, Message};
use crate::outbox::{enqueue, Recipient};
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::input::ApiJson;
use crate::rest::responses::Invalid;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Where a verification link leads (the web page shows a confirm button; only its POST verifies).
pub const VERIFY_PATH: &str = "/account/verify";
/// Where a password-reset link leads (a form for the new password).
pub const RESET_PATH: &str = "/account/reset/confirm";

/// How long a verification link works.
pub const VERIFY_TTL_HOURS: i32 = 48;
/// How long a password-reset link works.
pub const RESET_TTL_MINUTES: i32 = 60;

/// What a mailed account token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    PasswordReset,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::PasswordReset => "password_reset",
        }
    }

    fn ttl_minutes(self) -> i32 {
        match self {
            Purpose::VerifyEmail => VERIFY_TTL_HOURS * 60,
            Purpose::PasswordReset => RESET_TTL_MINUTES,
        }
    }

    fn link_noun(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verification link",
            Purpose::PasswordReset => "password-reset link",
        }
    }
}

/// The link `path?token=<token>` under the platform's configured URL.
pub fn link(platform_url: &str, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", platform_url.trim_end_matches('/'))
}

/// One account mail for the outbox: `tenant_id` nil when it concerns no tenant.
pub fn account_message(
    tenant_id: Uuid,
    dedup: &str,
    title: &str,
    text: String,
    url: String,
) -> Message {
    let id = Uuid::new_v4();
    Message {
        id,
        tenant_id,
        event: EventKind::Account,
        title: title.to_owned(),
        text,
        url: Some(url),
        dedup_key: format!("account:{dedup}:{id}"),
        resolved: false,
        created_at: Utc::now(),
        unsubscribe_url: None,
    }
}

/// Makes a token of `purpose` for the user, mailed to `email`, in the caller's transaction;
/// returns the plaintext (for the link only: it is never stored).
async fn issue_token(
    conn: &mut PgConnection,
    purpose: Purpose,
    user_id: Uuid,
    email: &str,
) -> ApiResult<String> {
    let token = super::auth::new_secret();
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, purpose, user_id, email, expires_at) \
         VALUES ($1, $2, $3, $4, now() + make_interval(mins => $5))",
    )
    .bind(super::auth::secret_hash(&token))
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(email)
    .bind(purpose.ttl_minutes())
    .execute(&mut *conn)
    .await?;
    Ok(token)
}

/// Makes a verification token for the user and enqueues its mail to `email`, in the caller's
/// transaction (sign-up calls it in the transaction that creates the account).
pub async fn enqueue_verification(
    conn: &mut PgConnection,
    platform_url: &str,
    tenant_id: Uuid,
    user_id: Uuid,
    email: &str,
) -> ApiResult<Uuid> {
    let token = issue_token(conn, Purpose::VerifyEmail, user_id, email).await?;
    let url = link(platform_url, VERIFY_PATH, &token);
    let text = format!(
        "Please confirm that {email} is your address by opening this link and pressing the \
         button on the page:\n\n{url}\n\nThe link works once, for {VERIFY_TTL_HOURS} hours. If you \
         did not create an account, ignore this mail: nothing is confirmed unless someone presses \
         the button."
    );
    let message = account_message(tenant_id, "verify", "Confirm your email address", text, url);
    Ok(enqueue(&mut *conn, &Recipient::Address(email.to_owned()), &message).await?)
}

/// A token as found: whose it is and where it was sent.
#[derive(Debug, Clone)]
pub struct TakenToken {
    pub user_id: Uuid,
    pub email: String,
}

/// Finds an unused, unexpired token of `purpose` and marks it used, in the caller's
/// transaction (locked, so two uses of one token cannot both pass). A forged, used or expired
/// token is refused on the field `token`, each with its own message.
async fn take_token(
    conn: &mut PgConnection,
    purpose: Purpose,
    token: &str,
) -> ApiResult<TakenToken> {
    let row: Option<(Uuid, String, Option<DateTime<Utc>>, bool)> = sqlx::query_as(
        "SELECT user_id, email, used_at, expires_at <= now() FROM account_tokens \
         WHERE token_hash = $1 AND purpose = $2 FOR UPDATE",
    )
    .bind(super::auth::secret_hash(token.trim()))
    .bind(purpose.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    let noun = purpose.link_noun();
    let Some((user_id, email, used_at, expired)) = row else {
        return Err(ApiError::field(
            "token",
            format!("is not a valid {noun}: copy the whole link from the mail"),
        ));
    };
    if used_at.is_some() {
        return Err(ApiError::field(
            "token",
            format!("this {noun} has already been used; ask for a new one"),
        ));
    }
    if expired {
        return Err(ApiError::field(
            "token",
            format!("this {noun} has expired; ask for a new one"),
        ));
    }
    sqlx::query("UPDATE account_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(super::auth::secret_hash(token.trim()))
        .execute(&mut *conn)
        .await?;
    Ok(TakenToken { user_id, email })
}

/// The address is proven to reach the account's owner (a verification, reset or invitation
/// link was followed): marks it verified. Only when the account's address is still the one the
/// proof was mailed to.
async fn mark_verified(conn: &mut PgConnection, user_id: Uuid, email: &str) -> ApiResult<bool> {
    let updated = sqlx::query(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, now()) \
         WHERE id = $1 AND lower(email) = lower($2)",
    )
    .bind(user_id)
    .bind(email)
    .execute(&mut *conn)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Whoever proved control of the address now holds the account: every session ends and every
/// outstanding mailed token is spent, so nobody who signed in before (someone who registered the
/// address without owning it, or who learnt the old password) stays in.
pub async fn take_over_account(conn: &mut PgConnection, user_id: Uuid) -> ApiResult<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE account_tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The answer to a verification.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct Verified {
    pub user_id: Uuid,
    pub email: String,
    pub email_verified_at: DateTime<Utc>,
}

/// Verifies the address a verification token was mailed to.
pub async fn verify_email(db: &PgPool, token: &str) -> ApiResult<Verified> {
    let mut tx = db.begin().await?;
    let taken = take_token(&mut tx, Purpose::VerifyEmail, token).await?;
    if !mark_verified(&mut tx, taken.user_id, &taken.email).await? {
        return Err(ApiError::field(
            "token",
            "the account's address has changed since this link was sent; ask for a new one",
        ));
    }
    let verified_at: DateTime<Utc> =
        sqlx::query_scalar("SELECT email_verified_at FROM users WHERE id = $1")
            .bind(taken.user_id)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    tracing::info!(user_id = %taken.user_id, "email address verified");
    Ok(Verified {
        user_id: taken.user_id,
        email: taken.email,
        email_verified_at: verified_at,
    })
}

/// Sets a new password with a reset token: the address is thereby verified, every session of
/// the user ends and every other outstanding token of theirs is spent. Returns the user.
pub async fn reset_password(db: &PgPool, token: &str, password: &str) -> ApiResult<Uuid> {
    if password.chars().count() < PASSWORD_MIN_LEN {
        return Err(ApiError::field(
            "password",
            format!("must be at least {PASSWORD_MIN_LEN} characters"),
        ));
    }
    let hash = hash_password_bounded(password).await?;
    let mut tx = db.begin().await?;
    let taken = take_token(&mut tx, Purpose::PasswordReset, token).await?;
    if !mark_verified(&mut tx, taken.user_id, &taken.email).await? {
        return Err(ApiError::field(
            "token",
            "the account's address has changed since this link was sent; ask for a new one",
        ));
    }
    sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(taken.user_id)
        .bind(&hash)
        .execute(&mut *tx)
        .await?;
    take_over_account(&mut tx, taken.user_id).await?;
    tx.commit().await?;
    tracing::info!(user_id = %taken.user_id, "password reset by email");
    Ok(taken.user_id)
}

// ---- limits on mail people can ask for ----

/// A limit on one kind of mail request, per address and per client, over a sliding window.
#[derive(Debug, Clone, Copy)]
pub struct MailLimit {
    pub kind: &'static str,
    pub per_address: i64,
    pub per_client: i64,
    pub window_minutes: i32,
}

/// Password resets: 3 per address and 10 per client an hour.
pub const RESET_LIMIT: MailLimit = MailLimit {
    kind: "password_reset",
    per_address: 3,
    per_client: 10,
    window_minutes: 60,
};

/// Verification resends: 3 per address and 10 per client an hour.
pub const RESEND_LIMIT: MailLimit = MailLimit {
    kind: "verify_resend",
    per_address: 3,
    per_client: 10,
    window_minutes: 60,
};

/// First argument of the two-key advisory locks of these counts (their own key space).
const MAIL_LOCK_CLASS: i32 = 0x5350_4d4c; // "SPML"

/// Counts one request against `limit` for `email` (and `client`, when known), or refuses it
/// with a 429 and `Retry-After` when either is at its limit (a refused request is not counted).
/// Counted under advisory locks, so concurrent requests from any app server are counted one
/// after the other. `email` is stored only as the SHA-256 of its lower-cased form.
pub async fn count_mail_request(
    db: &PgPool,
    limit: MailLimit,
    email: &str,
    client: Option<std::net::IpAddr>,
) -> ApiResult<()> {
    let address_key: String =
        sqlx::query_scalar("SELECT encode(sha256(convert_to(lower($1), 'UTF8')), 'hex')")
            .bind(email.trim())
            .fetch_one(db)
            .await?;
    let mut keys = vec![(
        format!("{}:address", limit.kind),
        address_key,
        limit.per_address,
    )];
    if let Some(client) = client {
        keys.push((
            format!("{}:client", limit.kind),
            login_client_key(client),
            limit.per_client,
        ));
    }
    count_keys(db, &keys, limit.window_minutes).await
}

/// [`count_mail_request`] for arbitrary `(kind, key, allowed)` triples.
pub async fn count_keys(
    db: &PgPool,
    keys: &[(String, String, i64)],
    window_minutes: i32,
) -> ApiResult<()> {
    sqlx::query("DELETE FROM account_mail_requests WHERE at < now() - make_interval(mins => $1)")
        .bind(window_minutes.max(60))
        .execute(db)
        .await?;
    let mut tx = db.begin().await?;
    let mut locks: Vec<String> = keys.iter().map(|(k, v, _)| format!("{k}/{v}")).collect();
    locks.sort();
    for lock in &locks {
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(MAIL_LOCK_CLASS)
            .bind(lock)
            .execute(&mut *tx)
            .await?;
    }
    let mut wait_secs = 0i64;
    for (kind, key, allowed) in keys {
        let recent: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT at FROM account_mail_requests \
             WHERE kind = $1 AND key = $2 AND at > now() - make_interval(mins => $3) \
             ORDER BY at DESC LIMIT $4",
        )
        .bind(kind)
        .bind(key)
        .bind(window_minutes)
        .bind(*allowed)
        .fetch_all(&mut *tx)
        .await?;
        if recent.len() as i64 >= *allowed {
            let frees_at =
                recent[recent.len() - 1] + chrono::Duration::minutes(i64::from(window_minutes));
            wait_secs = wait_secs.max((frees_at - Utc::now()).num_seconds().max(1));
        }
    }
    if wait_secs > 0 {
        tx.rollback().await?;
        return Err(ApiError::TooManyRequests {
            detail: format!(
                "too many requests for this address or from your network; try again in {} minutes",
                (wait_secs as u64).div_ceil(60)
            ),
            retry_after_secs: wait_secs as u64,
        });
    }
    for (kind, key, _) in keys {
        sqlx::query("INSERT INTO account_mail_requests (kind, key) VALUES ($1, $2)")
            .bind(kind)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Asks for a password-reset mail: counted against [`RESET_LIMIT`] whether or not the address has
/// an account, then a reset link is mailed if it has one; otherwise nothing is sent. The caller
/// answers the same either way.
pub async fn request_password_reset(
    db: &PgPool,
    platform_url: &str,
    email: &str,
    client: Option<std::net::IpAddr>,
) -> ApiResult<()> {
    let email = email.trim();
    if email.is_empty() || email.len() > 254 {
        return Err(ApiError::field("email", "must be an email address"));
    }
    count_mail_request(db, RESET_LIMIT, email, client).await?;
    let mut tx = db.begin().await?;
    let user: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, email FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((user_id, address)) = user else {
        tracing::info!("password reset asked for an address without an account; nothing sent");
        return Ok(());
    };
    let token = issue_token(&mut tx, Purpose::PasswordReset, user_id, &address).await?;
    let url = link(platform_url, RESET_PATH, &token);
    let text = format!(
        "Someone asked to reset the password of the account {address}. To choose a new password, \
         open this link:\n\n{url}\n\nThe link works once, for {RESET_TTL_MINUTES} minutes. Setting \
         a new password signs out every session of the account. If you did not ask for this, \
         ignore this mail: your password stays as it is."
    );
    let message = account_message(Uuid::nil(), "reset", "Reset your password", text, url);
    enqueue(&mut tx, &Recipient::Address(address), &message).await?;
    tx.commit().await?;
    Ok(())
}

/// Asks for another verification mail: counted against [`RESEND_LIMIT`] whether or not the
/// address has an account; mailed only to an existing, still unverified account.
pub async fn resend_verification(
    db: &PgPool,
    platform_url: &str,
    email: &str,
    client: Option<std::net::IpAddr>,
) -> ApiResult<()> {
    let email = email.trim();
    if email.is_empty() || email.len() > 254 {
        return Err(ApiError::field("email", "must be an email address"));
    }
    count_mail_request(db, RESEND_LIMIT, email, client).await?;
    let mut tx = db.begin().await?;
    let user: Option<(Uuid, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT u.id, u.email, \
                (SELECT m.tenant_id FROM memberships m WHERE m.user_id = u.id ORDER BY m.created_at LIMIT 1) \
         FROM users u WHERE lower(u.email) = lower($1) AND u.email_verified_at IS NULL",
    )
    .bind(email)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((user_id, address, tenant)) = user {
        enqueue_verification(
            &mut tx,
            platform_url,
            tenant.unwrap_or_else(Uuid::nil),
            user_id,
            &address,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

// ---- `/api/v1/account/…`: public, the token or the address is the whole request ----

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// The `token` of the mailed link.
    pub token: String,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    pub email: String,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPasswordInput {
    /// The `token` of the mailed reset link.
    pub token: String,
    /// At least 10 characters.
    pub password: String,
}

/// What a request for mail answers, whatever the address.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct MailRequested {
    pub message: String,
}

fn mail_requested() -> (StatusCode, Json<MailRequested>) {
    (
        StatusCode::ACCEPTED,
        Json(MailRequested {
            message: "if this address has an account, a mail with a link is on its way".into(),
        }),
    )
}

/// Verifies an address with the token of its verification mail (single use).
#[utoipa::path(post, path = "/api/v1/account/email-verification", tag = "accounts",
    request_body = TokenInput,
    responses((status = 200, description = "verified", body = Verified),
              (status = 400, description = "malformed JSON", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              Invalid))]
pub async fn confirm_email(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<TokenInput>,
) -> ApiResult<Json<Verified>> {
    Ok(Json(verify_email(&state.db, &input.token).await?))
}

/// Sends another verification mail to an unverified account's address. Always `202`.
#[utoipa::path(post, path = "/api/v1/account/email-verification/resend", tag = "accounts",
    request_body = EmailInput,
    responses((status = 202, description = "sent if the address has an unverified account", body = MailRequested),
              (status = 400, description = "malformed JSON", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              Invalid,
              (status = 429, description = "too many requests for this address or client; see Retry-After", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn resend_email_verification(
    State(state): State<AppState>,
    client: SignupClient,
    ApiJson(input): ApiJson<EmailInput>,
) -> ApiResult<(StatusCode, Json<MailRequested>)> {
    resend_verification(&state.db, &state.platform_url, &input.email, client.0).await?;
    Ok(mail_requested())
}

/// Mails a password-reset link if the address has an account. Always `202`, so nobody learns
/// who has an account.
#[utoipa::path(post, path = "/api/v1/account/password-reset", tag = "accounts",
    request_body = EmailInput,
    responses((status = 202, description = "sent if the address has an account", body = MailRequested),
              (status = 400, description = "malformed JSON", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              Invalid,
              (status = 429, description = "too many requests for this address or client; see Retry-After", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn request_reset(
    State(state): State<AppState>,
    client: SignupClient,
    ApiJson(input): ApiJson<EmailInput>,
) -> ApiResult<(StatusCode, Json<MailRequested>)> {
    request_password_reset(&state.db, &state.platform_url, &input.email, client.0).await?;
    Ok(mail_requested())
}

/// Sets a new password with the token of a reset mail (single use); signs out every session of
/// the account.
#[utoipa::path(post, path = "/api/v1/account/password-reset/confirm", tag = "accounts",
    request_body = NewPasswordInput,
    responses((status = 204, description = "password changed; every session ended"),
              (status = 400, description = "malformed JSON", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              Invalid))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<NewPasswordInput>,
) -> ApiResult<StatusCode> {
    reset_password(&state.db, &input.token, &input.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
