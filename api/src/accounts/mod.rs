//! Accounts: who may act for a tenant and how much the tenant may hold. Tenants and sign-up,
//! the people of a tenant (members, with roles) and its API tokens (with scopes), sessions and
//! the `ApiTenant` extractor, and the per-tenant bounds every create reserves against.
//!
//! Submodules depend on each other one way only: `roles` and `limits` need none of the others;
//! `auth` needs `roles`; `tokens` and `members` need `auth`, `roles` and `limits`; `tenancy`
//! needs `auth` and `email`; `email` needs `auth` (and `tenancy`'s client extractor);
//! `invitations` needs `auth`, `email`, `members`, `limits`; `tenant_choice` needs `auth`. This
//! file, the top, merges their routes.

pub mod auth;
pub mod email;
pub mod invitations;
pub mod limits;
pub mod members;
pub mod roles;
pub mod tenancy;
pub mod tenant_choice;
pub mod tokens;

use crate::AppState;
use axum::routing::{delete, get, patch, post};
use axum::Router;

/// Sign-up, members, invitations, account mail (verification, password reset) and API tokens
/// under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", post(tenancy::sign_up))
        .route(
            "/api/v1/members",
            get(members::list_members).post(members::add_member),
        )
        .route(
            "/api/v1/members/invitations",
            get(invitations::list_invitations).post(invitations::create_invitation),
        )
        .route(
            "/api/v1/members/invitations/{id}",
            delete(invitations::revoke_invitation),
        )
        .route(
            "/api/v1/invitations/accept",
            post(invitations::accept_invitation),
        )
        .route(
            "/api/v1/account/email-verification",
            post(email::confirm_email),
        )
        .route(
            "/api/v1/account/email-verification/resend",
            post(email::resend_email_verification),
        )
        .route("/api/v1/account/password-reset", post(email::request_reset))
        .route(
            "/api/v1/account/password-reset/confirm",
            post(email::confirm_reset),
        )
        .route(
            "/api/v1/members/{user_id}",
            patch(members::patch_member).delete(members::remove_member),
        )
        .route(
            "/api/v1/api-tokens",
            post(tokens::create_token).get(tokens::list_tokens),
        )
        .route(
            "/api/v1/api-tokens/{id}",
            get(tokens::get_token).delete(tokens::revoke_token),
        )
}
