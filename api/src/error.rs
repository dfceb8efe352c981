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

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("validation failed")]
    Validation(Vec<FieldProblem>),
    #[error("authentication required")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound(&'static str),
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("bad request: {0}")]
    BadRequest(String),
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
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
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
            Self::NotFound(what) => ("Not found", format!("{what} not found"), vec![]),
            Self::PreconditionFailed(why) => ("Precondition failed", why.clone(), vec![]),
            Self::Conflict(why) => ("Conflict", why.clone(), vec![]),
            Self::BadRequest(why) => ("Bad request", why.clone(), vec![]),
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
        };
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/problem+json"),
        );
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

/// `Json` whose rejections are problem+json too, naming the field when one is at fault.
/// Strings with NUL characters are refused here: PostgreSQL cannot store them in text.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value): axum::Json<serde_json::Value> =
            axum::Json::from_request(req, state).await?;
        decode_json(value).map(Self)
    }
}

/// Decodes a request body already parsed as JSON, with the errors [`ApiJson`] gives.
pub fn decode_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> ApiResult<T> {
    if let Some(field) = control_field(&value, String::new()) {
        return Err(ApiError::field(
            if field.is_empty() {
                "body".to_owned()
            } else {
                field
            },
            "must not contain control characters (other than tab, line feed and carriage return)",
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            ApiError::BadRequest(e.inner().to_string())
        } else {
            ApiError::field(path, e.inner().to_string())
        }
    })
}

/// Characters no text we store may hold: C0 controls but tab, LF and CR (NUL cannot even be
/// stored by PostgreSQL), DEL and the C1 controls (YAML exports could not carry them).
pub fn is_forbidden_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{7f}'
}

/// The path of the first string (or key) holding a forbidden control character.
fn control_field(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let bad = |s: &str| s.chars().any(is_forbidden_control);
    match value {
        Value::String(s) if bad(s) => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| control_field(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if bad(k) {
                Some(field)
            } else {
                control_field(v, field)
            }
        }),
        _ => None,
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
