//! The status page section of a plan: the settings that change, checked as the status page API
//! checks them, and a custom domain another page has verified refused.

use super::account::PageState;
use super::document::StatusPageConfig;
use super::plan::{problem, PageAction, PageWrite, StatusPagePlan};
use crate::rest::error::{ApiResult, FieldProblem};
use crate::status_page::Visibility;
use sqlx::PgConnection;
use uuid::Uuid;

/// The status page section: the settings that change, and the row to write when any does.
pub(super) async fn plan_page(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    page: &StatusPageConfig,
    now: &PageState,
    base_domain: &str,
    problems: &mut Vec<FieldProblem>,
) -> ApiResult<(StatusPagePlan, Option<PageWrite>)> {
    let title = page.title.as_deref().map(str::trim).unwrap_or(&now.title);
    let description = page.description.as_deref().unwrap_or(&now.description);
    let visibility = page.visibility.unwrap_or(now.visibility);
    if visibility == Visibility::Password && !now.password_set {
        problems.push(problem(
            "status_page.visibility".into(),
            "password needs a password set on the page first (PATCH /api/v1/status-page with `password`); config files never carry it",
        ));
    }
    let branding = page
        .branding
        .clone()
        .unwrap_or_else(|| now.branding.clone());
    problems.extend(crate::status_page::settings_problems(
        "status_page.",
        page.title.is_some().then_some(title),
        Some(description),
        Some(&branding),
    ));
    let custom_domain = match &page.custom_domain {
        Some(Some(raw)) => match tenants::validate_custom_domain(raw, base_domain) {
            Ok(domain) => {
                let claimed: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM status_pages WHERE custom_domain = $1 AND tenant_id <> $2 \
                     AND domain_verified_at IS NOT NULL)",
                )
                .bind(&domain)
                .bind(tenant_id)
                .fetch_one(&mut *conn)
                .await?;
                if claimed {
                    problems.push(problem(
                        "status_page.custom_domain".into(),
                        "is already claimed by another status page",
                    ));
                }
                Some(domain)
            }
            Err(e) => {
                problems.push(problem("status_page.custom_domain".into(), e.to_string()));
                None
            }
        },
        Some(None) => None,
        None => now.custom_domain.clone(),
    };
    let domain_changed = custom_domain != now.custom_domain;
    let exclude_maintenance = page.exclude_maintenance.unwrap_or(now.exclude_maintenance);
    let show_region_detail = page.show_region_detail.unwrap_or(now.show_region_detail);
    let uptime_window = page.uptime_window.as_deref().unwrap_or(&now.uptime_window);
    problems.extend(crate::status_page::uptime_window_problem(
        "status_page.",
        uptime_window,
    ));
    let changes: Vec<String> = [
        ("title", title != now.title),
        ("description", description != now.description),
        ("visibility", visibility != now.visibility),
        ("branding", branding != now.branding),
        (
            "exclude_maintenance",
            exclude_maintenance != now.exclude_maintenance,
        ),
        ("custom_domain", domain_changed),
        (
            "show_region_detail",
            show_region_detail != now.show_region_detail,
        ),
        ("uptime_window", uptime_window != now.uptime_window),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(name, _)| name.to_owned())
    .collect();
    if changes.is_empty() {
        let action = PageAction::Unchanged;
        return Ok((StatusPagePlan { action, changes }, None));
    }
    let write = PageWrite {
        title: title.to_owned(),
        description: description.to_owned(),
        visibility,
        branding,
        exclude_maintenance,
        custom_domain,
        domain_changed,
        show_region_detail,
        uptime_window: uptime_window.to_owned(),
    };
    let action = PageAction::Update;
    Ok((StatusPagePlan { action, changes }, Some(write)))
}
