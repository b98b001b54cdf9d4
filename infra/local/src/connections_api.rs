//! The WebSocket API's `@connections` management API, as `aws-sdk-apigatewaymanagement`
//! calls it: `http://127.0.0.1:<port>/<stage>/@connections/{connectionId}` (the stage
//! prefix is optional), restJson1.
//!
//! - `POST` sends the raw body to the client as one frame (text when UTF-8, else
//!   binary); more than 128 KiB is `413 PayloadTooLargeException`.
//! - `GET` describes the connection (`connectedAt`, `identity`, `lastActiveAt`; ISO 8601
//!   date-times, which is what the SDK parses for this API).
//! - `DELETE` closes the connection (its `$disconnect` follows) and answers 204.
//! - An unknown or closed connection is `410 GoneException`, so the SDK yields
//!   `GoneException`, which is how functions learn to forget a connection.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::{HeaderValue, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::iam::Enforcer;
use crate::websocket::{
    ConnectionError, ConnectionRegistry, MAX_MESSAGE_BYTES, OutboundFrame, api_gateway_id,
};

/// A running `@connections` API.
pub struct ConnectionsApi {
    local_addr: SocketAddr,
    stage: String,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl std::fmt::Debug for ConnectionsApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionsApi")
            .field("local_addr", &self.local_addr)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct ApiState {
    registry: ConnectionRegistry,
    stage: String,
    max_payload_bytes: usize,
}

impl ConnectionsApi {
    /// Serves the management API for `registry`'s connections on `listener`; with an
    /// `enforcer`, a call signed by one of the stack's functions must be allowed by its
    /// role (`execute-api:ManageConnections` on the connection's ARN), else it is a
    /// `403 ForbiddenException` as in AWS.
    pub async fn start(
        listener: tokio::net::TcpListener,
        registry: ConnectionRegistry,
        stage: String,
        enforcer: Option<Arc<Enforcer>>,
    ) -> anyhow::Result<Self> {
        let local_addr = listener.local_addr()?;
        let mut app = Self::router(registry, stage.clone());
        if let Some(enforcer) = enforcer {
            app = app.layer(axum::middleware::from_fn_with_state(enforcer, check_role));
        }
        let (shutdown, mut stop) = watch::channel(false);
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stopping| *stopping).await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%error, "@connections API stopped");
            }
        });
        tracing::info!(%local_addr, %stage, "@connections API listening");
        Ok(Self {
            local_addr,
            stage,
            shutdown,
            server,
        })
    }

    /// The routes alone, to mount on another server.
    pub fn router(registry: ConnectionRegistry, stage: String) -> Router {
        let state = ApiState {
            registry,
            stage,
            max_payload_bytes: MAX_MESSAGE_BYTES,
        };
        Router::new()
            .route(
                "/{stage}/@connections/{connection_id}",
                post(post_staged).get(get_staged).delete(delete_staged),
            )
            .route(
                "/@connections/{connection_id}",
                post(post_bare).get(get_bare).delete(delete_bare),
            )
            .with_state(state)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://127.0.0.1:<port>/<stage>`: the SDK's `endpoint_url`, and the value of
    /// `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` for functions.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}/{}", self.local_addr, self.stage)
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.server)
            .await
            .is_err()
        {
            tracing::warn!("@connections API did not stop in time");
        }
    }
}

/// The IAM check of a call signed by one of the stack's functions.
async fn check_role(
    State(enforcer): State<Arc<Enforcer>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(principal) = enforcer.principal(request.headers(), request.uri().query()) {
        let connection_id = request
            .uri()
            .path()
            .rsplit_once("@connections/")
            .map(|(_, id)| {
                url::form_urlencoded::parse(format!("id={}", id.replace('+', "%2B")).as_bytes())
                    .next()
                    .map_or_else(|| id.to_owned(), |(_, v)| v.into_owned())
            })
            .unwrap_or_default();
        if let Err(refusal) =
            enforcer.check_connection(principal, request.method().as_str(), &connection_id)
        {
            return with_request_id(refusal.response().map(Body::from));
        }
    }
    next.run(request).await
}

async fn post_staged(
    State(state): State<ApiState>,
    Path((stage, connection_id)): Path<(String, String)>,
    body: Body,
) -> Response {
    if stage != state.stage {
        return forbidden();
    }
    post_to_connection(state, connection_id, body).await
}

async fn post_bare(
    State(state): State<ApiState>,
    Path(connection_id): Path<String>,
    body: Body,
) -> Response {
    post_to_connection(state, connection_id, body).await
}

async fn get_staged(
    State(state): State<ApiState>,
    Path((stage, connection_id)): Path<(String, String)>,
) -> Response {
    if stage != state.stage {
        return forbidden();
    }
    get_connection(&state, &connection_id)
}

async fn get_bare(State(state): State<ApiState>, Path(connection_id): Path<String>) -> Response {
    get_connection(&state, &connection_id)
}

async fn delete_staged(
    State(state): State<ApiState>,
    Path((stage, connection_id)): Path<(String, String)>,
) -> Response {
    if stage != state.stage {
        return forbidden();
    }
    delete_connection(&state, &connection_id).await
}

async fn delete_bare(State(state): State<ApiState>, Path(connection_id): Path<String>) -> Response {
    delete_connection(&state, &connection_id).await
}

async fn post_to_connection(state: ApiState, connection_id: String, body: Body) -> Response {
    // Read one byte past the quota so "too large" is told apart from "exactly the quota".
    let payload = match axum::body::to_bytes(body, state.max_payload_bytes + 1).await {
        Ok(payload) if payload.len() <= state.max_payload_bytes => payload,
        Ok(_) | Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                "Message too long",
            );
        }
    };
    match state
        .registry
        .send(&connection_id, OutboundFrame::from_payload(payload))
        .await
    {
        Ok(()) => with_request_id(StatusCode::OK.into_response()),
        Err(gone) => gone_response(&gone),
    }
}

fn get_connection(state: &ApiState, connection_id: &str) -> Response {
    match state.registry.info(connection_id) {
        Ok(info) => {
            let mut identity = serde_json::Map::new();
            identity.insert("sourceIp".into(), json!(info.source_ip));
            if let Some(agent) = info.user_agent {
                identity.insert("userAgent".into(), json!(agent));
            }
            let body = json!({
                "connectedAt": iso8601(info.connected_at),
                "identity": identity,
                "lastActiveAt": iso8601(info.last_active_at),
            });
            with_request_id((StatusCode::OK, axum::Json(body)).into_response())
        }
        Err(gone) => gone_response(&gone),
    }
}

async fn delete_connection(state: &ApiState, connection_id: &str) -> Response {
    match state.registry.close(connection_id).await {
        Ok(()) => with_request_id(StatusCode::NO_CONTENT.into_response()),
        Err(gone) => gone_response(&gone),
    }
}

fn gone_response(gone: &ConnectionError) -> Response {
    match gone {
        ConnectionError::Gone(_) => error(StatusCode::GONE, "GoneException", &gone.to_string()),
        ConnectionError::Failed(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            &gone.to_string(),
        ),
    }
}

fn forbidden() -> Response {
    error(StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden")
}

/// A restJson1 error: the SDK reads the code from `x-amzn-ErrorType`.
fn error(status: StatusCode, error_type: &'static str, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "message": message }))).into_response();
    response
        .headers_mut()
        .insert("x-amzn-ErrorType", HeaderValue::from_static(error_type));
    with_request_id(response)
}

fn with_request_id(mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&api_gateway_id()) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

fn iso8601(at: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_sdk_apigatewaymanagement::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_apigatewaymanagement::primitives::Blob;
    use futures_util::StreamExt as _;
    use serde_json::Value;
    use tokio_tungstenite::tungstenite;

    use super::*;
    use crate::model::{WebSocketApiSpec, WebSocketRoute};
    use crate::websocket::test_support::FakeInvoker;
    use crate::websocket::{GatewayContext, GatewayOptions, WebSocketGateway};

    const WAIT: Duration = Duration::from_secs(10);

    type Client = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    /// Asserts that a management API call failed with `GoneException`.
    fn assert_gone<T, E, R>(result: &Result<T, aws_sdk_apigatewaymanagement::error::SdkError<E, R>>)
    where
        T: std::fmt::Debug,
        E: aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata + std::fmt::Debug,
        R: std::fmt::Debug,
    {
        let code = result
            .as_ref()
            .err()
            .and_then(|e| e.as_service_error())
            .and_then(|e| e.code());
        assert_eq!(code, Some("GoneException"), "{result:?}");
    }

    struct Harness {
        gateway: WebSocketGateway,
        api: ConnectionsApi,
        invoker: Arc<FakeInvoker>,
        sdk: aws_sdk_apigatewaymanagement::Client,
    }

    async fn harness() -> anyhow::Result<Harness> {
        let spec = WebSocketApiSpec {
            logical_id: "WebSocketApi".into(),
            route_selection_expression: "$request.body.action".into(),
            stage: "dev".into(),
            routes: ["$connect", "$disconnect", "$default"]
                .into_iter()
                .map(|key| WebSocketRoute {
                    route_key: key.into(),
                    function_logical_id: "RealtimeFunction".into(),
                    authorizer: None,
                })
                .collect(),
        };
        let invoker = Arc::new(FakeInvoker::new(|_, _| Ok(json!({ "statusCode": 200 }))));
        let ctx = GatewayContext {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            api_id: "abcd1234".into(),
            domain_name: "abcd1234.execute-api.us-east-1.amazonaws.com".into(),
        };
        let gateway = WebSocketGateway::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            spec,
            invoker.clone(),
            ctx,
            GatewayOptions::default(),
        )
        .await?;
        let api = ConnectionsApi::start(
            tokio::net::TcpListener::bind("127.0.0.1:0").await?,
            gateway.registry(),
            "dev".into(),
            None,
        )
        .await?;
        let config = aws_sdk_apigatewaymanagement::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(api.endpoint_url())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .build();
        let sdk = aws_sdk_apigatewaymanagement::Client::from_conf(config);
        Ok(Harness {
            gateway,
            api,
            invoker,
            sdk,
        })
    }

    impl Harness {
        /// Connects a client and returns it with the connection id its $connect carried.
        async fn connect(&self) -> anyhow::Result<(Client, String)> {
            let connects_before = self.connection_ids().len();
            let (client, _) =
                tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(self.gateway.url()))
                    .await??;
            self.invoker
                .wait_until(WAIT, "$connect", |_| {
                    self.connection_ids().len() > connects_before
                })
                .await?;
            let id = self
                .connection_ids()
                .pop()
                .ok_or_else(|| anyhow::anyhow!("no $connect"))?;
            Ok((client, id))
        }

        /// Waits until the function was invoked for `$disconnect`.
        async fn disconnected(&self) -> anyhow::Result<()> {
            self.invoker
                .wait_until(WAIT, "$disconnect", |calls| {
                    calls
                        .iter()
                        .any(|(_, e)| e["requestContext"]["routeKey"] == "$disconnect")
                })
                .await?;
            Ok(())
        }

        fn connection_ids(&self) -> Vec<String> {
            self.invoker
                .events_of("RealtimeFunction")
                .iter()
                .filter(|e| e["requestContext"]["routeKey"] == "$connect")
                .filter_map(|e| {
                    e["requestContext"]["connectionId"]
                        .as_str()
                        .map(str::to_owned)
                })
                .collect()
        }

        async fn shutdown(self) {
            self.api.shutdown().await;
            self.gateway.shutdown().await;
        }
    }

    async fn next_data(client: &mut Client) -> anyhow::Result<tungstenite::Message> {
        loop {
            let message = tokio::time::timeout(WAIT, client.next())
                .await?
                .ok_or_else(|| anyhow::anyhow!("connection ended"))??;
            if !matches!(
                message,
                tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_)
            ) {
                return Ok(message);
            }
        }
    }

    #[tokio::test]
    async fn the_sdk_posts_describes_and_deletes_a_connection() -> anyhow::Result<()> {
        // Arrange
        let h = harness().await?;
        let (mut client, connection_id) = h.connect().await?;

        // Act + Assert: frames reach the client, in order, text or binary.
        for n in 0..20 {
            h.sdk
                .post_to_connection()
                .connection_id(&connection_id)
                .data(Blob::new(format!(r#"{{"n":{n}}}"#)))
                .send()
                .await?;
        }
        for n in 0..20 {
            let frame = next_data(&mut client).await?;
            assert_eq!(
                frame,
                tungstenite::Message::Text(format!(r#"{{"n":{n}}}"#).into())
            );
        }
        let not_utf8 = vec![0xff, 0x00, 0xfe];
        h.sdk
            .post_to_connection()
            .connection_id(&connection_id)
            .data(Blob::new(not_utf8.clone()))
            .send()
            .await?;
        assert_eq!(
            next_data(&mut client).await?,
            tungstenite::Message::Binary(not_utf8.into())
        );

        // GET describes it.
        let info = h
            .sdk
            .get_connection()
            .connection_id(&connection_id)
            .send()
            .await?;
        let identity = info
            .identity()
            .ok_or_else(|| anyhow::anyhow!("no identity"))?;
        assert_eq!(identity.source_ip(), Some("127.0.0.1"));
        let connected_at = info
            .connected_at()
            .ok_or_else(|| anyhow::anyhow!("no connectedAt"))?;
        let last_active_at = info
            .last_active_at()
            .ok_or_else(|| anyhow::anyhow!("no lastActiveAt"))?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!(
            (now - connected_at.secs()).abs() < 60,
            "connectedAt {connected_at}"
        );
        assert!(last_active_at >= connected_at);

        // DELETE closes it and $disconnect fires.
        h.sdk
            .delete_connection()
            .connection_id(&connection_id)
            .send()
            .await?;
        let closed = next_data(&mut client).await?;
        assert!(
            matches!(closed, tungstenite::Message::Close(_)),
            "{closed:?}"
        );
        h.disconnected().await?;

        // A gone connection is GoneException for every operation.
        let post = h
            .sdk
            .post_to_connection()
            .connection_id(&connection_id)
            .data(Blob::new("late"))
            .send()
            .await;
        assert_gone(&post);
        let get = h
            .sdk
            .get_connection()
            .connection_id(&connection_id)
            .send()
            .await;
        assert_gone(&get);
        let delete = h
            .sdk
            .delete_connection()
            .connection_id(&connection_id)
            .send()
            .await;
        assert_gone(&delete);
        h.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn a_client_that_left_is_gone_and_an_oversized_post_is_refused() -> anyhow::Result<()> {
        // Arrange
        let h = harness().await?;
        let (mut client, connection_id) = h.connect().await?;

        // Act + Assert: more than 128 KiB is PayloadTooLargeException, the quota itself is fine.
        let too_large = h
            .sdk
            .post_to_connection()
            .connection_id(&connection_id)
            .data(Blob::new(vec![b'x'; MAX_MESSAGE_BYTES + 1]))
            .send()
            .await;
        assert!(
            too_large
                .as_ref()
                .err()
                .and_then(|e| e.as_service_error())
                .is_some_and(|e| e.is_payload_too_large_exception()),
            "{too_large:?}"
        );
        h.sdk
            .post_to_connection()
            .connection_id(&connection_id)
            .data(Blob::new(vec![b'x'; MAX_MESSAGE_BYTES]))
            .send()
            .await?;
        let frame = next_data(&mut client).await?;
        assert_eq!(frame.len(), MAX_MESSAGE_BYTES);

        // The client leaves: the connection becomes gone.
        client.close(None).await?;
        h.disconnected().await?;
        let post = h
            .sdk
            .post_to_connection()
            .connection_id(&connection_id)
            .data(Blob::new("anyone?"))
            .send()
            .await;
        assert_gone(&post);
        let never_existed = h
            .sdk
            .get_connection()
            .connection_id("AAAAAAAAAAAAAAA=")
            .send()
            .await;
        assert_gone(&never_existed);
        h.shutdown().await;
        Ok(())
    }

    #[tokio::test]
    async fn the_api_answers_without_the_stage_prefix_and_refuses_another_stage()
    -> anyhow::Result<()> {
        // Arrange
        let h = harness().await?;
        let (mut client, connection_id) = h.connect().await?;
        crate::install_crypto_provider();
        let http = reqwest::Client::new();
        let encoded: String =
            url::form_urlencoded::byte_serialize(connection_id.as_bytes()).collect();
        let base = format!("http://{}", h.api.local_addr());

        // Act
        let bare = http
            .post(format!("{base}/@connections/{encoded}"))
            .body("bare")
            .send()
            .await?;
        let other_stage = http
            .get(format!("{base}/prod/@connections/{encoded}"))
            .send()
            .await?;
        let described = http
            .get(format!("{base}/dev/@connections/{encoded}"))
            .send()
            .await?;

        // Assert
        assert_eq!(bare.status(), 200);
        assert_eq!(
            next_data(&mut client).await?,
            tungstenite::Message::Text("bare".into())
        );
        assert_eq!(other_stage.status(), 403);
        assert_eq!(
            other_stage
                .headers()
                .get("x-amzn-ErrorType")
                .and_then(|v| v.to_str().ok()),
            Some("ForbiddenException")
        );
        let described: Value = described.json().await?;
        assert!(
            described["connectedAt"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{described}"
        );
        assert_eq!(described["identity"]["sourceIp"], "127.0.0.1");
        h.shutdown().await;
        Ok(())
    }
}
