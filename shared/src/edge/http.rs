//! The axum side of the edge: extractors that refuse as problem+json (the principal,
//! JSON bodies, query parameters, path parameters), the `Idempotency-Key` middleware,
//! the 404/405 fallbacks and [`run`], which serves a router through `lambda_http`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;

use super::openapi::RouteIndex;
use super::{Api, HttpResponse, MAX_BODY_BYTES, WRITE_TIMEOUT_SECONDS, parse_json, too_large};
use crate::contexts::trust;
use crate::core::auth::Principal;
use crate::core::cursor::parse_limit;
use crate::core::error::{AppError, AppResult};
use crate::core::rate_limit::RateDecision;
use crate::core::trust::TrustLevel;
use crate::table::idempotency::{self, StoredResponse};
use crate::table::rate_limit;
use crate::table::store::Rider;

/// API Gateway's HTTP API payload quota: the most a write can carry to be hashed.
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

tokio::task_local! {
    /// The Lambda request id of the request being served (the problem's `instance`).
    static REQUEST_ID: String;
}

/// The Lambda request id of the request being served, empty outside of one.
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// An [`AppError`] on its way out as problem+json: what handlers and extractors return.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl From<crate::core::auth::AuthError> for ApiError {
    fn from(error: crate::core::auth::AuthError) -> Self {
        Self(error.into())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self(AppError::bad_field("path", rejection.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        HttpResponse::problem(&self.0, &request_id()).into_response()
    }
}

/// What a handler returns.
pub type ApiResult<T = HttpResponse> = Result<T, ApiError>;

impl IntoResponse for HttpResponse {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(bytes) => Response::new(Body::from(bytes)),
            None => Response::new(Body::empty()),
        };
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::try_from(value.as_str()),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// The state of an authenticated endpoint group: the shared [`Api`], possibly with more.
pub trait ApiState: Clone + Send + Sync + 'static {
    fn api(&self) -> &Api;
}

impl ApiState for Arc<Api> {
    fn api(&self) -> &Api {
        self
    }
}

/// The authenticated caller: the bearer JWT of the `Authorization` header, verified.
/// Missing or invalid is a 401 problem.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: ApiState> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        authenticate(parts, state.api()).await.map(Caller)
    }
}

/// The caller's trust level, as the standing check read it for a write (level 0 when
/// it did not run: a read, or a request without a valid token, which `Caller` refuses).
#[derive(Debug, Clone, Copy)]
pub struct Trust(pub TrustLevel);

impl<S: Send + Sync> FromRequestParts<S> for Trust {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Trust(
            parts
                .extensions
                .get::<TrustLevel>()
                .copied()
                .unwrap_or_default(),
        ))
    }
}

/// The principal of a request, verified once (the idempotency middleware may have).
async fn authenticate(parts: &mut Parts, api: &Api) -> Result<Principal, ApiError> {
    if let Some(principal) = parts.extensions.get::<Principal>() {
        return Ok(principal.clone());
    }
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let principal = api.auth.authenticate_header(header.as_deref()).await?;
    parts.extensions.insert(principal.clone());
    Ok(principal)
}

/// A JSON body: at most [`MAX_BODY_BYTES`] (413), a JSON content type if any is given,
/// not empty, and of `T`'s shape (400 naming the field by its JSON path).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| too_large())?;
        Ok(Json(parse_json(content_type.as_deref(), &body)?))
    }
}

/// A JSON body that may be left out: an empty body is `T::default()`; anything else is
/// read as [`Json`] reads it.
#[derive(Debug)]
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| too_large())?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        Ok(JsonOrEmpty(parse_json(content_type.as_deref(), &body)?))
    }
}

/// The query string's parameters (a repeated one keeps its first value), with the
/// paging pair every list endpoint takes.
#[derive(Debug, Clone, Default)]
pub struct Query(BTreeMap<String, String>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `limit`: 1 to 100, default 20 (400 naming `limit` otherwise).
    pub fn limit(&self) -> Result<u32, AppError> {
        parse_limit(self.get("limit"))
    }

    /// `cursor`: the `nextCursor` of the previous page.
    pub fn cursor(&self) -> Option<&str> {
        self.get("cursor")
    }

    /// A boolean flag: absent or `false` is false, `true` is true, anything else a 400.
    pub fn flag(&self, name: &str) -> Result<bool, AppError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(AppError::bad_field(name, "must be true or false")),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Query {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let mut params = BTreeMap::new();
        for (name, value) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
        {
            params
                .entry(name.into_owned())
                .or_insert_with(|| value.into_owned());
        }
        Ok(Query(params))
    }
}

/// Path parameters (axum's, refusing as problem+json).
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Refuses the tokens of a deleted account (see `account::erasure::check_token`), and
/// what a suspended, banned or muted account may not do (see
/// `moderation::judge_request`): a read of its tombstone and standing per authenticated
/// request. A write waits for a BatchGetItem of them. A read carries their keys on its
/// first BatchGetItem (`table::store::Rider`), so a page that batch-reads pays no
/// request for them; one that does not reads them with a BatchGetItem after it ran. A
/// refused read's answer is thrown away.
/// A write also counts against the caller's write limit for this endpoint group (one
/// UpdateItem, beside the standing read): past it, a 429 with `Retry-After`; every
/// write's answer carries `RateLimit-Policy` and `RateLimit`. The same read gives the
/// caller's trust level (their stats; `trust::level_of`), which a write's handler finds
/// in the request's extensions ([`Trust`]). A post (`trust::is_post`) also reads its
/// hour's counter in that BatchGetItem: at the level's posts per hour, a 429; a post
/// that was made (2xx) then adds one to it (one UpdateItem), so refused and invalid
/// posts do not count.
/// A request whose token does not verify passes on: its handler's [`Caller`] refuses it.
async fn refuse_deleted_accounts<S: ApiState>(
    State(state): State<S>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(principal) = authenticate(&mut parts, state.api()).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let request = Request::from_parts(parts, body);
    let api = state.api();
    let store = &api.store;
    let method = request.method().as_str().to_owned();
    let path = request.uri().path().to_owned();
    let judge = |found: Vec<Option<crate::table::store::Item>>| {
        judge_caller(found, &principal, &method, &path, &api.write_limit.name)
    };
    let keys = standing_keys(&principal);
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    if is_write {
        let now = crate::core::ids::now_epoch_seconds();
        // A post's hourly counter rides on the same read (its key does not depend on
        // the level; its quota does).
        let post = trust::is_post(&method, &path);
        let posts_key = post.then(|| {
            let policy = trust::posts_policy(TrustLevel::NEW);
            rate_limit::keys::counter(&principal.user_id, &policy, policy.window_start(now))
        });
        let mut keys = keys;
        keys.extend(posts_key);
        let (found, decision) = tokio::join!(
            store.batch_get_each(&keys),
            rate_limit::hit(store, &principal.user_id, &api.write_limit, now)
        );
        let judged = found.and_then(|mut found| {
            let posted = if post {
                rate_limit::count_in(found.pop().flatten().as_ref())
            } else {
                0
            };
            judge(found).map(|level| (level, posted))
        });
        let (level, posted) = match judged {
            Ok(judged) => judged,
            Err(error) => return ApiError(error).into_response(),
        };
        let mut request = request;
        request.extensions_mut().insert(level);
        let posts_policy = post.then(|| trust::posts_policy(level));
        if let Some(policy) = &posts_policy {
            let posts = RateDecision::of_read(policy, posted, now);
            if !posts.allowed {
                let mut response = ApiError(posts.refusal()).into_response();
                rate_limit_headers(&mut response, policy, &posts);
                return response;
            }
        }
        let response = guarded_write(api, request, next, decision).await;
        // Only a post that was made counts against the hour.
        if let Some(policy) = &posts_policy
            && response.status().is_success()
            && let Err(error) = rate_limit::count(store, &principal.user_id, policy, now).await
        {
            tracing::warn!(%error, "a post could not be counted against its hour");
        }
        return response;
    }
    // A read's check rides on its first BatchGetItem (no request of its own); a read
    // that makes none checks after it ran. Either way a refused token gets no data.
    let rider = Rider::new(keys.clone());
    let response = rider.clone().carry(next.run(request)).await;
    let found = match rider.outcome() {
        Some(found) => Ok(found),
        None => store.batch_get_each(&keys).await,
    };
    match found.and_then(judge) {
        Ok(_) => response,
        Err(error) => ApiError(error).into_response(),
    }
}

/// Runs a write under the endpoint group's write limit (`decision`, counted beside the
/// standing read): past it a 429; either way the answer carries the limit's headers.
async fn guarded_write(
    api: &Api,
    request: Request,
    next: Next,
    decision: AppResult<RateDecision>,
) -> Response {
    let decision = match decision {
        Ok(decision) => decision,
        Err(error) => {
            // The limit protects the service; a counter that cannot be read must
            // not take every write down with it.
            tracing::warn!(%error, "the write limit could not be counted; allowing");
            return next.run(request).await;
        }
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError(decision.refusal()).into_response()
    };
    rate_limit_headers(&mut response, &api.write_limit, &decision);
    response
}

/// The caller's tombstone, standing and trust stats keys.
fn standing_keys(principal: &Principal) -> Vec<crate::table::store::Key> {
    vec![
        crate::account::erasure::tombstone_key(principal),
        crate::contexts::moderation::standing_key(&principal.user_id),
        trust::stats_key(&principal.user_id),
    ]
}

/// The tombstone's and the standing's verdicts on the caller's request, and the
/// caller's trust level.
fn judge_caller(
    mut found: Vec<Option<crate::table::store::Item>>,
    principal: &Principal,
    method: &str,
    path: &str,
    group: &str,
) -> AppResult<TrustLevel> {
    let stats = trust::stats_in(found.pop().flatten());
    let standing = found.pop().flatten();
    let tombstone = found.pop().flatten();
    crate::account::erasure::check_token_on(tombstone, principal)?;
    let standing: Option<crate::contexts::moderation::AccountStanding> =
        standing.map(crate::table::store::from_item).transpose()?;
    crate::contexts::moderation::judge_request(
        standing.as_ref(),
        &crate::core::ids::now_rfc3339(),
        method,
        path,
        group,
    )?;
    Ok(trust::level_of(
        stats.as_ref(),
        crate::core::ids::now_epoch_seconds(),
    ))
}

/// The IETF draft's `RateLimit-Policy` and `RateLimit` fields on a counted answer.
fn rate_limit_headers(
    response: &mut Response,
    policy: &crate::core::rate_limit::RatePolicy,
    decision: &crate::core::rate_limit::RateDecision,
) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-policy", policy.policy_header()),
        ("ratelimit", decision.header(policy)),
    ] {
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// Runs every write (POST, PUT, PATCH, DELETE) that carries an `Idempotency-Key` at
/// most once per key (see [`idempotency`]): a retry with the same key and body gets the
/// first response again. Only successful responses are remembered.
async fn idempotent_writes<S: ApiState>(
    State(state): State<S>,
    request: Request,
    next: Next,
) -> Response {
    let is_write = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let Some(key) = request.headers().get("idempotency-key").cloned() else {
        return next.run(request).await;
    };
    if !is_write {
        return next.run(request).await;
    }
    match run_once(state.api(), request, &key, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run_once(
    api: &Api,
    request: Request,
    key: &HeaderValue,
    next: Next,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let principal = authenticate(&mut parts, api).await?;
    let key = idempotency::parse_key(&String::from_utf8_lossy(key.as_bytes()))?;
    let body = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| too_large())?;
    let hash = idempotency::payload_hash(parts.method.as_str(), parts.uri.path(), &body);
    let request = Request::from_parts(parts, Body::from(body));
    // A refused write is answered as it is and not remembered.
    let mut refused: Option<Response> = None;
    let slot = &mut refused;
    let stored = idempotency::run_once(
        &api.store,
        &principal.user_id,
        &key,
        &hash,
        WRITE_TIMEOUT_SECONDS,
        move || async move {
            let (parts, body) = next.run(request).await.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(AppError::internal)?;
            if !parts.status.is_success() {
                *slot = Some(Response::from_parts(parts, Body::from(body)));
                return Err(AppError::internal("refused writes are not remembered"));
            }
            Ok(StoredResponse {
                status: parts.status.as_u16(),
                body: (!body.is_empty()).then(|| String::from_utf8_lossy(&body).into_owned()),
                headers: parts
                    .headers
                    .iter()
                    .filter(|(name, _)| *name != axum::http::header::CONTENT_LENGTH)
                    .map(|(name, value)| {
                        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                        (name.as_str().to_owned(), value)
                    })
                    .collect(),
            })
        },
    )
    .await;
    match (stored, refused) {
        (_, Some(response)) => Ok(response),
        (Ok(stored), None) => Ok(HttpResponse {
            status: stored.status,
            headers: stored.headers,
            body: stored.body.map(String::into_bytes),
        }
        .into_response()),
        (Err(error), None) => Err(error.into()),
    }
}

/// A path as logged: the secret of a calendar URL is left out (it is a credential).
fn loggable(path: &str) -> String {
    let secret_prefix = format!("{}/", crate::contexts::events::CALENDAR_FEED_PATH);
    match path.strip_prefix(&secret_prefix) {
        Some(_) => format!("{secret_prefix}{{token}}"),
        None => path.to_owned(),
    }
}

/// Request id, access log line and response headers around every request.
async fn request_context(request: Request, next: Next) -> Response {
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let (method, path) = (request.method().clone(), loggable(request.uri().path()));
    // The API Gateway route ("GET /v1/profiles/{profileRef}", "$default"): bounded, unlike
    // the path, so it can be a metric dimension.
    let route_key = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(context)) => {
            context.route_key.clone().unwrap_or_default()
        }
        _ => String::new(),
    };
    let started = std::time::Instant::now();
    let requests_before = crate::table::store::dynamodb_requests();
    let mut response = REQUEST_ID
        .scope(request_id.clone(), next.run(request))
        .await;
    let dynamodb_requests = crate::table::store::dynamodb_requests() - requests_before;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        dynamodb_requests,
        duration_ms = started.elapsed().as_secs_f64() * 1e3,
        "request served"
    );
    crate::core::telemetry::emit_counts(
        if route_key.is_empty() {
            "unknown"
        } else {
            &route_key
        },
        &[("DynamoDbRequests", dynamodb_requests)],
    );
    let headers = response.headers_mut();
    if expose_request_counts()
        && let Ok(value) = HeaderValue::try_from(dynamodb_requests.to_string())
    {
        headers.insert("x-agora-dynamodb-requests", value);
    }
    if let Ok(value) = HeaderValue::try_from(request_id) {
        headers.insert("x-request-id", value);
    }
    response
}

/// Benchmarks set `AGORA_EXPOSE_REQUEST_COUNTS=1` to read each call's DynamoDB request
/// count from a response header; deployed stacks keep it in the logs only.
fn expose_request_counts() -> bool {
    static EXPOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *EXPOSE.get_or_init(|| std::env::var("AGORA_EXPOSE_REQUEST_COUNTS").is_ok_and(|v| v == "1"))
}

/// The answer to a request no route takes: 405 with `Allow` for a known path, 404
/// otherwise, as problem+json. Also what the HTTP API's `$default` route answers.
pub fn unrouted(index: &RouteIndex, method: &Method, path: &str) -> ApiError {
    match index.allowed(path) {
        Some(allowed) if !allowed.iter().any(|m| *m == method.as_str()) => {
            ApiError(AppError::MethodNotAllowed(allowed.join(", ")))
        }
        _ => ApiError(AppError::NotFound(format!("no resource at {path}"))),
    }
}

/// An endpoint group's router, ready to serve: the idempotency middleware on its routes,
/// problem+json 404/405 for everything else, and the request context around it all.
pub fn router<S: ApiState>(routes: OpenApiRouter<S>, state: S) -> Router {
    let (router, document) = routes.split_for_parts();
    // Layers run outermost last-added first: a deleted account is refused before a
    // write could be replayed or run.
    let router = router
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotent_writes::<S>,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_deleted_accounts::<S>,
        ));
    finish(
        router,
        Arc::new(LazyRouteIndex::new(Box::new(move || {
            RouteIndex::new(&document)
        }))),
    )
    .with_state(state)
}

/// A route index built on its first use (the whole API's index is built from the whole
/// OpenAPI document, which a cold start should not wait for).
pub type LazyRouteIndex = std::sync::LazyLock<RouteIndex, Box<dyn FnOnce() -> RouteIndex + Send>>;

/// Adds the 404/405 fallbacks (from the routes of `index`) and the request context.
pub fn finish<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    index: Arc<LazyRouteIndex>,
) -> Router<S> {
    let for_methods = Arc::clone(&index);
    router
        .fallback(move |method: Method, uri: axum::http::Uri| {
            let index = Arc::clone(&index);
            async move { unrouted(&index, &method, uri.path()) }
        })
        .method_not_allowed_fallback(move |method: Method, uri: axum::http::Uri| {
            let index = Arc::clone(&for_methods);
            async move { unrouted(&index, &method, uri.path()) }
        })
        .layer(middleware::from_fn(request_context))
}

/// Serves `router` as this Lambda function's handler (also under `cargo lambda watch`).
pub async fn run(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(router).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calendar_urls_secret_is_never_logged_and_other_paths_are() {
        let secret = "kq1yJ2sJt0e6S3nqvQm5cXx3oJp0Hk7wW9b1a2c3d4e";

        assert_eq!(
            loggable(&format!("/v1/calendars/{secret}")),
            "/v1/calendars/{token}"
        );
        assert_eq!(loggable("/v1/events/e1/calendar"), "/v1/events/e1/calendar");
    }
}
