//! Creating tenants: the slug claim, the owner, the first API token, an empty status page.
//!
//! A slug is claimed together with its look-alike skeleton ([`tenants::slug_skeleton`], stored in
//! the unique `tenants.slug_skeleton`), so `acrne` or `ac-me` cannot impersonate `acme`.

use crate::auth::{hash_password, issue_api_token};
use crate::error::{ApiError, ApiResult, FieldProblem};
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

pub const PASSWORD_MIN_LEN: usize = 10;

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
            || name.chars().any(crate::error::is_forbidden_control)
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

/// Creates a tenant with its owner, an API token and a status page, all or nothing.
pub async fn create_tenant(db: &PgPool, new: &NewTenant) -> ApiResult<CreatedTenant> {
    new.validate()?;
    let password_hash = new.password.as_deref().map(hash_password).transpose()?;
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
        "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) \
         ON CONFLICT (lower(email)) DO NOTHING RETURNING id",
    )
    .bind(Uuid::new_v4())
    .bind(new.email.trim())
    .bind(&password_hash)
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
    tx.commit().await?;
    let api_token = issue_api_token(db, tenant.id, "default").await?;
    tracing::info!(tenant = %tenant.slug, tenant_id = %tenant.id, "tenant created");
    Ok(CreatedTenant {
        tenant,
        user_id,
        api_token,
    })
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
