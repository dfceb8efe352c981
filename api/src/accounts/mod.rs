//! Accounts: who may act for a tenant and how much the tenant may hold. Tenants and sign-up,
//! the people of a tenant (members, with roles) and its API tokens (with scopes), sessions and
//! the `ApiTenant` extractor, and the per-tenant bounds every create reserves against.
//!
//! Submodules depend on each other one way only: `roles` and `limits` need none of the others;
//! `auth` needs `roles`; `tokens` and `members` need `auth`, `roles` and `limits`; `tenancy`
//! needs `auth`. This file, the top, merges their routes.

pub mod auth;
pub mod limits;
pub mod members;
pub mod roles;
pub mod tenancy;
pub mod tokens;

use crate::AppState;
use axum::routing::{get, patch, post};
use axum::Router;

/// Sign-up, members and API tokens under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants", post(tenancy::sign_up))
        .route(
            "/api/v1/members",
            get(members::list_members).post(members::add_member),
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
