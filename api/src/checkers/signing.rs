//! Who may call the checkers' endpoints: each request signed with its region's secret, within
//! the clock window, with a nonce never seen before.

use crate::rest::error::{ApiError, ApiResult};
use crate::AppState;
use axum::http::{HeaderMap, Method, Uri};
use checker::plan;
use chrono::Utc;
use sqlx::PgPool;

/// Checks a checker request's signature with the secret of the region it names, then spends
/// its nonce; answers the region the request may speak for. Refused (401): unknown regions, a
/// timestamp outside [`plan::MAX_SKEW_SECS`], another secret's signature, a nonce seen before.
pub(super) async fn verify_signature(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(region), Some(timestamp), Some(nonce), Some(signature)) = (
        header(plan::REGION_HEADER),
        header(plan::TIMESTAMP_HEADER).and_then(|t| t.parse::<i64>().ok()),
        header(plan::NONCE_HEADER),
        header(plan::SIGNATURE_HEADER),
    ) else {
        return Err(ApiError::Unauthorized(
            "missing or malformed checker signature headers (region, timestamp, nonce, signature)",
        ));
    };
    if !state.config.regions.iter().any(|r| r == region) {
        return Err(ApiError::Unauthorized("unknown checker region"));
    }
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(uri.path());
    let request = plan::SignedRequest {
        region,
        timestamp,
        nonce,
        method: method.as_str(),
        path_and_query,
        body,
    };
    plan::verify(
        state.checker_secrets.for_region(region),
        Utc::now().timestamp(),
        &request,
        signature,
    )
    .map_err(|e| {
        ApiError::Unauthorized(match e {
            plan::SignatureError::Skew => "checker request timestamp is outside the allowed window",
            plan::SignatureError::Malformed => "malformed checker nonce",
            plan::SignatureError::Mismatch => "bad checker signature",
        })
    })?;
    if !spend_nonce(&state.db, region, nonce, timestamp).await? {
        return Err(ApiError::Unauthorized("replayed checker request"));
    }
    Ok(region.to_owned())
}

/// Remembers a nonce until its request's timestamp leaves the window; `false` when it was
/// already spent. In PostgreSQL, so every app server refuses a request another one accepted.
async fn spend_nonce(db: &PgPool, region: &str, nonce: &str, timestamp: i64) -> ApiResult<bool> {
    let expires_at = chrono::DateTime::from_timestamp(timestamp + plan::MAX_SKEW_SECS, 0)
        .ok_or(ApiError::Unauthorized("malformed checker timestamp"))?;
    let inserted = sqlx::query(
        "WITH expired AS (DELETE FROM checker_nonces WHERE expires_at < now()) \
         INSERT INTO checker_nonces (region, nonce, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(region)
    .bind(nonce)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A checker may ask and speak only for the region whose secret signed its request.
pub(super) fn same_region(signed: &str, claimed: &str) -> ApiResult<()> {
    if signed == claimed {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "signed for region {signed:?}, not {claimed:?}"
        )))
    }
}
