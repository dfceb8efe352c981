//! Subscribers: the people and systems a tenant keeps informed of incidents and maintenance,
//! optionally only about some components. Every query is scoped by tenant, except the public
//! confirmation, which finds its subscriber by the (random, single-use) confirm token alone.
//!
//! An email subscriber is double opt-in: it is created unconfirmed with a random confirm token,
//! of which only the SHA-256 is stored, the confirmation mail goes out through the outbox in the
//! same transaction, and it becomes confirmed when someone follows the link and presses the
//! button (a `POST`; the link's `GET` only shows the button, so link scanners confirm nothing).
//! Webhook and Slack subscribers are confirmed at creation. Subscribing from the public page is
//! [`public`]; what subscribers are told is [`notify`]; their links are [`links`].

pub mod links;
pub mod notify;
pub mod public;
pub mod routes;
pub use routes::routes;

use crate::accounts::auth::{new_secret, secret_hash};
use crate::accounts::limits::{self, Bounded};
use crate::incidents::check_components_exist;
use crate::rest::error::{problems_to_result, ApiError, ApiResult, FieldProblem};
use crate::rest::{parse_stored, stored_name, Page, PageQuery};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::net::IpAddr;
use uuid::Uuid;

pub use links::CONFIRM_PATH;
/// Longest email address (RFC 5321 path limit), as tenancy allows.
pub const EMAIL_MAX: usize = 254;
pub const URL_MAX: usize = 2048;
/// A subscriber may follow at most this many components (none means all of them).
pub const COMPONENTS_MAX: usize = 200;

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberKind {
    Email,
    Webhook,
    /// A Slack incoming webhook (`https://hooks.slack.com/services/...`).
    Slack,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriberInput {
    pub kind: SubscriberKind,
    /// An email address, an `https://` URL for a webhook, or a Slack incoming webhook URL.
    pub target: String,
    /// The components to hear about; empty means every component.
    #[serde(default)]
    pub component_ids: Vec<Uuid>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Subscriber {
    pub id: Uuid,
    pub kind: SubscriberKind,
    pub target: String,
    pub component_ids: Vec<Uuid>,
    pub confirmed: bool,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The answer to a create.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedSubscriber {
    #[serde(flatten)]
    pub subscriber: Subscriber,
    /// Email subscribers only: the relative URL that confirms the subscription,
    /// `/api/v1/public/subscriptions/confirm?token=<token>` (its `GET` shows a button that
    /// `POST`s). The confirmation email with this link is queued with the create; the link is
    /// also shown here, once (the token is stored only as a SHA-256, and a replay of the create
    /// through `Idempotency-Key` answers `null`).
    pub confirm_url: Option<String>,
}

/// `?kind=email|webhook|slack&confirmed=true|false` on the list.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct SubscriberFilter {
    pub kind: Option<String>,
    pub confirmed: Option<String>,
}

/// `?token=` of the public confirmation.
#[derive(utoipa::IntoParams, Debug, Clone, Default, Deserialize)]
pub struct ConfirmQuery {
    pub token: Option<String>,
}

/// A plausible email address, as tenancy checks an owner's, and no whitespace or control
/// characters (the address will end up in a mail header).
pub(crate) fn email_problem(field: &str, email: &str) -> Option<FieldProblem> {
    let plausible = email.len() <= EMAIL_MAX
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
        });
    (!plausible).then(|| FieldProblem {
        field: field.into(),
        message: "must be an email address like name@example.com".into(),
    })
}

/// An absolute `https://` URL to a public host name or address, without credentials.
/// Names that resolve to private addresses must still be refused when delivering.
pub(crate) fn https_url_problem(field: &str, raw: &str) -> Option<FieldProblem> {
    let problem = |message: &str| {
        Some(FieldProblem {
            field: field.into(),
            message: message.into(),
        })
    };
    if raw.is_empty() || raw.len() > URL_MAX {
        return problem("must be an https:// URL of at most 2048 characters");
    }
    let Ok(uri) = raw.parse::<http::Uri>() else {
        return problem("must be an https:// URL like https://example.com/hooks/status");
    };
    if uri.scheme_str() != Some("https") {
        return problem("must start with https://");
    }
    let Some(authority) = uri.authority() else {
        return problem("must include a host");
    };
    if authority.as_str().contains('@') {
        return problem("must not carry credentials (user:password@)");
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    let private = "must not point at a private, loopback or link-local address";
    match host.parse::<IpAddr>() {
        Ok(ip) => {
            if checker::guard::SsrfGuard::strict().check(ip).is_err() {
                return problem(private);
            }
        }
        Err(_) => {
            let lower = host.to_ascii_lowercase();
            if lower == "localhost" || lower.ends_with(".localhost") {
                return problem(private);
            }
            // Top-level domains start with a letter: this also refuses numeric hosts such as
            // `127.1` or `0x7f.1` that some resolvers read as loopback addresses.
            let tld = lower.rsplit('.').next().unwrap_or_default();
            if !lower.contains('.')
                || lower.starts_with('.')
                || !tld.starts_with(|c: char| c.is_ascii_alphabetic())
            {
                return problem("must name a public host, like example.com");
            }
        }
    }
    None
}

fn component_id_problems(ids: &[Uuid]) -> Vec<FieldProblem> {
    if ids.len() > COMPONENTS_MAX {
        return vec![FieldProblem {
            field: "component_ids".into(),
            message: format!("at most {COMPONENTS_MAX} components"),
        }];
    }
    ids.iter()
        .enumerate()
        .filter(|(i, id)| ids[..*i].contains(id))
        .map(|(i, _)| FieldProblem {
            field: format!("component_ids[{i}]"),
            message: "is listed twice".into(),
        })
        .collect()
}

type SubscriberRow = (
    Uuid,
    String,
    String,
    Vec<Uuid>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);
const COLUMNS: &str = "id, kind, target, component_ids, confirmed_at, created_at";

fn from_row(
    (id, kind, target, component_ids, confirmed_at, created_at): SubscriberRow,
) -> ApiResult<Subscriber> {
    Ok(Subscriber {
        id,
        kind: parse_stored("kind", &kind)?,
        target,
        component_ids,
        confirmed: confirmed_at.is_some(),
        confirmed_at,
        created_at,
    })
}

fn already_subscribed() -> ApiError {
    ApiError::field("target", "is already subscribed")
}

/// Field problems of a subscriber's target: a plausible email address; for webhooks a public
/// `https://` URL or an allow-listed address (the channels' rule); for Slack an incoming
/// webhook URL or an allow-listed address. Deliveries pass the SSRF guard again at send time.
pub(crate) fn target_problem(
    kind: SubscriberKind,
    target: &str,
    guard: &checker::guard::SsrfGuard,
) -> Option<FieldProblem> {
    match kind {
        SubscriberKind::Email => email_problem("target", target),
        SubscriberKind::Webhook => crate::channels::delivery_url_problem("target", target, guard),
        SubscriberKind::Slack => (!crate::channels::is_slack_webhook(target)
            && !crate::channels::allow_listed_url(target, guard))
        .then(|| FieldProblem {
            field: "target".into(),
            message: "must be a Slack incoming webhook URL, https://hooks.slack.com/services/..."
                .into(),
        }),
    }
}

/// Checks an input: its target and components, each problem naming its field.
pub(crate) async fn check_input(
    db: &PgPool,
    tenant_id: Uuid,
    input: &SubscriberInput,
    guard: &checker::guard::SsrfGuard,
) -> ApiResult<()> {
    let mut problems: Vec<FieldProblem> = target_problem(input.kind, input.target.trim(), guard)
        .into_iter()
        .collect();
    problems.extend(component_id_problems(&input.component_ids));
    problems_to_result(problems)?;
    check_components_exist(db, tenant_id, "component_ids[{i}]", &input.component_ids).await
}

/// The subscriber of this kind and target, if there is one (emails compared without case).
pub(crate) async fn find_existing(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    kind: SubscriberKind,
    target: &str,
) -> Result<Option<(Uuid, bool)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, confirmed_at IS NOT NULL FROM subscribers WHERE tenant_id = $1 AND kind = $2 \
         AND CASE WHEN kind = 'email' THEN lower(target) = lower($3) ELSE target = $3 END",
    )
    .bind(tenant_id)
    .bind(stored_name(&kind))
    .bind(target)
    .fetch_optional(conn)
    .await
}

/// Inserts a subscriber (after [`check_input`] and the plan's bound); an email one gets a
/// confirm token and its confirmation mail in the outbox, in the same transaction. Returns the
/// row and the token.
pub(crate) async fn insert(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    input: &SubscriberInput,
) -> ApiResult<(Subscriber, Option<String>)> {
    let target = input.target.trim();
    let (token, confirmed_at) = match input.kind {
        SubscriberKind::Email => (Some(new_secret()), None),
        SubscriberKind::Webhook | SubscriberKind::Slack => (None, Some(Utc::now())),
    };
    let row: SubscriberRow = sqlx::query_as(&format!(
        "INSERT INTO subscribers (id, tenant_id, kind, target, component_ids, confirm_token_hash, confirmed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(stored_name(&input.kind))
    .bind(target)
    .bind(&input.component_ids)
    .bind(token.as_deref().map(secret_hash))
    .bind(confirmed_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => already_subscribed(),
        _ => e.into(),
    })?;
    if let Some(token) = &token {
        public::send_confirmation(tx, tenant_id, target, token).await?;
    }
    Ok((from_row(row)?, token))
}

/// Creates a subscriber; an email one gets its confirm token and confirmation mail (see
/// [`CreatedSubscriber`]). `guard`: the deployment's delivery guard (its allow-list admits
/// `http://` and private webhook URLs).
pub async fn create(
    db: &PgPool,
    tenant_id: Uuid,
    input: &SubscriberInput,
    guard: &checker::guard::SsrfGuard,
) -> ApiResult<CreatedSubscriber> {
    check_input(db, tenant_id, input, guard).await?;
    let mut tx = db.begin().await?;
    limits::reserve(&mut tx, tenant_id, Bounded::Subscribers, 1).await?;
    if find_existing(&mut tx, tenant_id, input.kind, input.target.trim())
        .await?
        .is_some()
    {
        return Err(already_subscribed());
    }
    let (subscriber, token) = insert(&mut tx, tenant_id, input).await?;
    tx.commit().await?;
    Ok(CreatedSubscriber {
        subscriber,
        confirm_url: token.map(|t| format!("{CONFIRM_PATH}?token={t}")),
    })
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Subscriber> {
    let row: Option<SubscriberRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM subscribers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("subscriber"))?)
}

/// One page of subscribers, newest first.
pub async fn list(
    db: &PgPool,
    tenant_id: Uuid,
    filter: &SubscriberFilter,
    page: &PageQuery,
) -> ApiResult<Page<Subscriber>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let kind = filter
        .kind
        .as_deref()
        .map(|k| {
            parse_stored::<SubscriberKind>("kind", k)
                .map(|k| stored_name(&k))
                .map_err(|_| ApiError::field("kind", "must be email, webhook or slack"))
        })
        .transpose()?;
    let confirmed = match filter.confirmed.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::field("confirmed", "must be true or false")),
    };
    let rows: Vec<SubscriberRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM subscribers WHERE tenant_id = $1 \
         AND ($2::text IS NULL OR kind = $2) \
         AND ($3::bool IS NULL OR (confirmed_at IS NOT NULL) = $3) \
         AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) \
         ORDER BY created_at DESC, id DESC LIMIT $6"
    ))
    .bind(tenant_id)
    .bind(kind)
    .bind(confirmed)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let subscribers = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(subscribers, limit, |s| {
        (s.created_at, s.id)
    }))
}

pub async fn delete(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<bool> {
    let done = sqlx::query("DELETE FROM subscribers WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms the email subscriber holding this token: stamps `confirmed_at` and forgets the
/// token, so a link works once. Returns the subscriber's `(tenant_id, id)`, or `None` for a
/// token that is unknown or already used. Recorded in the tenant's audit log.
pub async fn confirm(db: &PgPool, token: &str) -> ApiResult<Option<(Uuid, Uuid)>> {
    let mut tx = db.begin().await?;
    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE subscribers SET confirmed_at = now(), confirm_token_hash = NULL \
         WHERE confirm_token_hash = $1 AND kind = 'email' RETURNING tenant_id, id",
    )
    .bind(secret_hash(token))
    .fetch_optional(&mut *tx)
    .await?;
    if let Some((tenant_id, id)) = found {
        sqlx::query(
            "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, details) \
             VALUES ($1, 'subscriber', 'confirm', 'subscriber', $2, '{}')",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_must_be_public_https() {
        for good in [
            "https://example.com/hook",
            "https://hooks.example.com:8443/a?b=c",
            "https://93.184.216.34/x",
        ] {
            assert_eq!(https_url_problem("url", good), None, "{good}");
        }
        for bad in [
            "",
            "http://example.com/hook",
            "https://user:pw@example.com/",
            "https://localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://169.254.169.254/latest",
            "https://[::1]/x",
            "https://intranet/x",
            "https://127.1/x",
            "https://0x7f.1/x",
            "https://2130706433/x",
            "example.com/hook",
            "https://exa mple.com/",
        ] {
            assert!(https_url_problem("url", bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn emails_are_plausible_and_single_line() {
        assert_eq!(email_problem("target", "ops@example.com"), None);
        for bad in [
            "",
            "ops",
            "@example.com",
            "ops@example",
            "ops@.com",
            "a b@example.com",
            "ops@example.com\r\nBcc: x@y.z",
        ] {
            assert!(email_problem("target", bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn component_ids_are_listed_once() {
        let id = Uuid::new_v4();
        let problems = component_id_problems(&[id, Uuid::new_v4(), id]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "component_ids[2]");
    }
}
