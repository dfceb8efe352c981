//! Applying: the plan carried out in one transaction with one audit entry, or only reported
//! (a dry run, on a read-only snapshot).

use super::account::{limits, load, snapshot, Current};
use super::document::{ComponentConfig, ConfigDocument, MonitorConfig};
use super::plan::{plan, ImportPlan, KindPlan, Work};
use crate::accounts::auth::ApiTenant;
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::stored_name;
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use std::collections::HashMap;
use uuid::Uuid;

fn to_json<T: Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Carries out the plan on the transaction's connection. Creates and updates go parents first
/// (groups, components, monitors); deletes children first.
pub(super) async fn write(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    work: &Work,
    current: &Current,
) -> ApiResult<()> {
    let mut group_ids: HashMap<String, Uuid> = current
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.id))
        .collect();
    for group in &work.groups.creates {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO component_groups (id, tenant_id, name, position) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(&group.name)
        .bind(group.position)
        .execute(&mut *conn)
        .await?;
        group_ids.insert(group.name.clone(), id);
    }
    for (id, group) in &work.groups.updates {
        sqlx::query(
            "UPDATE component_groups SET position = $3, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(group.position)
        .execute(&mut *conn)
        .await?;
    }

    let group_id = |c: &ComponentConfig| c.group.as_ref().and_then(|g| group_ids.get(g).copied());
    let mut component_ids: HashMap<String, Uuid> = current
        .components
        .iter()
        .map(|c| (c.name.clone(), c.id))
        .collect();
    for component in &work.components.creates {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO components (id, tenant_id, name, description, position, group_id) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(&component.name)
        .bind(&component.description)
        .bind(component.position)
        .bind(group_id(component))
        .execute(&mut *conn)
        .await?;
        component_ids.insert(component.name.clone(), id);
    }
    for (id, component) in &work.components.updates {
        sqlx::query(
            "UPDATE components SET description = $3, position = $4, group_id = $5, \
             version = version + 1, updated_at = now() WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(&component.description)
        .bind(component.position)
        .bind(group_id(component))
        .execute(&mut *conn)
        .await?;
    }

    let component_id = |m: &MonitorConfig| {
        m.component
            .as_ref()
            .and_then(|c| component_ids.get(c).copied())
    };
    for monitor in &work.monitors.creates {
        sqlx::query(
            "INSERT INTO monitors (id, tenant_id, name, kind, spec, interval_seconds, regions, enabled, component_id, \
             confirm_quorum, confirm_failures, confirm_recoveries, regional_after_seconds, flap_changes, flap_window_minutes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(Uuid::new_v4())
        .bind(tenant_id)
        .bind(&monitor.name)
        .bind(monitor.spec.kind())
        .bind(to_json(&monitor.spec)?)
        .bind(monitor.interval_seconds)
        .bind(&monitor.regions)
        .bind(monitor.enabled)
        .bind(component_id(monitor))
        .bind(monitor.confirmation.regions)
        .bind(monitor.confirmation.failures)
        .bind(monitor.confirmation.recoveries)
        .bind(monitor.confirmation.regional_outage_after_seconds)
        .bind(monitor.confirmation.flapping_changes)
        .bind(monitor.confirmation.flapping_window_minutes)
        .execute(&mut *conn)
        .await?;
    }
    for (id, monitor) in &work.monitors.updates {
        sqlx::query(
            "UPDATE monitors SET kind = $3, spec = $4, interval_seconds = $5, regions = $6, \
             enabled = $7, component_id = $8, confirm_quorum = $9, confirm_failures = $10, \
             confirm_recoveries = $11, regional_after_seconds = $12, flap_changes = $13, \
             flap_window_minutes = $14, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant_id)
        .bind(id)
        .bind(monitor.spec.kind())
        .bind(to_json(&monitor.spec)?)
        .bind(monitor.interval_seconds)
        .bind(&monitor.regions)
        .bind(monitor.enabled)
        .bind(component_id(monitor))
        .bind(monitor.confirmation.regions)
        .bind(monitor.confirmation.failures)
        .bind(monitor.confirmation.recoveries)
        .bind(monitor.confirmation.regional_outage_after_seconds)
        .bind(monitor.confirmation.flapping_changes)
        .bind(monitor.confirmation.flapping_window_minutes)
        .execute(&mut *conn)
        .await?;
    }

    for (table, ids) in [
        ("monitors", &work.monitors.deletes),
        ("components", &work.components.deletes),
        ("component_groups", &work.groups.deletes),
    ] {
        if !ids.is_empty() {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant_id = $1 AND id = ANY($2)"
            ))
            .bind(tenant_id)
            .bind(ids)
            .execute(&mut *conn)
            .await?;
        }
    }

    if let Some(page) = &work.page {
        // A new domain needs a new proof; the same domain keeps its state.
        let token = page.domain_changed.then(|| {
            crate::accounts::auth::new_secret()
                .trim_start_matches(crate::accounts::auth::TOKEN_PREFIX)
                .to_owned()
        });
        sqlx::query(
            "UPDATE status_pages SET title = $2, description = $3, visibility = $4, branding = $5, \
             custom_domain = CASE WHEN $6 THEN $7 ELSE custom_domain END, \
             domain_token = CASE WHEN $6 THEN $8 ELSE domain_token END, \
             domain_verified_at = CASE WHEN $6 THEN NULL ELSE domain_verified_at END, \
             domain_claimed_at = CASE WHEN $6 THEN CASE WHEN $7::text IS NULL THEN NULL ELSE now() END \
                                 ELSE domain_claimed_at END, \
             exclude_maintenance = $9, show_region_detail = $10, uptime_window = $11, \
             version = version + 1, updated_at = now() WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .bind(&page.title)
        .bind(&page.description)
        .bind(stored_name(&page.visibility))
        .bind(to_json(&page.branding)?)
        .bind(page.domain_changed)
        .bind(&page.custom_domain)
        .bind(token)
        .bind(page.exclude_maintenance)
        .bind(page.show_region_detail)
        .bind(&page.uptime_window)
        .execute(&mut *conn)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::field(
                "status_page.custom_domain",
                "is already claimed by another status page",
            ),
            _ => e.into(),
        })?;
    }
    Ok(())
}

/// Plans an import of `doc` for the caller's tenant and, unless `dry_run`, applies it in one
/// transaction with one audit entry. The caller checks the write scope and invalidates the
/// status snapshot.
pub async fn import(
    db: &PgPool,
    who: &ApiTenant,
    doc: ConfigDocument,
    tree: &Value,
    regions: &[String],
    base_domain: &str,
    dry_run: bool,
) -> ApiResult<ImportPlan> {
    let tenant_id = who.tenant_id;
    let mut tx = if dry_run {
        snapshot(db).await?
    } else {
        db.begin().await?
    };
    let limits = limits(&mut tx, tenant_id, !dry_run).await?;
    let current = load(&mut tx, tenant_id).await?;
    let mut work = plan(
        &mut tx,
        tenant_id,
        doc,
        tree,
        &current,
        &limits,
        regions,
        base_domain,
        who.sees_secrets(),
    )
    .await?;
    if dry_run {
        tx.rollback().await?;
        return Ok(work.plan);
    }
    write(&mut tx, tenant_id, &work, &current).await?;
    let plan = &work.plan;
    let counts = |kind: &KindPlan| json!({ "create": kind.create.len(), "update": kind.update.len(), "delete": kind.delete.len() });
    // In the transaction, so the log never shows an import that did not happen.
    let details = json!({
        "prune": plan.prune,
        "created": plan.summary.create,
        "updated": plan.summary.update,
        "deleted": plan.summary.delete,
        "unchanged": plan.summary.unchanged,
        "unmanaged": plan.summary.unmanaged,
        "status_page": plan.status_page.changes,
        "component_groups": counts(&plan.component_groups),
        "components": counts(&plan.components),
        "monitors": counts(&plan.monitors),
    });
    crate::rest::audit(&mut *tx, who, "import", "config", None, details).await?;
    tx.commit().await?;
    work.plan.dry_run = false;
    work.plan.applied = true;
    Ok(work.plan)
}
