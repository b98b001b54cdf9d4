//! An API Gateway WebSocket API on loopback, driven by the template's
//! [`WebSocketApiSpec`] and a synchronous [`Invoke`].
//!
//! It behaves as API Gateway does towards both sides:
//! - towards clients (browsers included): `ws://127.0.0.1:<port>/<stage>` (and `/`); the
//!   upgrade is held until the `$connect` authorizer and integration have answered, so a
//!   refused connection sees the HTTP status API Gateway would send (401, 403, 500, or the
//!   integration's own status code); text frames are routed by the route selection
//!   expression; limits (128 KiB messages, 10 minutes idle, 2 hours per connection) close
//!   the connection the same way;
//! - towards functions: `$connect`, message and `$disconnect` events in the exact shape
//!   API Gateway sends (`aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest`), the
//!   REQUEST authorizer event and IAM policy evaluation, and the authorizer's context in
//!   every later event of the connection. A connection's integrations are invoked one
//!   at a time in arrival order, `$disconnect` (exactly once) last.
//!
//! The [`ConnectionRegistry`] is shared with the `@connections` management API
//! (`connections_api.rs`), which sends frames to, describes and closes connections.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::model::{Invoke, InvokeError, WebSocketApiSpec, WebSocketRoute};

/// API Gateway's WebSocket message payload quota.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// API Gateway's WebSocket frame quota: a larger message must come in fragments of at
/// most this; a larger frame closes the connection with 1009, like a larger message.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

/// Where the API is "deployed": the values API Gateway puts in every event.
#[derive(Debug, Clone)]
pub struct GatewayContext {
    pub region: String,
    pub account_id: String,
    /// e.g. `abcd1234`, as in `arn:aws:execute-api:{region}:{account}:{apiId}/...`.
    pub api_id: String,
    /// `requestContext.domainName`, e.g. `abcd1234.execute-api.us-east-1.amazonaws.com`.
    pub domain_name: String,
}

/// API Gateway's connection limits; shorten them in tests.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// A connection with no data frame in either direction for this long is closed (1001).
    pub idle_timeout: Duration,
    /// A connection is closed (1001) this long after it was opened, whatever its activity.
    pub max_connection_duration: Duration,
    /// A client message larger than this closes the connection (1009); a larger
    /// `@connections` POST is refused with 413.
    pub max_message_bytes: usize,
    /// A client frame larger than this closes the connection (1009), whatever the size
    /// of the message it is part of.
    pub max_frame_bytes: usize,
    /// How long `shutdown` waits for connections to close and `$disconnect` to run.
    pub shutdown_grace: Duration,
    /// New connections admitted per second (API Gateway's account quota, 500 per Region
    /// for all WebSocket APIs): an upgrade past it is refused with 429 before the
    /// authorizer runs.
    pub new_connections_per_second: u32,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10 * 60),
            max_connection_duration: Duration::from_secs(2 * 60 * 60),
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_frame_bytes: MAX_FRAME_BYTES,
            shutdown_grace: Duration::from_secs(5),
            new_connections_per_second: NEW_CONNECTIONS_PER_SECOND,
        }
    }
}

/// API Gateway's quota of new WebSocket connections per second, per account and Region.
pub const NEW_CONNECTIONS_PER_SECOND: u32 = 500;

/// A frame the backend sends to a client through `@connections`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundFrame {
    Text(String),
    Binary(Bytes),
}

impl OutboundFrame {
    /// API Gateway sends a POSTed payload as a text frame when it is UTF-8.
    pub fn from_payload(payload: Bytes) -> Self {
        match String::from_utf8(payload.to_vec()) {
            Ok(text) => Self::Text(text),
            Err(_) => Self::Binary(payload),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(bytes) => bytes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What `@connections` GET returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub connection_id: String,
    pub connected_at: OffsetDateTime,
    pub last_active_at: OffsetDateTime,
    pub source_ip: String,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// Unknown, closed or closing connection: `@connections` answers 410 GoneException.
    #[error("connection {0} is gone")]
    Gone(String),
    /// A post that failed for a reason other than a closed connection (injected by a
    /// test with [`ConnectionRegistry::fail_posts_to`]): `@connections` answers 500.
    #[error("posting to connection {0} failed")]
    Failed(String),
}

/// Work for a connection's task, which alone writes to its socket (so frames to one
/// client go out in the order they were accepted).
enum Command {
    Frame(OutboundFrame, oneshot::Sender<bool>),
    Close {
        code: u16,
        reason: String,
        done: oneshot::Sender<()>,
    },
}

struct Entry {
    info: Mutex<ConnectionInfo>,
    last_active: Mutex<Instant>,
    commands: mpsc::Sender<Command>,
}

impl Entry {
    fn touch(&self) {
        *lock(&self.last_active) = Instant::now();
        lock(&self.info).last_active_at = OffsetDateTime::now_utc();
    }
}

/// The live connections of one gateway, shared with the `@connections` API.
#[derive(Clone, Default)]
pub struct ConnectionRegistry {
    inner: Arc<Mutex<HashMap<String, Arc<Entry>>>>,
    /// `@connections` POSTs served (benchmarks report calls per message).
    posts: Arc<std::sync::atomic::AtomicU64>,
    /// Connections whose next posts fail (test fault injection), with how many.
    faults: Arc<Mutex<HashMap<String, u32>>>,
    /// Connections whose next posts are answered late (test fault injection): how
    /// many, and how late.
    delays: Arc<Mutex<HashMap<String, (u32, Duration)>>>,
}

impl std::fmt::Debug for ConnectionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionRegistry")
            .field("connections", &self.connection_ids())
            .finish()
    }
}

impl ConnectionRegistry {
    fn entry(&self, connection_id: &str) -> Result<Arc<Entry>, ConnectionError> {
        lock(&self.inner)
            .get(connection_id)
            .cloned()
            .ok_or_else(|| ConnectionError::Gone(connection_id.to_owned()))
    }

    fn insert(&self, entry: Arc<Entry>) {
        let id = lock(&entry.info).connection_id.clone();
        lock(&self.inner).insert(id, entry);
    }

    fn remove(&self, connection_id: &str) {
        lock(&self.inner).remove(connection_id);
    }

    /// The connection's identity and activity timestamps.
    pub fn info(&self, connection_id: &str) -> Result<ConnectionInfo, ConnectionError> {
        Ok(lock(&self.entry(connection_id)?.info).clone())
    }

    /// Sends one frame; returns once it was written to the client's socket, so a
    /// connection that died meanwhile is reported as gone, as API Gateway does.
    pub async fn send(
        &self,
        connection_id: &str,
        frame: OutboundFrame,
    ) -> Result<(), ConnectionError> {
        self.posts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = self.entry(connection_id)?;
        if let Some(left) = lock(&self.faults).get_mut(connection_id)
            && *left > 0
        {
            *left -= 1;
            return Err(ConnectionError::Failed(connection_id.to_owned()));
        }
        let delay = match lock(&self.delays).get_mut(connection_id) {
            Some((left, delay)) if *left > 0 => {
                *left -= 1;
                Some(*delay)
            }
            _ => None,
        };
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let gone = || ConnectionError::Gone(connection_id.to_owned());
        let (ack, written) = oneshot::channel();
        entry
            .commands
            .send(Command::Frame(frame, ack))
            .await
            .map_err(|_| gone())?;
        match written.await {
            Ok(true) => Ok(()),
            _ => Err(gone()),
        }
    }

    /// Fault injection for tests: the next `times` posts to the connection fail with a
    /// 500, as a transient `@connections` failure would (API Gateway has no such
    /// switch; only the local stack's tests use it).
    pub fn fail_posts_to(&self, connection_id: &str, times: u32) {
        lock(&self.faults).insert(connection_id.to_owned(), times);
    }

    /// Fault injection for tests: the next `times` posts to the connection are held
    /// for `delay` before they are written, as a slow or throttled `@connections` call
    /// would be.
    pub fn delay_posts_to(&self, connection_id: &str, delay: Duration, times: u32) {
        lock(&self.delays).insert(connection_id.to_owned(), (times, delay));
    }

    /// Closes the connection (close frame 1000) and returns once the client was told;
    /// the connection's `$disconnect` event follows.
    pub async fn close(&self, connection_id: &str) -> Result<(), ConnectionError> {
        let entry = self.entry(connection_id)?;
        let (done, closed) = oneshot::channel();
        entry
            .commands
            .send(Command::Close {
                code: 1000,
                reason: String::new(),
                done,
            })
            .await
            .map_err(|_| ConnectionError::Gone(connection_id.to_owned()))?;
        // The task may end before answering (client gone at the same moment): still closed.
        let _ = closed.await;
        Ok(())
    }

    /// How many frames were posted through `@connections` (gone connections included).
    pub fn posts(&self) -> u64 {
        self.posts.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn connection_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = lock(&self.inner).keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A running WebSocket API.
pub struct WebSocketGateway {
    local_addr: SocketAddr,
    stage: String,
    registry: ConnectionRegistry,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for WebSocketGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketGateway")
            .field("local_addr", &self.local_addr)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

struct Shared {
    spec: WebSocketApiSpec,
    routes: HashMap<String, WebSocketRoute>,
    invoker: Arc<dyn Invoke>,
    ctx: GatewayContext,
    options: GatewayOptions,
    registry: ConnectionRegistry,
    shutdown: watch::Receiver<bool>,
    shutdown_tx: watch::Sender<bool>,
    /// Every connection task holds a clone; `shutdown` takes this one and waits for the
    /// channel to close, i.e. for every task (and its `$disconnect`) to finish.
    tasks_alive: Mutex<Option<mpsc::Sender<()>>>,
    tasks_done: tokio::sync::Mutex<mpsc::Receiver<()>>,
    /// The current second (since the epoch) and the upgrades admitted in it.
    admitted: Mutex<(i64, u32)>,
}

impl Shared {
    /// Admits one more new connection in the current second, unless the quota is used.
    fn admit_new_connection(&self, now_ms: i64) -> bool {
        let second = now_ms.div_euclid(1000);
        let Ok(mut admitted) = self.admitted.lock() else {
            return true;
        };
        if admitted.0 != second {
            *admitted = (second, 0);
        }
        if admitted.1 >= self.options.new_connections_per_second {
            return false;
        }
        admitted.1 += 1;
        true
    }
}

impl WebSocketGateway {
    /// Serves the API on `listener` until [`shutdown`](Self::shutdown).
    pub async fn start(
        listener: tokio::net::TcpListener,
        spec: WebSocketApiSpec,
        invoker: Arc<dyn Invoke>,
        ctx: GatewayContext,
        options: GatewayOptions,
    ) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (shutdown_tx, shutdown) = watch::channel(false);
        let (alive_tx, alive_rx) = mpsc::channel(1);
        let registry = ConnectionRegistry::default();
        let routes = spec
            .routes
            .iter()
            .map(|route| (route.route_key.clone(), route.clone()))
            .collect();
        let shared = Arc::new(Shared {
            spec: spec.clone(),
            routes,
            invoker,
            ctx,
            options,
            registry: registry.clone(),
            shutdown: shutdown.clone(),
            shutdown_tx,
            tasks_alive: Mutex::new(Some(alive_tx)),
            tasks_done: tokio::sync::Mutex::new(alive_rx),
            admitted: Mutex::new((0, 0)),
        });
        let app = Router::new()
            .route("/", any(upgrade_at_root))
            .route("/{stage}", any(upgrade_at_stage))
            .with_state(shared.clone());
        let mut stop = shutdown;
        let server = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "websocket gateway stopped");
            }
        });
        tracing::info!(%local_addr, stage = %spec.stage, "websocket gateway listening");
        Ok(Self {
            local_addr,
            stage: spec.stage,
            registry,
            shared,
            server,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://127.0.0.1:<port>/<stage>`, what a client connects to.
    pub fn url(&self) -> String {
        format!("ws://{}/{}", self.local_addr, self.stage)
    }

    pub fn registry(&self) -> ConnectionRegistry {
        self.registry.clone()
    }

    /// Refuses new connections, closes every open one (1001, `$disconnect` fires) and
    /// waits, at most `options.shutdown_grace`, for them to finish.
    pub async fn shutdown(self) {
        let _ = self.shared.shutdown_tx.send(true);
        let alive = lock(&self.shared.tasks_alive).take();
        drop(alive);
        let grace = self.shared.options.shutdown_grace;
        let mut done = self.shared.tasks_done.lock().await;
        if tokio::time::timeout(grace, done.recv()).await.is_err() {
            tracing::warn!("websocket connections still open after the shutdown grace period");
        }
        if tokio::time::timeout(grace, self.server).await.is_err() {
            tracing::warn!("websocket gateway server did not stop in time");
        }
    }
}

async fn upgrade_at_root(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    handle_upgrade(shared, peer, uri, headers, ws).await
}

async fn upgrade_at_stage(
    State(shared): State<Arc<Shared>>,
    Path(stage): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if stage != shared.spec.stage {
        return message_response(StatusCode::FORBIDDEN, "Forbidden");
    }
    handle_upgrade(shared, peer, uri, headers, ws).await
}

fn message_response(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

/// The immutable facts of one connection that go into each of its events.
struct Connection {
    id: String,
    connected_at_ms: i64,
    source_ip: String,
    user_agent: Option<String>,
    /// `requestContext.authorizer`: the authorizer's context plus `principalId`.
    authorizer: Option<Map<String, Value>>,
}

async fn handle_upgrade(
    shared: Arc<Shared>,
    peer: SocketAddr,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    if *shared.shutdown.borrow() {
        return message_response(StatusCode::GONE, "Gone");
    }
    let now = OffsetDateTime::now_utc();
    if !shared.admit_new_connection(epoch_millis(now)) {
        tracing::warn!("new connection refused: the per-second connection quota is used");
        return message_response(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    }
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let mut connection = Connection {
        id: api_gateway_id(),
        connected_at_ms: epoch_millis(now),
        source_ip: peer.ip().to_string(),
        user_agent,
        authorizer: None,
    };
    let (header_map, multi_headers) = event_headers(&headers, peer);
    let (query, multi_query) = event_query(uri.query());
    let connect_route = shared.routes.get("$connect").cloned();
    let base_context = shared.request_context(&connection, "$connect", "CONNECT", now);

    if let Some(authorizer) = connect_route.as_ref().and_then(|r| r.authorizer.as_ref()) {
        let missing = authorizer
            .identity_sources
            .iter()
            .any(|source| !identity_source_present(source, &headers, &query));
        if missing {
            tracing::info!(connection_id = %connection.id, "connect refused: identity source missing");
            return message_response(StatusCode::UNAUTHORIZED, "Unauthorized");
        }
        let method_arn = format!(
            "arn:aws:execute-api:{}:{}:{}/{}/$connect",
            shared.ctx.region, shared.ctx.account_id, shared.ctx.api_id, shared.spec.stage
        );
        let event = json!({
            "type": "REQUEST",
            "methodArn": method_arn,
            "headers": header_map,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": query,
            "multiValueQueryStringParameters": multi_query,
            "stageVariables": {},
            "requestContext": base_context,
        });
        let answer = shared
            .invoker
            .invoke(&authorizer.function_logical_id, event)
            .await;
        match evaluate_authorizer_answer(answer, &method_arn) {
            Ok(context) => connection.authorizer = Some(context),
            Err((status, message)) => {
                tracing::info!(connection_id = %connection.id, %status, "connect refused by the authorizer");
                return message_response(status, message);
            }
        }
    }

    if let Some(route) = &connect_route {
        let mut request_context = base_context.clone();
        if let (Some(authorizer), Some(context)) = (
            connection.authorizer.as_ref(),
            request_context.as_object_mut(),
        ) {
            context.insert("authorizer".into(), Value::Object(authorizer.clone()));
        }
        let mut event = Map::new();
        event.insert("headers".into(), json!(header_map));
        event.insert("multiValueHeaders".into(), json!(multi_headers));
        if !query.is_empty() {
            event.insert("queryStringParameters".into(), json!(query));
            event.insert("multiValueQueryStringParameters".into(), json!(multi_query));
        }
        event.insert("requestContext".into(), request_context);
        event.insert("isBase64Encoded".into(), Value::Bool(false));
        match shared
            .invoker
            .invoke(&route.function_logical_id, Value::Object(event))
            .await
        {
            Ok(response) => {
                let status = response
                    .get("statusCode")
                    .and_then(Value::as_u64)
                    .unwrap_or(200);
                if !(200..300).contains(&status) {
                    tracing::info!(connection_id = %connection.id, status, "connect refused by the $connect integration");
                    let status = u16::try_from(status)
                        .ok()
                        .and_then(|s| StatusCode::from_u16(s).ok())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let body = response
                        .get("body")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    return (status, body).into_response();
                }
                // A $connect integration may choose the subprotocol, as on API Gateway.
                if let Some(protocol) = response
                    .get("headers")
                    .and_then(Value::as_object)
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-protocol"))
                    })
                    .and_then(|(_, v)| v.as_str())
                    .and_then(|v| HeaderValue::from_str(v).ok())
                {
                    ws.set_selected_protocol(protocol);
                }
            }
            Err(error) => {
                tracing::warn!(connection_id = %connection.id, %error, "$connect integration failed");
                return message_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error",
                );
            }
        }
    }

    // Registered before the 101 goes out so that a @connections POST made right after
    // the client sees the upgrade finds the connection (frames wait in the channel).
    let Some(alive) = lock(&shared.tasks_alive).clone() else {
        return message_response(StatusCode::GONE, "Gone");
    };
    let (commands, inbox) = mpsc::channel(256);
    let entry = Arc::new(Entry {
        info: Mutex::new(ConnectionInfo {
            connection_id: connection.id.clone(),
            connected_at: now,
            last_active_at: now,
            source_ip: connection.source_ip.clone(),
            user_agent: connection.user_agent.clone(),
        }),
        last_active: Mutex::new(Instant::now()),
        commands,
    });
    shared.registry.insert(entry.clone());
    tracing::info!(connection_id = %connection.id, "websocket connected");

    // The reader itself refuses a frame or a reassembled message over the quotas (an
    // error the loop below turns into 1009), as API Gateway does.
    let failed_registry = shared.registry.clone();
    let failed_id = connection.id.clone();
    ws.max_message_size(shared.options.max_message_bytes)
        .max_frame_size(shared.options.max_frame_bytes)
        .on_failed_upgrade(move |error| {
            tracing::warn!(connection_id = %failed_id, %error, "websocket upgrade failed");
            failed_registry.remove(&failed_id);
        })
        .on_upgrade(move |socket| async move {
            run_connection(socket, Arc::new(connection), entry, inbox, shared).await;
            drop(alive);
        })
}

fn evaluate_authorizer_answer(
    answer: Result<Value, InvokeError>,
    method_arn: &str,
) -> Result<Map<String, Value>, (StatusCode, &'static str)> {
    let response = match answer {
        Ok(response) => response,
        Err(InvokeError::FunctionError { error_message, .. })
            if error_message == "Unauthorized" =>
        {
            return Err((StatusCode::UNAUTHORIZED, "Unauthorized"));
        }
        Err(error) => {
            tracing::warn!(%error, "websocket authorizer failed");
            return Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"));
        }
    };
    let internal = (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
    let Some(principal_id) = response.get("principalId").and_then(Value::as_str) else {
        tracing::warn!(%response, "authorizer response has no principalId");
        return Err(internal);
    };
    let Some(statements) = response
        .get("policyDocument")
        .and_then(|doc| doc.get("Statement"))
    else {
        tracing::warn!(%response, "authorizer response has no policyDocument.Statement");
        return Err(internal);
    };
    let statements: Vec<&Value> = match statements {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut allowed = false;
    for statement in statements {
        let applies = string_or_list(statement.get("Action"))
            .iter()
            .any(|action| glob_match(action, "execute-api:Invoke"))
            && string_or_list(statement.get("Resource"))
                .iter()
                .any(|resource| glob_match(resource, method_arn));
        if !applies {
            continue;
        }
        match statement.get("Effect").and_then(Value::as_str) {
            Some(effect) if effect.eq_ignore_ascii_case("deny") => {
                return Err((StatusCode::FORBIDDEN, "Forbidden"));
            }
            Some(effect) if effect.eq_ignore_ascii_case("allow") => allowed = true,
            _ => {}
        }
    }
    if !allowed {
        return Err((StatusCode::FORBIDDEN, "Forbidden"));
    }
    let mut context = Map::new();
    if let Some(Value::Object(fields)) = response.get("context") {
        for (key, value) in fields {
            // API Gateway only passes scalar context values through.
            if value.is_object() || value.is_array() {
                tracing::warn!(
                    key,
                    "authorizer context values must be strings, numbers or booleans"
                );
                return Err(internal);
            }
            context.insert(key.clone(), value.clone());
        }
    }
    context.insert("principalId".into(), Value::String(principal_id.to_owned()));
    Ok(context)
}

fn string_or_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// IAM-style wildcard match: `*` any run of characters, `?` one character (the
/// enforcer's matcher, case-sensitive as for resources).
fn glob_match(pattern: &str, text: &str) -> bool {
    crate::iam::wildcard_match(pattern, text, false)
}

fn identity_source_present(
    source: &str,
    headers: &HeaderMap,
    query: &BTreeMap<String, String>,
) -> bool {
    let source = source.trim().trim_start_matches('$');
    if let Some(name) = source.strip_prefix("route.request.querystring.") {
        query.get(name).is_some_and(|value| !value.is_empty())
    } else if let Some(name) = source.strip_prefix("route.request.header.") {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| !value.is_empty())
    } else {
        // Stage variables and context sources are not request inputs a client can omit.
        true
    }
}

impl Shared {
    fn request_context(
        &self,
        connection: &Connection,
        route_key: &str,
        event_type: &str,
        now: OffsetDateTime,
    ) -> Value {
        let mut identity = Map::new();
        identity.insert("sourceIp".into(), json!(connection.source_ip));
        if let Some(agent) = &connection.user_agent {
            identity.insert("userAgent".into(), json!(agent));
        }
        let mut context = Map::new();
        context.insert("routeKey".into(), json!(route_key));
        if event_type == "MESSAGE" {
            context.insert("messageId".into(), json!(api_gateway_id()));
        }
        context.insert("eventType".into(), json!(event_type));
        context.insert("extendedRequestId".into(), json!(api_gateway_id()));
        context.insert("requestTime".into(), json!(request_time(now)));
        context.insert("messageDirection".into(), json!("IN"));
        context.insert("stage".into(), json!(self.spec.stage));
        context.insert("connectedAt".into(), json!(connection.connected_at_ms));
        context.insert("requestTimeEpoch".into(), json!(epoch_millis(now)));
        context.insert("identity".into(), Value::Object(identity));
        context.insert("requestId".into(), json!(api_gateway_id()));
        context.insert("domainName".into(), json!(self.ctx.domain_name));
        context.insert("connectionId".into(), json!(connection.id));
        context.insert("apiId".into(), json!(self.ctx.api_id));
        if let Some(authorizer) = &connection.authorizer {
            context.insert("authorizer".into(), Value::Object(authorizer.clone()));
        }
        Value::Object(context)
    }

    /// Evaluates the route selection expression (`$request.body.<path>`) on a text frame;
    /// non-JSON frames and unknown keys go to `$default`, as on API Gateway.
    fn select_route(&self, body: &str) -> Option<&WebSocketRoute> {
        let expression = self
            .spec
            .route_selection_expression
            .trim()
            .trim_start_matches("${")
            .trim_start_matches('$')
            .trim_end_matches('}');
        let selected = expression
            .strip_prefix("request.body.")
            .and_then(|path| {
                let parsed: Value = serde_json::from_str(body).ok()?;
                let mut value = &parsed;
                for part in path.split('.') {
                    value = value.get(part)?;
                }
                value.as_str().map(str::to_owned)
            })
            .filter(|key| !key.starts_with('$'));
        selected
            .and_then(|key| self.routes.get(&key))
            .or_else(|| self.routes.get("$default"))
    }
}

/// How a connection ended, for the `$disconnect` event.
struct Ending {
    code: u16,
    reason: String,
    /// The close frame we still owe the client (server-initiated closes).
    close_frame: bool,
    ack: Option<oneshot::Sender<()>>,
}

impl Ending {
    fn server(code: u16, reason: &str) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            close_frame: true,
            ack: None,
        }
    }

    fn client(code: u16, reason: &str) -> Self {
        Self {
            code,
            reason: reason.to_owned(),
            close_frame: false,
            ack: None,
        }
    }
}

async fn run_connection(
    mut socket: WebSocket,
    connection: Arc<Connection>,
    entry: Arc<Entry>,
    mut inbox: mpsc::Receiver<Command>,
    shared: Arc<Shared>,
) {
    let max_deadline = Instant::now() + shared.options.max_connection_duration;
    let mut shutdown = shared.shutdown.clone();
    let (dispatch, jobs) = mpsc::unbounded_channel();
    let dispatcher = tokio::spawn(run_dispatcher(
        shared.clone(),
        connection.clone(),
        entry.clone(),
        jobs,
    ));
    let ending = loop {
        let idle_deadline = *lock(&entry.last_active) + shared.options.idle_timeout;
        tokio::select! {
            incoming = socket.recv() => match incoming {
                None => break Ending::client(1006, "Connection closed abnormally"),
                Some(Err(error)) => {
                    let text = error.to_string();
                    if text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big") {
                        break Ending::server(1009, "Message too big");
                    }
                    tracing::debug!(connection_id = %connection.id, %error, "websocket read failed");
                    break Ending::client(1006, "Connection closed abnormally");
                }
                Some(Ok(Message::Text(text))) => {
                    if text.len() > shared.options.max_message_bytes {
                        break Ending::server(1009, "Message too big");
                    }
                    entry.touch();
                    let _ = dispatch.send(Dispatch::Message(text.as_str().to_owned()));
                }
                Some(Ok(Message::Binary(_))) => {
                    // API Gateway WebSocket APIs only route text frames.
                    break Ending::server(1003, "Unsupported data");
                }
                Some(Ok(Message::Close(frame))) => {
                    break match frame {
                        Some(frame) => Ending::client(frame.code, frame.reason.as_str()),
                        None => Ending::client(1005, "Client-side close frame status not set"),
                    };
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
            command = inbox.recv() => match command {
                Some(Command::Frame(frame, ack)) => {
                    let message = match frame {
                        OutboundFrame::Text(text) => Message::Text(text.into()),
                        OutboundFrame::Binary(bytes) => Message::Binary(bytes),
                    };
                    let written = socket.send(message).await.is_ok();
                    let _ = ack.send(written);
                    if !written {
                        break Ending::client(1006, "Connection closed abnormally");
                    }
                    entry.touch();
                }
                Some(Command::Close { code, reason, done }) => {
                    let mut ending = Ending::server(code, &reason);
                    ending.ack = Some(done);
                    break ending;
                }
                None => break Ending::server(1001, "Going away"),
            },
            _ = tokio::time::sleep_until(idle_deadline) => {
                // The deadline may have moved (activity while we slept): re-check.
                if *lock(&entry.last_active) + shared.options.idle_timeout <= Instant::now() {
                    break Ending::server(1001, "Going away");
                }
            }
            _ = tokio::time::sleep_until(max_deadline) => break Ending::server(1001, "Going away"),
            _ = until_stopping(&mut shutdown) => break Ending::server(1001, "Going away"),
        }
    };

    // Gone for @connections from here on, before $disconnect runs (as on API Gateway).
    shared.registry.remove(&connection.id);
    inbox.close();
    while let Ok(command) = inbox.try_recv() {
        if let Command::Frame(_, ack) = command {
            let _ = ack.send(false);
        }
    }
    if ending.close_frame {
        let frame = CloseFrame {
            code: ending.code,
            reason: ending.reason.clone().into(),
        };
        let _ = socket.send(Message::Close(Some(frame))).await;
    }
    if let Some(ack) = ending.ack {
        let _ = ack.send(());
    }
    // Complete the closing handshake (flushes our close reply, waits for the client's).
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
    drop(socket);
    tracing::info!(connection_id = %connection.id, code = ending.code, reason = %ending.reason, "websocket disconnected");

    let _ = dispatch.send(Dispatch::Disconnect {
        code: ending.code,
        reason: ending.reason,
    });
    drop(dispatch);
    if let Err(error) = dispatcher.await {
        tracing::warn!(connection_id = %connection.id, %error, "websocket dispatcher failed");
    }
}

/// Work for a connection's dispatcher, which invokes the integrations.
enum Dispatch {
    Message(String),
    Disconnect { code: u16, reason: String },
}

/// Invokes a connection's integrations one at a time, in arrival order, with
/// `$disconnect` last. It runs apart from the socket task so a function posting back to
/// its own connection (or a slow one) never stalls the socket. API Gateway may run a
/// connection's messages concurrently; serializing them keeps local runs deterministic.
async fn run_dispatcher(
    shared: Arc<Shared>,
    connection: Arc<Connection>,
    entry: Arc<Entry>,
    mut jobs: mpsc::UnboundedReceiver<Dispatch>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Dispatch::Message(body) => invoke_route(&shared, &connection, &entry, body).await,
            Dispatch::Disconnect { code, reason } => {
                invoke_disconnect(&shared, &connection, code, reason).await;
            }
        }
    }
}

async fn invoke_disconnect(shared: &Shared, connection: &Connection, code: u16, reason: String) {
    let Some(route) = shared.routes.get("$disconnect") else {
        return;
    };
    let mut context = shared.request_context(
        connection,
        "$disconnect",
        "DISCONNECT",
        OffsetDateTime::now_utc(),
    );
    if let Some(fields) = context.as_object_mut() {
        fields.insert("disconnectStatusCode".into(), json!(code));
        fields.insert("disconnectReason".into(), json!(reason));
    }
    let event = json!({
        "headers": {
            "Host": shared.ctx.domain_name,
            "x-api-key": "",
            "X-Forwarded-For": "",
            "x-restapi": "",
        },
        "multiValueHeaders": {
            "Host": [shared.ctx.domain_name],
            "x-api-key": [""],
            "X-Forwarded-For": [""],
            "x-restapi": [""],
        },
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if let Err(error) = shared
        .invoker
        .invoke(&route.function_logical_id, event)
        .await
    {
        tracing::warn!(connection_id = %connection.id, %error, "$disconnect integration failed");
    }
}

/// Routes one text frame and invokes its integration; a frame no route accepts, or an
/// integration failure, gets API Gateway's error frame.
async fn invoke_route(shared: &Shared, connection: &Connection, entry: &Entry, body: String) {
    let Some(route) = shared.select_route(&body).cloned() else {
        let frame = OutboundFrame::Text(
            json!({
                "message": "Forbidden",
                "connectionId": connection.id,
                "requestId": api_gateway_id(),
            })
            .to_string(),
        );
        send_error_frame(entry, frame);
        return;
    };
    let context = shared.request_context(
        connection,
        &route.route_key,
        "MESSAGE",
        OffsetDateTime::now_utc(),
    );
    let request_id = context
        .get("requestId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let event = json!({
        "requestContext": context,
        "body": body,
        "isBase64Encoded": false,
    });
    if let Err(error) = shared
        .invoker
        .invoke(&route.function_logical_id, event)
        .await
    {
        tracing::warn!(connection_id = %connection.id, route = %route.route_key, %error, "websocket route integration failed");
        let frame = OutboundFrame::Text(
            json!({
                "message": "Internal server error",
                "connectionId": connection.id,
                "requestId": request_id,
            })
            .to_string(),
        );
        send_error_frame(entry, frame);
    }
}

fn send_error_frame(entry: &Entry, frame: OutboundFrame) {
    let (ack, _written) = oneshot::channel();
    // Best effort: a full or closed channel means the client is going away anyway.
    let _ = entry.commands.try_send(Command::Frame(frame, ack));
}

async fn until_stopping(shutdown: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here, not in a `select!`.
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these short critical sections leaves consistent data.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An id shaped like API Gateway's connection and request ids (`L0SM9cOFvHcCIhw=`):
/// 11 random bytes, base64.
pub(crate) fn api_gateway_id() -> String {
    let mut bytes = [0u8; 11];
    fill_random(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(crate) fn fill_random(bytes: &mut [u8]) {
    if getrandom::fill(bytes).is_err() {
        // The OS RNG is unavailable only on exotic platforms; ids need uniqueness, not
        // secrecy, so fall back to ULID entropy.
        for chunk in bytes.chunks_mut(16) {
            let random = ulid::Ulid::new().0.to_le_bytes();
            chunk.copy_from_slice(&random[..chunk.len()]);
        }
    }
}

pub(crate) fn epoch_millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn request_time(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    at.format(FORMAT).unwrap_or_default()
}

/// API Gateway's header names keep the client's spelling; hyper lower-cases them, so
/// restore the conventional capitalization (`Sec-WebSocket-Key`, `User-Agent`).
fn header_name_case(name: &str) -> String {
    name.split('-')
        .map(|part| match part {
            "websocket" => "WebSocket".to_owned(),
            _ => {
                let mut chars = part.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

type SingleAndMulti<T> = (BTreeMap<String, T>, BTreeMap<String, Vec<T>>);

fn event_headers(headers: &HeaderMap, peer: SocketAddr) -> SingleAndMulti<String> {
    let mut single = BTreeMap::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in headers {
        let name = header_name_case(name.as_str());
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        single.insert(name.clone(), value.clone());
        multi.entry(name).or_default().push(value);
    }
    let forwarded = [
        ("X-Forwarded-For", peer.ip().to_string()),
        ("X-Forwarded-Port", peer.port().to_string()),
        ("X-Forwarded-Proto", "http".to_owned()),
        ("X-Amzn-Trace-Id", trace_id()),
    ];
    for (name, value) in forwarded {
        if !single.contains_key(name) {
            single.insert(name.to_owned(), value.clone());
            multi.insert(name.to_owned(), vec![value]);
        }
    }
    (single, multi)
}

fn trace_id() -> String {
    let mut bytes = [0u8; 12];
    fill_random(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "Root=1-{:08x}-{hex}",
        OffsetDateTime::now_utc().unix_timestamp()
    )
}

fn event_query(query: Option<&str>) -> SingleAndMulti<String> {
    let mut single = BTreeMap::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        single.insert(name.to_string(), value.to_string());
        multi
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    (single, multi)
}

/// An in-process [`Invoke`] for tests: records every invocation and answers from a script.
#[cfg(test)]
pub(crate) mod test_support {
    use std::sync::Mutex;
    use std::time::Duration;

    use futures_util::FutureExt as _;
    use futures_util::future::BoxFuture;
    use serde_json::Value;

    use crate::model::{Invoke, InvokeError};

    type Script = dyn Fn(&str, &Value) -> Result<Value, InvokeError> + Send + Sync;

    pub(crate) struct FakeInvoker {
        calls: Mutex<Vec<(String, Value)>>,
        script: Box<Script>,
        changed: tokio::sync::Notify,
    }

    impl FakeInvoker {
        pub(crate) fn new(
            script: impl Fn(&str, &Value) -> Result<Value, InvokeError> + Send + Sync + 'static,
        ) -> Self {
            Self {
                calls: Mutex::new(Vec::new()),
                script: Box::new(script),
                changed: tokio::sync::Notify::new(),
            }
        }

        pub(crate) fn calls(&self) -> Vec<(String, Value)> {
            super::lock(&self.calls).clone()
        }

        /// The events sent to `function` so far.
        pub(crate) fn events_of(&self, function: &str) -> Vec<Value> {
            self.calls()
                .into_iter()
                .filter(|(name, _)| name == function)
                .map(|(_, event)| event)
                .collect()
        }

        /// Waits (bounded) until the recorded calls satisfy `done`.
        pub(crate) async fn wait_until(
            &self,
            timeout: Duration,
            what: &str,
            done: impl Fn(&[(String, Value)]) -> bool,
        ) -> anyhow::Result<Vec<(String, Value)>> {
            let deadline = tokio::time::Instant::now() + timeout;
            loop {
                let notified = self.changed.notified();
                let calls = self.calls();
                if done(&calls) {
                    return Ok(calls);
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    let calls = self.calls();
                    if done(&calls) {
                        return Ok(calls);
                    }
                    anyhow::bail!("timed out waiting for {what}; calls so far: {calls:#?}");
                }
            }
        }
    }

    impl Invoke for FakeInvoker {
        fn invoke(
            &self,
            function_logical_id: &str,
            event: Value,
        ) -> BoxFuture<'_, Result<Value, InvokeError>> {
            let answer = (self.script)(function_logical_id, &event);
            super::lock(&self.calls).push((function_logical_id.to_owned(), event));
            self.changed.notify_waiters();
            async move { answer }.boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

    use super::test_support::FakeInvoker;
    use super::*;
    use crate::model::WebSocketAuthorizer;

    const WAIT: Duration = Duration::from_secs(10);

    type Client = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    fn route(key: &str, function: &str) -> WebSocketRoute {
        WebSocketRoute {
            route_key: key.to_owned(),
            function_logical_id: function.to_owned(),
            authorizer: None,
        }
    }

    /// Agora's WebSocket API: authorized `$connect`, `$disconnect`, `$default`, `ping`.
    fn agora_spec() -> WebSocketApiSpec {
        let mut connect = route("$connect", "RealtimeFunction");
        connect.authorizer = Some(WebSocketAuthorizer {
            function_logical_id: "WsAuthorizerFunction".into(),
            identity_sources: vec!["route.request.querystring.token".into()],
        });
        WebSocketApiSpec {
            logical_id: "WebSocketApi".into(),
            route_selection_expression: "$request.body.action".into(),
            stage: "dev".into(),
            routes: vec![
                connect,
                route("$disconnect", "RealtimeFunction"),
                route("$default", "RealtimeFunction"),
                route("ping", "RealtimeFunction"),
            ],
        }
    }

    fn context() -> GatewayContext {
        GatewayContext {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            api_id: "abcd1234".into(),
            domain_name: "abcd1234.execute-api.us-east-1.amazonaws.com".into(),
        }
    }

    fn allow_policy(principal: &str, context: Value) -> Value {
        json!({
            "principalId": principal,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow",
                    "Resource": "arn:aws:execute-api:us-east-1:123456789012:abcd1234/dev/*",
                }],
            },
            "context": context,
        })
    }

    /// Authorizer: token `good` is allowed (as user `u-1`), `denied` gets a Deny policy,
    /// anything else raises `Unauthorized`. The realtime function answers 200.
    fn agora_script(function: &str, event: &Value) -> Result<Value, InvokeError> {
        if function == "WsAuthorizerFunction" {
            return match event["queryStringParameters"]["token"].as_str() {
                Some("good") => Ok(allow_policy(
                    "u-1",
                    json!({ "userId": "u-1", "roles": "member" }),
                )),
                Some("denied") => Ok(json!({
                    "principalId": "u-2",
                    "policyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{ "Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*" }],
                    },
                })),
                _ => Err(InvokeError::FunctionError {
                    error_type: "Error".into(),
                    error_message: "Unauthorized".into(),
                }),
            };
        }
        if event["queryStringParameters"]["refuse"].as_str() == Some("yes") {
            return Ok(json!({ "statusCode": 429, "body": "slow down" }));
        }
        Ok(json!({ "statusCode": 200 }))
    }

    async fn start(
        spec: WebSocketApiSpec,
        invoker: Arc<FakeInvoker>,
        options: GatewayOptions,
    ) -> anyhow::Result<WebSocketGateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        WebSocketGateway::start(listener, spec, invoker, context(), options).await
    }

    async fn connect(url: &str) -> Result<Client, tungstenite::Error> {
        let mut request = url.into_client_request()?;
        request
            .headers_mut()
            .insert("user-agent", HeaderValue::from_static("agora-test/1.0"));
        let (client, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .map_err(|_| tungstenite::Error::ConnectionClosed)??;
        Ok(client)
    }

    fn refused_status(result: Result<Client, tungstenite::Error>) -> Option<u16> {
        match result {
            Err(tungstenite::Error::Http(response)) => Some(response.status().as_u16()),
            _ => None,
        }
    }

    async fn next_message(client: &mut Client) -> anyhow::Result<tungstenite::Message> {
        loop {
            let message = tokio::time::timeout(WAIT, client.next())
                .await
                .map_err(|_| anyhow::anyhow!("no frame within {WAIT:?}"))?
                .ok_or_else(|| anyhow::anyhow!("connection ended"))??;
            if !matches!(
                message,
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)
            ) {
                return Ok(message);
            }
        }
    }

    fn route_keys(calls: &[(String, Value)]) -> Vec<String> {
        calls
            .iter()
            .filter(|(function, _)| function == "RealtimeFunction")
            .filter_map(|(_, event)| {
                event["requestContext"]["routeKey"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[tokio::test]
    async fn an_authorized_client_gets_api_gateway_events_for_its_whole_connection()
    -> anyhow::Result<()> {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(agora_script));
        let gateway = start(agora_spec(), invoker.clone(), GatewayOptions::default()).await?;

        // Act
        let mut client = connect(&format!("{}?token=good", gateway.url())).await?;
        client
            .send(tungstenite::Message::Text(
                r#"{"action":"ping","n":1}"#.into(),
            ))
            .await?;
        client
            .send(tungstenite::Message::Text("not json".into()))
            .await?;
        invoker
            .wait_until(WAIT, "two messages", |calls| route_keys(calls).len() >= 3)
            .await?;
        client
            .close(Some(tungstenite::protocol::CloseFrame {
                code: tungstenite::protocol::frame::coding::CloseCode::Normal,
                reason: "bye".into(),
            }))
            .await?;
        let calls = invoker
            .wait_until(WAIT, "$disconnect", |calls| {
                route_keys(calls).iter().any(|k| k == "$disconnect")
            })
            .await?;

        // Assert: the authorizer saw API Gateway's REQUEST authorizer event.
        let authorizer_events = invoker.events_of("WsAuthorizerFunction");
        assert_eq!(authorizer_events.len(), 1);
        let auth = &authorizer_events[0];
        assert_eq!(auth["type"], "REQUEST");
        assert_eq!(
            auth["methodArn"],
            "arn:aws:execute-api:us-east-1:123456789012:abcd1234/dev/$connect"
        );
        assert_eq!(auth["queryStringParameters"]["token"], "good");
        assert_eq!(auth["requestContext"]["eventType"], "CONNECT");
        let typed: aws_lambda_events::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest =
            serde_json::from_value(auth.clone())?;
        assert_eq!(typed.method_arn.as_deref(), auth["methodArn"].as_str());

        // The $connect event.
        let realtime = invoker.events_of("RealtimeFunction");
        let connect = &realtime[0];
        let ctx = &connect["requestContext"];
        assert_eq!(ctx["routeKey"], "$connect");
        assert_eq!(ctx["eventType"], "CONNECT");
        assert_eq!(ctx["messageDirection"], "IN");
        assert_eq!(ctx["stage"], "dev");
        assert_eq!(ctx["apiId"], "abcd1234");
        assert_eq!(
            ctx["domainName"],
            "abcd1234.execute-api.us-east-1.amazonaws.com"
        );
        assert_eq!(ctx["identity"]["sourceIp"], "127.0.0.1");
        assert_eq!(ctx["identity"]["userAgent"], "agora-test/1.0");
        assert_eq!(ctx["authorizer"]["principalId"], "u-1");
        assert_eq!(ctx["authorizer"]["userId"], "u-1");
        assert_eq!(connect["queryStringParameters"]["token"], "good");
        assert_eq!(
            connect["multiValueQueryStringParameters"]["token"],
            json!(["good"])
        );
        assert_eq!(connect["headers"]["User-Agent"], "agora-test/1.0");
        assert!(connect["headers"]["Sec-WebSocket-Key"].is_string());
        assert_eq!(connect["isBase64Encoded"], false);
        let connection_id = ctx["connectionId"].as_str().unwrap_or_default().to_owned();
        assert_eq!(
            connection_id.len(),
            16,
            "API Gateway-shaped id: {connection_id}"
        );
        let typed: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest =
            serde_json::from_value(connect.clone())?;
        assert_eq!(
            typed.request_context.connection_id.as_deref(),
            Some(connection_id.as_str())
        );
        assert_eq!(typed.request_context.event_type.as_deref(), Some("CONNECT"));

        // Messages: `ping` routed by action, non-JSON to $default; authorizer context kept.
        assert_eq!(
            route_keys(&calls),
            ["$connect", "ping", "$default", "$disconnect"]
        );
        let ping = &realtime[1];
        assert_eq!(ping["requestContext"]["eventType"], "MESSAGE");
        assert_eq!(ping["body"], r#"{"action":"ping","n":1}"#);
        assert_eq!(
            ping["requestContext"]["connectionId"],
            connection_id.as_str()
        );
        assert_eq!(ping["requestContext"]["authorizer"]["userId"], "u-1");
        assert!(ping["requestContext"]["messageId"].is_string());
        let typed: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest =
            serde_json::from_value(ping.clone())?;
        assert_eq!(typed.body.as_deref(), Some(r#"{"action":"ping","n":1}"#));

        // One $disconnect with the client's close code and reason.
        let disconnects: Vec<Value> = invoker
            .events_of("RealtimeFunction")
            .into_iter()
            .filter(|e| e["requestContext"]["routeKey"] == "$disconnect")
            .collect();
        assert_eq!(disconnects.len(), 1);
        let ctx = &disconnects[0]["requestContext"];
        assert_eq!(ctx["eventType"], "DISCONNECT");
        assert_eq!(ctx["disconnectStatusCode"], 1000);
        assert_eq!(ctx["disconnectReason"], "bye");
        assert_eq!(ctx["authorizer"]["principalId"], "u-1");
        assert!(gateway.registry().is_empty());
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn connects_are_refused_with_api_gateway_status_codes() -> anyhow::Result<()> {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(agora_script));
        let gateway = start(agora_spec(), invoker.clone(), GatewayOptions::default()).await?;
        let url = gateway.url();

        // Act
        let without_token = refused_status(connect(&url).await);
        let authorizer_calls_after_missing_token = invoker.events_of("WsAuthorizerFunction").len();
        let unauthorized = refused_status(connect(&format!("{url}?token=forged")).await);
        let denied = refused_status(connect(&format!("{url}?token=denied")).await);
        let refused_by_function =
            refused_status(connect(&format!("{url}?token=good&refuse=yes")).await);
        let wrong_stage = refused_status(
            connect(&format!("ws://{}/prod?token=good", gateway.local_addr())).await,
        );
        let at_root = connect(&format!("ws://{}/?token=good", gateway.local_addr())).await;

        // Assert
        assert_eq!(without_token, Some(401));
        assert_eq!(
            authorizer_calls_after_missing_token, 0,
            "refused before the authorizer"
        );
        assert_eq!(unauthorized, Some(401));
        assert_eq!(denied, Some(403));
        assert_eq!(refused_by_function, Some(429));
        assert_eq!(wrong_stage, Some(403));
        assert!(
            at_root.is_ok(),
            "the root path is the stage too: {at_root:?}"
        );
        let connects = invoker
            .events_of("RealtimeFunction")
            .iter()
            .filter(|e| e["requestContext"]["routeKey"] == "$connect")
            .count();
        assert_eq!(connects, 2, "only authorized requests reach $connect");
        assert_eq!(
            gateway.registry().len(),
            1,
            "refused upgrades leave no connection"
        );
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_message_no_route_accepts_gets_api_gateways_forbidden_frame() -> anyhow::Result<()> {
        // Arrange: no $default route.
        let spec = WebSocketApiSpec {
            logical_id: "Api".into(),
            route_selection_expression: "$request.body.action".into(),
            stage: "dev".into(),
            routes: vec![route("ping", "Fn")],
        };
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(Value::Null)));
        let gateway = start(spec, invoker.clone(), GatewayOptions::default()).await?;
        let mut client = connect(&gateway.url()).await?;

        // Act
        client
            .send(tungstenite::Message::Text(r#"{"action":"nope"}"#.into()))
            .await?;
        let reply = next_message(&mut client).await?;

        // Assert
        let reply: Value = serde_json::from_str(reply.to_text()?)?;
        assert_eq!(reply["message"], "Forbidden");
        assert!(reply["connectionId"].is_string());
        assert!(reply["requestId"].is_string());
        assert!(invoker.calls().is_empty());
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_route_integration_answers_internal_server_error() -> anyhow::Result<()> {
        // Arrange
        let spec = WebSocketApiSpec {
            logical_id: "Api".into(),
            route_selection_expression: "$request.body.action".into(),
            stage: "dev".into(),
            routes: vec![route("$default", "Fn")],
        };
        let invoker = Arc::new(FakeInvoker::new(|_, _| {
            Err(InvokeError::FunctionError {
                error_type: "Panic".into(),
                error_message: "boom".into(),
            })
        }));
        let gateway = start(spec, invoker, GatewayOptions::default()).await?;
        let mut client = connect(&gateway.url()).await?;

        // Act
        client.send(tungstenite::Message::Text("hi".into())).await?;
        let reply = next_message(&mut client).await?;

        // Assert
        let reply: Value = serde_json::from_str(reply.to_text()?)?;
        assert_eq!(reply["message"], "Internal server error");
        gateway.shutdown().await;
        Ok(())
    }

    fn echo_spec() -> WebSocketApiSpec {
        WebSocketApiSpec {
            logical_id: "Api".into(),
            route_selection_expression: "$request.body.action".into(),
            stage: "dev".into(),
            routes: vec![
                route("$connect", "Fn"),
                route("$default", "Fn"),
                route("$disconnect", "Fn"),
            ],
        }
    }

    async fn close_code(client: &mut Client) -> anyhow::Result<Option<u16>> {
        loop {
            match next_message(client).await? {
                tungstenite::Message::Close(frame) => return Ok(frame.map(|f| f.code.into())),
                _ => continue,
            }
        }
    }

    fn disconnect_code(invoker: &FakeInvoker) -> Option<Value> {
        invoker
            .events_of("Fn")
            .into_iter()
            .find(|e| e["requestContext"]["routeKey"] == "$disconnect")
            .map(|e| e["requestContext"]["disconnectStatusCode"].clone())
    }

    #[tokio::test]
    async fn new_connections_past_the_per_second_quota_are_refused_with_429_before_the_authorizer()
    -> anyhow::Result<()> {
        // Arrange: a quota of 3 new connections per second.
        let invoker = Arc::new(FakeInvoker::new(agora_script));
        let options = GatewayOptions {
            new_connections_per_second: 3,
            ..GatewayOptions::default()
        };
        let gateway = start(agora_spec(), invoker.clone(), options).await?;
        let url = format!("{}?token=good", gateway.url());

        // Act: eight upgrades at once, then more once a new second has begun.
        let attempts = futures_util::future::join_all((0..8).map(|_| connect(&url))).await;
        let (mut clients, mut refused) = (Vec::new(), Vec::new());
        for attempt in attempts {
            match attempt {
                Ok(client) => clients.push(client),
                Err(error) => refused.push(refused_status(Err(error))),
            }
        }
        let authorized = invoker.events_of("WsAuthorizerFunction").len();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let later = connect(&url).await;

        // Assert: at most 3 per second got in (the eight may straddle two seconds).
        let admitted = clients.len();
        assert!((3..=6).contains(&admitted), "admitted {admitted}");
        assert!(!refused.is_empty(), "some were refused");
        assert!(
            refused.iter().all(|status| *status == Some(429)),
            "{refused:?}"
        );
        assert_eq!(authorized, admitted, "refused before the authorizer");
        assert!(later.is_ok(), "the next second admits again: {later:?}");
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn an_idle_connection_is_closed_and_disconnected() -> anyhow::Result<()> {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(json!({ "statusCode": 200 }))));
        let options = GatewayOptions {
            idle_timeout: Duration::from_millis(800),
            ..GatewayOptions::default()
        };
        let gateway = start(echo_spec(), invoker.clone(), options).await?;
        let mut client = connect(&gateway.url()).await?;

        // Act: stay active for a while, then go quiet.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            client
                .send(tungstenite::Message::Text("still here".into()))
                .await?;
        }
        let code = close_code(&mut client).await?;

        // Assert
        assert_eq!(code, Some(1001));
        invoker
            .wait_until(WAIT, "$disconnect", |_| disconnect_code(&invoker).is_some())
            .await?;
        assert_eq!(disconnect_code(&invoker), Some(json!(1001)));
        assert_eq!(
            invoker.events_of("Fn").len(),
            1 + 3 + 1,
            "activity kept the connection open"
        );
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_connection_is_closed_at_its_maximum_duration_even_when_active() -> anyhow::Result<()>
    {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(json!({ "statusCode": 200 }))));
        let options = GatewayOptions {
            max_connection_duration: Duration::from_millis(400),
            ..GatewayOptions::default()
        };
        let gateway = start(echo_spec(), invoker.clone(), options).await?;
        let mut client = connect(&gateway.url()).await?;
        let started = Instant::now();

        // Act
        let chatter = async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if client
                    .send(tungstenite::Message::Text("x".into()))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), chatter).await;
        let code = close_code(&mut client).await.ok().flatten();

        // Assert
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "closed by the limit"
        );
        assert!(code.is_none() || code == Some(1001), "close code {code:?}");
        invoker
            .wait_until(WAIT, "$disconnect", |_| disconnect_code(&invoker).is_some())
            .await?;
        assert_eq!(disconnect_code(&invoker), Some(json!(1001)));
        gateway.shutdown().await;
        Ok(())
    }

    /// Sends `text` as one message in fragments of `fragment` bytes (ASCII only).
    async fn send_fragmented(
        client: &mut Client,
        text: &str,
        fragment: usize,
    ) -> anyhow::Result<()> {
        use tungstenite::protocol::frame::Frame;
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        let chunks: Vec<&[u8]> = text.as_bytes().chunks(fragment).collect();
        let last = chunks.len().saturating_sub(1);
        for (index, chunk) in chunks.into_iter().enumerate() {
            let opcode = if index == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            client
                .send(tungstenite::Message::Frame(Frame::message(
                    chunk.to_vec(),
                    opcode,
                    index == last,
                )))
                .await?;
        }
        Ok(())
    }

    /// The bodies of the MESSAGE events the function received.
    fn routed_lengths(invoker: &FakeInvoker) -> Vec<usize> {
        invoker
            .events_of("Fn")
            .iter()
            .filter(|e| e["requestContext"]["eventType"] == "MESSAGE")
            .filter_map(|e| e["body"].as_str().map(str::len))
            .collect()
    }

    #[tokio::test]
    async fn a_frame_over_32_kib_closes_the_connection_with_1009() -> anyhow::Result<()> {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(json!({ "statusCode": 200 }))));
        let gateway = start(echo_spec(), invoker.clone(), GatewayOptions::default()).await?;
        let mut client = connect(&gateway.url()).await?;

        // Act
        let a_full_frame = "a".repeat(MAX_FRAME_BYTES);
        client
            .send(tungstenite::Message::Text(a_full_frame.into()))
            .await?;
        let one_byte_more = "b".repeat(MAX_FRAME_BYTES + 1);
        client
            .send(tungstenite::Message::Text(one_byte_more.into()))
            .await?;
        let code = close_code(&mut client).await?;

        // Assert
        assert_eq!(code, Some(1009));
        invoker
            .wait_until(WAIT, "$disconnect", |_| disconnect_code(&invoker).is_some())
            .await?;
        assert_eq!(
            routed_lengths(&invoker),
            [MAX_FRAME_BYTES],
            "only the frame within the quota was routed"
        );
        assert_eq!(disconnect_code(&invoker), Some(json!(1009)));
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_message_of_128_kib_in_32_kib_frames_is_routed_whole_and_one_byte_more_closes_with_1009()
    -> anyhow::Result<()> {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(json!({ "statusCode": 200 }))));
        let gateway = start(echo_spec(), invoker.clone(), GatewayOptions::default()).await?;
        let mut client = connect(&gateway.url()).await?;

        // Act
        let exactly_the_quota = "a".repeat(MAX_MESSAGE_BYTES);
        send_fragmented(&mut client, &exactly_the_quota, MAX_FRAME_BYTES).await?;
        let too_big = "b".repeat(MAX_MESSAGE_BYTES + 1);
        send_fragmented(&mut client, &too_big, MAX_FRAME_BYTES).await?;
        let code = close_code(&mut client).await?;

        // Assert
        assert_eq!(code, Some(1009));
        invoker
            .wait_until(WAIT, "$disconnect", |_| disconnect_code(&invoker).is_some())
            .await?;
        assert_eq!(
            routed_lengths(&invoker),
            [MAX_MESSAGE_BYTES],
            "only the message within the quota was routed, reassembled"
        );
        assert_eq!(disconnect_code(&invoker), Some(json!(1009)));
        gateway.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn shutdown_closes_open_connections_and_fires_disconnect() -> anyhow::Result<()> {
        // Arrange
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(json!({ "statusCode": 200 }))));
        let gateway = start(echo_spec(), invoker.clone(), GatewayOptions::default()).await?;
        let mut client = connect(&gateway.url()).await?;

        // Act
        let shutdown = tokio::spawn(gateway.shutdown());
        let code = close_code(&mut client).await?;
        tokio::time::timeout(WAIT, shutdown).await??;

        // Assert
        assert_eq!(code, Some(1001));
        assert_eq!(disconnect_code(&invoker), Some(json!(1001)));
        Ok(())
    }

    #[test]
    fn iam_wildcards_match_like_api_gateway_policies() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abcd1234/dev/$connect";
        assert!(glob_match("*", arn));
        assert!(glob_match(
            "arn:aws:execute-api:*:*:abcd1234/*/$connect",
            arn
        ));
        assert!(glob_match(
            "arn:aws:execute-api:us-east-1:123456789012:abcd1234/dev/$connec?",
            arn
        ));
        assert!(!glob_match(
            "arn:aws:execute-api:us-east-1:123456789012:other/*",
            arn
        ));
        assert!(glob_match("execute-api:*", "execute-api:Invoke"));
    }

    #[test]
    fn header_names_get_api_gateways_capitalization() {
        assert_eq!(header_name_case("sec-websocket-key"), "Sec-WebSocket-Key");
        assert_eq!(header_name_case("user-agent"), "User-Agent");
        assert_eq!(header_name_case("host"), "Host");
    }
}
