//! The template's HTTP API (`AWS::Serverless::HttpApi`) on loopback.
//!
//! It reproduces what API Gateway HTTP APIs do between a client and a Lambda proxy
//! integration, so the functions' `lambda_http` code paths are the production ones:
//! route selection (most specific route wins, `ANY`, `{param}`, `{proxy+}`, `$default`),
//! the payload format 2.0 event, the translation of the function's response (structured
//! or inferred), CORS handled by the gateway, the 10 MB request limit, and API Gateway's
//! own error bodies (`{"message":"Not Found"}`, ...).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use http::header::{self, HeaderName};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::{CorsSpec, FunctionSpec, Invoke, InvokeError, StackModel};
use crate::template::local_resource_id;

/// API Gateway's HTTP API payload quota.
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// An HTTP API stops waiting for a Lambda integration after 30 s (its hard maximum).
pub const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// The route key of the catch-all route.
const DEFAULT_ROUTE: &str = "$default";

/// A running HTTP API server.
#[derive(Debug)]
pub struct HttpApiServer {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpApiServer {
    /// Serves the model's HTTP API on `listener` (already bound, so its port is known
    /// before any function starts).
    pub fn start(
        listener: TcpListener,
        model: &StackModel,
        invoker: Arc<dyn Invoke>,
    ) -> std::io::Result<Self> {
        Self::serve(listener, HttpApi::new(model, invoker))
    }

    /// Serves the model's HTTP API with extra routes in front of it (the local stack's
    /// development pages, see [`crate::web`]); every other path goes to the gateway.
    pub fn start_with(
        listener: TcpListener,
        model: &StackModel,
        invoker: Arc<dyn Invoke>,
        extra: Router,
    ) -> std::io::Result<Self> {
        Self::serve_with(listener, HttpApi::new(model, invoker), extra)
    }

    /// Serves an [`HttpApi`] configured by the caller (e.g. a shorter integration timeout).
    pub fn serve(listener: TcpListener, api: HttpApi) -> std::io::Result<Self> {
        Self::serve_with(listener, api, Router::new())
    }

    fn serve_with(listener: TcpListener, api: HttpApi, extra: Router) -> std::io::Result<Self> {
        let address = listener.local_addr()?;
        let app = extra.merge(router(api));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            let served = axum::serve(listener, service)
                .with_graceful_shutdown(async {
                    // Either an explicit stop or the handle being dropped ends the server.
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "HTTP API server failed");
            }
        });
        Ok(Self {
            address,
            stop: Some(stop),
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`; the `$default` stage is served at the root, as in AWS.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops accepting requests and waits for in-flight ones (bounded by the caller).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for HttpApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The HTTP API as an axum [`Router`] (every path goes to the gateway logic), for
/// serving or for driving in tests with `tower::ServiceExt::oneshot`.
pub fn router(api: HttpApi) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(api))
}

/// What the gateway knows: routes, CORS and identity.
pub struct HttpApi {
    routes: RouteTable,
    cors: Option<CorsSpec>,
    invoker: Arc<dyn Invoke>,
    api_id: String,
    account_id: String,
    region: String,
    integration_timeout: Duration,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpApi")
            .field("api_id", &self.api_id)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl HttpApi {
    pub fn new(model: &StackModel, invoker: Arc<dyn Invoke>) -> Self {
        let logical_id = model
            .http_api
            .as_ref()
            .map_or("ServerlessHttpApi", |api| api.logical_id.as_str());
        Self {
            routes: RouteTable::new(&model.functions),
            cors: model.http_api.as_ref().and_then(|api| api.cors.clone()),
            invoker,
            api_id: local_resource_id(&model.stack_name, logical_id),
            account_id: model.account_id.clone(),
            region: model.region.clone(),
            integration_timeout: INTEGRATION_TIMEOUT,
        }
    }

    /// Shortens the integration timeout (tests).
    pub fn with_integration_timeout(mut self, timeout: Duration) -> Self {
        self.integration_timeout = timeout;
        self
    }
}

// ---- routing ---------------------------------------------------------------------------

/// The routes of every function, matched as API Gateway matches them.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

#[derive(Debug, Clone)]
struct Route {
    method: String,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
    route_key: String,
    function: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

impl Segment {
    /// Literal segments are more specific than variables, which beat greedy variables.
    fn rank(&self) -> u8 {
        match self {
            Self::Literal(_) => 2,
            Self::Param(_) => 1,
            Self::Greedy(_) => 0,
        }
    }
}

/// The route a request selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// `GET /v1/items/{id}` or `$default`.
    pub route_key: String,
    pub function_logical_id: String,
    /// Decoded values of the path variables (`proxy` for `{proxy+}`).
    pub path_parameters: BTreeMap<String, String>,
}

impl RouteTable {
    pub fn new(functions: &[FunctionSpec]) -> Self {
        let mut table = Self::default();
        for function in functions {
            for route in &function.http_routes {
                table.add(&route.method, &route.path, &function.logical_id);
            }
        }
        table
    }

    fn add(&mut self, method: &str, path: &str, function: &str) {
        let method = method.to_ascii_uppercase();
        let (segments, route_key) = if path == DEFAULT_ROUTE {
            (None, DEFAULT_ROUTE.to_owned())
        } else {
            (Some(parse_path(path)), format!("{method} {path}"))
        };
        if self.routes.iter().any(|r| r.route_key == route_key) {
            // CloudFormation would refuse the template; serving the first is clearer
            // than failing the whole stack.
            tracing::warn!(route_key, function, "duplicate HTTP API route ignored");
            return;
        }
        self.routes.push(Route {
            method,
            segments,
            route_key,
            function: function.to_owned(),
        });
    }

    /// The most specific route for the request, as API Gateway selects it: by path
    /// (literal > `{param}` > `{proxy+}`, segment by segment), then an explicit method
    /// over `ANY`; `$default` only when nothing else matches.
    pub fn find(&self, method: &str, path: &str) -> Option<RouteMatch> {
        let mut best: Option<((Vec<u8>, u8), RouteMatch)> = None;
        for route in &self.routes {
            let Some(segments) = &route.segments else {
                continue;
            };
            let method_rank = match route.method.as_str() {
                "ANY" => 0,
                m if m.eq_ignore_ascii_case(method) => 1,
                _ => continue,
            };
            let Some(path_parameters) = match_path(segments, path) else {
                continue;
            };
            let rank = (segments.iter().map(Segment::rank).collect(), method_rank);
            if best.as_ref().is_none_or(|(best_rank, _)| rank > *best_rank) {
                let matched = RouteMatch {
                    route_key: route.route_key.clone(),
                    function_logical_id: route.function.clone(),
                    path_parameters,
                };
                best = Some((rank, matched));
            }
        }
        best.map(|(_, matched)| matched).or_else(|| {
            self.routes
                .iter()
                .find(|r| r.segments.is_none())
                .map(|r| RouteMatch {
                    route_key: DEFAULT_ROUTE.to_owned(),
                    function_logical_id: r.function.clone(),
                    path_parameters: BTreeMap::new(),
                })
        })
    }
}

fn parse_path(path: &str) -> Vec<Segment> {
    path.trim_start_matches('/')
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_owned()),
                    None => Segment::Param(name.to_owned()),
                },
                None => Segment::Literal(segment.to_owned()),
            },
        )
        .collect()
}

fn match_path(segments: &[Segment], path: &str) -> Option<BTreeMap<String, String>> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut parameters = BTreeMap::new();
    for (index, segment) in segments.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = parts.get(index..)?.join("/");
                if rest.is_empty() {
                    return None;
                }
                parameters.insert(name.clone(), percent_decode(&rest));
                return Some(parameters);
            }
            Segment::Literal(literal) => {
                if parts.get(index)? != literal {
                    return None;
                }
            }
            Segment::Param(name) => {
                let value = parts.get(index).filter(|v| !v.is_empty())?;
                parameters.insert(name.clone(), percent_decode(value));
            }
        }
    }
    (parts.len() == segments.len()).then_some(parameters)
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| text.to_owned(), |(_, value)| value.into_owned())
}

// ---- request handling ----------------------------------------------------------------------

async fn handle(
    State(api): State<Arc<HttpApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = api_gateway_request_id();
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = gateway(&api, peer, request, &request_id).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("apigw-requestid", value);
    }
    tracing::info!(
        target: "agora_local::http_api",
        %method,
        path,
        status = response.status().as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        request_id,
        "request"
    );
    response
}

async fn gateway(api: &HttpApi, peer: SocketAddr, request: Request, request_id: &str) -> Response {
    let (parts, body) = request.into_parts();
    let origin = header_text(&parts.headers, header::ORIGIN);
    if let Some(cors) = &api.cors
        && is_preflight(&parts)
    {
        return preflight(cors, origin.as_deref(), &parts.headers);
    }
    let mut response = match route_and_invoke(api, peer, parts, body, request_id).await {
        Ok(response) => response,
        Err(response) => response,
    };
    if let Some(cors) = &api.cors {
        apply_cors(cors, origin.as_deref(), response.headers_mut());
    }
    response
}

async fn route_and_invoke(
    api: &HttpApi,
    peer: SocketAddr,
    parts: Parts,
    body: Body,
    request_id: &str,
) -> Result<Response, Response> {
    let matched = api
        .routes
        .find(parts.method.as_str(), parts.uri.path())
        .ok_or_else(|| gateway_error(StatusCode::NOT_FOUND, "Not Found"))?;
    let body = read_body(&parts.headers, body).await?;
    let event = build_event(&EventInput {
        parts: &parts,
        body: &body,
        matched: &matched,
        api,
        source_ip: peer.ip().to_string(),
        request_id,
        now: OffsetDateTime::now_utc(),
    });
    let invocation = api.invoker.invoke(&matched.function_logical_id, event);
    let outcome = tokio::time::timeout(api.integration_timeout, invocation)
        .await
        .map_err(|_| gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"))?;
    match outcome {
        Ok(payload) => Ok(function_response(payload)),
        Err(error) => {
            log_function_error(&matched, &error);
            Err(internal_server_error())
        }
    }
}

fn log_function_error(matched: &RouteMatch, error: &InvokeError) {
    tracing::warn!(
        target: "agora_local::http_api",
        route = %matched.route_key,
        function = %matched.function_logical_id,
        %error,
        "integration failed; answering 500 as API Gateway does"
    );
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    let declared =
        header_text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| too_large())
}

/// API Gateway's own error responses: a JSON `message`.
fn gateway_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

fn internal_server_error() -> Response {
    gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

fn header_text(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

// ---- the payload format 2.0 event ---------------------------------------------------------

/// Everything a payload 2.0 event is built from.
struct EventInput<'a> {
    parts: &'a Parts,
    body: &'a [u8],
    matched: &'a RouteMatch,
    api: &'a HttpApi,
    source_ip: String,
    request_id: &'a str,
    now: OffsetDateTime,
}

/// The event API Gateway sends with payload format version 2.0.
fn build_event(input: &EventInput<'_>) -> Value {
    let parts = input.parts;
    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or("");
    let domain_name = header_text(&parts.headers, header::HOST).unwrap_or_else(|| {
        format!(
            "{}.execute-api.{}.amazonaws.com",
            input.api.api_id, input.api.region
        )
    });
    let domain_prefix = domain_name.split('.').next().unwrap_or_default().to_owned();
    let user_agent = header_text(&parts.headers, header::USER_AGENT).unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": input.matched.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": event_headers(input),
        "requestContext": {
            "accountId": input.api.account_id,
            "apiId": input.api.api_id,
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": parts.method.as_str(),
                "path": raw_path,
                "protocol": protocol(parts),
                "sourceIp": input.source_ip,
                "userAgent": user_agent,
            },
            "requestId": input.request_id,
            "routeKey": input.matched.route_key,
            "stage": "$default",
            "time": request_time(input.now),
            "timeEpoch": epoch_millis(input.now),
        },
        "isBase64Encoded": false,
    });
    let object = event.as_object_mut();
    if let Some(object) = object {
        add_optional_fields(object, input, raw_query);
    }
    event
}

/// Fields API Gateway omits when empty: cookies, query parameters, path parameters, body.
fn add_optional_fields(event: &mut Map<String, Value>, input: &EventInput<'_>, raw_query: &str) {
    let cookies = request_cookies(&input.parts.headers);
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    let query = query_parameters(raw_query);
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    if !input.matched.path_parameters.is_empty() {
        event.insert(
            "pathParameters".into(),
            json!(input.matched.path_parameters),
        );
    }
    if !input.body.is_empty() {
        let (body, encoded) = match std::str::from_utf8(input.body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (
                base64::engine::general_purpose::STANDARD.encode(input.body),
                true,
            ),
        };
        event.insert("body".into(), Value::String(body));
        event.insert("isBase64Encoded".into(), Value::Bool(encoded));
    }
}

/// Lower-case names, repeated headers joined with commas, cookies moved to `cookies`,
/// plus the `x-forwarded-*` and trace headers API Gateway adds.
fn event_headers(input: &EventInput<'_>) -> BTreeMap<String, String> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &input.parts.headers {
        if name == header::COOKIE {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert(value);
    }
    let port = header_text(&input.parts.headers, header::HOST)
        .and_then(|host| host.rsplit_once(':').map(|(_, port)| port.to_owned()))
        .unwrap_or_else(|| "80".to_owned());
    headers
        .entry("x-forwarded-for".into())
        .and_modify(|chain| {
            chain.push_str(", ");
            chain.push_str(&input.source_ip);
        })
        .or_insert_with(|| input.source_ip.clone());
    headers.insert("x-forwarded-port".into(), port);
    headers.insert("x-forwarded-proto".into(), "http".into());
    headers.entry("x-amzn-trace-id".into()).or_insert_with(|| {
        format!(
            "Root=1-{:08x}-{}",
            input.now.unix_timestamp(),
            &input.request_id.replace('=', "")
        )
    });
    headers
}

fn request_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|value| {
            String::from_utf8_lossy(value.as_bytes())
                .split(';')
                .map(|cookie| cookie.trim().to_owned())
                .filter(|cookie| !cookie.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Decoded query parameters; a repeated name's values are joined with commas.
fn query_parameters(raw_query: &str) -> BTreeMap<String, String> {
    let mut parameters: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(raw_query.as_bytes()) {
        parameters
            .entry(name.into_owned())
            .and_modify(|joined| {
                joined.push(',');
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    parameters
}

fn protocol(parts: &Parts) -> &'static str {
    match parts.version {
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    }
}

/// `12/Mar/2020:19:03:58 +0000`, API Gateway's `requestContext.time`.
fn request_time(now: OffsetDateTime) -> String {
    let format =
        format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    now.format(&format).unwrap_or_default()
}

fn epoch_millis(now: OffsetDateTime) -> i64 {
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// API Gateway request ids look like `JKJaXmPLvHcESHA=`: 10 random bytes, base64.
fn api_gateway_request_id() -> String {
    let mut bytes = [0u8; 10];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..10]);
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---- the function's response ---------------------------------------------------------------

/// Translates a payload 2.0 response. Without `statusCode`, API Gateway infers one:
/// status 200, `content-type: application/json`, the payload itself as the body.
fn function_response(payload: Value) -> Response {
    match payload {
        Value::Object(map) if map.contains_key("statusCode") => {
            structured_response(&map).unwrap_or_else(|reason| {
                tracing::warn!(target: "agora_local::http_api", reason, "malformed function response; answering 500");
                internal_server_error()
            })
        }
        other => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            other.to_string(),
        )
            .into_response(),
    }
}

fn structured_response(map: &Map<String, Value>) -> Result<Response, String> {
    let status = map
        .get("statusCode")
        .and_then(|code| code.as_u64().or_else(|| code.as_str()?.parse().ok()))
        .and_then(|code| u16::try_from(code).ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or("statusCode is not an HTTP status")?;
    let body = match map.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if is_base64(map) => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("body is not base64: {e}"))?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(Value::Object(single)) = map.get("headers") {
        for (name, value) in single {
            insert_header(headers, name, value, false);
        }
    }
    if let Some(Value::Object(multi)) = map.get("multiValueHeaders") {
        for (name, values) in multi {
            for value in values.as_array().into_iter().flatten() {
                insert_header(headers, name, value, true);
            }
        }
    }
    for cookie in map
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        insert_header(headers, "set-cookie", cookie, true);
    }
    Ok(response)
}

fn is_base64(map: &Map<String, Value>) -> bool {
    match map.get("isBase64Encoded") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &Value, append: bool) {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => return,
        other => other.to_string(),
    };
    match (HeaderName::try_from(name), HeaderValue::try_from(text)) {
        (Ok(name), Ok(value)) if append => {
            headers.append(name, value);
        }
        (Ok(name), Ok(value)) => {
            headers.insert(name, value);
        }
        _ => {
            tracing::warn!(target: "agora_local::http_api", header = name, "invalid response header dropped")
        }
    }
}

// ---- CORS ------------------------------------------------------------------------------------

fn is_preflight(parts: &Parts) -> bool {
    parts.method == Method::OPTIONS
        && parts.headers.contains_key(header::ORIGIN)
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

fn allowed_origin(cors: &CorsSpec, origin: Option<&str>) -> Option<String> {
    let origin = origin?;
    if cors.allow_origins.iter().any(|o| o == "*") {
        Some("*".to_owned())
    } else {
        cors.allow_origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| origin.to_owned())
    }
}

/// API Gateway answers preflight requests itself when CORS is configured.
fn preflight(cors: &CorsSpec, origin: Option<&str>, request: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let Some(allowed) = allowed_origin(cors, origin) else {
        return response;
    };
    let headers = response.headers_mut();
    set_header(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allowed);
    if !cors.allow_methods.is_empty() {
        set_header(
            headers,
            header::ACCESS_CONTROL_ALLOW_METHODS,
            &cors.allow_methods.join(","),
        );
    }
    let requested_headers = header_text(request, header::ACCESS_CONTROL_REQUEST_HEADERS);
    let allow_headers = if cors.allow_headers.iter().any(|h| h == "*") {
        requested_headers.unwrap_or_else(|| "*".to_owned())
    } else {
        cors.allow_headers.join(",")
    };
    if !allow_headers.is_empty() {
        set_header(
            headers,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            &allow_headers,
        );
    }
    if let Some(max_age) = cors.max_age_seconds {
        set_header(
            headers,
            header::ACCESS_CONTROL_MAX_AGE,
            &max_age.to_string(),
        );
    }
    response
}

/// With CORS configured, API Gateway replaces whatever CORS headers the function sent.
fn apply_cors(cors: &CorsSpec, origin: Option<&str>, headers: &mut HeaderMap) {
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_METHODS,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        header::ACCESS_CONTROL_MAX_AGE,
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    ] {
        headers.remove(name);
    }
    let Some(allowed) = allowed_origin(cors, origin) else {
        return;
    };
    set_header(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, &allowed);
    if !cors.expose_headers.is_empty() {
        set_header(
            headers,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            &cors.expose_headers.join(","),
        );
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

fn set_header(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HttpRoute;

    fn function(id: &str, routes: &[(&str, &str)]) -> FunctionSpec {
        FunctionSpec {
            logical_id: id.to_owned(),
            physical_name: format!("s-{id}"),
            binary: id.to_lowercase(),
            handler: "bootstrap".to_owned(),
            timeout_seconds: 3,
            memory_mb: 128,
            environment: BTreeMap::new(),
            http_routes: routes
                .iter()
                .map(|(method, path)| HttpRoute {
                    method: (*method).to_owned(),
                    path: (*path).to_owned(),
                })
                .collect(),
            event_sources: Vec::new(),
            policy: Vec::new(),
        }
    }

    fn table() -> RouteTable {
        RouteTable::new(&[
            function("Health", &[("GET", "/v1/health")]),
            function(
                "Profiles",
                &[
                    ("GET", "/v1/profiles/{profileRef}"),
                    ("GET", "/v1/profiles/me"),
                    ("ANY", "/v1/profiles/{profileRef}"),
                ],
            ),
            function("Proxy", &[("ANY", "/v1/{proxy+}")]),
            function("Files", &[("GET", "/v1/files/{path+}")]),
            function("Fallback", &[("ANY", "$default")]),
        ])
    }

    fn route(method: &str, path: &str) -> (String, String) {
        let matched = table().find(method, path).unwrap();
        (matched.function_logical_id, matched.route_key)
    }

    #[test]
    fn a_literal_path_beats_a_path_variable_which_beats_a_greedy_one() {
        assert_eq!(route("GET", "/v1/profiles/me").1, "GET /v1/profiles/me");
        assert_eq!(
            route("GET", "/v1/profiles/ada").1,
            "GET /v1/profiles/{profileRef}"
        );
        assert_eq!(route("GET", "/v1/other/thing").0, "Proxy");
        assert_eq!(route("GET", "/v1/files/a/b.txt").0, "Files");
    }

    #[test]
    fn an_explicit_method_beats_any_and_any_takes_the_rest() {
        assert_eq!(
            route("GET", "/v1/profiles/ada").1,
            "GET /v1/profiles/{profileRef}"
        );
        assert_eq!(
            route("DELETE", "/v1/profiles/ada").1,
            "ANY /v1/profiles/{profileRef}"
        );
    }

    #[test]
    fn path_variables_are_decoded_and_greedy_ones_keep_slashes() {
        let table = table();

        let profile = table.find("GET", "/v1/profiles/a%20b").unwrap();
        let file = table.find("GET", "/v1/files/dir/x%2By.txt").unwrap();

        assert_eq!(profile.path_parameters["profileRef"], "a b");
        assert_eq!(file.path_parameters["path"], "dir/x+y.txt");
    }

    #[test]
    fn unmatched_requests_go_to_default_and_without_it_match_nothing() {
        assert_eq!(
            route("POST", "/elsewhere"),
            ("Fallback".into(), "$default".into())
        );
        assert_eq!(
            route("GET", "/v1").0,
            "Fallback",
            "a greedy variable needs a segment"
        );
        let without_default = RouteTable::new(&[function("Health", &[("GET", "/v1/health")])]);
        assert!(without_default.find("GET", "/v1/health/extra").is_none());
        assert!(without_default.find("POST", "/v1/health").is_none());
    }

    #[test]
    fn a_route_matching_method_and_path_wins_and_another_method_goes_to_default() {
        let table = RouteTable::new(&[
            function("Health", &[("GET", "/v1/health"), ("ANY", "$default")]),
            function("Profiles", &[("GET", "/v1/me"), ("PATCH", "/v1/me")]),
        ]);
        let find = |method: &str, path: &str| {
            let matched = table.find(method, path).unwrap();
            (matched.function_logical_id, matched.route_key)
        };

        assert_eq!(
            find("PATCH", "/v1/me"),
            ("Profiles".into(), "PATCH /v1/me".into())
        );
        assert_eq!(find("PUT", "/v1/me"), ("Health".into(), "$default".into()));
        assert_eq!(
            find("POST", "/v1/health"),
            ("Health".into(), "$default".into())
        );
        assert_eq!(find("GET", "/v1/me/"), ("Health".into(), "$default".into()));
        assert_eq!(
            find("GET", "/nowhere"),
            ("Health".into(), "$default".into())
        );
    }

    #[test]
    fn a_response_without_status_code_is_inferred_as_json_200() {
        let response = function_response(json!({"hello": "world"}));

        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn a_structured_response_sets_status_headers_cookies_and_decodes_base64() {
        let response = function_response(json!({
            "statusCode": 201,
            "headers": {"x-one": "1"},
            "multiValueHeaders": {"x-many": ["a", "b"]},
            "cookies": ["a=1", "b=2"],
            "body": "aGk=",
            "isBase64Encoded": true,
        }));

        assert_eq!(response.status(), StatusCode::CREATED);
        let headers = response.headers();
        assert_eq!(headers["x-one"], "1");
        assert_eq!(headers.get_all("x-many").iter().count(), 2);
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().count(), 2);
    }

    #[test]
    fn a_malformed_status_code_is_an_internal_server_error() {
        let response = function_response(json!({"statusCode": "teapot"}));

        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn request_time_has_api_gateways_format() {
        let at = OffsetDateTime::from_unix_timestamp(1_583_348_638).unwrap();

        assert_eq!(request_time(at), "04/Mar/2020:19:03:58 +0000");
    }

    #[test]
    fn query_parameters_are_decoded_and_repeats_comma_joined() {
        let query = query_parameters("a=1&b=x%20y&a=2");

        assert_eq!(query["a"], "1,2");
        assert_eq!(query["b"], "x y");
    }
}
