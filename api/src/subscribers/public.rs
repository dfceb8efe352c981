//! Subscribing from the public status page, and what a subscriber does with the links in their
//! mail: confirm, change the components they follow, unsubscribe.
//!
//! Public subscribing is rate limited per client address (IPv6: per /64, as sign-ins are
//! counted) and per tenant ([`SubscribeLimits`], the `governor` limiters the page password uses),
//! and its answer never says whether the address was already subscribed: a new address gets a
//! confirmation mail, an unconfirmed one gets a fresh one, a confirmed one gets a mail with its
//! preferences link; the visitor sees "check your inbox" every time.

use super::links;
use super::{SubscriberInput, SubscriberKind};
use crate::accounts::limits::{self, Bounded};
use crate::notify::{EventKind, Message};
use crate::outbox::{self, Recipient};
use crate::rest::error::{ApiError, ApiResult};
use crate::rest::parse_stored;
use crate::AppState;
use chrono::Utc;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::{PgConnection, PgPool};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;
use uuid::Uuid;

/// Public subscriptions per client address: a burst of this many, then one more every
/// [`CLIENT_REFILL`].
pub const CLIENT_BURST: u32 = 5;
pub const CLIENT_REFILL: Duration = Duration::from_secs(60);
/// Public subscriptions per tenant from all clients together: a burst of this many, then one
/// more every [`TENANT_REFILL`] (a flood only delays new subscribers of that page).
pub const TENANT_BURST: u32 = 30;
pub const TENANT_REFILL: Duration = Duration::from_secs(10);

/// The public subscribe limits of one app server.
pub struct SubscribeLimits {
    per_client: DefaultKeyedRateLimiter<String>,
    per_tenant: DefaultKeyedRateLimiter<Uuid>,
}

fn quota(burst: u32, refill: Duration) -> Quota {
    Quota::with_period(refill)
        .expect("refill period is not zero")
        .allow_burst(NonZeroU32::new(burst).expect("burst is not zero"))
}

impl Default for SubscribeLimits {
    fn default() -> Self {
        Self {
            per_client: RateLimiter::keyed(quota(CLIENT_BURST, CLIENT_REFILL)),
            per_tenant: RateLimiter::keyed(quota(TENANT_BURST, TENANT_REFILL)),
        }
    }
}

impl SubscribeLimits {
    /// Takes one subscription from the client's and the tenant's allowance; 429 when either is
    /// used up.
    pub fn take(&self, tenant_id: Uuid, client: Option<IpAddr>) -> ApiResult<()> {
        use governor::clock::Clock;
        let clock = governor::clock::DefaultClock::default();
        let refused = |wait: Duration| ApiError::TooManyRequests {
            detail: "too many subscriptions from here or to this page; try again later".into(),
            retry_after_secs: wait.as_secs().max(1),
        };
        if let Some(client) = client {
            let key = crate::accounts::auth::login_client_key(client);
            if let Err(not_until) = self.per_client.check_key(&key) {
                tracing::warn!(client = key, %tenant_id, "public subscription refused: client over its limit");
                return Err(refused(not_until.wait_time_from(clock.now())));
            }
        }
        if let Err(not_until) = self.per_tenant.check_key(&tenant_id) {
            tracing::warn!(%tenant_id, "public subscription refused: page over its limit");
            return Err(refused(not_until.wait_time_from(clock.now())));
        }
        // Forget keys whose allowance is full again, so spraying addresses cannot grow memory.
        if self.per_client.len() > 10_000 {
            self.per_client.retain_recent();
        }
        if self.per_tenant.len() > 10_000 {
            self.per_tenant.retain_recent();
        }
        Ok(())
    }
}

async fn page_of(
    conn: &mut PgConnection,
    tenant_id: Uuid,
) -> Result<(String, String), sqlx::Error> {
    sqlx::query_as(
        "SELECT t.slug, coalesce(nullif(p.title, ''), t.name) FROM tenants t \
         LEFT JOIN status_pages p ON p.tenant_id = t.id WHERE t.id = $1",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await
}

fn account_mail(tenant_id: Uuid, title: String, text: String, url: String) -> Message {
    let id = Uuid::new_v4();
    Message {
        id,
        tenant_id,
        event: EventKind::Account,
        title,
        text,
        url: Some(url),
        dedup_key: format!("subscription:{id}"),
        resolved: false,
        created_at: Utc::now(),
        unsubscribe_url: None,
    }
}

/// Queues the confirmation mail of an email subscription (in the caller's transaction).
pub(crate) async fn send_confirmation(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    email: &str,
    token: &str,
) -> Result<(), sqlx::Error> {
    let (slug, page) = page_of(conn, tenant_id).await?;
    let url = links::confirm_url(&slug, token);
    let message = account_mail(
        tenant_id,
        format!("Confirm your subscription to {page}"),
        format!(
            "Someone, hopefully you, asked to receive updates from {page} at this address.\n\n\
             To confirm, open this link and press the button: {url}\n\n\
             If it was not you, ignore this mail: nothing more is sent unless you confirm."
        ),
        url,
    );
    outbox::enqueue(conn, &Recipient::Address(email.to_owned()), &message).await?;
    Ok(())
}

/// Queues the mail a confirmed subscriber gets when their address is subscribed again: their
/// preferences link (the form's visitor learns nothing).
async fn send_already_subscribed(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    email: &str,
    subscriber_id: Uuid,
) -> Result<(), sqlx::Error> {
    let (slug, page) = page_of(conn, tenant_id).await?;
    let key = links::link_key(conn).await?;
    let url = links::manage_url(&slug, &key, subscriber_id);
    let message = account_mail(
        tenant_id,
        format!("You are subscribed to {page}"),
        format!(
            "Someone asked to subscribe this address to {page} again. It already \
             is. To choose components or unsubscribe: {url}"
        ),
        url,
    );
    outbox::enqueue(conn, &Recipient::Address(email.to_owned()), &message).await?;
    Ok(())
}

/// What the public form answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// Email: "check your inbox", whether the address was new, unconfirmed or confirmed.
    CheckInbox,
    /// Webhook or Slack: subscribed (or already), with the preferences link to keep.
    Active { manage_url: String },
}

/// A visitor's subscription from the public page of `tenant_id` (its access gate already
/// passed). Limited by [`SubscribeLimits`]; field problems name the field; never reveals
/// whether the target was subscribed already.
pub async fn subscribe(
    state: &AppState,
    tenant_id: Uuid,
    input: &SubscriberInput,
    client: Option<IpAddr>,
) -> ApiResult<Subscribed> {
    state.subscribe_limits.take(tenant_id, client)?;
    super::check_input(&state.db, tenant_id, input, &state.delivery_guard).await?;
    let target = input.target.trim();
    let mut tx = state.db.begin().await?;
    // Under the tenant's lock (the plan bound), so two posts of one address make one row.
    limits::reserve(&mut tx, tenant_id, Bounded::Subscribers, 1).await?;
    let answer = match super::find_existing(&mut tx, tenant_id, input.kind, target).await? {
        None => {
            let (subscriber, _) = super::insert(&mut tx, tenant_id, input).await?;
            sqlx::query(
                "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, details) \
                 VALUES ($1, 'subscriber', 'subscribe', 'subscriber', $2, $3)",
            )
            .bind(tenant_id)
            .bind(subscriber.id)
            .bind(serde_json::json!({ "kind": subscriber.kind }))
            .execute(&mut *tx)
            .await?;
            subscriber.id
        }
        Some((id, confirmed)) => {
            if input.kind == SubscriberKind::Email {
                if confirmed {
                    send_already_subscribed(&mut tx, tenant_id, target, id).await?;
                } else {
                    // A fresh link; the earlier one stops working.
                    let token = crate::accounts::auth::new_secret();
                    sqlx::query(
                        "UPDATE subscribers SET confirm_token_hash = $3, component_ids = $4 \
                         WHERE tenant_id = $1 AND id = $2",
                    )
                    .bind(tenant_id)
                    .bind(id)
                    .bind(crate::accounts::auth::secret_hash(&token))
                    .bind(&input.component_ids)
                    .execute(&mut *tx)
                    .await?;
                    send_confirmation(&mut tx, tenant_id, target, &token).await?;
                }
            }
            id
        }
    };
    let answer = match input.kind {
        SubscriberKind::Email => Subscribed::CheckInbox,
        SubscriberKind::Webhook | SubscriberKind::Slack => {
            let (slug, _) = page_of(&mut tx, tenant_id).await?;
            let key = links::link_key(&mut tx).await?;
            Subscribed::Active {
                manage_url: links::manage_url(&slug, &key, answer),
            }
        }
    };
    tx.commit().await?;
    Ok(answer)
}

/// Whether `token` confirms a pending subscription (read only: what the link's `GET` checks).
pub async fn confirmation_pending(db: &PgPool, token: &str) -> ApiResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM subscribers WHERE confirm_token_hash = $1 AND kind = 'email')",
    )
    .bind(crate::accounts::auth::secret_hash(token))
    .fetch_one(db)
    .await?)
}

/// The preferences link of a subscriber (after a confirmation).
pub async fn manage_url_of(db: &PgPool, tenant_id: Uuid, subscriber_id: Uuid) -> ApiResult<String> {
    let mut conn = db.acquire().await?;
    let (slug, _) = page_of(&mut conn, tenant_id).await?;
    let key = links::link_key(&mut conn).await?;
    Ok(links::manage_url(&slug, &key, subscriber_id))
}

/// What the preferences page shows.
#[derive(Debug, Clone)]
pub struct Preferences {
    pub tenant_id: Uuid,
    pub page_title: String,
    pub kind: SubscriberKind,
    /// The email address, or the host of a webhook URL (the rest of the URL is a secret).
    pub shown_target: String,
    pub component_ids: Vec<Uuid>,
    /// Every component of the tenant, `(id, name)`, by name.
    pub components: Vec<(Uuid, String)>,
}

/// The subscriber behind a link, `(tenant_id, kind, target, component_ids)`, if the token is
/// right and the subscriber still exists.
async fn by_link(
    conn: &mut PgConnection,
    subscriber_id: Uuid,
    token: &str,
) -> ApiResult<Option<(Uuid, String, String, Vec<Uuid>)>> {
    let key = links::link_key(conn).await?;
    if !links::token_valid(&key, subscriber_id, token) {
        return Ok(None);
    }
    Ok(sqlx::query_as(
        "SELECT tenant_id, kind, target, component_ids FROM subscribers WHERE id = $1",
    )
    .bind(subscriber_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn preferences(
    db: &PgPool,
    subscriber_id: Uuid,
    token: &str,
) -> ApiResult<Option<Preferences>> {
    let mut conn = db.acquire().await?;
    let Some((tenant_id, kind, target, component_ids)) =
        by_link(&mut conn, subscriber_id, token).await?
    else {
        return Ok(None);
    };
    let kind: SubscriberKind = parse_stored("kind", &kind)?;
    let shown_target = match kind {
        SubscriberKind::Email => target,
        _ => target
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .unwrap_or_default(),
    };
    let components: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT id, name FROM components WHERE tenant_id = $1 ORDER BY name, id LIMIT 500",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let (_, page_title) = page_of(&mut conn, tenant_id).await?;
    Ok(Some(Preferences {
        tenant_id,
        page_title,
        kind,
        shown_target,
        component_ids,
        components,
    }))
}

/// Sets the components a subscriber follows (empty: all). `Ok(false)`: not a valid link.
pub async fn set_components(
    db: &PgPool,
    subscriber_id: Uuid,
    token: &str,
    component_ids: &[Uuid],
) -> ApiResult<bool> {
    let mut conn = db.acquire().await?;
    let Some((tenant_id, ..)) = by_link(&mut conn, subscriber_id, token).await? else {
        return Ok(false);
    };
    drop(conn);
    crate::rest::error::problems_to_result(super::component_id_problems(component_ids))?;
    crate::incidents::check_components_exist(db, tenant_id, "component_ids[{i}]", component_ids)
        .await?;
    sqlx::query("UPDATE subscribers SET component_ids = $3 WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(subscriber_id)
        .bind(component_ids)
        .execute(db)
        .await?;
    Ok(true)
}

/// What an unsubscribe came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    Done,
    /// The link is right but the subscriber is gone already (a second click).
    AlreadyGone,
    /// Not a link we made.
    BadLink,
}

/// Deletes the subscriber behind a link (its pending messages go with it), audited.
pub async fn unsubscribe(db: &PgPool, subscriber_id: Uuid, token: &str) -> ApiResult<Unsubscribed> {
    let mut tx = db.begin().await?;
    let key = links::link_key(&mut tx).await?;
    if !links::token_valid(&key, subscriber_id, token) {
        return Ok(Unsubscribed::BadLink);
    }
    let gone: Option<Uuid> =
        sqlx::query_scalar("DELETE FROM subscribers WHERE id = $1 RETURNING tenant_id")
            .bind(subscriber_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(tenant_id) = gone else {
        return Ok(Unsubscribed::AlreadyGone);
    };
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, actor, action, entity, entity_id, details) \
         VALUES ($1, 'subscriber', 'unsubscribe', 'subscriber', $2, '{}')",
    )
    .bind(tenant_id)
    .bind(subscriber_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Unsubscribed::Done)
}

/// `application/x-www-form-urlencoded` pairs, repeated names kept (checkbox lists).
pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small self-contained HTML page (no scripts, no inline styles: the pages' CSP holds).
pub fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title></head>\
         <body><main>{body}</main></body></html>",
        html_escape(title)
    )
}
