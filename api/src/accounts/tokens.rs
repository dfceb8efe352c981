//! API tokens a tenant manages itself: named, scoped (`read`; `read` and `write`; or `read`,
//! `write` and `admin`), shown in plaintext once at creation and stored only as SHA-256, revoked
//! rather than deleted so the list keeps a record. Every query is scoped by tenant.
//!
//! Scopes nest: `write` changes the tenant's configuration (monitors, components, incidents,
//! maintenance, the status page, subscribers, config imports); `admin` also manages API tokens,
//! members and notification channels, and sees secret values (monitor headers marked `secret`,
//! channel configs), which every other token reads as `********`.

use super::auth::ApiTenant;
use super::auth::{new_secret, secret_hash, TOKEN_PREFIX};
use super::limits::{self, Bounded};
use super::roles::Scope;
use crate::rest::error::{problems_to_result, text_problem, ApiError, ApiResult, FieldProblem};
use crate::rest::error::{ApiPath, ApiQuery};
use crate::rest::responses::{
    AdminForbidden, Invalid, Malformed, MalformedRequest, NeedsToken, NotFound,
};
use crate::rest::shown_once::idempotent_shown_once;
use crate::rest::{audit, parse_stored, stored_name, CreateRequest, Page, PageQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

pub const NAME_MAX: usize = 100;
/// Characters of the token kept in clear (with `sp_`) so people can tell tokens apart.
const SHOWN_PREFIX_LEN: usize = TOKEN_PREFIX.len() + 6;

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    pub name: String,
    /// `["read"]`, `["read", "write"]` or `["read", "write", "admin"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A token as lists show it: never the token nor its hash.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, e.g. `sp_AbC12x`.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The answer to a create.
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub api_token: ApiToken,
    /// The plaintext token, shown in this response only. It is never stored, so a replay of
    /// the create through `Idempotency-Key` answers `null`: revoke that token and create another.
    pub token: Option<String>,
}

/// The scopes to store, sorted, or the problems with them.
fn check_scopes(scopes: &[String], problems: &mut Vec<FieldProblem>) -> Vec<Scope> {
    let mut parsed: Vec<Scope> = Vec::new();
    let before = problems.len();
    for (i, scope) in scopes.iter().enumerate() {
        let field = format!("scopes[{i}]");
        match parse_stored::<Scope>("scope", scope) {
            Err(_) => problems.push(FieldProblem {
                field,
                message: format!("unknown scope {scope:?}: must be read, write or admin"),
            }),
            Ok(s) if parsed.contains(&s) => problems.push(FieldProblem {
                field,
                message: "is listed twice".into(),
            }),
            Ok(s) => parsed.push(s),
        }
    }
    parsed.sort();
    let allowed: [&[Scope]; 3] = [
        &[Scope::Read],
        &[Scope::Read, Scope::Write],
        &[Scope::Read, Scope::Write, Scope::Admin],
    ];
    if problems.len() == before && !allowed.contains(&parsed.as_slice()) {
        problems.push(FieldProblem {
            field: "scopes".into(),
            message: r#"must be ["read"], ["read", "write"] or ["read", "write", "admin"] (each scope includes the ones before it)"#.into(),
        });
    }
    parsed
}

type TokenRow = (
    Uuid,
    String,
    String,
    Vec<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);
const COLUMNS: &str = "id, name, prefix, scopes, created_at, last_used_at, revoked_at";

fn from_row(
    (id, name, prefix, scopes, created_at, last_used_at, revoked_at): TokenRow,
) -> ApiResult<ApiToken> {
    let mut scopes = scopes
        .iter()
        .map(|s| parse_stored("scope", s))
        .collect::<ApiResult<Vec<Scope>>>()?;
    scopes.sort();
    Ok(ApiToken {
        id,
        name,
        prefix,
        scopes,
        created_at,
        last_used_at,
        revoked_at,
    })
}

/// Issues a token; the plaintext is in the answer and nowhere else.
pub async fn create(db: &PgPool, tenant_id: Uuid, input: &TokenInput) -> ApiResult<CreatedToken> {
    let mut problems: Vec<FieldProblem> = text_problem("name", &input.name, NAME_MAX)
        .into_iter()
        .collect();
    let scopes = check_scopes(&input.scopes, &mut problems);
    problems_to_result(problems)?;
    let token = new_secret();
    let mut tx = db.begin().await?;
    limits::reserve(&mut tx, tenant_id, Bounded::ApiTokens, 1).await?;
    let row: TokenRow = sqlx::query_as(&format!(
        "INSERT INTO api_tokens (id, tenant_id, name, prefix, token_hash, scopes) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(input.name.trim())
    .bind(&token[..SHOWN_PREFIX_LEN])
    .bind(secret_hash(&token))
    .bind(scopes.iter().map(stored_name).collect::<Vec<_>>())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(CreatedToken {
        api_token: from_row(row)?,
        token: Some(token),
    })
}

pub async fn get(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<ApiToken> {
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    from_row(row.ok_or(ApiError::NotFound("API token"))?)
}

/// One page of tokens, revoked ones included, newest first.
pub async fn list(db: &PgPool, tenant_id: Uuid, page: &PageQuery) -> ApiResult<Page<ApiToken>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<TokenRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let tokens = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(tokens, limit, |t| (t.created_at, t.id)))
}

/// Revokes a token: from now on it authenticates nothing. `Some(true)` when this call revoked
/// it, `Some(false)` when it already was, `None` when the tenant has no such token.
pub async fn revoke(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<Option<bool>> {
    let was_active: Option<bool> = sqlx::query_scalar(
        "WITH old AS (SELECT id, revoked_at IS NULL AS active FROM api_tokens \
                       WHERE tenant_id = $1 AND id = $2 FOR UPDATE) \
         UPDATE api_tokens t SET revoked_at = coalesce(t.revoked_at, now()) \
         FROM old WHERE t.tenant_id = $1 AND t.id = old.id RETURNING old.active",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(was_active)
}

// ---- `/api/v1`: only `admin` tokens manage tokens; every write is audited ----

#[utoipa::path(
    post,
    path = "/api/v1/api-tokens",
    tag = "api tokens",
    params(("Idempotency-Key" = Option<String>, Header, description = "Replays the first response for a retry of the same create")),
    request_body = TokenInput,
    responses(
        (status = 201, description = "created (ETag header)", body = CreatedToken),
        Malformed, NeedsToken, AdminForbidden, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn create_token(
    State(state): State<AppState>,
    who: ApiTenant,
    request: CreateRequest<TokenInput>,
) -> ApiResult<Response> {
    who.require_admin()?;
    // The plaintext token is in the first answer only ([`idempotent_shown_once`]).
    let state = &state;
    idempotent_shown_once(&state.db, who.tenant_id, request, |input| async move {
        let answer = create(&state.db, who.tenant_id, &input).await?;
        let token = &answer.api_token;
        audit(
            &state.db,
            &who,
            "create",
            "api_token",
            Some(token.id),
            json!({ "name": token.name, "prefix": token.prefix, "scopes": token.scopes }),
        )
        .await?;
        let stored = CreatedToken {
            api_token: token.clone(),
            token: None,
        };
        Ok((answer, stored))
    })
    .await
}

#[utoipa::path(
    get,
    path = "/api/v1/api-tokens",
    tag = "api tokens",
    params(PageQuery),
    responses(
        MalformedRequest,
        (status = 200, description = "one page, newest first", body = crate::rest::Page<ApiToken>),
        NeedsToken, Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ApiToken>>> {
    Ok(Json(list(&state.db, who.tenant_id, &page).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/api-tokens/{id}",
    tag = "api tokens",
    params(("id" = uuid::Uuid, Path, description = "API token id")),
    responses(
        MalformedRequest,
        (status = 200, description = "the API token (ETag header)", body = ApiToken),
        NeedsToken, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn get_token(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiToken>> {
    Ok(Json(get(&state.db, who.tenant_id, id).await?))
}

/// Revokes (never deletes) a token; revoking a revoked token is a no-op 204.
#[utoipa::path(
    delete,
    path = "/api/v1/api-tokens/{id}",
    tag = "api tokens",
    params(("id" = uuid::Uuid, Path, description = "API token id")),
    responses(
        MalformedRequest,
        (status = 204, description = "revoked"),
        NeedsToken, AdminForbidden, NotFound
    ),
    security(("bearer" = []))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    match revoke(&state.db, who.tenant_id, id).await? {
        None => return Err(ApiError::NotFound("API token")),
        Some(false) => {}
        Some(true) => {
            audit(&state.db, &who, "revoke", "api_token", Some(id), json!({})).await?;
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(scopes: &[&str]) -> (Vec<Scope>, Vec<String>) {
        let mut problems = Vec::new();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let parsed = check_scopes(&scopes, &mut problems);
        (parsed, problems.into_iter().map(|p| p.field).collect())
    }

    #[test]
    fn scopes_nest_read_write_admin() {
        assert_eq!(check(&["read"]), (vec![Scope::Read], vec![]));
        assert_eq!(
            check(&["write", "read"]),
            (vec![Scope::Read, Scope::Write], vec![])
        );
        assert_eq!(
            check(&["admin", "read", "write"]),
            (vec![Scope::Read, Scope::Write, Scope::Admin], vec![])
        );
        assert_eq!(check(&["read", "admin"]).1, ["scopes"]);
        assert_eq!(check(&["read", "root"]).1, ["scopes[1]"]);
        assert_eq!(check(&["read", "read"]).1, ["scopes[1]"]);
        assert_eq!(check(&["write"]).1, ["scopes"]);
        assert_eq!(check(&[]).1, ["scopes"]);
    }
}
