//! Export: the account's rows as a document, everything sorted by name, secrets masked for
//! tokens that may not read them.

use super::account::{load, snapshot, Current};
use super::document::{
    ComponentConfig, ConfigDocument, GroupConfig, MonitorConfig, StatusPageConfig, FORMAT_VERSION,
};
use crate::rest::error::{ApiError, ApiResult};
use sqlx::PgPool;
use uuid::Uuid;

fn document(current: &Current) -> ConfigDocument {
    ConfigDocument {
        version: FORMAT_VERSION,
        prune: false,
        status_page: Some(StatusPageConfig {
            title: Some(current.page.title.clone()),
            description: Some(current.page.description.clone()),
            visibility: Some(current.page.visibility),
            branding: Some(current.page.branding.clone()),
            exclude_maintenance: Some(current.page.exclude_maintenance),
            show_region_detail: Some(current.page.show_region_detail),
            uptime_window: Some(current.page.uptime_window.clone()),
            custom_domain: Some(current.page.custom_domain.clone()),
        }),
        component_groups: Some(
            current
                .groups
                .iter()
                .map(|g| GroupConfig {
                    name: g.name.clone(),
                    position: g.position,
                })
                .collect(),
        ),
        components: Some(
            current
                .components
                .iter()
                .map(|c| ComponentConfig {
                    name: c.name.clone(),
                    description: c.description.clone(),
                    position: c.position,
                    group: current.group_name(c.group_id).map(str::to_owned),
                })
                .collect(),
        ),
        monitors: Some(
            current
                .monitors
                .iter()
                .map(|m| MonitorConfig {
                    name: m.name.clone(),
                    spec: m.spec.clone(),
                    interval_seconds: m.interval_seconds,
                    regions: m.regions.clone(),
                    enabled: m.enabled,
                    component: current.component_name(m.component_id).map(str::to_owned),
                    confirmation: m.confirmation,
                })
                .collect(),
        ),
    }
}

/// The tenant's configuration as a document, everything sorted by name.
pub async fn export(db: &PgPool, tenant_id: Uuid) -> ApiResult<ConfigDocument> {
    let mut tx = snapshot(db).await?;
    let current = load(&mut tx, tenant_id).await?;
    tx.rollback().await?;
    Ok(document(&current))
}

pub fn to_yaml(doc: &ConfigDocument) -> ApiResult<String> {
    serde_yaml_ng::to_string(doc).map_err(|e| ApiError::Internal(format!("writing YAML: {e}")))
}

/// Header values marked `secret` read `********` (for tokens without the `admin` scope);
/// importing the file back keeps the stored values.
pub fn mask_secrets(doc: &mut ConfigDocument) {
    for monitor in doc.monitors.iter_mut().flatten() {
        crate::monitors::mask_secrets(&mut monitor.spec);
    }
}
