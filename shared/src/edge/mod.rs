//! The HTTP edge: every HTTP function is an axum router run by `lambda_http`
//! ([`http::run`]); its routes and thin handlers live in [`routes`], one module per
//! function, each declared once for both the router and the OpenAPI document
//! ([`openapi`]). [`HttpResponse::problem`] is the only place an [`AppError`] becomes a
//! status and a problem+json body.

pub mod asyncapi;
pub mod batch;
pub mod http;
pub mod openapi;
pub mod reactions;
pub mod realtime;
pub mod routes;
pub mod scheduled;
pub mod stream;
pub mod views;
pub mod ws;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::auth::Authenticator;
use crate::core::config::ApiConfig;
use crate::core::cursor::CursorCodec;
use crate::core::error::{AppError, AppResult};
use crate::table::store::Store;

/// Largest JSON body any Agora endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses a JSON body into `T`, naming the offending field on failure
/// (`serde_path_to_error`), so `{"skills": [1]}` says `skills[0]`. `content_type` is the
/// request's header, if any: a non-JSON one is refused.
pub fn parse_json<T: DeserializeOwned>(content_type: Option<&str>, body: &[u8]) -> AppResult<T> {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large());
    }
    if let Some(content_type) = content_type
        && !content_type.to_ascii_lowercase().contains("json")
    {
        return Err(AppError::bad_field(
            "content-type",
            "must be application/json",
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_field("body", "a JSON object is required"));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        // A syntax error has no meaningful field: the body as a whole is broken.
        let field = if path == "." || path.is_empty() || inner.is_syntax() || inner.is_eof() {
            "body".to_owned()
        } else {
            path
        };
        let message = if inner.is_syntax() || inner.is_eof() {
            format!("is not valid JSON ({inner})")
        } else {
            // serde's own wording ("unknown field `x`", "invalid type: integer,
            // expected a string") is clear; line/column adds nothing for clients.
            strip_position(&inner.to_string())
        };
        AppError::bad_field(field, message)
    })
}

/// The error for a body over [`MAX_BODY_BYTES`].
pub fn too_large() -> AppError {
    AppError::PayloadTooLarge(format!("the body is larger than {MAX_BODY_BYTES} bytes"))
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// A response as handlers build it.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

impl HttpResponse {
    pub fn json<T: Serialize>(status: u16, body: &T) -> AppResult<Self> {
        Ok(Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Some(serde_json::to_vec(body).map_err(AppError::internal)?),
        })
    }

    /// A text body of `content_type` (a calendar, say).
    pub fn text(status: u16, content_type: &str, body: String) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.to_owned())],
            body: Some(body.into_bytes()),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: 204,
            headers: vec![],
            body: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The problem+json response for an error. Internal causes are logged here and only
    /// here, with the request id the client sees as `instance`.
    pub fn problem(error: &AppError, request_id: &str) -> Self {
        match error {
            AppError::Internal(cause) => tracing::error!(%cause, "request failed"),
            other => tracing::info!(status = other.status(), error = %other, "request refused"),
        }
        let problem = error.to_problem(Some(request_id));
        let mut response = Self {
            status: problem.status,
            headers: vec![("content-type".into(), "application/problem+json".into())],
            body: serde_json::to_vec(&problem).ok(),
        };
        if let AppError::RateLimited {
            retry_after_seconds,
        } = error
        {
            response = response.with_header("retry-after", retry_after_seconds.to_string());
        }
        if let AppError::MethodNotAllowed(allowed) = error {
            response = response.with_header("allow", allowed.clone());
        }
        if let AppError::Unauthorized(_) = error {
            response = response.with_header("www-authenticate", "Bearer");
        }
        response
    }
}

/// What every authenticated endpoint group serves with, built once per cold start. A
/// group that needs more (chat's send limit) wraps it and implements `AsRef<Api>`.
pub struct Api {
    pub store: Store,
    pub auth: Authenticator,
    /// The cursor key, read when first needed (see [`Api::cursors`]).
    cursor_secret: crate::core::config::Secret,
    cursors: tokio::sync::OnceCell<CursorCodec>,
    /// Each user's writes to this group (see `http::refuse_deleted_accounts`).
    pub write_limit: crate::core::rate_limit::RatePolicy,
}

impl Api {
    /// Built from the function's one SDK configuration (`aws_config::load_from_env`).
    pub fn new(config: &ApiConfig, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            store: Store::from_sdk_config(sdk, &config.table_name),
            auth: Authenticator::new(config.jwt.clone()),
            cursor_secret: config.cursor_secret.clone(),
            cursors: tokio::sync::OnceCell::new(),
            write_limit: config.write_limit.clone(),
        }
    }

    /// What seals and opens this group's cursors; the first call waits for the
    /// cursor key's read (a failed read is a 500, and is retried by the next call).
    pub async fn cursors(&self) -> AppResult<&CursorCodec> {
        self.cursors
            .get_or_try_init(|| async {
                let key = self.cursor_secret.get().await?;
                Ok::<_, crate::core::config::ConfigError>(CursorCodec::new(&key))
            })
            .await
            .map_err(|error| AppError::Internal(error.to_string()))
    }
}

impl AsRef<Api> for Api {
    fn as_ref(&self) -> &Api {
        self
    }
}

/// Longer than any function's timeout, so a crashed attempt's idempotency lock always
/// expires.
pub const WRITE_TIMEOUT_SECONDS: i64 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        skills: Vec<String>,
    }

    struct Body<'a>(&'a str);

    impl Body<'_> {
        fn json<T: DeserializeOwned>(&self) -> AppResult<T> {
            parse_json(None, self.0.as_bytes())
        }
    }

    fn request(body: &str) -> Body<'_> {
        Body(body)
    }

    fn field_of(error: AppError) -> String {
        match error {
            AppError::BadRequest { errors, .. } => errors[0].field.clone(),
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_type_names_the_nested_field() {
        let error = request(r#"{"name":"a","skills":[1]}"#)
            .json::<Sample>()
            .unwrap_err();
        assert_eq!(field_of(error), "skills[0]");
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let error = request(r#"{"name":"a","skills":[],"admin":true}"#)
            .json::<Sample>()
            .unwrap_err();
        assert!(error.to_string().contains("unknown field"));
    }

    #[test]
    fn malformed_json_and_empty_bodies_are_bad_requests() {
        assert_eq!(
            field_of(request("{nope").json::<Sample>().unwrap_err()),
            "body"
        );
        assert_eq!(field_of(request("").json::<Sample>().unwrap_err()), "body");
    }

    #[test]
    fn an_oversized_body_is_refused_before_parsing() {
        let big = format!(r#"{{"name":"{}","skills":[]}}"#, "a".repeat(MAX_BODY_BYTES));
        assert!(matches!(
            request(&big).json::<Sample>(),
            Err(AppError::PayloadTooLarge(_))
        ));
    }
}
