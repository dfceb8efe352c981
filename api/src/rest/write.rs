//! The steps every `/api/v1` write repeats, in one place: a create runs once per
//! `Idempotency-Key`, an update or delete that matched no row says whether it was a 404 or a
//! 412, every write lands in the audit log, and a write to something the public page shows
//! drops the tenant's status snapshot. A handler checks the token's scope, starts its own query
//! and hands it to [`create`], [`update`] or [`delete`].
//!
//! ```ignore
//! const COMPONENT: Resource = Resource::new("component", "components", "component");
//! who.require_write()?;
//! let row = components::patch(&state.db, who.tenant_id, id, if_match.0, &patch);
//! write::update(&state, &who, &COMPONENT, id, if_match, row, |c| json!({ "name": c.name })).await
//! ```

use super::{audit, created, idempotent, Actor, CreateRequest, IfMatch, Tagged};
use crate::rest::error::ApiResult;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use std::future::Future;
use uuid::Uuid;

/// A kind of tenant row, as writes name it.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// The audit log's `entity`, e.g. `component_group`.
    pub entity: &'static str,
    /// Its table, read to tell a missing row (404) from a changed one (412).
    pub table: &'static str,
    /// As errors name it, e.g. `component group`.
    pub name: &'static str,
    /// Whether the status snapshot shows it, so that a write drops the tenant's snapshot.
    pub on_status_page: bool,
}

impl Resource {
    /// A resource the status snapshot shows.
    pub const fn new(entity: &'static str, table: &'static str, name: &'static str) -> Self {
        Self {
            entity,
            table,
            name,
            on_status_page: true,
        }
    }

    /// Writes leave the status snapshot as it is.
    pub const fn off_status_page(self) -> Self {
        Self {
            on_status_page: false,
            ..self
        }
    }
}

/// A row as `/api/v1` serves it: its id and the version its `ETag` names. Implement it with
/// [`row!`](crate::rest::write::row).
pub trait Row: Serialize {
    fn id(&self) -> Uuid;
    fn version(&self) -> i32;
}

/// Implements [`Row`] for types with `id: Uuid` and `version: i32` fields.
macro_rules! row {
    ($($t:ty),+ $(,)?) => {$(
        impl $crate::rest::write::Row for $t {
            fn id(&self) -> ::uuid::Uuid { self.id }
            fn version(&self) -> i32 { self.version }
        }
    )+};
}
pub(crate) use row;

/// Records a write done by `who` in the audit log and drops the tenant's status snapshot when
/// the page shows `what`. For writes that fit none of [`create`], [`update`] and [`delete`].
pub async fn record(
    state: &AppState,
    who: &impl Actor,
    what: &Resource,
    action: &str,
    id: Option<Uuid>,
    details: Value,
) -> ApiResult<()> {
    audit(&state.db, who, action, what.entity, id, details).await?;
    if what.on_status_page {
        state.status.invalidate(who.tenant_id());
        state.forget_page(who.tenant_id());
    }
    Ok(())
}

/// 201 with the row `insert` creates (`ETag` header), once per `Idempotency-Key` of `request`:
/// `insert` is not run for a replay. `details` says what the audit entry records.
pub async fn create<I, T: Row>(
    state: &AppState,
    who: &impl Actor,
    what: &Resource,
    request: &CreateRequest<I>,
    insert: impl Future<Output = ApiResult<T>>,
    details: impl FnOnce(&T) -> Value,
) -> ApiResult<Response> {
    // The key and fingerprint only: `insert` already borrows the input.
    let claim = CreateRequest {
        input: (),
        idempotency_key: request.idempotency_key.clone(),
        fingerprint: request.fingerprint.clone(),
    };
    idempotent(&state.db, who.tenant_id(), claim, |()| async move {
        let row = insert.await?;
        record(state, who, what, "create", Some(row.id()), details(&row)).await?;
        created(row.version(), &row)
    })
    .await
}

/// 200 with the row `change` returns (`ETag` header); when it returns none, 404 or 412 as
/// [`IfMatch::explain_miss`] finds. `details` says what the audit entry records.
pub async fn update<T: Row>(
    state: &AppState,
    who: &impl Actor,
    what: &Resource,
    id: Uuid,
    if_match: IfMatch,
    change: impl Future<Output = ApiResult<Option<T>>>,
    details: impl FnOnce(&T) -> Value,
) -> ApiResult<Tagged<T>> {
    let Some(row) = change.await? else {
        return Err(missed(state, who, what, id, if_match).await);
    };
    record(state, who, what, "update", Some(id), details(&row)).await?;
    Ok(Tagged(StatusCode::OK, row.version(), row))
}

/// 204 when `remove` deleted the row; 404 or 412 when it deleted none.
pub async fn delete(
    state: &AppState,
    who: &impl Actor,
    what: &Resource,
    id: Uuid,
    if_match: IfMatch,
    remove: impl Future<Output = ApiResult<bool>>,
) -> ApiResult<StatusCode> {
    if !remove.await? {
        return Err(missed(state, who, what, id, if_match).await);
    }
    record(state, who, what, "delete", Some(id), json!({})).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// After an update or delete that matched no row: 404 when it is not the tenant's, 412 when it
/// changed since the client read it.
pub async fn missed(
    state: &AppState,
    who: &impl Actor,
    what: &Resource,
    id: Uuid,
    if_match: IfMatch,
) -> crate::rest::error::ApiError {
    if_match
        .explain_miss(&state.db, what.table, what.name, who.tenant_id(), id)
        .await
}

/// `Idempotency-Key` in the OpenAPI document of a create: `params(IdempotencyKeyHeader)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// Replays the first response for a retry of the same create
    #[param(rename = "Idempotency-Key")]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

/// `If-Match` in the OpenAPI document of an update or delete: `params(("id" = ...), IfMatchHeader)`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// ETag from a read, e.g. "v3"; 412 when the row changed since
    #[param(rename = "If-Match")]
    #[allow(dead_code)]
    if_match: Option<String>,
}
