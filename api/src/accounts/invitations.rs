//! Invitations: a tenant's admin invites an address with a role; the invitation is mailed (a
//! single-use link, only its SHA-256 stored) and the person accepts it by a POST.
//!
//! Acceptance always joins the account of exactly the invited address, never the account of
//! whoever happens to be signed in, and the address must be verified, or proven right now:
//! - no account yet: one is created with the password given, verified (the link was mailed to
//!   the address);
//! - a verified account: its owner signs in (the current session, or the account's password);
//! - an unverified account: whoever registered the address never proved it is theirs, so it is
//!   not trusted. The holder of the link proves the address and takes the account over: the
//!   password given replaces the old one, every session ends and every outstanding mailed token
//!   is spent ([`super::email::take_over_account`]). Someone who registered another person's
//!   address earlier therefore never gets the invitation's membership: they do not have the
//!   link, and the person who does locks them out.
//!
//! The token is never shown to the inviter (not in the create's answer, the list, or the audit
//! log): an inviter holding it could accept in the invitee's name, creating an account under
//! their address. Every query is scoped by tenant; another tenant's invitation is a 404.

use super::auth::{
    hash_password_bounded, new_secret, secret_hash, start_session, verify_password_bounded,
    ApiTenant, PASSWORD_MIN_LEN,
};
use super::email::{account_message, count_keys, link, take_over_account};
use super::limits::{self, Bounded};
use super::members::plausible_email;
use super::roles::Role;
use super::tenancy::Tenant;
use crate::outbox::{enqueue, Recipient};
use crate::rest::error::{ApiError, ApiPath, ApiQuery, ApiResult, FieldProblem};
use crate::rest::input::ApiJson;
use crate::rest::responses::{Invalid, Malformed, MalformedRequest, NeedsToken, NotFound};
use crate::rest::{audit, parse_stored, stored_name, Actor, Page, PageQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

/// Where an invitation link leads (the web page; accepting is its form's POST).
pub const ACCEPT_PATH: &str = "/account/invitation";
/// How long an invitation link works.
pub const INVITATION_TTL_DAYS: i32 = 7;
/// Invitations one tenant may send an hour (each is a mail to someone who did not ask for it).
pub const INVITATIONS_PER_HOUR: i64 = 50;
/// Password attempts on one invitation (for a verified account) per 15 minutes.
pub const ACCEPT_PASSWORD_ATTEMPTS: i64 = 5;

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    /// The address to invite (case-insensitive); the link is mailed there.
    pub email: String,
    /// `owner`, `admin`, `editor` or `viewer`.
    #[schema(value_type = Role)]
    pub role: String,
}

/// Where an invitation stands.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// An invitation as the tenant sees it (never its token).
#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    /// `api_token:<id>` or `user:<id>`.
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_by: Option<Uuid>,
}

type InvitationRow = (
    Uuid,
    String,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<Uuid>,
    Option<DateTime<Utc>>,
);
const COLUMNS: &str =
    "id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at";

fn from_row(
    (id, email, role, invited_by, created_at, expires_at, accepted_at, accepted_by, revoked_at): InvitationRow,
) -> ApiResult<Invitation> {
    let status = if accepted_at.is_some() {
        InvitationStatus::Accepted
    } else if revoked_at.is_some() {
        InvitationStatus::Revoked
    } else if expires_at <= Utc::now() {
        InvitationStatus::Expired
    } else {
        InvitationStatus::Pending
    };
    Ok(Invitation {
        id,
        email,
        role: parse_stored("role", &role)?,
        status,
        invited_by,
        created_at,
        expires_at,
        accepted_at,
        accepted_by,
    })
}

/// Invites `input.email` to the tenant and mails the link, all in one transaction (the mail is
/// in the outbox exactly when the invitation exists). An open invitation of the same address
/// is replaced (its link stops working). `inviter_role`: the role of the person inviting, when a
/// person does (only an owner may invite an owner); `None` for an `admin` API token, which may
/// already make owners.
pub async fn create(
    db: &PgPool,
    platform_url: &str,
    who: &impl Actor,
    inviter_role: Option<Role>,
    input: &InvitationInput,
) -> ApiResult<Invitation> {
    let tenant_id = who.tenant_id();
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
    let Some(role) = role.filter(|_| problems.is_empty()) else {
        return Err(ApiError::Validation(problems));
    };
    if role == Role::Owner && inviter_role.is_some_and(|r| r != Role::Owner) {
        return Err(ApiError::Forbidden(
            "only an owner may invite an owner".into(),
        ));
    }
    count_keys(
        db,
        &[(
            "invitation:tenant".into(),
            tenant_id.to_string(),
            INVITATIONS_PER_HOUR,
        )],
        60,
    )
    .await?;
    let mut tx = db.begin().await?;
    limits::reserve(&mut tx, tenant_id, Bounded::Members, 1).await?;
    let vouched: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND m.role IN ('owner', 'admin') AND u.email_verified_at IS NOT NULL)",
    )
    .bind(tenant_id)
    .fetch_one(&mut *tx)
    .await?;
    if !vouched {
        return Err(ApiError::Forbidden(
            "verify your email address first: a tenant none of whose owners and admins has a \
             verified address cannot send invitations (see the mail sent at sign-up, or ask for \
             another with POST /api/v1/account/email-verification/resend)"
                .into(),
        ));
    }
    let member: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND lower(u.email) = lower($2))",
    )
    .bind(tenant_id)
    .bind(email)
    .fetch_one(&mut *tx)
    .await?;
    if member {
        return Err(ApiError::field(
            "email",
            "is already a member of this tenant",
        ));
    }
    sqlx::query(
        "UPDATE invitations SET revoked_at = now() WHERE tenant_id = $1 AND lower(email) = lower($2) \
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(tenant_id)
    .bind(email)
    .execute(&mut *tx)
    .await?;
    let token = new_secret();
    let row: InvitationRow = sqlx::query_as(&format!(
        "INSERT INTO invitations (id, tenant_id, email, role, token_hash, invited_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(days => $7)) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(tenant_id)
    .bind(email)
    .bind(stored_name(&role))
    .bind(secret_hash(&token))
    .bind(who.actor())
    .bind(INVITATION_TTL_DAYS)
    .fetch_one(&mut *tx)
    .await?;
    let invitation = from_row(row)?;
    let tenant_name: String = sqlx::query_scalar("SELECT name FROM tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(&mut *tx)
        .await?;
    let url = link(platform_url, ACCEPT_PATH, &token);
    let text = format!(
        "You are invited to join {tenant_name} on the status page platform as {}. To accept, \
         open this link, sign in or choose a password, and press Accept:\n\n{url}\n\nThe link \
         works once, for {INVITATION_TTL_DAYS} days, and only for the account of {email}. If you \
         do not know {tenant_name}, ignore this mail.",
        stored_name(&role)
    );
    let message = account_message(
        tenant_id,
        "invitation",
        &format!("You are invited to {tenant_name}"),
        text,
        url,
    );
    enqueue(&mut tx, &Recipient::Address(email.to_owned()), &message).await?;
    audit(
        &mut *tx,
        who,
        "create",
        "invitation",
        Some(invitation.id),
        json!({ "email": invitation.email, "role": invitation.role }),
    )
    .await?;
    tx.commit().await?;
    Ok(invitation)
}

/// One page of the tenant's invitations (every status), newest first.
pub async fn list(db: &PgPool, tenant_id: Uuid, page: &PageQuery) -> ApiResult<Page<Invitation>> {
    let limit = page.limit()?;
    let after = page.after()?;
    let rows: Vec<InvitationRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM invitations WHERE tenant_id = $1 \
         AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    ))
    .bind(tenant_id)
    .bind(after.map(|a| a.0))
    .bind(after.map(|a| a.1))
    .bind(limit + 1)
    .fetch_all(db)
    .await?;
    let items = rows
        .into_iter()
        .map(from_row)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_rows(items, limit, |i| (i.created_at, i.id)))
}

/// Revokes an open invitation: its link stops working. `Ok(false)` when it was already revoked;
/// an accepted one is a 409 (remove the member instead), another tenant's a 404.
pub async fn revoke(db: &PgPool, tenant_id: Uuid, id: Uuid) -> ApiResult<bool> {
    type Ends = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let before: Option<Ends> = sqlx::query_as(
        "SELECT accepted_at, revoked_at FROM invitations WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    match before {
        None => Err(ApiError::NotFound("invitation")),
        Some((Some(_), _)) => Err(ApiError::Conflict(
            "this invitation was accepted; remove the member instead".into(),
        )),
        Some((None, Some(_))) => Ok(false),
        Some((None, None)) => {
            let done = sqlx::query(
                "UPDATE invitations SET revoked_at = now() \
                 WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
            )
            .bind(tenant_id)
            .bind(id)
            .execute(db)
            .await?;
            Ok(done.rows_affected() == 1)
        }
    }
}

/// The account of an invited address, as acceptance treats it.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InviteeAccount {
    /// No account: accepting creates one with the password given.
    None,
    /// A verified account: accepting needs its password (or its session).
    Verified,
    /// An unverified account: accepting proves the address and sets a new password, ending every
    /// session of the account.
    Unverified,
}

/// What the holder of an invitation link may see before accepting (the web page shows it).
#[derive(Debug, Clone)]
pub struct Preview {
    pub invitation_id: Uuid,
    pub tenant: Tenant,
    pub email: String,
    pub role: Role,
    pub account: InviteeAccount,
    pub user_id: Option<Uuid>,
}

type TokenRow = (
    Uuid,
    Uuid,
    String,
    String,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
);

/// The invitation of a link, if it can still be accepted; refusals name the field `token`.
async fn open_invitation(
    conn: &mut sqlx::PgConnection,
    token: &str,
    lock: bool,
) -> ApiResult<Preview> {
    let row: Option<TokenRow> = sqlx::query_as(&format!(
        "SELECT i.id, t.id, t.slug, t.name, i.email, i.role, i.accepted_at, i.revoked_at, \
                i.expires_at <= now() \
         FROM invitations i JOIN tenants t ON t.id = i.tenant_id WHERE i.token_hash = $1{}",
        if lock { " FOR UPDATE OF i" } else { "" }
    ))
    .bind(secret_hash(token.trim()))
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, tenant_id, slug, name, email, role, accepted, revoked, expired)) = row else {
        return Err(ApiError::field(
            "token",
            "is not a valid invitation link: copy the whole link from the mail",
        ));
    };
    if accepted.is_some() {
        return Err(ApiError::field(
            "token",
            "this invitation has already been accepted",
        ));
    }
    if revoked.is_some() {
        return Err(ApiError::field(
            "token",
            "this invitation was withdrawn; ask for a new one",
        ));
    }
    if expired {
        return Err(ApiError::field(
            "token",
            "this invitation has expired; ask for a new one",
        ));
    }
    let user: Option<(Uuid, bool)> = sqlx::query_as(&format!(
        "SELECT id, email_verified_at IS NOT NULL FROM users WHERE lower(email) = lower($1){}",
        if lock { " FOR UPDATE" } else { "" }
    ))
    .bind(&email)
    .fetch_optional(&mut *conn)
    .await?;
    let account = match user {
        None => InviteeAccount::None,
        Some((_, true)) => InviteeAccount::Verified,
        Some((_, false)) => InviteeAccount::Unverified,
    };
    Ok(Preview {
        invitation_id: id,
        tenant: Tenant {
            id: tenant_id,
            slug,
            name,
        },
        email,
        role: parse_stored("role", &role)?,
        account,
        user_id: user.map(|u| u.0),
    })
}

/// What an invitation link is for, without changing anything (a GET shows it).
pub async fn preview(db: &PgPool, token: &str) -> ApiResult<Preview> {
    let mut conn = db.acquire().await?;
    open_invitation(&mut conn, token, false).await
}

/// An accepted invitation: the new member and a session in the tenant (for the web's cookie).
#[derive(Debug, Clone)]
pub struct Acceptance {
    pub tenant: Tenant,
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub account: InviteeAccount,
    /// Only the web uses it (the cookie); the API does not answer it.
    pub session: String,
}

/// The member who accepted, as the audit log names them.
struct Invitee {
    tenant_id: Uuid,
    user_id: Uuid,
}

impl Actor for Invitee {
    fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }
}

/// Accepts an invitation with its mailed token, for the account of the invited address only
/// (see the module's comment): `signed_in_as` is the user of the caller's session, if any; it
/// stands in for the password only when it is that very account and the account is verified.
pub async fn accept(
    db: &PgPool,
    token: &str,
    password: Option<&str>,
    signed_in_as: Option<Uuid>,
) -> ApiResult<Acceptance> {
    let seen = preview(db, token).await?;
    let password = password.filter(|p| !p.is_empty());
    let too_short = || {
        ApiError::field(
            "password",
            format!("choose a password of at least {PASSWORD_MIN_LEN} characters"),
        )
    };
    // What to do to the account, decided (and the slow password work done) before the lock.
    let new_hash = match seen.account {
        InviteeAccount::None | InviteeAccount::Unverified => {
            let password = password.filter(|p| p.chars().count() >= PASSWORD_MIN_LEN);
            Some(hash_password_bounded(password.ok_or_else(too_short)?).await?)
        }
        InviteeAccount::Verified if signed_in_as.is_some() && signed_in_as == seen.user_id => None,
        InviteeAccount::Verified => {
            let password = password.ok_or_else(|| {
                ApiError::field(
                    "password",
                    format!("is needed: the password of the account {}", seen.email),
                )
            })?;
            count_keys(
                db,
                &[(
                    "invitation:password".into(),
                    seen.invitation_id.to_string(),
                    ACCEPT_PASSWORD_ATTEMPTS,
                )],
                15,
            )
            .await?;
            let stored: Option<String> =
                sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                    .bind(seen.user_id)
                    .fetch_optional(db)
                    .await?
                    .flatten();
            let right = match stored {
                Some(hash) => verify_password_bounded(password, &hash).await?,
                None => false,
            };
            if !right {
                return Err(ApiError::field(
                    "password",
                    format!(
                        "is not the password of the account {}; sign in as it, or reset its password",
                        seen.email
                    ),
                ));
            }
            None
        }
    };
    let mut tx = db.begin().await?;
    let now = open_invitation(&mut tx, token, true).await?;
    if now.account != seen.account || now.user_id != seen.user_id {
        return Err(ApiError::Conflict(
            "the account of this address changed just now; retry".into(),
        ));
    }
    limits::reserve(&mut tx, now.tenant.id, Bounded::Members, 1).await?;
    let user_id = match (now.account, now.user_id) {
        (InviteeAccount::None, _) => {
            let inserted: Option<Uuid> = sqlx::query_scalar(
                "INSERT INTO users (id, email, password_hash, email_verified_at) \
                 VALUES ($1, $2, $3, now()) ON CONFLICT (lower(email)) DO NOTHING RETURNING id",
            )
            .bind(Uuid::new_v4())
            .bind(&now.email)
            .bind(&new_hash)
            .fetch_optional(&mut *tx)
            .await?;
            inserted.ok_or_else(|| {
                ApiError::Conflict("this address was registered just now; retry".into())
            })?
        }
        (InviteeAccount::Unverified, Some(id)) => {
            // The link proves the address; whoever registered it before is shut out.
            sqlx::query(
                "UPDATE users SET password_hash = $2, email_verified_at = now() WHERE id = $1",
            )
            .bind(id)
            .bind(&new_hash)
            .execute(&mut *tx)
            .await?;
            take_over_account(&mut tx, id).await?;
            tracing::warn!(user_id = %id, "unverified account taken over by the holder of an invitation link");
            id
        }
        (_, Some(id)) => id,
        (_, None) => return Err(ApiError::Internal("invitee account without id".into())),
    };
    let joined = sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(now.tenant.id)
    .bind(user_id)
    .bind(stored_name(&now.role))
    .execute(&mut *tx)
    .await?;
    if joined.rows_affected() == 0 {
        return Err(ApiError::field(
            "token",
            format!("{} is already a member of {}", now.email, now.tenant.name),
        ));
    }
    sqlx::query("UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1")
        .bind(now.invitation_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    audit(
        &mut *tx,
        &Invitee {
            tenant_id: now.tenant.id,
            user_id,
        },
        "accept",
        "invitation",
        Some(now.invitation_id),
        json!({ "email": now.email, "role": now.role, "account": now.account }),
    )
    .await?;
    let session = start_session(&mut tx, user_id, now.tenant.id).await?;
    // The account's address as it is spelled there (the invitation may have spelled it otherwise).
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Acceptance {
        tenant: now.tenant,
        user_id,
        email,
        role: now.role,
        account: now.account,
        session,
    })
}

// ---- `/api/v1` ----

/// Invites an address to this tenant with a role; the link is mailed there (never answered).
#[utoipa::path(
    post,
    path = "/api/v1/members/invitations",
    tag = "members",
    request_body = InvitationInput,
    responses(
        (status = 201, description = "invited; the link is on its way by mail", body = Invitation),
        Malformed,
        NeedsToken,
        (status = 403, description = "token without the `admin` scope, no verified owner or admin, or the plan limit `max_members`", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "invalid input or already a member; `errors` names the fields", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many invitations this hour; see Retry-After", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn create_invitation(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiJson(input): ApiJson<InvitationInput>,
) -> ApiResult<(StatusCode, Json<Invitation>)> {
    who.require_admin()?;
    let invitation = create(&state.db, &state.platform_url, &who, None, &input).await?;
    Ok((StatusCode::CREATED, Json(invitation)))
}

#[utoipa::path(
    get,
    path = "/api/v1/members/invitations",
    tag = "members",
    params(PageQuery),
    responses(
        (status = 200, description = "one page, newest first", body = crate::rest::Page<Invitation>),
        MalformedRequest,
        NeedsToken,
        (status = 403, description = "token without the `admin` scope", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        Invalid
    ),
    security(("bearer" = []))
)]
pub async fn list_invitations(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Invitation>>> {
    who.require_admin()?;
    Ok(Json(list(&state.db, who.tenant_id, &page).await?))
}

/// Withdraws an open invitation; withdrawing a withdrawn one is a no-op 204.
#[utoipa::path(
    delete,
    path = "/api/v1/members/invitations/{id}",
    tag = "members",
    params(("id" = uuid::Uuid, Path, description = "invitation id")),
    responses(
        (status = 204, description = "revoked"),
        MalformedRequest,
        NeedsToken,
        (status = 403, description = "token without the `admin` scope", body = crate::rest::error::Problem, content_type = "application/problem+json"),
        NotFound,
        (status = 409, description = "already accepted", body = crate::rest::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    who: ApiTenant,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    who.require_admin()?;
    if revoke(&state.db, who.tenant_id, id).await? {
        audit(&state.db, &who, "revoke", "invitation", Some(id), json!({})).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::ToSchema, Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {
    /// The `token` of the mailed invitation link.
    pub token: String,
    /// No account for the address yet, or an unverified one: the password to set (at least 10
    /// characters). A verified account: its password.
    #[serde(default)]
    pub password: Option<String>,
}

#[derive(utoipa::ToSchema, Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    pub tenant: Tenant,
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    /// The account before accepting: `none` (created now), `verified`, or `unverified` (taken
    /// over by the link's holder: password replaced, every session ended).
    pub account: InviteeAccount,
}

/// Accepts an invitation for the account of the invited address (see the password rules).
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "accounts",
    request_body = AcceptInput,
    responses((status = 200, description = "now a member", body = Accepted),
              (status = 400, description = "malformed JSON", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              (status = 403, description = "the plan limit `max_members`", body = crate::rest::error::Problem, content_type = "application/problem+json"),
              Invalid,
              (status = 429, description = "too many password attempts on this invitation; see Retry-After", body = crate::rest::error::Problem, content_type = "application/problem+json")))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<AcceptInput>,
) -> ApiResult<Json<Accepted>> {
    let done = accept(&state.db, &input.token, input.password.as_deref(), None).await?;
    // The API answers no session: API clients authenticate with tokens.
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(secret_hash(&done.session))
        .execute(&state.db)
        .await?;
    Ok(Json(Accepted {
        tenant: done.tenant,
        user_id: done.user_id,
        email: done.email,
        role: done.role,
        account: done.account,
    }))
}
