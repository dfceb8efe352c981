//! Per-tenant bounds: how many of each kind of row one tenant may hold.
//!
//! Every bound is a column on `tenants` (a plan may raise it). A create calls [`reserve`] inside
//! the transaction that inserts the row: it locks the tenant row first (`FOR NO KEY UPDATE`, which
//! also waits for a config import's `FOR UPDATE`), then counts in a *later* statement, so the count
//! sees every row committed by whoever held the lock before. Concurrent creates of one tenant
//! are thereby counted one after the other and can never pass the bound together; the lock does
//! not block reads, nor inserts of other rows that merely reference the tenant.

use crate::rest::error::{ApiError, ApiResult};
use sqlx::PgConnection;
use uuid::Uuid;

/// A bounded kind of row, with the `tenants` column that bounds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    Monitors,
    Components,
    ComponentGroups,
    /// Every incident kept, resolved or not.
    Incidents,
    /// Incidents not resolved.
    OpenIncidents,
    /// Timeline entries of one incident.
    IncidentUpdates(Uuid),
    Maintenances,
    Subscribers,
    NotificationChannels,
    /// Tokens not revoked.
    ApiTokens,
    Members,
    CustomMetrics,
}

impl Bounded {
    /// The `tenants` column holding the bound, as the 403 names it.
    pub fn limit(self) -> &'static str {
        match self {
            Self::Monitors => "max_monitors",
            Self::Components => "max_components",
            Self::ComponentGroups => "max_component_groups",
            Self::Incidents => "max_incidents",
            Self::OpenIncidents => "max_open_incidents",
            Self::IncidentUpdates(_) => "max_updates_per_incident",
            Self::Maintenances => "max_maintenances",
            Self::Subscribers => "max_subscribers",
            Self::NotificationChannels => "max_channels",
            Self::ApiTokens => "max_api_tokens",
            Self::Members => "max_members",
            Self::CustomMetrics => "max_custom_metrics",
        }
    }

    /// What is counted, in words, and what the tenant can do about it.
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::Monitors => ("monitors", "delete one"),
            Self::Components => ("components", "delete one"),
            Self::ComponentGroups => ("component groups", "delete one"),
            Self::Incidents => ("incidents", "delete old ones"),
            Self::OpenIncidents => ("open incidents", "resolve one"),
            Self::IncidentUpdates(_) => ("updates per incident", "open a new incident"),
            Self::Maintenances => ("maintenance windows", "delete old ones"),
            Self::Subscribers => ("subscribers", "remove some"),
            Self::NotificationChannels => ("notification channels", "delete one"),
            Self::ApiTokens => ("active API tokens", "revoke one"),
            Self::Members => ("members", "remove one"),
            Self::CustomMetrics => ("custom metrics", "delete one"),
        }
    }

    /// Counts the tenant's rows of this kind (`$1` the tenant, `$2` the incident, if any).
    fn count_sql(self) -> &'static str {
        match self {
            Self::Monitors => "SELECT count(*) FROM monitors WHERE tenant_id = $1",
            Self::Components => "SELECT count(*) FROM components WHERE tenant_id = $1",
            Self::ComponentGroups => "SELECT count(*) FROM component_groups WHERE tenant_id = $1",
            Self::Incidents => "SELECT count(*) FROM incidents WHERE tenant_id = $1",
            Self::OpenIncidents => {
                "SELECT count(*) FROM incidents WHERE tenant_id = $1 AND status <> 'resolved'"
            }
            Self::IncidentUpdates(_) => {
                "SELECT count(*) FROM incident_updates WHERE tenant_id = $1 AND incident_id = $2"
            }
            Self::Maintenances => "SELECT count(*) FROM maintenances WHERE tenant_id = $1",
            Self::Subscribers => "SELECT count(*) FROM subscribers WHERE tenant_id = $1",
            Self::NotificationChannels => {
                "SELECT count(*) FROM notification_channels WHERE tenant_id = $1"
            }
            Self::ApiTokens => {
                "SELECT count(*) FROM api_tokens WHERE tenant_id = $1 AND revoked_at IS NULL"
            }
            Self::Members => "SELECT count(*) FROM memberships WHERE tenant_id = $1",
            Self::CustomMetrics => "SELECT count(*) FROM custom_metrics WHERE tenant_id = $1",
        }
    }

    fn incident(self) -> Option<Uuid> {
        match self {
            Self::IncidentUpdates(id) => Some(id),
            _ => None,
        }
    }
}

/// Locks the tenant row for the rest of the transaction, then refuses with
/// [`ApiError::PlanLimit`] when `adding` more rows of `kind` would pass its bound. Call it in the
/// transaction that inserts the rows, before inserting.
pub async fn reserve(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kind: Bounded,
    adding: i64,
) -> ApiResult<()> {
    let limit = lock_tenant(conn, tenant_id, kind.limit()).await?;
    check(conn, tenant_id, kind, limit, adding).await
}

/// Several kinds at once (an incident may also be an open one), one row each.
pub async fn reserve_all(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kinds: &[Bounded],
) -> ApiResult<()> {
    for kind in kinds {
        reserve(conn, tenant_id, *kind, 1).await?;
    }
    Ok(())
}

/// `SELECT <limit> FROM tenants … FOR NO KEY UPDATE`: waits for any other create (or import) of
/// this tenant to commit. The count must come in a later statement: one taken in this statement
/// would read the snapshot from before the wait.
async fn lock_tenant(conn: &mut PgConnection, tenant_id: Uuid, column: &str) -> ApiResult<i64> {
    // `column` is one of the fixed names above, never input.
    let limit: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT {column} FROM tenants WHERE id = $1 FOR NO KEY UPDATE"
    ))
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    limit.map(i64::from).ok_or(ApiError::NotFound("tenant"))
}

async fn check(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kind: Bounded,
    limit: i64,
    adding: i64,
) -> ApiResult<()> {
    let query = sqlx::query_scalar(kind.count_sql()).bind(tenant_id);
    let query = match kind.incident() {
        Some(incident) => query.bind(incident),
        None => query,
    };
    let count: i64 = query.fetch_one(&mut *conn).await?;
    if count + adding > limit {
        let (noun, remedy) = kind.words();
        return Err(ApiError::PlanLimit {
            limit: kind.limit(),
            detail: format!(
                "your plan allows {limit} {noun} ({}); {remedy} or upgrade the plan",
                kind.limit()
            ),
        });
    }
    Ok(())
}
