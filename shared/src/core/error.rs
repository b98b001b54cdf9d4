//! One error type for the whole library, and its RFC 9457 problem+json form.
//!
//! Domain functions return [`AppError`]; the edge maps it to a status and a
//! [`Problem`] body in exactly one place. Internal causes are logged, never sent.

use serde::Serialize;

/// A problem with one input field, named as the client sent it (camelCase JSON path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is syntactically wrong: malformed JSON, wrong type, unknown field, bad cursor.
    #[error("bad request: {detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// The request is well-formed but its values break a rule (length, format, range).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("method not allowed; allowed: {0}")]
    MethodNotAllowed(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    /// Anything the client cannot fix. The cause is logged at the edge and never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        AppError::BadRequest {
            detail: format!("{}: {}", error.field, error.message),
            errors: vec![error],
        }
    }

    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        AppError::Internal(cause.to_string())
    }

    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest { .. } => 400,
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::MethodNotAllowed(_) => 405,
            AppError::Conflict(_) => 409,
            AppError::PayloadTooLarge(_) => 413,
            AppError::Validation(_) => 422,
            AppError::RateLimited { .. } => 429,
            AppError::Internal(_) => 500,
        }
    }

    /// The RFC 9457 body the client sees. `instance` is the request id, so a user's
    /// report can be matched to the log line that holds the internal cause.
    pub fn to_problem(&self, request_id: Option<&str>) -> Problem {
        let (slug, title, detail, errors) = match self {
            AppError::BadRequest { detail, errors } => {
                ("bad-request", "Bad request", detail.clone(), errors.clone())
            }
            AppError::Validation(errors) => (
                "validation-failed",
                "Validation failed",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
                errors.clone(),
            ),
            AppError::Unauthorized(d) => ("unauthorized", "Unauthorized", d.clone(), vec![]),
            AppError::Forbidden(d) => ("forbidden", "Forbidden", d.clone(), vec![]),
            AppError::NotFound(d) => ("not-found", "Not found", d.clone(), vec![]),
            AppError::MethodNotAllowed(allowed) => (
                "method-not-allowed",
                "Method not allowed",
                format!("this resource allows {allowed}"),
                vec![],
            ),
            AppError::Conflict(d) => ("conflict", "Conflict", d.clone(), vec![]),
            AppError::PayloadTooLarge(d) => {
                ("payload-too-large", "Payload too large", d.clone(), vec![])
            }
            AppError::RateLimited {
                retry_after_seconds,
            } => (
                "rate-limited",
                "Too many requests",
                format!("retry after {retry_after_seconds} s"),
                vec![],
            ),
            AppError::Internal(_) => (
                "internal",
                "Internal server error",
                "an unexpected error occurred; quote the instance when reporting it".to_owned(),
                vec![],
            ),
        };
        Problem {
            problem_type: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: self.status(),
            detail,
            instance: request_id.map(|id| format!("urn:agora:request:{id}")),
            errors,
        }
    }
}

/// RFC 9457 problem details, served as `application/problem+json`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

pub type AppResult<T> = Result<T, AppError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_error_names_every_field_and_maps_to_422() {
        let error = AppError::Validation(vec![
            FieldError::new("handle", "too short"),
            FieldError::new("bio", "too long"),
        ]);

        let problem = error.to_problem(Some("req-1"));

        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors.len(), 2);
        assert_eq!(problem.errors[0].field, "handle");
        assert_eq!(problem.instance.as_deref(), Some("urn:agora:request:req-1"));
    }

    #[test]
    fn an_internal_error_never_reveals_its_cause() {
        let error = AppError::internal("dynamodb: secret table arn:aws:...");

        let problem = error.to_problem(None);
        let body = serde_json::to_string(&problem).unwrap_or_default();

        assert_eq!(problem.status, 500);
        assert!(!body.contains("arn:aws"));
    }

    #[test]
    fn each_error_kind_has_its_own_status() {
        let statuses: Vec<u16> = [
            AppError::bad_field("x", "y"),
            AppError::Unauthorized("t".into()),
            AppError::Forbidden("f".into()),
            AppError::NotFound("n".into()),
            AppError::Conflict("c".into()),
            AppError::invalid_field("x", "y"),
            AppError::RateLimited {
                retry_after_seconds: 1,
            },
            AppError::internal("boom"),
        ]
        .iter()
        .map(AppError::status)
        .collect();

        assert_eq!(statuses, vec![400, 401, 403, 404, 409, 422, 429, 500]);
    }
}
