//! Conventions every `/api/v1` resource shares: cursor pagination, `ETag` / `If-Match` on
//! updates, `Idempotency-Key` on creates, and the audit log of who changed what.

pub mod audit_log;
pub mod client;
pub mod error;
pub mod input;
pub mod responses;
pub mod shown_once;
pub mod write;

use crate::rest::error::{ApiError, ApiResult};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

pub const DEFAULT_PAGE_SIZE: i64 = 50;
pub const MAX_PAGE_SIZE: i64 = 200;

/// `?limit=&cursor=` on every list. Lists are newest first; the cursor is opaque to clients.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> ApiResult<i64> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::field(
                "limit",
                format!("must be between 1 and {MAX_PAGE_SIZE}, got {n}"),
            )),
        }
    }

    /// The last row of the previous page: `(created_at, id)`, the keyset lists are ordered by.
    pub fn after(&self) -> ApiResult<Option<(DateTime<Utc>, Uuid)>> {
        let Some(cursor) = &self.cursor else {
            return Ok(None);
        };
        let bad = || ApiError::field("cursor", "is not a cursor this API returned");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (micros, id) = text.split_once('/').ok_or_else(bad)?;
        let at = micros
            .parse::<i64>()
            .ok()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(bad)?;
        Ok(Some((at, id.parse().map_err(|_| bad())?)))
    }
}

/// One page of a list and the cursor of the next one (absent on the last page).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// `rows` were fetched with `LIMIT limit + 1`: the extra row only says there is more.
    pub fn from_rows(
        mut rows: Vec<T>,
        limit: i64,
        key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
    ) -> Self {
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = match (more, rows.last()) {
            (true, Some(last)) => {
                let (at, id) = key(last);
                Some(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(format!("{}/{id}", at.timestamp_micros())),
                )
            }
            _ => None,
        };
        Self {
            items: rows,
            next_cursor,
        }
    }
}

/// The entity tag of a row at `version`.
pub fn etag(version: i32) -> HeaderValue {
    HeaderValue::from_str(&format!("\"v{version}\"")).expect("ASCII etag")
}

/// A JSON body with the `ETag` of the version it shows.
pub struct Tagged<T>(pub StatusCode, pub i32, pub T);

impl<T: Serialize> IntoResponse for Tagged<T> {
    fn into_response(self) -> Response {
        let mut response = (self.0, Json(self.2)).into_response();
        response.headers_mut().insert(header::ETAG, etag(self.1));
        response
    }
}

/// `If-Match` of an update or delete: the version the client last saw, or `None` to overwrite.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfMatch(pub Option<i32>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(Self(None));
        };
        let bad = || {
            ApiError::field(
                "If-Match",
                "must be an ETag this API returned, like \"v3\", or *",
            )
        };
        let text = value.to_str().map_err(|_| bad())?.trim();
        if text == "*" {
            return Ok(Self(None));
        }
        let version = text
            .trim_start_matches("W/")
            .trim_matches('"')
            .strip_prefix('v')
            .and_then(|v| v.parse().ok())
            .ok_or_else(bad)?;
        Ok(Self(Some(version)))
    }
}

impl IfMatch {
    /// After an update matched no row: 404 when the row is not the tenant's, 412 when it is but
    /// changed since the client read it.
    pub async fn explain_miss(
        self,
        db: &PgPool,
        table: &'static str,
        what: &'static str,
        tenant_id: Uuid,
        id: Uuid,
    ) -> ApiError {
        let current: Result<Option<i32>, _> = sqlx::query_scalar(&format!(
            "SELECT version FROM {table} WHERE tenant_id = $1 AND id = $2"
        ))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(db)
        .await;
        match current {
            Ok(Some(version)) => ApiError::PreconditionFailed(format!(
                "the {what} changed since you read it (now version \"v{version}\"); read it again and reapply your change"
            )),
            Ok(None) => ApiError::NotFound(what),
            Err(e) => e.into(),
        }
    }
}

/// A create's JSON body with its `Idempotency-Key` and a fingerprint of the request.
pub struct CreateRequest<T> {
    pub input: T,
    pub idempotency_key: Option<String>,
    fingerprint: Vec<u8>,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CreateRequest<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let idempotency_key = match req.headers().get("idempotency-key") {
            None => None,
            Some(v) => {
                let key = v.to_str().unwrap_or("").trim();
                if key.is_empty() || key.len() > 255 {
                    return Err(ApiError::field(
                        "Idempotency-Key",
                        "must be 1 to 255 visible ASCII characters",
                    ));
                }
                Some(key.to_owned())
            }
        };
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str());
        hasher.update(b" ");
        hasher.update(req.uri().path());
        hasher.update(b"\n");
        let crate::rest::input::ApiJson(body): crate::rest::input::ApiJson<serde_json::Value> =
            crate::rest::input::ApiJson::from_request(req, state).await?;
        // The parsed value, so whitespace and key order do not make a retry look different.
        hasher.update(body.to_string());
        let input = crate::rest::input::decode_json(body)?;
        Ok(Self {
            input,
            idempotency_key,
            fingerprint: hasher.finalize().to_vec(),
        })
    }
}

/// Runs a create once per `Idempotency-Key`: a retry of the same request gets the first
/// response again; the same key with a different request is refused. A placeholder row claims
/// the key first, so two concurrent retries cannot both create.
pub async fn idempotent<T, F, Fut>(
    db: &PgPool,
    tenant_id: Uuid,
    request: CreateRequest<T>,
    create: F,
) -> ApiResult<Response>
where
    F: FnOnce(T) -> Fut,
    Fut: std::future::Future<Output = ApiResult<(i32, serde_json::Value)>>,
{
    let Some(key) = request.idempotency_key else {
        let (version, body) = create(request.input).await?;
        return Ok(Tagged(StatusCode::CREATED, version, body).into_response());
    };
    let claimed = sqlx::query(
        "INSERT INTO idempotency_keys (tenant_id, key, request_hash, status, response) \
         VALUES ($1, $2, $3, 0, 'null') ON CONFLICT DO NOTHING",
    )
    .bind(tenant_id)
    .bind(&key)
    .bind(&request.fingerprint)
    .execute(db)
    .await?
    .rows_affected()
        == 1;
    if !claimed {
        let (hash, status, response): (Vec<u8>, i32, serde_json::Value) = sqlx::query_as(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2",
        )
        .bind(tenant_id)
        .bind(&key)
        .fetch_one(db)
        .await?;
        if hash != request.fingerprint {
            return Err(ApiError::field(
                "Idempotency-Key",
                "was already used for a different request",
            ));
        }
        if status == 0 {
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress".into(),
            ));
        }
        let version = response
            .get("version")
            .and_then(|v| v.as_i64())
            .unwrap_or(1) as i32;
        let mut replay = Tagged(
            StatusCode::from_u16(status as u16).unwrap_or(StatusCode::CREATED),
            version,
            response,
        )
        .into_response();
        replay
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(replay);
    }
    match create(request.input).await {
        Ok((version, body)) => {
            sqlx::query(
                "UPDATE idempotency_keys SET status = 201, response = $3 WHERE tenant_id = $1 AND key = $2",
            )
            .bind(tenant_id)
            .bind(&key)
            .bind(&body)
            .execute(db)
            .await?;
            Ok(Tagged(StatusCode::CREATED, version, body).into_response())
        }
        Err(e) => {
            // A failed create stores nothing: the client may fix the request and retry the key.
            sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2")
                .bind(tenant_id)
                .bind(&key)
                .execute(db)
                .await?;
            Err(e)
        }
    }
}

/// Serializes a created row for [`idempotent`], which stores and replays it.
pub fn created<T: Serialize>(version: i32, value: &T) -> ApiResult<(i32, serde_json::Value)> {
    serde_json::to_value(value)
        .map(|v| (version, v))
        .map_err(|e| ApiError::Internal(format!("serializing a response: {e}")))
}

/// Who made a change, as the audit log names them. Implemented by the callers' credentials
/// (API tokens today), so this module needs none of them.
pub trait Actor {
    fn tenant_id(&self) -> Uuid;
    /// e.g. `api_token:<id>`.
    fn actor(&self) -> String;
}

/// Records a write in the tenant's audit log; on a transaction's connection, the entry stands
/// or falls with the write.
pub async fn audit(
    db: impl sqlx::PgExecutor<'_>,
    who: &impl Actor,
    action: &str,
    entity: &str,
    entity_id: Option<Uuid>,
    details: serde_json::Value,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, details) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(who.tenant_id())
    .bind(who.actor())
    .bind(action)
    .bind(entity)
    .bind(entity_id)
    .bind(details)
    .execute(db)
    .await?;
    Ok(())
}

/// Parses a stored enum-like text column through the type's serde names.
pub fn parse_stored<T: DeserializeOwned>(column: &str, value: &str) -> ApiResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|e| ApiError::Internal(format!("stored {column} {value:?}: {e}")))
}

/// The serde name of an enum-like value, as stored in a text column.
pub fn stored_name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => panic!("not a unit enum: {other:?}"),
    }
}
