//! The error responses every `/api/v1` operation shares, declared once for the OpenAPI document.
//! An operation lists its own success response and the ones below, e.g.
//! `responses((status = 201, description = "created (ETag header)", body = Monitor), Malformed,
//! NeedsToken, WriteForbidden, Invalid)`.

use crate::rest::error::Problem;

/// 400 for a body that is not the resource's JSON.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "malformed JSON or unknown fields",
    content_type = "application/problem+json"
)]
pub struct Malformed(#[allow(dead_code)] Problem);

/// 400 for a path or query that does not parse.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "malformed JSON, path or query",
    content_type = "application/problem+json"
)]
pub struct MalformedRequest(#[allow(dead_code)] Problem);

#[derive(utoipa::IntoResponses)]
#[response(
    status = 401,
    description = "missing or invalid API token",
    content_type = "application/problem+json"
)]
pub struct NeedsToken(#[allow(dead_code)] Problem);

/// 403 for writes: a read-only token, or a plan limit (named in `limit`).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "read-only token or plan limit",
    content_type = "application/problem+json"
)]
pub struct WriteForbidden(#[allow(dead_code)] Problem);

/// 403 for what only `admin` tokens may do (tokens, members, channels).
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "token without the `admin` scope, or a plan limit",
    content_type = "application/problem+json"
)]
pub struct AdminForbidden(#[allow(dead_code)] Problem);

/// 404: another tenant's row is indistinguishable from a missing one.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "not found (or another tenant's)",
    content_type = "application/problem+json"
)]
pub struct NotFound(#[allow(dead_code)] Problem);

#[derive(utoipa::IntoResponses)]
#[response(
    status = 412,
    description = "If-Match does not match the current version",
    content_type = "application/problem+json"
)]
pub struct StaleVersion(#[allow(dead_code)] Problem);

#[derive(utoipa::IntoResponses)]
#[response(
    status = 422,
    description = "invalid input; `errors` names the fields",
    content_type = "application/problem+json"
)]
pub struct Invalid(#[allow(dead_code)] Problem);

/// 404 on a status page's public routes: a private page looks like no page.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 404,
    description = "no such page, or a private one",
    content_type = "application/problem+json"
)]
pub struct NoSuchPage(#[allow(dead_code)] Problem);

/// 429 on a password-protected page's public routes, before any password is checked.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 429,
    description = "too many password attempts for the page or from this client; see Retry-After",
    content_type = "application/problem+json"
)]
pub struct TooManyGuesses(#[allow(dead_code)] Problem);
