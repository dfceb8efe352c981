//! The account as it is: everything a document covers, read in one transaction, and the plan
//! limits an import is held to.

use crate::rest::error::{ApiError, ApiResult};
use crate::rest::parse_stored;
use crate::status_page::{Branding, Visibility};
use checker::spec::MonitorSpec;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

pub(super) struct PageState {
    pub(super) title: String,
    pub(super) description: String,
    pub(super) visibility: Visibility,
    pub(super) password_set: bool,
    pub(super) branding: Branding,
    pub(super) exclude_maintenance: bool,
    pub(super) custom_domain: Option<String>,
    pub(super) show_region_detail: bool,
    pub(super) uptime_window: String,
}

#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) position: i32,
}

#[derive(sqlx::FromRow)]
pub(super) struct ComponentRow {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) position: i32,
    pub(super) group_id: Option<Uuid>,
}

pub(super) struct MonitorRow {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) spec: MonitorSpec,
    pub(super) interval_seconds: i32,
    pub(super) regions: Vec<String>,
    pub(super) enabled: bool,
    pub(super) component_id: Option<Uuid>,
    pub(super) confirmation: crate::engine::policy::Confirmation,
}

/// Everything a document covers, each kind sorted by name.
pub(super) struct Current {
    pub(super) page: PageState,
    pub(super) groups: Vec<GroupRow>,
    pub(super) components: Vec<ComponentRow>,
    pub(super) monitors: Vec<MonitorRow>,
}

impl Current {
    pub(super) fn group_name(&self, id: Option<Uuid>) -> Option<&str> {
        let id = id?;
        self.groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.as_str())
    }

    pub(super) fn component_name(&self, id: Option<Uuid>) -> Option<&str> {
        let id = id?;
        self.components
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.name.as_str())
    }
}

pub(super) async fn load(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<Current> {
    type PageRow = (
        String,
        String,
        String,
        bool,
        Value,
        Option<String>,
        bool,
        bool,
        String,
    );
    let page: Option<PageRow> = sqlx::query_as(
        "SELECT title, description, visibility, password_hash IS NOT NULL, branding, custom_domain, \
         exclude_maintenance, show_region_detail, uptime_window FROM status_pages WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (
        title,
        description,
        visibility,
        password_set,
        branding,
        custom_domain,
        exclude_maintenance,
        show_region_detail,
        uptime_window,
    ) = page.ok_or(ApiError::NotFound("status page"))?;
    let page = PageState {
        title,
        description,
        visibility: parse_stored("visibility", &visibility)?,
        password_set,
        branding: serde_json::from_value(branding)
            .map_err(|e| ApiError::Internal(format!("stored branding: {e}")))?,
        exclude_maintenance,
        custom_domain,
        show_region_detail,
        uptime_window,
    };
    let mut groups: Vec<GroupRow> =
        sqlx::query_as("SELECT id, name, position FROM component_groups WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_all(&mut *conn)
            .await?;
    groups.sort_by(|a, b| a.name.cmp(&b.name));
    let mut components: Vec<ComponentRow> = sqlx::query_as(
        "SELECT id, name, description, position, group_id FROM components WHERE tenant_id = $1",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    components.sort_by(|a, b| a.name.cmp(&b.name));
    type Row = (
        Uuid,
        String,
        Value,
        i32,
        Vec<String>,
        bool,
        Option<Uuid>,
        Value,
    );
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT id, name, spec, interval_seconds, regions, enabled, component_id, {} \
         FROM monitors WHERE tenant_id = $1",
        crate::engine::policy::CONFIRMATION_JSON
    ))
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut monitors = rows
        .into_iter()
        .map(
            |(id, name, spec, interval_seconds, regions, enabled, component_id, confirmation)| {
                Ok(MonitorRow {
                    confirmation: crate::engine::policy::Confirmation::from_json(confirmation)
                        .map_err(|e| {
                            ApiError::Internal(format!("stored confirmation of monitor {id}: {e}"))
                        })?,
                    spec: serde_json::from_value(spec).map_err(|e| {
                        ApiError::Internal(format!("stored spec of monitor {id}: {e}"))
                    })?,
                    id,
                    name,
                    interval_seconds,
                    regions,
                    enabled,
                    component_id,
                })
            },
        )
        .collect::<ApiResult<Vec<_>>>()?;
    monitors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Current {
        page,
        groups,
        components,
        monitors,
    })
}

/// A read-only transaction that sees one snapshot, so an export or a dry run is consistent.
pub(super) async fn snapshot(db: &PgPool) -> ApiResult<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// The tenant's plan limits an import must stay within.
pub(super) struct Limits {
    pub(super) max_monitors: i32,
    pub(super) max_components: i32,
    pub(super) min_interval_seconds: i32,
}

pub(super) async fn limits(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    lock: bool,
) -> ApiResult<Limits> {
    // The lock makes concurrent imports (and creates, whose rows reference the tenant) wait.
    let (max_monitors, max_components, min_interval_seconds): (i32, i32, i32) =
        sqlx::query_as(&format!(
            "SELECT max_monitors, max_components, min_interval_seconds FROM tenants WHERE id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        ))
        .bind(tenant_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Limits {
        max_monitors,
        max_components,
        min_interval_seconds,
    })
}
