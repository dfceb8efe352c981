//! Creates whose first answer shows a secret that is never stored (a new API token, an email
//! subscriber's confirm URL). `Idempotency-Key` stores and replays the answer without it, so no
//! plaintext secret is ever written to the database.

use super::{created, idempotent, CreateRequest};
use crate::rest::error::ApiResult;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use sqlx::PgPool;
use std::sync::OnceLock;
use uuid::Uuid;

/// [`idempotent`] for such a create: `create` returns the answer to show now (with the secret)
/// and the one to store for replays (without it). A replay answers the stored one. Rows created
/// this way carry no version: neither answer has an `ETag`, and neither is cached by clients or
/// proxies.
pub async fn idempotent_shown_once<I, T, S, F, Fut>(
    db: &PgPool,
    tenant_id: Uuid,
    request: CreateRequest<I>,
    create: F,
) -> ApiResult<Response>
where
    F: FnOnce(I) -> Fut,
    Fut: std::future::Future<Output = ApiResult<(T, S)>>,
    T: Serialize,
    S: Serialize,
{
    let fresh = OnceLock::new();
    let fresh_slot = &fresh;
    let replayed = idempotent(db, tenant_id, request, |input| async move {
        let (shown, stored) = create(input).await?;
        let stored = created(1, &stored);
        let _ = fresh_slot.set(shown);
        stored
    })
    .await?;
    let mut response = match fresh.into_inner() {
        Some(body) => (StatusCode::CREATED, Json(body)).into_response(),
        None => replayed,
    };
    response.headers_mut().remove(header::ETAG);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
