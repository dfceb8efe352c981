//! The status page: a tenant's page settings (title, visibility: public, password or private,
//! branding, a custom domain proven by a DNS TXT record before it serves the page), what the page
//! shows ([`snapshot`]), who may read it ([`access`]), the public routes visitors call
//! ([`public`]) and the tenant's own routes ([`routes`]).

pub mod access;
pub mod domains;
pub mod public;
pub mod routes;
pub mod snapshot;

pub use routes::routes;

use crate::accounts::auth::{hash_password_bounded, new_secret};
use crate::rest::error::{problems_to_result, ApiError, ApiResult, FieldProblem};
use crate::rest::{parse_stored, stored_name};
use chrono::{DateTime, Utc};
use domains::{verified_elsewhere, DomainVerification, DOMAIN_CLAIM_TTL_HOURS};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    /// Visitors need the page's password.
    Password,
    /// Only the tenant's own API tokens and members can read it.
    Private,
}

#[derive(utoipa::ToSchema, Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// An `https://` image URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// An `https://` URL of the page's icon (`<link rel="icon">`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub favicon_url: Option<String>,
}

/// The uptime windows a page may show beside each component.
pub const UPTIME_WINDOWS: [&str; 4] = ["24h", "7d", "30d", "90d"];
/// The window a page shows until it chooses one.
pub const DEFAULT_UPTIME_WINDOW: &str = "90d";

/// A problem when `window` is not one of [`UPTIME_WINDOWS`]; the field is `{prefix}uptime_window`.
pub(crate) fn uptime_window_problem(prefix: &str, window: &str) -> Option<FieldProblem> {
    (!UPTIME_WINDOWS.contains(&window)).then(|| FieldProblem {
        field: format!("{prefix}uptime_window"),
        message: format!("must be one of 24h, 7d, 30d or 90d, got {window:?}"),
    })
}

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusPageSettings {
    pub title: String,
    pub description: String,
    pub visibility: Visibility,
    pub password_set: bool,
    pub branding: Branding,
    /// Leave checks made during scheduled maintenance out of the page's uptime and daily bars.
    pub exclude_maintenance: bool,
    pub custom_domain: Option<String>,
    pub domain_verified_at: Option<DateTime<Utc>>,
    /// What to publish, while the custom domain is not verified.
    pub domain_verification: Option<DomainVerification>,
    /// When an unverified claim lapses ([`DOMAIN_CLAIM_TTL_HOURS`] after it was made); the
    /// domain is then released. `null` once verified.
    pub domain_claim_expires_at: Option<DateTime<Utc>>,
    /// What the incident engine does with a confirmed outage: `publish` an incident at once
    /// (the default), open it as a `draft` for a person to publish, or `off` (alerts only).
    #[serde(default)]
    pub auto_incidents: AutoIncidents,
    /// Visitors see each component's regions (status, latency and a chart per region);
    /// otherwise the regions are combined.
    #[serde(default)]
    pub show_region_detail: bool,
    /// The uptime window shown beside each component: `24h`, `7d`, `30d` or `90d` (the default).
    #[serde(default = "default_uptime_window")]
    #[schema(example = "90d")]
    pub uptime_window: String,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

fn default_uptime_window() -> String {
    DEFAULT_UPTIME_WINDOW.to_owned()
}

/// See [`StatusPageSettings::auto_incidents`].
#[derive(utoipa::ToSchema, Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoIncidents {
    #[default]
    Publish,
    Draft,
    Off,
}

#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusPagePatch {
    pub title: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    /// Required when switching to `password` without one set; stored as argon2id.
    pub password: Option<String>,
    pub branding: Option<Branding>,
    pub exclude_maintenance: Option<bool>,
    /// `null` removes the custom domain.
    #[serde(default, with = "crate::components::double_option")]
    pub custom_domain: Option<Option<String>>,
    pub auto_incidents: Option<AutoIncidents>,
    pub show_region_detail: Option<bool>,
    /// `24h`, `7d`, `30d` or `90d`.
    pub uptime_window: Option<String>,
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    serde_json::Value,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    i32,
    DateTime<Utc>,
    bool,
    Option<DateTime<Utc>>,
    String,
    bool,
    String,
);
const COLUMNS: &str = "title, description, visibility, password_hash, branding, custom_domain, \
                       domain_token, domain_verified_at, version, updated_at, exclude_maintenance, \
                       domain_claimed_at, auto_incidents, show_region_detail, uptime_window";

fn from_row(row: Row) -> ApiResult<StatusPageSettings> {
    let (
        title,
        description,
        visibility,
        password,
        branding,
        domain,
        token,
        verified_at,
        version,
        updated_at,
        exclude_maintenance,
        claimed_at,
        auto_incidents,
        show_region_detail,
        uptime_window,
    ) = row;
    let domain_claim_expires_at = match (&domain, verified_at) {
        // A claim written without its time (by an older writer) runs from the last change.
        (Some(_), None) => {
            Some(claimed_at.unwrap_or(updated_at) + chrono::Duration::hours(DOMAIN_CLAIM_TTL_HOURS))
        }
        _ => None,
    };
    let domain_verification = match (&domain, &token, verified_at) {
        (Some(domain), Some(token), None) => Some(DomainVerification {
            record_type: "TXT".into(),
            name: tenants::verification_record_name(domain),
            value: tenants::verification_record_value(token),
        }),
        _ => None,
    };
    Ok(StatusPageSettings {
        title,
        description,
        visibility: parse_stored("visibility", &visibility)?,
        password_set: password.is_some(),
        branding: serde_json::from_value(branding)
            .map_err(|e| ApiError::Internal(format!("stored branding: {e}")))?,
        exclude_maintenance,
        custom_domain: domain,
        domain_verified_at: verified_at,
        domain_verification,
        domain_claim_expires_at,
        auto_incidents: parse_stored("auto_incidents", &auto_incidents)?,
        show_region_detail,
        uptime_window,
        version,
        updated_at,
    })
}

impl StatusPageSettings {
    /// Whether the custom domain is claimed, unverified, and past its deadline.
    pub fn claim_lapsed(&self) -> bool {
        self.domain_claim_expires_at
            .is_some_and(|at| at <= Utc::now())
    }
}

pub async fn get(db: &PgPool, tenant_id: Uuid) -> ApiResult<StatusPageSettings> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM status_pages WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("status page"))?)
}

/// The rules for title, description and branding, with field names under `prefix` (empty for
/// the API, `status_page.` for config files). `None`: not being changed.
pub(crate) fn settings_problems(
    prefix: &str,
    title: Option<&str>,
    description: Option<&str>,
    branding: Option<&Branding>,
) -> Vec<FieldProblem> {
    let mut problems: Vec<FieldProblem> = title
        .and_then(|t| crate::rest::error::text_problem(&format!("{prefix}title"), t, 100))
        .into_iter()
        .collect();
    if description.is_some_and(|d| d.chars().count() > 1000) {
        problems.push(FieldProblem {
            field: format!("{prefix}description"),
            message: "must be at most 1000 characters".into(),
        });
    }
    let Some(branding) = branding else {
        return problems;
    };
    if let Some(color) = &branding.accent_color {
        let ok = color.len() == 7
            && color.starts_with('#')
            && color[1..].chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            problems.push(FieldProblem {
                field: format!("{prefix}branding.accent_color"),
                message: format!("must be a colour like #1f9d55, got {color:?}"),
            });
        }
    }
    for (name, url) in [
        ("logo_url", &branding.logo_url),
        ("favicon_url", &branding.favicon_url),
    ] {
        let Some(url) = url else { continue };
        if !url.starts_with("https://") || url.len() > 2000 || url.contains(char::is_whitespace) {
            problems.push(FieldProblem {
                field: format!("{prefix}branding.{name}"),
                message: "must be an https:// URL".into(),
            });
        }
    }
    problems
}

pub async fn patch(
    db: &PgPool,
    tenant_id: Uuid,
    expected: Option<i32>,
    patch: &StatusPagePatch,
    base_domain: &str,
) -> ApiResult<Option<StatusPageSettings>> {
    let current = get(db, tenant_id).await?;
    let mut problems = settings_problems(
        "",
        patch.title.as_deref(),
        patch.description.as_deref(),
        patch.branding.as_ref(),
    );
    problems.extend(
        patch
            .uptime_window
            .as_deref()
            .and_then(|w| uptime_window_problem("", w)),
    );
    if let Some(password) = &patch.password {
        if password.chars().count() < crate::accounts::auth::PASSWORD_MIN_LEN {
            problems.push(FieldProblem {
                field: "password".into(),
                message: format!(
                    "must be at least {} characters",
                    crate::accounts::auth::PASSWORD_MIN_LEN
                ),
            });
        }
    }
    if patch.visibility == Some(Visibility::Password)
        && patch.password.is_none()
        && !current.password_set
    {
        problems.push(FieldProblem {
            field: "password".into(),
            message: "is required to make the page password-protected".into(),
        });
    }
    let domain = match &patch.custom_domain {
        Some(Some(raw)) => match tenants::validate_custom_domain(raw, base_domain) {
            Ok(domain) => Some(Some(domain)),
            Err(e) => {
                problems.push(FieldProblem {
                    field: "custom_domain".into(),
                    message: e.to_string(),
                });
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    problems_to_result(problems)?;
    let password_hash = match patch.password.as_deref() {
        Some(password) => Some(hash_password_bounded(password).await?),
        None => None,
    };
    // A new domain needs a new proof; the same domain keeps its state, unless its claim lapsed.
    let domain_changed = domain.as_ref().is_some_and(|d| {
        d.as_deref() != current.custom_domain.as_deref() || (d.is_some() && current.claim_lapsed())
    });
    if let (true, Some(Some(new))) = (domain_changed, &domain) {
        if verified_elsewhere(db, tenant_id, new).await? {
            return Err(ApiError::field(
                "custom_domain",
                "is already verified by another status page",
            ));
        }
    }
    let token = domain_changed.then(new_secret);
    let branding = patch
        .branding
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let row: Option<Row> = sqlx::query_as(&format!(
        "UPDATE status_pages SET title = coalesce($3, title), description = coalesce($4, description), \
         visibility = coalesce($5, visibility), password_hash = coalesce($6, password_hash), \
         branding = coalesce($7, branding), \
         custom_domain = CASE WHEN $8 THEN $9 ELSE custom_domain END, \
         domain_token = CASE WHEN $8 THEN $10 ELSE domain_token END, \
         domain_verified_at = CASE WHEN $8 THEN NULL ELSE domain_verified_at END, \
         domain_claimed_at = CASE WHEN $8 THEN CASE WHEN $9::text IS NULL THEN NULL ELSE now() END \
                             ELSE domain_claimed_at END, \
         domain_check_failures = CASE WHEN $8 THEN 0 ELSE domain_check_failures END, \
         exclude_maintenance = coalesce($11, exclude_maintenance), \
         auto_incidents = coalesce($12, auto_incidents), \
         show_region_detail = coalesce($13, show_region_detail), \
         uptime_window = coalesce($14, uptime_window), \
         version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND ($2::int IS NULL OR version = $2) RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(expected)
    .bind(patch.title.as_deref().map(str::trim))
    .bind(patch.description.as_deref())
    .bind(patch.visibility.as_ref().map(stored_name))
    .bind(password_hash)
    .bind(branding)
    .bind(domain_changed)
    .bind(domain.clone().flatten())
    .bind(token.as_ref().map(|t| t.trim_start_matches(crate::accounts::auth::TOKEN_PREFIX).to_owned()))
    .bind(patch.exclude_maintenance)
    .bind(patch.auto_incidents.as_ref().map(stored_name))
    .bind(patch.show_region_detail)
    .bind(patch.uptime_window.as_deref())
    .fetch_optional(db)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::field(
            "custom_domain",
            "is already claimed by another status page",
        ),
        _ => e.into(),
    })?;
    row.map(from_row).transpose()
}
