//! A tenant's status page settings: title, visibility (public, password, private), branding and
//! a custom domain proven by a DNS TXT record before it serves the page.

use crate::auth::{hash_password, new_secret, verify_password};
use crate::error::{ApiError, ApiResult, FieldProblem};
use crate::incidents::problems_to_result;
use crate::rest::{parse_stored, stored_name};
use crate::tenancy::Tenant;
use chrono::{DateTime, Utc};
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
}

/// The TXT record that proves the tenant controls its custom domain.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainVerification {
    pub record_type: String,
    pub name: String,
    pub value: String,
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
    pub version: i32,
    pub updated_at: DateTime<Utc>,
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
);
const COLUMNS: &str = "title, description, visibility, password_hash, branding, custom_domain, \
                       domain_token, domain_verified_at, version, updated_at, exclude_maintenance";

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
    ) = row;
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
        version,
        updated_at,
    })
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
        .and_then(|t| crate::incidents::text_problem(&format!("{prefix}title"), t, 100))
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
    if let Some(logo) = &branding.logo_url {
        if !logo.starts_with("https://") || logo.len() > 2000 || logo.contains(char::is_whitespace)
        {
            problems.push(FieldProblem {
                field: format!("{prefix}branding.logo_url"),
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
    if let Some(password) = &patch.password {
        if password.chars().count() < crate::tenancy::PASSWORD_MIN_LEN {
            problems.push(FieldProblem {
                field: "password".into(),
                message: format!(
                    "must be at least {} characters",
                    crate::tenancy::PASSWORD_MIN_LEN
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
    let password_hash = patch.password.as_deref().map(hash_password).transpose()?;
    // A new domain needs a new proof; the same domain keeps its state.
    let domain_changed = domain
        .as_ref()
        .is_some_and(|d| d.as_deref() != current.custom_domain.as_deref());
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
         exclude_maintenance = coalesce($11, exclude_maintenance), \
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
    .bind(token.as_ref().map(|t| t.trim_start_matches(crate::auth::TOKEN_PREFIX).to_owned()))
    .bind(patch.exclude_maintenance)
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

/// Why a custom domain is not verified yet.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct VerificationFailure {
    pub expected: DomainVerification,
    pub found: Vec<String>,
    pub error: Option<String>,
}

/// Looks up the TXT record with the checker's own DNS client and marks the domain verified
/// when the expected value is among the answers. `resolver` is the platform's resolver
/// (`IP[:port]`; `None`: the system one).
pub async fn verify_domain(
    db: &PgPool,
    tenant_id: Uuid,
    resolver: Option<&str>,
) -> ApiResult<Result<StatusPageSettings, VerificationFailure>> {
    let current = get(db, tenant_id).await?;
    let Some(expected) = current.domain_verification.clone() else {
        return Err(match current.custom_domain {
            None => ApiError::field("custom_domain", "no custom domain is set"),
            Some(_) => ApiError::Conflict("the custom domain is already verified".into()),
        });
    };
    let spec: checker::spec::MonitorSpec = serde_json::from_value(serde_json::json!({
        "type": "dns", "host": expected.name, "record_type": "TXT", "resolver": resolver,
        "timeout_ms": 5000,
    }))
    .map_err(|e| ApiError::Internal(format!("verification query: {e}")))?;
    // The resolver is the operator's own configuration, so it passes the guard.
    let allow: Vec<ipnet::IpNet> = resolver
        .and_then(|r| {
            r.parse::<std::net::SocketAddr>()
                .map(|a| a.ip())
                .or_else(|_| r.parse::<std::net::IpAddr>())
                .ok()
        })
        .map(ipnet::IpNet::from)
        .into_iter()
        .collect();
    let outcome = checker::probe::Prober::new(checker::guard::SsrfGuard::new(allow))
        .check(&spec)
        .await;
    let token = expected
        .value
        .trim_start_matches("statuspage-verification=")
        .to_owned();
    if tenants::txt_records_verify(&outcome.dns_answers, &token) {
        sqlx::query(
            "UPDATE status_pages SET domain_verified_at = now(), version = version + 1, updated_at = now() \
             WHERE tenant_id = $1",
        )
        .bind(tenant_id)
        .execute(db)
        .await?;
        return Ok(Ok(get(db, tenant_id).await?));
    }
    Ok(Err(VerificationFailure {
        expected,
        found: outcome.dns_answers,
        error: outcome.error,
    }))
}

/// The tenant whose status page is served at a verified custom domain.
pub async fn tenant_by_custom_domain(db: &PgPool, host: &str) -> ApiResult<Option<Tenant>> {
    let row: Option<(Uuid, String, String)> = sqlx::query_as(
        "SELECT t.id, t.slug, t.name FROM status_pages p JOIN tenants t ON t.id = p.tenant_id \
         WHERE p.custom_domain = $1 AND p.domain_verified_at IS NOT NULL",
    )
    .bind(host)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(id, slug, name)| Tenant { id, slug, name }))
}

/// A page's visibility and password hash, as last read.
pub type PageAccess = (Visibility, Option<String>);

pub async fn page_access(db: &PgPool, tenant_id: Uuid) -> ApiResult<PageAccess> {
    let row: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT visibility, password_hash FROM status_pages WHERE tenant_id = $1")
            .bind(tenant_id)
            .fetch_optional(db)
            .await?;
    match row {
        None => Ok((Visibility::Public, None)),
        Some((visibility, hash)) => Ok((parse_stored("visibility", &visibility)?, hash)),
    }
}

/// Whether a visitor may read the page: `Ok` to serve it. A private page looks like no page.
pub fn check_access(access: &PageAccess, password: Option<&str>) -> ApiResult<()> {
    match access {
        (Visibility::Public, _) => Ok(()),
        (Visibility::Private, _) => Err(ApiError::NotFound("status page")),
        (Visibility::Password, hash) => match (password, hash) {
            (Some(given), Some(hash)) if verify_password(given, hash) => Ok(()),
            _ => Err(ApiError::Unauthorized(
                "this status page is password-protected: send the password in the Status-Page-Password header",
            )),
        },
    }
}

/// Name of the cookie that lets a visitor who gave the password back in.
pub const ACCESS_COOKIE: &str = "sp_page_access";

fn access_mac(secret: &str, tenant_id: Uuid, password_hash: &str) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    // Bound to the hash: a new password shuts out every earlier visitor.
    mac.update(format!("status-page-access\n{tenant_id}\n{password_hash}").as_bytes());
    mac
}

/// The cookie value for a visitor who gave the right password (hex HMAC, no password inside).
pub fn access_cookie(secret: &str, tenant_id: Uuid, password_hash: &str) -> String {
    use hmac::Mac;
    hex::encode(
        access_mac(secret, tenant_id, password_hash)
            .finalize()
            .into_bytes(),
    )
}

/// Constant-time check of a cookie made by [`access_cookie`].
pub fn access_cookie_valid(
    secret: &str,
    tenant_id: Uuid,
    password_hash: &str,
    cookie: &str,
) -> bool {
    use hmac::Mac;
    hex::decode(cookie).is_ok_and(|given| {
        access_mac(secret, tenant_id, password_hash)
            .verify_slice(&given)
            .is_ok()
    })
}
