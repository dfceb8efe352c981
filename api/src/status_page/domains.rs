//! Custom domains of status pages: a claim, proven by a DNS TXT record before it serves the
//! page; unverified claims lapse after [`DOMAIN_CLAIM_TTL_HOURS`], and verified domains are
//! looked up again daily ([`recheck_domains`]) and unverified once their record is gone.

use super::{get, StatusPageSettings};
use crate::accounts::tenancy::Tenant;
use crate::rest::error::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// The TXT record that proves the tenant controls its custom domain.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainVerification {
    pub record_type: String,
    pub name: String,
    pub value: String,
}

/// Why a custom domain is not verified yet.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize)]
pub struct VerificationFailure {
    pub expected: DomainVerification,
    pub found: Vec<String>,
    pub error: Option<String>,
}

/// An unverified custom-domain claim lapses this long after it was made: the domain is released
/// (the periodic task clears it, and verifying it is refused), so nobody holds a domain they
/// never proved. The claim never blocks another tenant meanwhile: only verified domains are
/// unique.
pub const DOMAIN_CLAIM_TTL_HOURS: i64 = 72;

/// What a TXT lookup of a verification record found.
struct TxtLookup {
    answers: Vec<String>,
    error: Option<String>,
    /// The resolver answered for the name (`NOERROR` or `NXDOMAIN`), so a missing record is
    /// really missing; a timeout or `SERVFAIL` says nothing about the domain.
    conclusive: bool,
}

/// Looks up `name`'s TXT records with the checker's own DNS client, through the SSRF guard.
/// `resolver` is the platform's resolver (`IP[:port]`; `None`: the system one).
async fn lookup_txt(name: &str, resolver: Option<&str>) -> ApiResult<TxtLookup> {
    let spec: checker::spec::MonitorSpec = serde_json::from_value(serde_json::json!({
        "type": "dns", "host": name, "record_type": "TXT", "resolver": resolver,
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
    Ok(TxtLookup {
        conclusive: matches!(outcome.dns_rcode.as_deref(), Some("NOERROR" | "NXDOMAIN")),
        answers: outcome.dns_answers,
        error: outcome.error,
    })
}

/// Whether another tenant's page has verified `domain` (only verified domains are unique).
pub(crate) async fn verified_elsewhere(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    domain: &str,
) -> ApiResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM status_pages \
         WHERE custom_domain = $1 AND tenant_id <> $2 AND domain_verified_at IS NOT NULL)",
    )
    .bind(domain)
    .bind(tenant_id)
    .fetch_one(db)
    .await?)
}

fn verified_by_another() -> ApiError {
    ApiError::field(
        "custom_domain",
        "is already verified by another status page",
    )
}

/// An audit entry written by the platform itself (claims released, domains unverified).
async fn system_audit(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
    action: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, details) \
         VALUES ($1, 'system', $2, 'status_page', $3)",
    )
    .bind(tenant_id)
    .bind(action)
    .bind(details)
    .execute(db)
    .await?;
    Ok(())
}

/// Looks up the TXT record and marks the domain verified when the expected value is among the
/// answers. Verifying removes every other tenant's unverified claim of the same domain (each is
/// told so in its audit log); a domain another tenant verified first, or a claim that lapsed,
/// is refused on `custom_domain`.
pub async fn verify_domain(
    db: &PgPool,
    tenant_id: Uuid,
    resolver: Option<&str>,
) -> ApiResult<Result<StatusPageSettings, VerificationFailure>> {
    let current = get(db, tenant_id).await?;
    let (Some(expected), Some(domain)) = (
        current.domain_verification.clone(),
        current.custom_domain.clone(),
    ) else {
        return Err(match current.custom_domain {
            None => ApiError::field("custom_domain", "no custom domain is set"),
            Some(_) => ApiError::Conflict("the custom domain is already verified".into()),
        });
    };
    if current.claim_lapsed() {
        return Err(ApiError::field(
            "custom_domain",
            format!(
                "the claim of {domain} lapsed: it was not verified within {DOMAIN_CLAIM_TTL_HOURS} hours; \
                 set custom_domain again for a new TXT record"
            ),
        ));
    }
    if verified_elsewhere(db, tenant_id, &domain).await? {
        return Err(verified_by_another());
    }
    let found = lookup_txt(&expected.name, resolver).await?;
    let token = expected
        .value
        .trim_start_matches("statuspage-verification=")
        .to_owned();
    if !tenants::txt_records_verify(&found.answers, &token) {
        return Ok(Err(VerificationFailure {
            expected,
            found: found.answers,
            error: found.error,
        }));
    }
    let mut tx = db.begin().await?;
    // Only the claim that was looked up: not a domain changed meanwhile.
    let verified = sqlx::query(
        "UPDATE status_pages SET domain_verified_at = now(), domain_checked_at = now(), \
         domain_check_failures = 0, version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND custom_domain = $2 AND domain_token = $3 AND domain_verified_at IS NULL",
    )
    .bind(tenant_id)
    .bind(&domain)
    .bind(&token)
    .execute(&mut *tx)
    .await
    .map_err(|e| match &e {
        // Another tenant verified it in the meantime (the unique index on verified domains).
        sqlx::Error::Database(d) if d.is_unique_violation() => verified_by_another(),
        _ => e.into(),
    })?;
    if verified.rows_affected() == 0 {
        return Err(ApiError::Conflict(
            "the custom domain changed while it was being verified; read the status page again"
                .into(),
        ));
    }
    let released: Vec<Uuid> = sqlx::query_scalar(
        "UPDATE status_pages SET custom_domain = NULL, domain_token = NULL, domain_claimed_at = NULL, \
         domain_check_failures = 0, version = version + 1, updated_at = now() \
         WHERE custom_domain = $1 AND tenant_id <> $2 AND domain_verified_at IS NULL RETURNING tenant_id",
    )
    .bind(&domain)
    .bind(tenant_id)
    .fetch_all(&mut *tx)
    .await?;
    for other in &released {
        system_audit(
            &mut *tx,
            *other,
            "release",
            serde_json::json!({ "custom_domain": domain, "reason": "verified by another tenant" }),
        )
        .await?;
    }
    tx.commit().await?;
    if !released.is_empty() {
        tracing::info!(%tenant_id, domain, released = released.len(), "custom domain verified; other tenants' unverified claims released");
    }
    Ok(Ok(get(db, tenant_id).await?))
}

/// How verified custom domains are re-checked ([`recheck_domains`]).
#[derive(Debug, Clone, Copy)]
pub struct RecheckPolicy {
    /// A verified domain is looked up again once its last check is this old.
    pub every: std::time::Duration,
    /// Checks in a row that find the TXT record gone before the domain is unverified: a DNS
    /// change in progress, or a provider's bad hour, does not take a page off its domain.
    pub grace_failures: i32,
    /// Domains looked up per call (and at most 8 at once).
    pub batch: i64,
}

impl Default for RecheckPolicy {
    fn default() -> Self {
        Self {
            every: std::time::Duration::from_secs(24 * 3600),
            grace_failures: 3,
            batch: 200,
        }
    }
}

/// What one [`recheck_domains`] call did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecheckSummary {
    /// Verified domains looked up.
    pub checked: usize,
    /// Lookups that found the record gone (counted towards the grace).
    pub missing: usize,
    /// Lookups that got no answer (timeouts, `SERVFAIL`): not counted.
    pub inconclusive: usize,
    /// Domains unverified, their grace used up.
    pub unverified: usize,
    /// Unverified claims released after [`DOMAIN_CLAIM_TTL_HOURS`].
    pub lapsed: usize,
}

/// Releases lapsed unverified claims and re-checks the verified domains due under `policy`.
/// A domain whose TXT record is gone for `grace_failures` checks in a row is unverified (logged
/// and audited): it stops serving the page, and its tenant gets a fresh claim window with the
/// same record, so publishing it again and verifying restores it. Safe to run on every app
/// server at once: due domains are claimed with `SKIP LOCKED`.
pub async fn recheck_domains(
    db: &PgPool,
    resolver: Option<&str>,
    policy: &RecheckPolicy,
) -> ApiResult<RecheckSummary> {
    let mut summary = RecheckSummary::default();
    let lapsed: Vec<(Uuid, String)> = sqlx::query_as(
        "WITH old AS (SELECT tenant_id, custom_domain FROM status_pages \
             WHERE custom_domain IS NOT NULL AND domain_verified_at IS NULL \
             AND coalesce(domain_claimed_at, updated_at) <= now() - make_interval(hours => $1) \
             FOR UPDATE SKIP LOCKED) \
         UPDATE status_pages p SET custom_domain = NULL, domain_token = NULL, domain_claimed_at = NULL, \
             version = version + 1, updated_at = now() \
         FROM old WHERE p.tenant_id = old.tenant_id RETURNING old.tenant_id, old.custom_domain",
    )
    .bind(DOMAIN_CLAIM_TTL_HOURS as i32)
    .fetch_all(db)
    .await?;
    for (tenant_id, domain) in &lapsed {
        tracing::info!(%tenant_id, domain, "unverified custom-domain claim lapsed");
        system_audit(
            db,
            *tenant_id,
            "release",
            serde_json::json!({ "custom_domain": domain, "reason": "not verified in time" }),
        )
        .await?;
    }
    summary.lapsed = lapsed.len();

    let due: Vec<(Uuid, String, String)> = sqlx::query_as(
        "WITH due AS (SELECT tenant_id FROM status_pages \
             WHERE domain_verified_at IS NOT NULL AND custom_domain IS NOT NULL AND domain_token IS NOT NULL \
             AND (domain_checked_at IS NULL OR domain_checked_at <= now() - make_interval(secs => $1)) \
             ORDER BY domain_checked_at NULLS FIRST LIMIT $2 FOR UPDATE SKIP LOCKED) \
         UPDATE status_pages p SET domain_checked_at = now() FROM due WHERE p.tenant_id = due.tenant_id \
         RETURNING p.tenant_id, p.custom_domain, p.domain_token",
    )
    .bind(policy.every.as_secs_f64())
    .bind(policy.batch)
    .fetch_all(db)
    .await?;
    summary.checked = due.len();
    use futures::StreamExt;
    let lookups: Vec<_> = futures::stream::iter(due)
        .map(|(tenant_id, domain, token)| async move {
            let name = tenants::verification_record_name(&domain);
            let found = lookup_txt(&name, resolver).await;
            (tenant_id, domain, token, found)
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for (tenant_id, domain, token, found) in lookups {
        let found = found?;
        if tenants::txt_records_verify(&found.answers, &token) {
            sqlx::query(
                "UPDATE status_pages SET domain_check_failures = 0 WHERE tenant_id = $1 AND custom_domain = $2",
            )
            .bind(tenant_id)
            .bind(&domain)
            .execute(db)
            .await?;
            continue;
        }
        if !found.conclusive {
            summary.inconclusive += 1;
            tracing::warn!(%tenant_id, domain, error = ?found.error, "custom-domain re-check got no answer; not counted");
            continue;
        }
        summary.missing += 1;
        let failures: Option<i32> = sqlx::query_scalar(
            "UPDATE status_pages SET domain_check_failures = domain_check_failures + 1 \
             WHERE tenant_id = $1 AND custom_domain = $2 AND domain_verified_at IS NOT NULL \
             RETURNING domain_check_failures",
        )
        .bind(tenant_id)
        .bind(&domain)
        .fetch_optional(db)
        .await?;
        let Some(failures) = failures else { continue };
        if failures < policy.grace_failures {
            tracing::warn!(%tenant_id, domain, failures, "custom-domain TXT record missing on re-check");
            continue;
        }
        let mut tx = db.begin().await?;
        let unverified = sqlx::query(
            "UPDATE status_pages SET domain_verified_at = NULL, domain_claimed_at = now(), \
             domain_check_failures = 0, version = version + 1, updated_at = now() \
             WHERE tenant_id = $1 AND custom_domain = $2 AND domain_verified_at IS NOT NULL",
        )
        .bind(tenant_id)
        .bind(&domain)
        .execute(&mut *tx)
        .await?;
        if unverified.rows_affected() == 1 {
            system_audit(
                &mut *tx,
                tenant_id,
                "unverify",
                serde_json::json!({
                    "custom_domain": domain,
                    "reason": "the verification TXT record is gone",
                    "failed_checks": failures,
                    "found": found.answers,
                }),
            )
            .await?;
            summary.unverified += 1;
            tracing::warn!(%tenant_id, domain, failures, "custom domain unverified: its TXT record is gone");
        }
        tx.commit().await?;
    }
    Ok(summary)
}

/// Runs [`recheck_domains`] every `tick` for as long as the app server runs.
pub async fn run_domain_rechecks(
    db: PgPool,
    resolver: Option<String>,
    policy: RecheckPolicy,
    tick: std::time::Duration,
) {
    let mut timer = tokio::time::interval(tick);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        timer.tick().await;
        match recheck_domains(&db, resolver.as_deref(), &policy).await {
            Ok(summary) if summary != RecheckSummary::default() => {
                tracing::info!(?summary, "custom domains re-checked");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "custom-domain re-check failed; retrying next tick")
            }
        }
    }
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
