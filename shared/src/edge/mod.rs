//! The HTTP edge: turns a `lambda_http` request into a plain [`HttpRequest`], runs a
//! handler, and maps its result (or [`AppError`]) to a response. This is the only place
//! an error becomes a status and a problem+json body.

pub mod batch;
pub mod ws;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::auth::{Authenticator, Principal};
use crate::core::config::ApiConfig;
use crate::core::cursor::CursorCodec;
use crate::core::error::{AppError, AppResult};
use crate::core::ids::UserId;
use crate::table::idempotency::{self, StoredResponse};
use crate::table::store::Store;

/// Largest JSON body any Agora endpoint accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request as handlers see it: no Lambda or API Gateway types.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Lower-cased header names.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
    pub request_id: String,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// Parses the JSON body into `T`, naming the offending field on failure
    /// (`serde_path_to_error`), so `{"skills": [1]}` says `skills[0]`.
    pub fn json<T: DeserializeOwned>(&self) -> AppResult<T> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(AppError::PayloadTooLarge(format!(
                "the body is larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        if let Some(content_type) = self.header("content-type")
            && !content_type.to_ascii_lowercase().contains("json")
        {
            return Err(AppError::bad_field(
                "content-type",
                "must be application/json",
            ));
        }
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(AppError::bad_field("body", "a JSON object is required"));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&self.body);
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
    pub cursors: CursorCodec,
}

impl Api {
    pub async fn new(config: &ApiConfig) -> Self {
        Self {
            store: Store::from_environment(&config.table_name).await,
            auth: Authenticator::new(config.jwt.clone()),
            cursors: CursorCodec::new(&config.cursor_secret),
        }
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

/// The front of every endpoint group: authenticates the bearer token, then serves the
/// request as that principal; every write (POST, PUT, PATCH, DELETE) honours
/// `Idempotency-Key`, so a retry replays the first response.
pub async fn serve_authenticated<F, Fut>(
    store: &Store,
    auth: &Authenticator,
    request: &HttpRequest,
    serve: F,
) -> AppResult<HttpResponse>
where
    F: FnOnce(Principal) -> Fut,
    Fut: Future<Output = AppResult<HttpResponse>>,
{
    let principal = auth
        .authenticate_header(request.header("authorization"))
        .await?;
    // A deleted account's tokens are refused: one GetItem of its tombstone per request
    // (see `account::erasure::check_token`). A write waits for it; a read runs beside it
    // and is thrown away if the token is refused, so reads pay no latency for it.
    if matches!(request.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
        crate::account::erasure::check_token(store, &principal).await?;
        let user = principal.user_id.clone();
        return idempotent(store, &user, request, WRITE_TIMEOUT_SECONDS, || {
            serve(principal)
        })
        .await;
    }
    let check = crate::account::erasure::check_token(store, &principal);
    let (allowed, served) = tokio::join!(check, serve(principal.clone()));
    allowed?;
    served
}

/// Runs a write at most once per `Idempotency-Key` header (see [`idempotency`]). Without
/// the header the write just runs. Only successful responses are remembered.
pub async fn idempotent<F, Fut>(
    store: &Store,
    user: &UserId,
    request: &HttpRequest,
    in_progress_timeout_seconds: i64,
    write: F,
) -> AppResult<HttpResponse>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = AppResult<HttpResponse>>,
{
    let Some(raw) = request.header("idempotency-key") else {
        return write().await;
    };
    let key = idempotency::parse_key(raw)?;
    let hash = idempotency::payload_hash(&request.method, &request.path, &request.body);
    let stored = idempotency::run_once(
        store,
        user,
        &key,
        &hash,
        in_progress_timeout_seconds,
        || async {
            let response = write().await?;
            Ok(StoredResponse {
                status: response.status,
                body: response
                    .body
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
                headers: response.headers,
            })
        },
    )
    .await?;
    Ok(HttpResponse {
        status: stored.status,
        headers: stored.headers,
        body: stored.body.map(String::into_bytes),
    })
}

/// Matches `path` against a route template like `/v1/profiles/{profileRef}`.
pub fn match_path(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    let mut segments = path.trim_end_matches('/').split('/');
    for part in template.trim_end_matches('/').split('/') {
        let segment = segments.next()?;
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !segment.is_empty() => {
                let decoded = url::form_urlencoded::parse(format!("v={segment}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_else(|| segment.to_owned());
                params.insert(name.to_owned(), decoded);
            }
            Some(_) => return None,
            None if part == segment => {}
            None => return None,
        }
    }
    segments.next().is_none().then_some(params)
}

fn to_http_request(request: &Request) -> HttpRequest {
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let query = request
        .query_string_parameters_ref()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned())))
        .collect();
    HttpRequest {
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        query,
        headers,
        body: request.body().as_ref().to_vec(),
        request_id,
    }
}

/// Benchmarks set `AGORA_EXPOSE_REQUEST_COUNTS=1` to read each call's DynamoDB request
/// count from a response header; deployed stacks keep it in the logs only.
fn expose_request_counts() -> bool {
    static EXPOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *EXPOSE.get_or_init(|| std::env::var("AGORA_EXPOSE_REQUEST_COUNTS").is_ok_and(|v| v == "1"))
}

fn to_lambda_response(response: HttpResponse) -> Result<Response<Body>, lambda_http::Error> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    let body = match response.body {
        Some(bytes) => Body::from(bytes),
        None => Body::Empty,
    };
    Ok(builder.body(body)?)
}

/// Runs an HTTP endpoint-group function: every request goes through `handler`, every
/// error becomes problem+json, every log line carries the request id.
pub async fn run_http<S, H, F>(state: S, handler: H) -> Result<(), lambda_http::Error>
where
    S: Clone + Send + Sync + 'static,
    H: Fn(S, HttpRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = AppResult<HttpResponse>> + Send,
{
    lambda_http::run(lambda_http::service_fn(move |request: Request| {
        let state = state.clone();
        let handler = handler.clone();
        async move {
            let request = to_http_request(&request);
            let request_id = request.request_id.clone();
            let (method, path) = (request.method.clone(), request.path.clone());
            let started = std::time::Instant::now();
            let requests_before = crate::table::store::dynamodb_requests();
            let mut response = match handler(state, request).await {
                Ok(response) => response,
                Err(error) => HttpResponse::problem(&error, &request_id),
            };
            let dynamodb_requests = crate::table::store::dynamodb_requests() - requests_before;
            tracing::info!(
                %method,
                %path,
                status = response.status,
                dynamodb_requests,
                duration_ms = started.elapsed().as_secs_f64() * 1e3,
                "request served"
            );
            if expose_request_counts() {
                response = response
                    .with_header("x-agora-dynamodb-requests", dynamodb_requests.to_string());
            }
            to_lambda_response(response.with_header("x-request-id", request_id))
        }
    }))
    .await
}

/// How an endpoint group serves one routed request as an authenticated principal: an
/// `async fn serve(state: &S, principal: &Principal, route: R, request: &HttpRequest)`.
/// A trait rather than an `Fn` bound because the future borrows the arguments, and only
/// an associated type can name a future type that depends on their lifetime.
pub trait ServeRoute<'a, S: 'a, R>:
    Fn(&'a S, &'a Principal, R, &'a HttpRequest) -> Self::Served
{
    type Served: Future<Output = AppResult<HttpResponse>> + Send + 'a;
}

impl<'a, S: 'a, R, F, Fut> ServeRoute<'a, S, R> for F
where
    F: Fn(&'a S, &'a Principal, R, &'a HttpRequest) -> Fut,
    Fut: Future<Output = AppResult<HttpResponse>> + Send + 'a,
{
    type Served = Fut;
}

/// Runs an authenticated endpoint group: `route` maps a path to the group's route (a
/// path it does not know is a 404, before any authentication), then the request is
/// served through [`serve_authenticated`] by `serve`.
pub async fn run_api<S, R, F>(
    state: S,
    route: fn(&str) -> Option<R>,
    serve: F,
) -> Result<(), lambda_http::Error>
where
    S: AsRef<Api> + Send + Sync + 'static,
    R: Send + 'static,
    F: for<'a> ServeRoute<'a, S, R> + Copy + Send + Sync + 'static,
{
    run_http(
        Arc::new(state),
        move |state: Arc<S>, request: HttpRequest| async move {
            serve_route(&*state, &request, route, serve).await
        },
    )
    .await
}

async fn serve_route<S, R, F>(
    state: &S,
    request: &HttpRequest,
    route: fn(&str) -> Option<R>,
    serve: F,
) -> AppResult<HttpResponse>
where
    S: AsRef<Api>,
    F: for<'a> ServeRoute<'a, S, R>,
{
    let route = route(&request.path)
        .ok_or_else(|| AppError::NotFound(format!("no resource at {}", request.path)))?;
    let api = state.as_ref();
    serve_authenticated(&api.store, &api.auth, request, |principal| async move {
        serve(state, &principal, route, request).await
    })
    .await
}

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

    fn request(body: &str) -> HttpRequest {
        HttpRequest {
            body: body.as_bytes().to_vec(),
            ..HttpRequest::default()
        }
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

    #[test]
    fn path_templates_capture_and_decode_parameters() {
        let params = match_path("/v1/profiles/{profileRef}", "/v1/profiles/%40ana").unwrap();
        assert_eq!(params["profileRef"], "@ana");
        assert!(match_path("/v1/profiles/{profileRef}", "/v1/profiles").is_none());
        assert!(match_path("/v1/me", "/v1/me/export").is_none());
        assert!(match_path("/v1/me", "/v1/me/").is_some());
    }
}
