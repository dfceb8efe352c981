//! Notification channels: where a tenant's own team hears about incidents (an email list, a
//! signed webhook, Slack, Microsoft Teams, Discord, PagerDuty, Opsgenie). Every query is scoped
//! by tenant.
//!
//! URLs must be `https://` to a public host; plain `http://` (and private addresses) only to an
//! IP literal on the deployment's allow-list (`CHECKER_ALLOW_CIDRS`, [`AppState::delivery_guard`]),
//! so the demo and tests deliver on loopback. Deliveries pass the same guard again at send time
//! ([`checker::deliver`]): a public name that later resolves to a private address is refused then.
//!
//! [`AppState::delivery_guard`]: crate::AppState::delivery_guard
//!
//! A webhook's `secret` (for signing deliveries) is write-only: it is stored, but no response
//! ever carries it — `config.secret_set` says whether there is one — and it is never logged
//! nor put in the audit log.
//!
//! A channel's config says where alerts go and often carries a credential in its URL (a Slack
//! incoming webhook is one), so only `admin` tokens manage channels and read their configs; any
//! other token sees every text in `config` as `********` ([`Channel::masked`]).

pub mod routes;
pub mod send;
pub use routes::routes;

use crate::accounts::limits::{self, Bounded};
use crate::rest::error::{problems_to_result, text_problem, ApiError, ApiResult, FieldProblem};
use crate::rest::{parse_stored, stored_name, Page, PageQuery};
use crate::subscribers::{email_problem, https_url_problem};
use checker::guard::SsrfGuard;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub const NAME_MAX: usize = 100;
/// Addresses in one email channel.
pub const RECIPIENTS_MAX: usize = 20;
pub const SECRET_MIN: usize = 16;
pub const SECRET_MAX: usize = 256;
pub const SLACK_HOST: &str = "hooks.slack.com";
/// Hosts of Discord webhooks (`https://discord.com/api/webhooks/...`).
pub const DISCORD_HOSTS: &[&str] = &[
    "discord.com",
    "discordapp.com",
    "ptb.discord.com",
    "canary.discord.com",
];
/// A PagerDuty Events API v2 integration (routing) key.
pub const ROUTING_KEY_LEN: usize = 32;
pub const API_KEY_MAX: usize = 128;

#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// `config`: `{ "to": ["ops@example.com", ...] }`
    Email,
    /// `config`: `{ "url": "https://...", "secret": "optional, for signing" }`
    Webhook,
    /// `config`: `{ "webhook_url": "https://hooks.slack.com/..." }`
    Slack,
    /// Microsoft Teams (a Workflows or incoming webhook): `{ "webhook_url": "https://..." }`
    Teams,
    /// `config`: `{ "webhook_url": "https://discord.com/api/webhooks/..." }`
    Discord,
    /// Events API v2: `{ "routing_key": "<32 characters>", "events_url": "optional, default https://events.pagerduty.com/v2/enqueue" }`
    Pagerduty,
    /// Alert API: `{ "api_key": "...", "api_url": "optional, default https://api.opsgenie.com" }`
    Opsgenie,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    pub name: String,
    pub kind: ChannelKind,
    /// Checked per kind; see [`ChannelKind`].
    pub config: Value,
    #[serde(default = "enabled")]
    pub enabled: bool,
}

fn enabled() -> bool {
    true
}

/// A partial change; the kind is fixed. A webhook `config` without `secret` keeps the stored
/// secret (clients never see it, so cannot send it back); `"secret": null` removes it.
#[derive(utoipa::ToSchema, Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub config: Option<Value>,
    pub enabled: Option<bool>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Channel {
    pub id: Uuid,
    pub name: String,
    pub kind: ChannelKind,
    /// The stored config, except that a webhook shows `secret_set` instead of its secret. Tokens
    /// without the `admin` scope see every text in it as `********`.
    pub config: Value,
    pub enabled: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a webhook config says about the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SecretChange {
    /// No `secret` key: none on a create, the stored one on an update.
    Keep,
    /// `"secret": null`.
    Clear,
    Set(String),
}

/// The config to store (a webhook's without its secret) and what to do with the secret.
fn check_config(
    kind: ChannelKind,
    config: &Value,
    guard: &SsrfGuard,
    problems: &mut Vec<FieldProblem>,
) -> (Value, SecretChange) {
    let Some(object) = config.as_object() else {
        problems.push(problem(
            "config",
            format!("must be an object ({})", example(kind)),
        ));
        return (Value::Null, SecretChange::Keep);
    };
    let known: &[&str] = match kind {
        ChannelKind::Email => &["to"],
        ChannelKind::Webhook => &["url", "secret"],
        ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Discord => &["webhook_url"],
        ChannelKind::Pagerduty => &["routing_key", "events_url"],
        ChannelKind::Opsgenie => &["api_key", "api_url"],
    };
    for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
        problems.push(problem(
            format!("config.{key}"),
            format!("is not a setting of a {} channel", stored_name(&kind)),
        ));
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::trim);
    let mut stored = Map::new();
    let mut secret = SecretChange::Keep;
    match kind {
        ChannelKind::Email => match object.get("to").and_then(Value::as_array) {
            Some(to) if !to.is_empty() && to.len() <= RECIPIENTS_MAX => {
                let mut addresses: Vec<&str> = Vec::with_capacity(to.len());
                for (i, address) in to.iter().enumerate() {
                    let field = format!("config.to[{i}]");
                    let address = address.as_str().map(str::trim).unwrap_or_default();
                    if let Some(p) = email_problem(&field, address) {
                        problems.push(p);
                    } else if addresses.iter().any(|a| a.eq_ignore_ascii_case(address)) {
                        problems.push(problem(field, "is listed twice"));
                    } else {
                        addresses.push(address);
                    }
                }
                stored.insert("to".into(), json!(addresses));
            }
            _ => problems.push(problem(
                "config.to",
                format!("must list 1 to {RECIPIENTS_MAX} email addresses"),
            )),
        },
        ChannelKind::Webhook => {
            match text("url") {
                Some(url) => match delivery_url_problem("config.url", url, guard) {
                    Some(p) => problems.push(p),
                    None => {
                        stored.insert("url".into(), json!(url));
                    }
                },
                None => problems.push(problem(
                    "config.url",
                    "must be an https:// URL like https://example.com/hooks/status",
                )),
            }
            secret = match object.get("secret") {
                None => SecretChange::Keep,
                Some(Value::Null) => SecretChange::Clear,
                Some(Value::String(s))
                    if (SECRET_MIN..=SECRET_MAX).contains(&s.chars().count()) =>
                {
                    SecretChange::Set(s.clone())
                }
                // Never echo the value: it is meant to be a secret.
                Some(_) => {
                    problems.push(problem(
                        "config.secret",
                        format!(
                            "must be a string of {SECRET_MIN} to {SECRET_MAX} characters, or null"
                        ),
                    ));
                    SecretChange::Keep
                }
            };
        }
        ChannelKind::Slack => match text("webhook_url")
            .filter(|u| is_slack_webhook(u) || allow_listed_url(u, guard))
        {
            Some(url) => {
                stored.insert("webhook_url".into(), json!(url));
            }
            None => problems.push(problem(
                "config.webhook_url",
                format!("must be a Slack incoming webhook URL, https://{SLACK_HOST}/services/..."),
            )),
        },
        ChannelKind::Teams => match text("webhook_url") {
            Some(url) => match delivery_url_problem("config.webhook_url", url, guard) {
                Some(p) => problems.push(p),
                None => {
                    stored.insert("webhook_url".into(), json!(url));
                }
            },
            None => problems.push(problem(
                "config.webhook_url",
                "must be the https:// URL of a Teams Workflows or incoming webhook",
            )),
        },
        ChannelKind::Discord => match text("webhook_url")
            .filter(|u| is_discord_webhook(u) || allow_listed_url(u, guard))
        {
            Some(url) => {
                stored.insert("webhook_url".into(), json!(url));
            }
            None => problems.push(problem(
                "config.webhook_url",
                "must be a Discord webhook URL, https://discord.com/api/webhooks/...",
            )),
        },
        ChannelKind::Pagerduty => {
            match text("routing_key") {
                Some(key)
                    if key.len() == ROUTING_KEY_LEN
                        && key.bytes().all(|b| b.is_ascii_alphanumeric()) =>
                {
                    stored.insert("routing_key".into(), json!(key));
                }
                // Never echo the value: it is a credential.
                _ => problems.push(problem(
                    "config.routing_key",
                    format!("must be the {ROUTING_KEY_LEN}-character integration key of a PagerDuty Events API v2 integration"),
                )),
            }
            optional_url(object, "events_url", guard, &mut stored, problems);
        }
        ChannelKind::Opsgenie => {
            match text("api_key") {
                Some(key)
                    if (8..=API_KEY_MAX).contains(&key.len())
                        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    stored.insert("api_key".into(), json!(key));
                }
                _ => problems.push(problem(
                    "config.api_key",
                    format!("must be an Opsgenie API integration key (8 to {API_KEY_MAX} letters, digits and dashes)"),
                )),
            }
            optional_url(object, "api_url", guard, &mut stored, problems);
        }
    }
    (Value::Object(stored), secret)
}

/// An optional URL setting (a service's endpoint other than its default): absent or null means
/// the default.
fn optional_url(
    object: &Map<String, Value>,
    key: &str,
    guard: &SsrfGuard,
    stored: &mut Map<String, Value>,
    problems: &mut Vec<FieldProblem>,
) {
    let field = format!("config.{key}");
    match object.get(key) {
        None | Some(Value::Null) => {}
        Some(Value::String(url)) => match delivery_url_problem(&field, url.trim(), guard) {
            Some(p) => problems.push(p),
            None => {
                stored.insert(key.into(), json!(url.trim()));
            }
        },
        Some(_) => problems.push(problem(field, "must be an https:// URL, or null")),
    }
}

/// An `http(s)://` URL to an IP literal on the deployment's allow-list, without credentials.
pub(crate) fn allow_listed_url(url: &str, guard: &SsrfGuard) -> bool {
    if url.len() > 2048 {
        return false;
    }
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    let Some(authority) = uri.authority() else {
        return false;
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    matches!(uri.scheme_str(), Some("http" | "https"))
        && !authority.as_str().contains('@')
        && host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| guard.allowlist().iter().any(|net| net.contains(&ip)))
}

/// Where a channel may deliver: an allow-listed address, else a public `https://` URL.
pub(crate) fn delivery_url_problem(
    field: &str,
    url: &str,
    guard: &SsrfGuard,
) -> Option<FieldProblem> {
    if allow_listed_url(url, guard) {
        None
    } else {
        https_url_problem(field, url)
    }
}

fn is_discord_webhook(url: &str) -> bool {
    https_url_problem("config.webhook_url", url).is_none()
        && url.parse::<http::Uri>().ok().is_some_and(|uri| {
            uri.host()
                .is_some_and(|h| DISCORD_HOSTS.iter().any(|d| h.eq_ignore_ascii_case(d)))
                && uri.port().is_none()
                && uri.path().starts_with("/api/webhooks/")
        })
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: message.into(),
    }
}

fn example(kind: ChannelKind) -> &'static str {
    match kind {
        ChannelKind::Email => r#"{"to": ["ops@example.com"]}"#,
        ChannelKind::Webhook => r#"{"url": "https://example.com/hooks/status", "secret": "..."}"#,
        ChannelKind::Slack => r#"{"webhook_url": "https://hooks.slack.com/services/..."}"#,
        ChannelKind::Teams => r#"{"webhook_url": "https://....logic.azure.com/workflows/..."}"#,
        ChannelKind::Discord => r#"{"webhook_url": "https://discord.com/api/webhooks/..."}"#,
        ChannelKind::Pagerduty => r#"{"routing_key": "<32-character integration key>"}"#,
        ChannelKind::Opsgenie => r#"{"api_key": "<API integration key>"}"#,
    }
}

pub(crate) fn is_slack_webhook(url: &str) -> bool {
    https_url_problem("config.webhook_url", url).is_none()
        && url.parse::<http::Uri>().ok().is_some_and(|uri| {
            uri.host()
                .is_some_and(|h| h.eq_ignore_ascii_case(SLACK_HOST))
                && uri.port().is_none()
                && uri.path().len() > 1
        })
}

impl Channel {
    /// The channel as a token without the `admin` scope sees it: every text in `config` (URLs,
    /// addresses) replaced by [`crate::monitors::SECRET_MASK`]; the shape and `secret_set` stay.
    pub fn masked(mut self) -> Self {
        fn mask(value: &mut Value) {
            match value {
                Value::String(s) => *s = crate::monitors::SECRET_MASK.to_owned(),
                Value::Array(items) => items.iter_mut().for_each(mask),
                Value::Object(map) => map.values_mut().for_each(mask),
                _ => {}
            }
        }
        mask(&mut self.config);
        self
    }
}

/// The stored config as responses show it: known settings only, a webhook's secret as
/// `secret_set`.
fn public_config(kind: ChannelKind, stored: &Value) -> Value {
    let get = |key: &str| stored.get(key).cloned().unwrap_or(Value::Null);
    match kind {
        ChannelKind::Email => json!({ "to": get("to") }),
        ChannelKind::Webhook => json!({
            "url": get("url"),
            "secret_set": stored.get("secret").is_some_and(|s| !s.is_null()),
        }),
        ChannelKind::Slack | ChannelKind::Teams | ChannelKind::Discord => {
            json!({ "webhook_url": get("webhook_url") })
        }
        ChannelKind::Pagerduty => json!({
            "routing_key": get("routing_key"),
            "events_url": get("events_url"),
        }),
        ChannelKind::Opsgenie => json!({ "api_key": get("api_key"), "api_url": get("api_url") }),
    }
}

type ChannelRow = (
    Uuid,
    String,
    String,
    Value,
    bool,
    i32,
    DateTime<Utc>,
    DateTime<Utc>,
);
const COLUMNS: &str = "id, name, kind, config, enabled, version, created_at, updated_at";

fn from_row(
    (id, name, kind, config, enabled, version, created_at, updated_at): ChannelRow,
) -> ApiResult<Channel> {
    let kind: ChannelKind = parse_stored("kind", &kind)?;
    Ok(Channel {
        id,
        name,
        kind,
        config: public_config(kind, &config),
        enabled,
        version,
        created_at,
        updated_at,
    })
}

fn write_error(e: sqlx::Error, name: &str) -> ApiError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => ApiError::field(
            "name",
            format!("a notification channel named {name:?} already exists"),
        ),
        _ => e.into(),
    }
}

/// `guard`: the deployment's delivery guard; its allow-list admits `http://` and private URLs.
pub async fn create(
    db: &PgPool,
    tenant_id: Uuid,
    guard: &SsrfGuard,
    input: &ChannelInput,
) -> ApiResult<Channel> {
    let mut problems: Vec<FieldProblem> = text_problem("name", &input.name, NAME_MAX)
        .into_iter()
        .collect();
    let (mut config, secret) = check_config(input.kind, &input.config, guard, &mut problems);
    problems_to_result(problems)?;
    if let (SecretChange::Set(secret), Some(object)) = (secret, config.as_object_mut()) {
        object.insert("secret".into(), Value::String(secret));
    }
    let name = input.name.trim();
    let mut tx = db.begin().await?;
    limits::reserve(&mut tx, tenant_id, Bounded::NotificationChannels, 1).await?;
    let row: ChannelRow = sqlx::query_as(&format!(
        "INSERT INTO notification_channels (id, tenant_id, name, kind, config, enabled) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(name)
    .bind(stored_name(&input.kind))
    .bind(&config)
    .bind(input.enabled)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| write_error(e, name))?;
    tx.commit().await?;
    from_row(row)
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Channel> {
    let row: Option<ChannelRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("notification channel"))?)
}

/// The channel and its config as stored, secrets included: for sending, never for responses.
pub(crate) async fn stored(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<(Channel, Value)> {
    let row: Option<ChannelRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let row = row.ok_or(ApiError::NotFound("notification channel"))?;
    let config = row.3.clone();
    Ok((from_row(row)?, config))
}

/// One page of channels, newest first.
pub async fn list(db: &PgPool, tenant_id: Uuid, page: &PageQuery) -> ApiResult<Page<Channel>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<ChannelRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM notification_channels WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let channels = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(channels, limit, |c| (c.created_at, c.id)))
}

/// Applies a patch at `expected` version (any when `None`); `Ok(None)` when no row matched.
pub async fn patch(
    db: &PgPool,
    tenant_id: Uuid,
    guard: &SsrfGuard,
    id: Uuid,
    expected: Option<i32>,
    patch: &ChannelPatch,
) -> ApiResult<Option<Channel>> {
    let current = get(db, tenant_id, id).await?;
    let mut problems: Vec<FieldProblem> = patch
        .name
        .as_deref()
        .and_then(|n| text_problem("name", n, NAME_MAX))
        .into_iter()
        .collect();
    let config = patch
        .config
        .as_ref()
        .map(|c| check_config(current.kind, c, guard, &mut problems));
    problems_to_result(problems)?;
    let (config, keep_secret) = match config {
        None => (None, false),
        Some((mut config, secret)) => {
            let keep = secret == SecretChange::Keep;
            if let (SecretChange::Set(secret), Some(object)) = (secret, config.as_object_mut()) {
                object.insert("secret".into(), Value::String(secret));
            }
            (Some(config), keep)
        }
    };
    let name = patch.name.as_deref().map(str::trim);
    let row: Option<ChannelRow> = sqlx::query_as(&format!(
        "UPDATE notification_channels SET name = coalesce($4, name), \
         config = CASE WHEN $5::jsonb IS NULL THEN config \
                       WHEN $6 AND config->'secret' IS NOT NULL \
                            THEN $5 || jsonb_build_object('secret', config->'secret') \
                       ELSE $5 END, \
         enabled = coalesce($7, enabled), version = version + 1, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND ($3::int IS NULL OR version = $3) RETURNING {COLUMNS}"
    ))
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .bind(name)
    .bind(config)
    .bind(keep_secret)
    .bind(patch.enabled)
    .fetch_optional(db)
    .await
    .map_err(|e| write_error(e, name.unwrap_or_default()))?;
    row.map(from_row).transpose()
}

pub async fn delete(
    db: &PgPool,
    tenant_id: Uuid,
    id: Uuid,
    expected: Option<i32>,
) -> ApiResult<bool> {
    let done = sqlx::query(
        "DELETE FROM notification_channels WHERE tenant_id = $1 AND id = $2 \
         AND ($3::int IS NULL OR version = $3)",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(expected)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(kind: ChannelKind, config: Value) -> Vec<String> {
        let mut problems = Vec::new();
        check_config(kind, &config, &SsrfGuard::strict(), &mut problems);
        problems.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn configs_are_checked_per_kind() {
        use ChannelKind::*;
        assert!(fields(Email, json!({ "to": ["a@example.com", "b@example.com"] })).is_empty());
        assert_eq!(
            fields(
                Email,
                json!({ "to": ["a@example.com", "nope", "A@example.com"] })
            ),
            ["config.to[1]", "config.to[2]"]
        );
        assert_eq!(fields(Email, json!({ "to": [] })), ["config.to"]);
        assert_eq!(fields(Email, json!([])), ["config"]);
        assert!(fields(Webhook, json!({ "url": "https://example.com/h" })).is_empty());
        assert_eq!(
            fields(
                Webhook,
                json!({ "url": "http://example.com/h", "secret": "short", "x": 1 })
            ),
            ["config.x", "config.url", "config.secret"]
        );
        assert!(fields(
            Slack,
            json!({ "webhook_url": "https://hooks.slack.com/services/T/B/x" })
        )
        .is_empty());
        for bad in [
            "https://example.com/services/x",
            "https://hooks.slack.com/",
            "http://hooks.slack.com/services/x",
        ] {
            assert_eq!(
                fields(Slack, json!({ "webhook_url": bad })),
                ["config.webhook_url"],
                "{bad}"
            );
        }
    }

    #[test]
    fn secrets_are_never_shown() {
        let (mut stored, secret) = check_config(
            ChannelKind::Webhook,
            &json!({ "url": "https://example.com/h", "secret": "0123456789abcdef" }),
            &SsrfGuard::strict(),
            &mut Vec::new(),
        );
        assert_eq!(secret, SecretChange::Set("0123456789abcdef".into()));
        assert!(stored.get("secret").is_none(), "the secret is added apart");
        stored["secret"] = json!("0123456789abcdef");
        let shown = public_config(ChannelKind::Webhook, &stored);
        assert_eq!(
            shown,
            json!({ "url": "https://example.com/h", "secret_set": true })
        );
    }
}
