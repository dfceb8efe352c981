//! The people of a tenant: who may sign in to its admin and with which role (`owner`, `admin`,
//! `editor`, `viewer`). A member is a user (one account per email, across tenants) with a
//! membership in this tenant; every query here is scoped by the tenant, so a user's memberships
//! in other tenants are never shown nor changed. A tenant always keeps at least one owner.
//!
//! Over `/api/v1`: writes need the `admin` scope and are audited; a member of another tenant is
//! a 404. Adding a member takes `Idempotency-Key`, except together with a password: the key's
//! stored request fingerprint is a plain SHA-256 of the body, which must never cover a password.

use super::auth::{hash_password_bounded, ApiTenant, PASSWORD_MIN_LEN};
use super::limits::{self, Bounded};
use super::roles::Role;
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult, FieldProblem};
use crate::rest::input::ApiJson;
use crate::rest::responses::{Invalid, Malformed, MalformedRequest, NeedsToken};
use crate::rest::{
    audit, created, idempotent, parse_stored, stored_name, CreateRequest, Page, PageQuery,
};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// A person with access to this tenant.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    /// When the person became a member of this tenant.
    pub created_at: DateTime<Utc>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberInput {
    /// The person's email (case-insensitive), for a new account created here (unverified until
    /// its owner proves the address). An address that already has an account is refused: invite
    /// it (`POST /api/v1/members/invitations`), so only the account's owner can join it.
    pub email: String,
    /// `owner`, `admin`, `editor` or `viewer`.
    #[schema(value_type = Role)]
    pub role: String,
    /// Only for a new user (at least 10 characters, stored as argon2id). Without one, the new
    /// user cannot sign in yet. An existing user keeps their own password: giving one is refused.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// `owner`, `admin`, `editor` or `viewer`.
    #[schema(value_type = Role)]
    pub role: String,
}

/// The result of [`add`]: the member, and whether their user account was created just now.
#[derive(Debug, Clone)]
pub struct Added {
    pub member: Member,
    pub created_user: bool,
}

const LAST_OWNER: &str = "a tenant must keep at least one owner: make another member an owner \
                          first, then remove or demote this one";

pub(crate) fn plausible_email(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        })
}

type MemberRow = (Uuid, String, String, DateTime<Utc>);

fn from_row((user_id, email, role, created_at): MemberRow) -> ApiResult<Member> {
    Ok(Member {
        user_id,
        email,
        role: parse_stored("role", &role)?,
        created_at,
    })
}

/// Serialises membership changes of one tenant (without blocking inserts that only refer to
/// the tenant), so two concurrent demotions cannot both pass the last-owner check.
async fn lock_tenant(tx: &mut sqlx::PgConnection, tenant_id: Uuid) -> ApiResult<()> {
    sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    Ok(())
}

/// Adds a member with a new account (unverified). An address with an account already is refused
/// on `email`: an account joins a tenant only by accepting an invitation mailed to its address.
pub async fn add(db: &PgPool, tenant_id: Uuid, input: &MemberInput) -> ApiResult<Added> {
    let email = input.email.trim();
    let mut problems = Vec::new();
    if !plausible_email(email) {
        problems.push(FieldProblem {
            field: "email".into(),
            message: "must be an email address like name@example.com".into(),
        });
    }
    let role = Role::parse("role", &input.role)
        .map_err(|p| problems.push(p))
        .ok();
    if let Some(password) = &input.password {
        if password.chars().count() < PASSWORD_MIN_LEN {
            problems.push(FieldProblem {
                field: "password".into(),
                message: format!("must be at least {PASSWORD_MIN_LEN} characters"),
            });
        }
    }
    let Some(role) = role.filter(|_| problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    let mut tx = db.begin().await?;
    lock_tenant(&mut tx, tenant_id).await?;
    limits::reserve(&mut tx, tenant_id, Bounded::Members, 1).await?;
    let existing: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(&mut *tx)
            .await?;
    let (user_id, created_user) = match existing {
        Some(_) if input.password.is_some() => {
            return Err(ApiError::field(
                "password",
                "must be left out: this email already has an account, which keeps its own password",
            ));
        }
        Some(id) => {
            let member: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM memberships WHERE tenant_id = $1 AND user_id = $2)",
            )
            .bind(tenant_id)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if member {
                return Err(ApiError::field(
                    "email",
                    "is already a member of this tenant",
                ));
            }
            // Only its owner may bring an existing account into a tenant: by accepting an
            // invitation mailed to its address (`accounts::invitations`).
            return Err(ApiError::field(
                "email",
                "already has an account: invite it instead (POST /api/v1/members/invitations); \
                 the person joins by accepting the mailed link",
            ));
        }
        None => {
            let hash = match input.password.as_deref() {
                Some(password) => Some(hash_password_bounded(password).await?),
                None => None,
            };
            let inserted: Option<Uuid> = sqlx::query_scalar(
                "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (lower(email)) DO NOTHING RETURNING id",
            )
            .bind(Uuid::new_v4())
            .bind(email)
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
            // Someone else created the account meanwhile: retrying decides as above.
            (
                inserted.ok_or_else(|| {
                    ApiError::Conflict("this email was registered just now; retry".into())
                })?,
                true,
            )
        }
    };
    let row: Option<MemberRow> = sqlx::query_as(
        "WITH m AS (INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) \
                    ON CONFLICT DO NOTHING RETURNING user_id, role, created_at) \
         SELECT m.user_id, u.email, m.role, m.created_at FROM m JOIN users u ON u.id = m.user_id",
    )
    .bind(tenant_id)
    .bind(user_id)
    .bind(stored_name(&role))
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        return Err(ApiError::field(
            "email",
            "is already a member of this tenant",
        ));
    };
    tx.commit().await?;
    Ok(Added {
        member: from_row(row)?,
        created_user,
    })
}

const SELECT: &str = "SELECT m.user_id, u.email, m.role, m.created_at \
                      FROM memberships m JOIN users u ON u.id = m.user_id";

pub async fn get(db: &PgPool, tenant_id: Uuid, user_id: Uuid) -> ApiResult<Member> {
    let row: Option<MemberRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("member"))?)
}

/// One page of the tenant's members, newest first.
pub async fn list(db: &PgPool, tenant_id: Uuid, page: &PageQuery) -> ApiResult<Page<Member>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<MemberRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (m.created_at, m.user_id) < ($2, $3)) \
         ORDER BY m.created_at DESC, m.user_id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let members = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(members, limit, |m| {
        (m.created_at, m.user_id)
    }))
}

/// The current role of a member, locked for the rest of the transaction.
async fn current_role(
    tx: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    user_id: Uuid,
) -> ApiResult<Role> {
    let role: Option<String> = sqlx::query_scalar(
        "SELECT role FROM memberships WHERE tenant_id = $1 AND user_id = $2 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    parse_stored("role", &role.ok_or(ApiError::NotFound("member"))?)
}

/// Refuses to take the owner role away from the tenant's only owner.
async fn keep_an_owner(tx: &mut sqlx::PgConnection, tenant_id: Uuid) -> ApiResult<()> {
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if owners <= 1 {
        return Err(ApiError::Conflict(LAST_OWNER.into()));
    }
    Ok(())
}

/// Changes a member's role; returns the member and the role they had before.
pub async fn set_role(
    db: &PgPool,
    tenant_id: Uuid,
    user_id: Uuid,
    patch: &MemberPatch,
) -> ApiResult<(Member, Role)> {
    let role = Role::parse("role", &patch.role).map_err(|p| ApiError::Validation(vec![p]))?;
    let mut tx = db.begin().await?;
    lock_tenant(&mut tx, tenant_id).await?;
    let before = current_role(&mut tx, tenant_id, user_id).await?;
    if before == Role::Owner && role != Role::Owner {
        keep_an_owner(&mut tx, tenant_id).await?;
    }
    sqlx::query("UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .bind(stored_name(&role))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((get(db, tenant_id, user_id).await?, before))
}

/// Removes a member from this tenant (their account and other memberships stay) and ends
/// their sessions in this tenant; returns the member as they were.
pub async fn remove(db: &PgPool, tenant_id: Uuid, user_id: Uuid) -> ApiResult<Member> {
    let mut tx = db.begin().await?;
    lock_tenant(&mut tx, tenant_id).await?;
    let member = get_in(&mut tx, tenant_id, user_id).await?;
    if member.role == Role::Owner {
        keep_an_owner(&mut tx, tenant_id).await?;
    }
    sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM sessions WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(member)
}

async fn get_in(tx: &mut sqlx::PgConnection, tenant_id: Uuid, user_id: Uuid) -> ApiResult<Member> {
    let row: Option<MemberRow> = sqlx::query_as(&format!(
        "{SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2 FOR UPDATE OF m"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_optional(&mut *tx)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("member"))?)
}

// ---- `/api/v1` ----

/// Adds a member with a new account; an address that has one already must be invited.
#[utoipa::path(
    post,
    path = "/api/v1/members",
    tag = "members",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create; not accepted together with a password")),
    request_body = MemberInput,
    responses(
        (status = 201, description = "added", body = Member),
        Malformed,
        NeedsToken,
        (status = 403, description = "token without the `admin` scope, or the plan limit `max_members` (named in `limit`)", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input or already a member; `errors` names the fields", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn add_member(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<MemberInput>,
) -> ApiResult<Response> {
    who.require_admin()?;
    if request.idempotency_key.is_some() && request.input.password.is_some() {
        return Err(ApiError::field(
            "Idempotency-Key",
            "cannot be combined with a password (a fingerprint of the request would be stored); \
             send the request without it",
        ));
    }
    let db = state.db.clone();
    let mut response = idempotent(&db, who.tenant_id, request, |input| async move {
        let added = add(&state.db, who.tenant_id, &input).await?;
        let member = &added.member;
        audit(
            &state.db,
            &who,
            "create",
            "member",
            Some(member.user_id),
            json!({ "email": member.email, "role": member.role, "created_user": added.created_user }),
        )
        .await?;
        created(1, member)
    })
    .await?;
    // Memberships carry no version.
    response.headers_mut().remove(header::ETAG);
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "members",
    params(PageQuery),
    responses(
        (status = 200, description = "one page, newest first", body = crate::rest::Page<Member>),
        MalformedRequest,
        NeedsToken,
        Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_members(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Member>>> {
    Ok(Json(list(&state.db, who.tenant_id, &page).await?))
}

/// Changes a member's role. The last owner cannot be demoted (409).
#[utoipa::path(
    patch,
    path = "/api/v1/members/{user_id}",
    tag = "members",
    params(("user_id" = uuid::Uuid, Path, description = "the member's user id")),
    request_body = MemberPatch,
    responses(
        (status = 200, description = "the updated member", body = Member),
        Malformed,
        NeedsToken,
        (status = 403, description = "token without the `admin` scope", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not a member of this tenant", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "would leave the tenant without an owner", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        Invalid
    ),
    security(("bearer" = []))
)]
pub async fn patch_member(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(user_id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<MemberPatch>,
) -> ApiResult<Json<Member>> {
    who.require_admin()?;
    let (member, before) = set_role(&state.db, who.tenant_id, user_id, &patch).await?;
    if before != member.role {
        audit(
            &state.db,
            &who,
            "update",
            "member",
            Some(user_id),
            json!({ "email": member.email, "role": member.role, "previous_role": before }),
        )
        .await?;
    }
    Ok(Json(member))
}

/// Removes a member from this tenant; their account and other tenants' memberships stay. The
/// last owner cannot be removed (409).
#[utoipa::path(
    delete,
    path = "/api/v1/members/{user_id}",
    tag = "members",
    params(("user_id" = uuid::Uuid, Path, description = "the member's user id")),
    responses(
        (status = 204, description = "removed"),
        MalformedRequest,
        NeedsToken,
        (status = 403, description = "token without the `admin` scope", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "not a member of this tenant", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "would leave the tenant without an owner", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(user_id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    let member = remove(&state.db, who.tenant_id, user_id).await?;
    audit(
        &state.db,
        &who,
        "delete",
        "member",
        Some(user_id),
        json!({ "email": member.email, "role": member.role }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_must_be_plausible() {
        assert!(plausible_email("a@example.com"));
        for bad in [
            "",
            "a",
            "@example.com",
            "a@example",
            "a@.com",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }
}
