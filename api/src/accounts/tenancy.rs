//! Creating tenants: the slug claim, the owner, the first API token, an empty status page.
//!
//! A slug is claimed together with its look-alike skeleton ([`tenants::slug_skeleton`], stored in
//! the unique `tenants.slug_skeleton`), so `acrne` or `ac-me` cannot impersonate `acme`.

use super::auth::{hash_password_bounded, issue_api_token, login_client_key, PASSWORD_MIN_LEN};
use crate::rest::error::{ApiError, ApiResult, FieldProblem};
use crate::rest::input::ApiJson;
use crate::rest::responses::Invalid;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub email: String,
    /// Optional: a tenant created for automation may have no web sign-in yet.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tenant {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct CreatedTenant {
    pub tenant: Tenant,
    pub user_id: Uuid,
    /// Shown once; only its hash is stored.
    pub api_token: String,
}

impl NewTenant {
    pub fn validate(&self) -> ApiResult<()> {
        let mut problems = Vec::new();
        if let Err(e) = tenants::validate_slug(&self.slug) {
            problems.push(FieldProblem {
                field: "slug".into(),
                message: e.to_string(),
            });
        }
        let name = self.name.trim();
        if name.is_empty()
            || name.chars().count() > 100
            || name.chars().any(crate::rest::input::is_forbidden_control)
        {
            problems.push(FieldProblem {
                field: "name".into(),
                message: "must be 1 to 100 characters".into(),
            });
        }
        let email = self.email.trim();
        let plausible = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
            });
        if !plausible {
            problems.push(FieldProblem {
                field: "email".into(),
                message: "must be an email address like name@example.com".into(),
            });
        }
        if let Some(password) = &self.password {
            if password.chars().count() < PASSWORD_MIN_LEN {
                problems.push(FieldProblem {
                    field: "password".into(),
                    message: format!("must be at least {PASSWORD_MIN_LEN} characters"),
                });
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(problems))
        }
    }
}

/// How the owner's address of a new tenant is taken.
#[derive(Debug, Clone, Copy)]
pub enum OwnerAddress<'a> {
    /// Vouched for by the operator (the CLI's bootstrap, the demo): verified at once.
    Vouched,
    /// A public sign-up: unverified, and a verification mail with links under `platform_url`
    /// goes into the outbox in the tenant's transaction ([`super::email`]).
    Mailed { platform_url: &'a str },
}

/// Creates a tenant with its owner, an API token and a status page, all or nothing, for the
/// operator: the owner's address counts as verified ([`OwnerAddress::Vouched`]). Public sign-ups
/// go through [`create_tenant_limited`], which mails a verification link instead.
pub async fn create_tenant(db: &PgPool, new: &NewTenant) -> ApiResult<CreatedTenant> {
    create_tenant_with(db, new, OwnerAddress::Vouched).await
}

/// [`create_tenant`] with the owner's address taken as `owner` says.
pub async fn create_tenant_with(
    db: &PgPool,
    new: &NewTenant,
    owner: OwnerAddress<'_>,
) -> ApiResult<CreatedTenant> {
    new.validate()?;
    let password_hash = match new.password.as_deref() {
        Some(password) => Some(hash_password_bounded(password).await?),
        None => None,
    };
    let mut tx = db.begin().await?;
    let tenant = Tenant {
        id: Uuid::new_v4(),
        slug: new.slug.clone(),
        name: new.name.trim().to_owned(),
    };
    // The slug and its look-alike skeleton are both unique: a conflict on either is refused on
    // the field (never a 409 or 500), also when two sign-ups race for look-alike slugs.
    let inserted = sqlx::query(
        "INSERT INTO tenants (id, slug, name, slug_skeleton) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant.id)
    .bind(&tenant.slug)
    .bind(&tenant.name)
    .bind(tenants::slug_skeleton(&tenant.slug))
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        let same: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1)")
                .bind(&tenant.slug)
                .fetch_one(&mut *tx)
                .await?;
        let message = if same {
            format!("{:?} is already taken", tenant.slug)
        } else {
            format!(
                "{:?} looks too much like an existing status page; choose a more distinct name",
                tenant.slug
            )
        };
        return Err(ApiError::Validation(vec![FieldProblem {
            field: "slug".into(),
            message,
        }]));
    }
    let user_id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, email_verified_at) \
         VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END) \
         ON CONFLICT (lower(email)) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(new.email.trim())
    .bind(&password_hash)
    .bind(matches!(owner, OwnerAddress::Vouched))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Err(ApiError::field(
            "email",
            "is already registered: sign in instead",
        ));
    };
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(tenant.id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO status_pages (id, tenant_id, title) VALUES ($1, $2, $3)")
        .bind(Uuid::new_v4())
        .bind(tenant.id)
        .bind(format!("{} status", tenant.name))
        .execute(&mut *tx)
        .await?;
    if let OwnerAddress::Mailed { platform_url } = owner {
        super::email::enqueue_verification(
            &mut tx,
            platform_url,
            tenant.id,
            user_id,
            new.email.trim(),
        )
        .await?;
    }
    tx.commit().await?;
    let api_token = issue_api_token(db, tenant.id, "default").await?;
    tracing::info!(tenant = %tenant.slug, tenant_id = %tenant.id, "tenant created");
    Ok(CreatedTenant {
        tenant,
        user_id,
        api_token,
    })
}

/// Sign-ups are counted per client over this sliding window.
pub const SIGNUP_WINDOW_MINUTES: i32 = 60;
/// Tenants one client address (IPv6: its /64) may create within the window.
pub const SIGNUP_MAX_PER_CLIENT: i64 = 5;

/// First argument of the two-key advisory lock per client (its own key space, apart from the
/// sign-in limit's).
const SIGNUP_LOCK_CLASS: i32 = 0x5350_5355; // "SPSU"

/// A public sign-up: [`create_tenant_with`] [`OwnerAddress::Mailed`] (the owner unverified until
/// they follow the mailed link), limited to [`SIGNUP_MAX_PER_CLIENT`] sign-ups per client address within
/// [`SIGNUP_WINDOW_MINUTES`]; more are refused with a 429 and `Retry-After`. `None` (the app
/// server does not know the client): not limited. Like the sign-in limit, the count lives in
/// PostgreSQL (`signup_attempts`, so it holds across restarts and app servers), and a sign-up
/// is recorded *before* the tenant is created, under an advisory lock per client, so concurrent
/// sign-ups are counted one after the other. A sign-up that fails (a taken slug, a registered
/// email) gives its place back; malformed input is refused before anything is counted.
pub async fn create_tenant_limited(
    db: &PgPool,
    platform_url: &str,
    new: &NewTenant,
    client: Option<std::net::IpAddr>,
) -> ApiResult<CreatedTenant> {
    new.validate()?;
    let owner = OwnerAddress::Mailed { platform_url };
    let Some(client) = client.map(login_client_key) else {
        return create_tenant_with(db, new, owner).await;
    };
    sqlx::query("DELETE FROM signup_attempts WHERE at < now() - make_interval(mins => $1)")
        .bind(SIGNUP_WINDOW_MINUTES)
        .execute(db)
        .await?;
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(SIGNUP_LOCK_CLASS)
        .bind(&client)
        .execute(&mut *tx)
        .await?;
    let recent: Vec<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT at FROM signup_attempts WHERE client = $1 AND at > now() - make_interval(mins => $2) \
         ORDER BY at DESC LIMIT $3",
    )
    .bind(&client)
    .bind(SIGNUP_WINDOW_MINUTES)
    .bind(SIGNUP_MAX_PER_CLIENT)
    .fetch_all(&mut *tx)
    .await?;
    if recent.len() as i64 >= SIGNUP_MAX_PER_CLIENT {
        // The oldest of the counted sign-ups leaves the window first.
        let frees_at =
            recent[recent.len() - 1] + chrono::Duration::minutes(i64::from(SIGNUP_WINDOW_MINUTES));
        let retry_after_secs = (frees_at - chrono::Utc::now()).num_seconds().max(1) as u64;
        tx.rollback().await?;
        tracing::warn!(client, "sign-up refused: too many from this client");
        return Err(ApiError::TooManyRequests {
            detail: format!(
                "too many sign-ups from your address: at most {SIGNUP_MAX_PER_CLIENT} per {SIGNUP_WINDOW_MINUTES} minutes; \
                 try again in {} minutes",
                retry_after_secs.div_ceil(60)
            ),
            retry_after_secs,
        });
    }
    let attempt: i64 =
        sqlx::query_scalar("INSERT INTO signup_attempts (client) VALUES ($1) RETURNING id")
            .bind(&client)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    let created = create_tenant_with(db, new, owner).await;
    if created.is_err() {
        sqlx::query("DELETE FROM signup_attempts WHERE id = $1")
            .bind(attempt)
            .execute(db)
            .await?;
    }
    created
}

pub async fn tenant_by_slug(db: &PgPool, slug: &str) -> ApiResult<Option<Tenant>> {
    Ok(sqlx::query_as::<_, (Uuid, String, String)>(
        "SELECT id, slug, name FROM tenants WHERE slug = $1",
    )
    .bind(slug)
    .fetch_optional(db)
    .await?
    .map(|(id, slug, name)| Tenant { id, slug, name }))
}

/// The client a sign-up is counted under: as the page-password limits see it
/// ([`crate::rest::client::ClientAddr`], else the TCP peer), `None` when unknown.
#[derive(Debug, Clone, Copy)]
pub struct SignupClient(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignupClient {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(crate::rest::client::client_addr(&parts.extensions)))
    }
}

/// Sign-up: a tenant, its owner and a first API token (shown once). The owner's address is
/// unverified until they follow the link mailed to it.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "platform", operation_id = "create_tenant",
    request_body = NewTenant,
    responses((status = 201, description = "created", body = CreatedTenant),
              (status = 400, description = "malformed JSON", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "sign-up is closed on this deployment", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              Invalid,
              (status = 429, description = "too many sign-ups from this client address; see Retry-After", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn sign_up(
    State(state): State<AppState>,
    client: SignupClient,
    ApiJson(input): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<CreatedTenant>)> {
    if !state.config.open_signup {
        return Err(ApiError::Forbidden(
            "sign-up is closed on this deployment".into(),
        ));
    }
    let created = create_tenant_limited(&state.db, &state.platform_url, &input, client.0).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
