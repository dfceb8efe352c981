//! The one API error type: RFC 9457 `application/problem+json`, naming the field at fault.
//! 5xx responses never carry internals; those go to the log.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The problem with a required text of at most `max` characters (trimmed), if any.
pub fn text_problem(field: &str, value: &str, max: usize) -> Option<FieldProblem> {
    let len = value.trim().chars().count();
    (len == 0 || len > max).then(|| FieldProblem {
        field: field.into(),
        message: format!("must be 1 to {max} characters"),
    })
}

/// `Ok` when there are no problems, else a 422 naming every field.
pub fn problems_to_result(problems: Vec<FieldProblem>) -> ApiResult<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(problems))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldProblem>),
    #[error("authentication required")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A per-tenant bound (`accounts::limits`): a 403 whose `limit` member names the column.
    #[error("plan limit {limit}: {detail}")]
    PlanLimit { limit: &'static str, detail: String },
    #[error("not found")]
    NotFound(&'static str),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Too many attempts, or too many at once: a 429 with `Retry-After`.
    #[error("too many requests: {detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// A body past the size an endpoint reads (413), refused while it was read.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Analytics(#[from] statuspage_clickhouse::AnalyticsError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldProblem {
            field: field.into(),
            message: message.into(),
        }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::PlanLimit { .. } => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Database(e) if unique_violation(e).is_some() => StatusCode::CONFLICT,
            Self::Database(e) if foreign_key_violation(e) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Database(_) | Self::Analytics(_) | Self::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

fn unique_violation(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            Some(db.constraint().unwrap_or("unique").to_owned())
        }
        _ => None,
    }
}

fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

/// RFC 9457 problem details, as every error response carries them.
#[derive(Debug, Clone, utoipa::ToSchema, Serialize)]
pub struct Problem {
    /// Always `about:blank`: the status code says it all.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields at fault, for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// The plan limit reached (e.g. `max_monitors`), for 403s refused by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (title, detail, errors) = match &self {
            Self::Validation(errors) => (
                "Invalid request",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors.clone(),
            ),
            Self::Unauthorized(why) => ("Unauthorized", (*why).to_owned(), vec![]),
            Self::Forbidden(why) => ("Forbidden", why.clone(), vec![]),
            Self::PlanLimit { detail, .. } => ("Plan limit reached", detail.clone(), vec![]),
            Self::NotFound(what) => ("Not found", format!("{what} not found"), vec![]),
            Self::PreconditionFailed(why) => ("Precondition failed", why.clone(), vec![]),
            Self::Conflict(why) => ("Conflict", why.clone(), vec![]),
            Self::BadRequest(why) => ("Bad request", why.clone(), vec![]),
            Self::TooManyRequests { detail, .. } => ("Too many requests", detail.clone(), vec![]),
            Self::PayloadTooLarge(why) => ("Payload too large", why.clone(), vec![]),
            Self::Database(e) if status == StatusCode::CONFLICT => (
                "Conflict",
                format!(
                    "already exists ({})",
                    unique_violation(e).unwrap_or_default()
                ),
                vec![],
            ),
            Self::Database(_) if status == StatusCode::UNPROCESSABLE_ENTITY => (
                "Invalid request",
                "refers to something that does not exist".to_owned(),
                vec![],
            ),
            _ => {
                tracing::error!(error = %self, "internal error");
                (
                    "Internal server error",
                    "something went wrong on our side".to_owned(),
                    vec![],
                )
            }
        };
        let body = Problem {
            kind: "about:blank".to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            detail,
            errors,
            limit: match &self {
                Self::PlanLimit { limit, .. } => Some((*limit).to_owned()),
                _ => None,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
        if let Self::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(*retry_after_secs),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::PathRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

/// `Path` whose rejections (e.g. an id that is not a UUID) are problem+json too.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `Query` whose rejections are problem+json too.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
